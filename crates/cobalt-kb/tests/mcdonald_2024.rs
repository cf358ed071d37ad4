//! Invariants of the McDonald 2024 assessment over generated cases: the count of regions and
//! dissemination in space agree, `met` is never true unless B12 deficiency is excluded, more
//! evidence never takes `met` from true to false below age 50, and "not assessed" never reads as
//! "clear".

use cobalt_core::assessment::McDonald2024;
use proptest::prelude::*;
use serde_json::{json, Value};

const SITES: [&str; 6] = [
    "periventricular",
    "cortical_juxtacortical",
    "infratentorial",
    "spinal_cord",
    "optic_nerve",
    "deep_white_matter",
];
const STATUSES: [&str; 5] = [
    "clinically_isolated_syndrome",
    "relapsing_remitting",
    "radiologically_isolated_syndrome",
    "primary_progressive",
    "suspected",
];

fn kb() -> &'static cobalt_core::KnowledgeBase {
    static KB: std::sync::OnceLock<cobalt_core::KnowledgeBase> = std::sync::OnceLock::new();
    KB.get_or_init(|| cobalt_kb::load().expect("the knowledge base lints clean"))
}

fn assess(case: &Value) -> (McDonald2024, Vec<String>, String) {
    let kb = kb();
    let parsed = cobalt_core::parse_case(&case.to_string(), &kb.vocab, &kb.analytes)
        .unwrap_or_else(|e| panic!("{e}: {case}"));
    let date = cobalt_core::case::parse_date("2026-12-01").unwrap();
    let a = cobalt_core::evaluate(kb, &kb.profiles[&kb.meta.default_profile], &parsed, date);
    let not_assessed = a
        .mcdonald_2024_detail
        .regions_not_assessed
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    (
        a.conclusions.mcdonald_2024,
        not_assessed,
        a.conclusions.b12_status.as_str().to_string(),
    )
}

prop_compose! {
    fn case()(
        age in 18u32..49,
        status in 0usize..STATUSES.len(),
        lesions in prop::collection::vec((0usize..SITES.len(), 0u32..6, prop::option::of(0u32..3)), 0..5),
        brain_normal in prop::option::of(any::<bool>()),
        cord_normal in prop::option::of(any::<bool>()),
        follow_up in prop::option::of(any::<bool>()),
        cvs in prop::option::of((0u32..20, 0u32..20)),
        prl in prop::option::of(0u32..3),
        prnfl in prop::option::of(0.0f64..12.0),
        vep in prop::option::of(any::<bool>()),
        ocb in prop::option::of(0usize..3),
        kflc in prop::option::of(0.0f64..20.0),
        attacks in prop::option::of(0u32..3),
        months in prop::option::of(0.0f64..30.0),
        b12 in prop::option::of(100.0f64..600.0),
    ) -> Value {
        let lesions: Vec<Value> = lesions.into_iter().map(|(s, c, e)| {
            let mut l = json!({"site": SITES[s], "count": c});
            if let Some(e) = e { l["enhancing"] = json!(e.min(c)); }
            l
        }).collect();
        let mut mri = json!({"lesions": lesions});
        if let Some(b) = brain_normal { mri["brain_normal"] = json!(b); }
        if let Some(b) = cord_normal { mri["spinal_cord_normal"] = json!(b); }
        if let Some(b) = follow_up { mri["new_lesion_on_follow_up"] = json!(b); }
        if let Some((a, p)) = cvs { mri["central_vein_sign"] = json!({"lesions_assessed": a.max(p), "lesions_positive": p.min(a.max(p))}); }
        if let Some(n) = prl { mri["paramagnetic_rim_lesions"] = json!(n); }
        let mut c = json!({
            "format": "cobalt.case/1",
            "patient": {"age_years": age},
            "ms": {"status": STATUSES[status]},
            "mri": mri,
        });
        if let Some(a) = attacks { c["ms"]["attacks"] = json!(a); }
        if let Some(m) = months { c["ms"]["progression_months"] = json!(m); }
        let mut optic = json!({});
        if let Some(d) = prnfl { optic["oct_prnfl_intereye_difference_um"] = json!(d); }
        if let Some(v) = vep { optic["vep_delayed"] = json!(v); }
        if optic.as_object().is_some_and(|o| !o.is_empty()) { c["optic_nerve"] = optic; }
        let mut csf = json!({});
        if let Some(o) = ocb { csf["oligoclonal_bands"] = json!(["csf_specific", "absent", "matched_in_serum"][o]); }
        if let Some(k) = kflc { csf["kappa_flc_index"] = json!(k); }
        if csf.as_object().is_some_and(|o| !o.is_empty()) { c["csf"] = csf; }
        if let Some(v) = b12 { c["labs"] = json!([{"test": "total_b12", "value": v, "unit": "ng/L"}]); }
        c
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn regions_and_dissemination_in_space_agree(c in case()) {
        let (m, not_assessed, b12) = assess(&c);
        let n = m.regions.expect("an MRI is always given") as usize;
        prop_assert!(n <= 5);
        if n >= 2 {
            prop_assert_eq!(m.dis, Some(true));
        }
        if m.dis == Some(false) {
            prop_assert!(n + not_assessed.len() < 2, "DIS false with {} shown and {:?} not assessed", n, not_assessed);
        }
        if m.met == Some(true) {
            prop_assert_eq!(b12.as_str(), "not_deficient");
            prop_assert!(n >= 1, "met with no region shown");
        }
    }

    #[test]
    fn a_further_positive_result_never_takes_met_from_true_to_false(c in case(), which in 0usize..4) {
        let (before, _, _) = assess(&c);
        let mut more = c.clone();
        match which {
            0 => more["csf"] = json!({"oligoclonal_bands": "csf_specific"}),
            1 => more["mri"]["new_lesion_on_follow_up"] = json!(true),
            2 => more["mri"]["central_vein_sign"] = json!({"lesions_assessed": 12, "lesions_positive": 9}),
            _ => {
                if more.get("optic_nerve").is_none() {
                    more["optic_nerve"] = json!({});
                }
                more["optic_nerve"]["vep_delayed"] = json!(true);
            }
        }
        let (after, _, _) = assess(&more);
        if before.met == Some(true) {
            prop_assert_eq!(after.met, Some(true), "{} -> {}", c, more);
        }
        prop_assert!(after.regions >= before.regions);
    }

    #[test]
    fn without_b12_excluded_met_is_never_true(c in case()) {
        let mut c = c;
        c.as_object_mut().unwrap().remove("labs");
        let (m, _, _) = assess(&c);
        prop_assert_ne!(m.met, Some(true));
    }
}
