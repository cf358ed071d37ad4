//! The patient view (`cobalt_report::patient`): what it renders for every example, constructed
//! case and rule test is plain (short sentences, abbreviations explained, no concept ids, no doses), carries
//! the "about this report" section, and is safe HTML (the wording table's coverage:
//! `patient_wording.rs`). Snapshots of the four examples.
//! Regenerate with `INSTA_UPDATE=always cargo test -p cobalt-report --test patient` and review.

use cobalt_core::assessment::{Assessment, Route};
use cobalt_core::KnowledgeBase;
use cobalt_report::patient;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

mod common;

use common::*;

// --- The rendered view -----------------------------------------------------------------------

/// All-capitals tokens of two or more letters (MS, MRI, MMA) that are not explained in
/// parentheses at their first appearance, as in "multiple sclerosis (MS)" or "MRI (magnetic
/// resonance imaging)".
fn unexplained_abbreviations(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
            continue;
        }
        let Some(s) = start.take() else { continue };
        let token = &text[s..i];
        let letters: Vec<char> = token.chars().filter(|c| c.is_alphabetic()).collect();
        if letters.len() < 2 || !letters.iter().all(|c| c.is_uppercase()) {
            continue;
        }
        if !seen.insert(token.to_string()) {
            continue;
        }
        let in_parens = s > 0 && bytes[s - 1] == b'(' && bytes.get(i) == Some(&b')');
        let explained_after = text[i..].starts_with(" (");
        if !in_parens && !explained_after {
            out.push(token.to_string());
        }
    }
    out
}

fn expected_tags() -> BTreeSet<&'static str> {
    ["section", "h2", "h3", "p", "ul", "li"]
        .into_iter()
        .collect()
}

/// The patient view's sections in their order.
const SECTION_ORDER: [&str; 10] = [
    "about",
    "results",
    "causes",
    "others",
    "ms",
    "now",
    "next",
    "treatment",
    "food",
    "missing",
];

/// Checks one assessment's patient view; returns the failures.
fn check(label: &str, a: &Assessment<'_>, t: &toml::Table) -> Vec<String> {
    let mut f = Vec::new();
    let secs = patient::sections(a);
    let ids: Vec<&str> = secs.iter().map(|s| s.id).collect();
    let order = SECTION_ORDER;
    if ids.first() != Some(&"about") {
        f.push(format!(
            "{label}: the about section (the disclaimer) is not first: {ids:?}"
        ));
    }
    let positions: Vec<usize> = ids
        .iter()
        .map(|id| order.iter().position(|o| o == id).unwrap_or(usize::MAX))
        .collect();
    if positions.windows(2).any(|w| w[0] >= w[1]) || positions.contains(&usize::MAX) {
        f.push(format!(
            "{label}: sections out of order or unknown: {ids:?}"
        ));
    }
    for s in &secs {
        if s.paragraphs.is_empty() && s.items.is_empty() {
            f.push(format!("{label}: section {} is empty", s.id));
        }
    }
    let about = &secs[0];
    for p in sub(t, &["about"])["paragraphs"].as_array().unwrap() {
        if !about
            .paragraphs
            .iter()
            .any(|x| Some(x.as_str()) == p.as_str())
        {
            f.push(format!("{label}: the about section lacks {p:?}"));
        }
    }

    let text = patient::text(a);
    // The case's own id is the caller's data, not wording: leave its line out of the checks.
    let reference =
        a.id.as_deref()
            .map(|id| string(t, &["about", "reference"]).replace("{id}", id));
    let body: String = text
        .lines()
        .filter(|l| Some(*l) != reference.as_deref())
        .collect::<Vec<_>>()
        .join("\n");
    for s in sentences(&body) {
        let s = s.trim_start_matches("- ");
        let n = s.split_whitespace().count();
        if n > 25 {
            f.push(format!("{label}: a sentence of {n} words: {s}"));
        }
    }
    for abbr in unexplained_abbreviations(&body) {
        f.push(format!("{label}: {abbr} is not explained at its first use"));
    }
    if body.contains('_') {
        f.push(format!("{label}: a concept id leaks into the text"));
    }
    if body.contains('{') || body.contains('}') {
        f.push(format!("{label}: a placeholder is left in the text"));
    }
    if let Some(e) = b12_alone(&body) {
        f.push(format!("{label}: {e}"));
    }
    // "This does not mean you have MS" denies a diagnosis; any other "you have MS" states one.
    let lower = body.to_lowercase().replace("does not mean you have", "");
    for diagnosis in [
        "you have multiple sclerosis",
        "you have ms",
        "you have low vitamin b12",
    ] {
        if lower.contains(diagnosis) {
            f.push(format!("{label}: states a diagnosis ({diagnosis})"));
        }
    }
    // No doses: the regimen's words and milligram amounts stay in the clinician's report.
    if let Some(r) = &a.management.regimen {
        for part in [&r.product, &r.initial, &r.maintenance] {
            if text.contains(part.as_str()) {
                f.push(format!(
                    "{label}: the regimen ({part}) is in the patient view"
                ));
            }
        }
    }
    if body
        .split_whitespace()
        .any(|w| w == "mg" || w.ends_with("mg,"))
    {
        f.push(format!("{label}: a dose in milligrams"));
    }
    for s in &secs {
        if !text.contains(&s.heading) {
            f.push(format!("{label}: heading {} not in the text", s.heading));
        }
    }
    // Conclusions that must show.
    if a.conclusions.treatment.urgent && !text.contains(string(t, &["next", "urgent"])) {
        f.push(format!("{label}: urgent treatment is not said"));
    }
    let folic = string(t, &["next", "folic_acid"]);
    if a.fired("TX-012") && !text.contains(folic) {
        f.push(format!("{label}: the folic acid caution is missing"));
    }
    if a.management.follow_up.is_some() && text.contains(string(t, &["next", "follow_up_generic"]))
    {
        f.push(format!(
            "{label}: the follow-up ({:?}) was not reworded",
            a.management.follow_up
        ));
    }

    let html = patient::html(a);
    if !html.starts_with(
        "<section id=\"patient-view\" class=\"patient\" aria-labelledby=\"patient-title\">",
    ) || !html.trim_end().ends_with("</section>")
    {
        f.push(format!("{label}: not a patient-view section"));
    }
    if html.to_lowercase().contains("<script") {
        f.push(format!("{label}: a script in the HTML"));
    }
    for tag in html.split('<').skip(1) {
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or_default();
        if !expected_tags().contains(name) {
            f.push(format!(
                "{label}: unexpected markup <{}",
                &tag[..tag.len().min(20)]
            ));
        }
    }
    for s in &secs {
        for p in s.paragraphs.iter().chain(&s.items) {
            let escaped = p
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\'', "&#39;");
            if !html.contains(&escaped) {
                f.push(format!("{label}: not in the HTML, escaped: {p}"));
            }
        }
    }
    f
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

/// Every case the repository holds: the examples, the constructed cases and every rule test.
fn corpus(kb: &KnowledgeBase) -> Vec<(String, cobalt_core::Case)> {
    let mut out = Vec::new();
    let parse = |doc: Value, label: &str| {
        cobalt_core::parse_case_value(doc, &kb.vocab, &kb.analytes)
            .unwrap_or_else(|e| panic!("{label}: {e}"))
    };
    for path in json_files(&repo().join("examples")) {
        let label = format!("examples/{}", path.file_name().unwrap().to_string_lossy());
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        out.push((label.clone(), parse(doc, &label)));
    }
    let mut constructed = 0;
    for path in json_files(&repo().join("tests/cases")) {
        let label = format!(
            "tests/cases/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let case = doc.get("case").cloned().expect("a `case` member");
        out.push((label.clone(), parse(case, &label)));
        constructed += 1;
    }
    assert!(constructed >= 30, "only {constructed} constructed cases");
    for rule in &kb.rules {
        for t in &rule.tests {
            let label = format!("{} / {}", rule.id, t.name);
            let doc = cobalt_kb::check::test_case_json(&t.case).unwrap();
            out.push((label.clone(), parse(doc, &label)));
        }
    }
    out
}

#[test]
fn every_case_reads_plainly() {
    let kb = kb();
    let t = plain();
    let profile = &kb.profiles[&kb.meta.default_profile];
    let default_day = cobalt_core::case::parse_date("2026-01-01").unwrap();
    let mut failures = Vec::new();
    let mut ids_seen = BTreeSet::new();
    let mut statuses_seen = BTreeSet::new();
    let cases = corpus(&kb);
    for (label, case) in &cases {
        let a = cobalt_core::evaluate(&kb, profile, case, case.as_of.unwrap_or(default_day));
        ids_seen.extend(patient::sections(&a).iter().map(|s| s.id));
        statuses_seen.insert(a.conclusions.b12_status.as_str());
        failures.extend(check(label, &a, &t));
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The checks ran over every section and every status.
    assert_eq!(set(ids_seen), set(SECTION_ORDER));
    assert_eq!(statuses_seen.len(), statuses().len(), "{statuses_seen:?}");
}

#[test]
fn the_checks_catch_what_they_are_for() {
    assert_eq!(
        unexplained_abbreviations("People with MS. Multiple sclerosis (MS)."),
        vec!["MS"]
    );
    assert!(unexplained_abbreviations("Multiple sclerosis (MS). MS is common.").is_empty());
    assert!(unexplained_abbreviations("An MRI (magnetic resonance imaging) scan.").is_empty());
    assert!(unexplained_abbreviations("Vitamin B12 and MMA.") == vec!["MMA"]);
    assert!(b12_alone("Low B12.").is_some());
    assert!(b12_alone("Low vitamin B12. Vitamin B12 again.").is_none());
    let long = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty twenty-one twenty-two twenty-three twenty-four twenty-five twenty-six.";
    assert_eq!(sentences(long)[0].split_whitespace().count(), 26);
    assert_eq!(sentences("About 2.6 mcg. Next one").len(), 2);
}

fn evaluate_text<'kb>(kb: &'kb KnowledgeBase, json: &str) -> Assessment<'kb> {
    let case = cobalt_core::parse_case(json, &kb.vocab, &kb.analytes).unwrap();
    cobalt_core::evaluate(
        kb,
        &kb.profiles[&kb.meta.default_profile],
        &case,
        cobalt_core::case::parse_date("2026-01-01").unwrap(),
    )
}

#[test]
fn html_escapes_the_case_id() {
    let kb = kb();
    let a = evaluate_text(
        &kb,
        r#"{"format":"cobalt.case/1","id":"<script>alert('x')</script>","labs":[{"test":"total_b12","value":150,"unit":"ng/L"}]}"#,
    );
    let html = patient::html(&a);
    assert!(!html.contains("<script"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        "{html}"
    );
    // The text format is plain text: the id is shown as given.
    assert!(patient::text(&a).contains("<script>alert('x')</script>"));
}

#[test]
fn multiple_sclerosis_is_mentioned_only_when_it_is_in_question() {
    let kb = kb();
    // A pregnant vegan with tiredness and a sore tongue: nothing suggests MS.
    let a = evaluate_text(
        &kb,
        r#"{"format":"cobalt.case/1","patient":{"age_years":31,"sex":"female","pregnant":true},"diet":"vegan","findings":[{"concept":"fatigue"},{"concept":"glossitis"}]}"#,
    );
    assert!(!patient::sections(&a).iter().any(|s| s.id == "ms"));
    assert!(!patient::text(&a).to_lowercase().contains("sclerosis"));
    // An MS work-up: the section is there and says B12 comes first.
    let a = evaluate_text(
        &kb,
        r#"{"format":"cobalt.case/1","patient":{"age_years":29},"findings":[{"concept":"optic_neuritis","laterality":"left"}],"ms":{"status":"clinically_isolated_syndrome"}}"#,
    );
    let text = patient::text(&a);
    assert!(patient::sections(&a).iter().any(|s| s.id == "ms"), "{text}");
    assert!(text.contains("multiple sclerosis (MS)"), "{text}");
    assert!(
        text.contains("Doctors always check for low vitamin B12 first."),
        "{text}"
    );
}

#[test]
fn treatment_is_described_without_doses() {
    let kb = kb();
    // Deficient with neurological signs: intramuscular, urgent, referrals, follow-up.
    let a = evaluate_text(
        &kb,
        r#"{"format":"cobalt.case/1","patient":{"age_years":66,"sex":"male"},"findings":[{"concept":"paraesthesia","laterality":"bilateral_symmetric","regions":["feet"]}],"medications":[{"concept":"metformin","months":60},{"concept":"folic_acid"}],"labs":[{"test":"total_b12","value":100,"unit":"ng/L"}]}"#,
    );
    assert_eq!(a.conclusions.treatment.route, Route::Intramuscular);
    assert!(a.conclusions.treatment.urgent);
    let text = patient::text(&a);
    for want in [
        "The treatment suggested is vitamin B12 given as an injection into a muscle.",
        "Your care team wants you to start treatment as soon as possible, to protect your nerves.",
        "Your care team will explain the dose and how often you need it.",
        "You may be referred to a specialist in the brain and nerves (a neurologist).",
        "Talk to your care team before you start folic acid.",
        "Metformin, a medicine for diabetes",
        "Do not stop or change a medicine without talking to your care team first.",
        "Your care team will review how you are after 3 months of treatment.",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let regimen = a.management.regimen.as_ref().expect("a regimen");
    assert!(!text.contains(&regimen.initial));
    assert!(!text.to_lowercase().contains("hydroxocobalamin"));
    assert!(!text.contains(" mg"));
}

fn snapshot(name: &str) {
    let kb = kb();
    let path = repo().join("examples").join(name);
    let case = cobalt_core::parse_case(
        &std::fs::read_to_string(path).unwrap(),
        &kb.vocab,
        &kb.analytes,
    )
    .unwrap();
    let profile = &kb.profiles[&kb.meta.default_profile];
    let a = cobalt_core::evaluate(
        &kb,
        profile,
        &case,
        case.as_of.expect("examples carry as_of"),
    );
    let stem = name.trim_end_matches(".json");
    insta::assert_snapshot!(stem.to_string(), patient::text(&a));
}

#[test]
fn metformin_neuropathy() {
    snapshot("metformin-neuropathy.json");
}

#[test]
fn ms_workup() {
    snapshot("ms-workup.json");
}

#[test]
fn nitrous_oxide() {
    snapshot("nitrous-oxide.json");
}

#[test]
fn pregnant_vegan() {
    snapshot("pregnant-vegan.json");
}

#[test]
fn pregnant_omnivore() {
    snapshot("pregnant-omnivore.json");
}

#[test]
fn the_follow_up_interval_comes_from_the_rule_parameter() {
    let kb = kb();
    let params = |key: &str| kb.param("TX-013", key);
    for (case, key) in [
        (
            r#"{"format":"cobalt.case/1","patient":{"age_years":50},"diet":"vegan","labs":[{"test":"total_b12","value":100,"unit":"ng/L"}]}"#,
            "review_months",
        ),
        (
            r#"{"format":"cobalt.case/1","patient":{"age_years":30,"pregnant":true},"diet":"vegan","labs":[{"test":"total_b12","value":100,"unit":"ng/L"}]}"#,
            "review_months_pregnant_or_breastfeeding",
        ),
    ] {
        let a = evaluate_text(&kb, case);
        let months = params(key);
        assert_eq!(a.management.follow_up_months, Some(months), "{key}");
        let n = cobalt_core::units::display_number(months, 0);
        let text = patient::text(&a);
        assert!(
            text.contains(&format!(
                "after {n} month{} of treatment",
                if months == 1.0 { "" } else { "s" }
            )),
            "{key}: {text}"
        );
    }
}
