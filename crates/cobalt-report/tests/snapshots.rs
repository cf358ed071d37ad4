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
fn pregnant_vegan() {
    check("pregnant-vegan.json");
}
