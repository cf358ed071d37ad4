//! Snapshot tests of the full reports for the bundled examples: what a clinician reviews.
//! Regenerate with `INSTA_UPDATE=always cargo test -p cobalt-report` and review the diff.

use std::path::Path;

fn assess(name: &str) -> (cobalt_core::KnowledgeBase, cobalt_core::Case) {
    let kb = cobalt_kb::load().expect("knowledge base loads");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let case = cobalt_core::parse_case(
        &std::fs::read_to_string(path).unwrap(),
        &kb.vocab,
        &kb.analytes,
    )
    .unwrap();
    (kb, case)
}

fn parse(kb: &cobalt_core::KnowledgeBase, json: &str) -> cobalt_core::Case {
    cobalt_core::parse_case(json, &kb.vocab, &kb.analytes).unwrap()
}

fn evaluate<'kb>(
    kb: &'kb cobalt_core::KnowledgeBase,
    case: &cobalt_core::Case,
) -> cobalt_core::assessment::Assessment<'kb> {
    let day = cobalt_core::case::parse_date("2026-01-01").unwrap();
    cobalt_core::evaluate(kb, &kb.profiles["nice-ng239"], case, day)
}

fn check(name: &str) {
    let (kb, case) = assess(name);
    let profile = &kb.profiles[&kb.meta.default_profile];
    let a = cobalt_core::evaluate(
        &kb,
        profile,
        &case,
        case.as_of.expect("examples carry as_of"),
    );
    let stem = name.trim_end_matches(".json");
    insta::assert_snapshot!(format!("{stem}.text"), cobalt_report::text(&a, false));
    insta::assert_snapshot!(format!("{stem}.markdown"), cobalt_report::markdown(&a));
    let html = cobalt_report::html(&a);
    assert!(!html.contains("<script"), "the report is static");
    assert!(html.contains("class=\"disclaimer\""));
    insta::assert_snapshot!(format!("{stem}.html"), html);
}

#[test]
fn metformin_neuropathy() {
    check("metformin-neuropathy.json");
}

#[test]
fn ms_workup() {
    check("ms-workup.json");
}

#[test]
fn nitrous_oxide() {
    check("nitrous-oxide.json");
}

#[test]
fn pregnant_omnivore() {
    check("pregnant-omnivore.json");
}

#[test]
fn pregnant_vegan() {
    check("pregnant-vegan.json");
}

#[test]
fn html_escapes_what_the_case_says() {
    let kb = cobalt_kb::load().expect("knowledge base loads");
    let case = parse(
        &kb,
        r#"{"format":"cobalt.case/1","id":"<script>alert(1)</script>","patient":{"ethnicity":"Black <b>"},"labs":[{"test":"total_b12","value":150,"unit":"ng/L"}]}"#,
    );
    let a = evaluate(&kb, &case);
    let html = cobalt_report::html(&a);
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

/// Every format names a test, cause or referral by its vocabulary label, as the page's tiles do
/// (`labelOf` in the page reads the same labels from `/ui/schema`), never by its id in words.
#[test]
fn reports_name_concepts_as_the_page_does() {
    let kb = cobalt_kb::load().expect("knowledge base loads");
    // Deficient with CKD-range eGFR unknown and folate not measured: folate and eGFR are next.
    let case = parse(
        &kb,
        r#"{"format":"cobalt.case/1","findings":[{"concept":"fatigue"}],"medications":[{"concept":"metformin","months":60}],"labs":[{"test":"total_b12","value":250,"unit":"ng/L"},{"test":"mcv","value":104,"unit":"fL"}]}"#,
    );
    let a = evaluate(&kb, &case);
    let c = &a.conclusions;
    assert!(!c.next_tests.is_empty() && !c.causes.is_empty());
    for (format, out) in [
        ("text", cobalt_report::text(&a, false)),
        ("markdown", cobalt_report::markdown(&a)),
        ("html", cobalt_report::html(&a)),
    ] {
        for id in c
            .next_tests
            .iter()
            .copied()
            .chain(c.causes.iter().map(String::as_str))
        {
            let label = kb.vocab.get(id).unwrap().label.as_str();
            assert!(out.contains(label), "{format}: `{label}` missing");
        }
        for id in &c.next_tests {
            let as_words = id.replace('_', " ");
            assert!(
                !out.contains(&format!("{as_words},")) && !out.contains(&format!("{as_words}\n")),
                "{format}: `{id}` shown as its id in words"
            );
        }
    }
}
