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
    let case = cobalt_core::parse_case(
        r#"{"format":"cobalt.case/1","id":"<script>alert(1)</script>","patient":{"ethnicity":"Black <b>"},"labs":[{"test":"total_b12","value":150,"unit":"ng/L"}]}"#,
        &kb.vocab,
        &kb.analytes,
    )
    .unwrap();
    let a = cobalt_core::evaluate(
        &kb,
        &kb.profiles["nice-ng239"],
        &case,
        cobalt_core::case::parse_date("2026-01-01").unwrap(),
    );
    let html = cobalt_report::html(&a);
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}
