//! Invariants of the picture and the testing conclusions over generated presentations: an MS or
//! mixed picture always comes with a B12 test indicated (or a B12 result); a red flag against MS
//! without a strong MS feature never gives the MS picture; and a syndrome is never counted both
//! as typical of MS and as a red flag.

use cobalt_core::assessment::{B12Status, Picture};
use proptest::prelude::*;
use serde_json::{json, Value};

const FINDINGS: [&str; 12] = [
    "optic_neuritis",
    "vision_changes",
    "diplopia",
    "internuclear_ophthalmoplegia",
    "numbness",
    "paraesthesia",
    "spasticity",
    "reduced_vibration_sense",
    "gait_unsteadiness",
    "hyperreflexia",
    "fatigue",
    "heat_sensitivity",
];
const LATERALITY: [&str; 5] = [
    "bilateral_symmetric",
    "bilateral_asymmetric",
    "left",
    "right",
    "unknown",
];
const ONSET: [&str; 3] = ["sudden", "subacute", "insidious"];
const COURSE: [&str; 4] = ["progressive", "relapsing_remitting", "stable", "improving"];
const SITES: [&str; 4] = [
    "periventricular",
    "cortical_juxtacortical",
    "infratentorial",
    "spinal_cord",
];

fn kb() -> &'static cobalt_core::KnowledgeBase {
    static KB: std::sync::OnceLock<cobalt_core::KnowledgeBase> = std::sync::OnceLock::new();
    KB.get_or_init(|| cobalt_kb::load().expect("the knowledge base lints clean"))
}

type Finding = (
    usize,
    Option<usize>,
    Option<usize>,
    Option<usize>,
    Option<f64>,
);

fn finding() -> impl Strategy<Value = Finding> {
    (
        0..FINDINGS.len(),
        prop::option::of(0..LATERALITY.len()),
        prop::option::of(0..ONSET.len()),
        prop::option::of(0..COURSE.len()),
        prop::option::of(0.0f64..20.0),
    )
}

prop_compose! {
    fn case()(
        age in prop::option::of(16u32..80),
        findings in prop::collection::vec(finding(), 0..5),
        lesions in prop::collection::vec(0..SITES.len(), 0..3),
        ocb in any::<bool>(),
        b12 in prop::option::of(80.0f64..700.0),
        suspected in any::<bool>(),
    ) -> Value {
        let findings: Vec<Value> = findings.into_iter().map(|(c, l, o, k, w)| {
            let mut f = json!({"concept": FINDINGS[c]});
            if let Some(l) = l { f["laterality"] = json!(LATERALITY[l]); }
            if let Some(o) = o { f["onset"] = json!(ONSET[o]); }
            if let Some(k) = k { f["course"] = json!(COURSE[k]); }
            if let Some(w) = w { f["weeks"] = json!((w * 2.0).round() / 2.0); }
            f
        }).collect();
        let mut c = json!({"format": "cobalt.case/1", "findings": findings});
        if let Some(a) = age { c["patient"] = json!({"age_years": a}); }
        if !lesions.is_empty() {
            let l: Vec<Value> = lesions.iter().map(|s| json!({"site": SITES[*s], "count": 2})).collect();
            c["mri"] = json!({"lesions": l});
        }
        if ocb { c["csf"] = json!({"oligoclonal_bands": "csf_specific"}); }
        if let Some(v) = b12 { c["labs"] = json!([{"test": "total_b12", "value": v, "unit": "ng/L"}]); }
        if suspected { c["ms"] = json!({"status": "suspected"}); }
        c
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn the_picture_and_the_testing_conclusions_agree(c in case()) {
        let kb = kb();
        let parsed = cobalt_core::parse_case(&c.to_string(), &kb.vocab, &kb.analytes)
            .unwrap_or_else(|e| panic!("{e}: {c}"));
        let date = cobalt_core::case::parse_date("2026-12-01").unwrap();
        let a = cobalt_core::evaluate(kb, &kb.profiles[&kb.meta.default_profile], &parsed, date);
        let fired = |id: &str| a.findings.iter().any(|f| f.rule == id);
        let picture = a.conclusions.picture;
        if matches!(picture, Picture::MultipleSclerosis | Picture::Mixed) {
            prop_assert!(
                a.conclusions.test_indicated || a.conclusions.b12_status != B12Status::NotTested,
                "MS favoured, no test indicated, B12 untested: {}", c
            );
        }
        let red_flag = fired("PIC-023") || fired("PIC-024");
        let strong_ms = fired("PIC-014") || fired("PIC-016");
        if red_flag && !strong_ms {
            prop_assert!(picture != Picture::MultipleSclerosis, "a red flag gave MS: {}", c);
        }
        if fired("PIC-023") {
            prop_assert!(a.conclusions.test_indicated, "a red-flag optic syndrome without a test: {}", c);
        }
    }
}
