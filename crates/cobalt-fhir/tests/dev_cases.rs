//! Published cases (`tests/published/`) re-encoded as FHIR R4 Bundles
//! (`tests/fixtures/dev-*.json`): assessing the Bundle reaches the same conclusions as assessing
//! the case, and meets the case's `expect` block. This is the path `cobalt assess BUNDLE.json`
//! takes: map, parse, evaluate.
//!
//! The three cases are those whose content FHIR carries through cobalt's mapping. Others need
//! what the mapping does not read (MRI lesions, CSF bands, attack counts, a finding's laterality
//! or course, diet) or codes the vocabulary lacks (for example the intrinsic factor antibody
//! test of B12-06 and the recreational nitrous oxide exposure of FUN-02).

mod common;

use common::{fixture, kb, AS_OF};
use serde_json::Value;
use std::path::PathBuf;

fn dev_case(id: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/published")
        .join(format!("{id}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn conclusions(case: Value) -> Value {
    let kb = kb();
    let profile = &kb.profiles[&kb.meta.default_profile];
    let case = cobalt_core::parse_case_value(case, &kb.vocab, &kb.analytes).unwrap();
    let a = cobalt_core::evaluate(kb, profile, &case, case.as_of.unwrap_or(AS_OF));
    serde_json::to_value(&a).unwrap()["conclusions"].clone()
}

/// `unmapped`: conclusions (as `key.field`) that rest on case content FHIR does not carry here.
fn same_conclusions(id: &str, unmapped: &[(&str, &str)]) {
    let doc = dev_case(id);
    let mut from_case = conclusions(doc["case"].clone());
    for (k, f) in unmapped {
        from_case[k][f] = Value::Null;
    }
    let mapped = cobalt_fhir::to_case(&fixture(&format!("dev-{id}.json")), AS_OF, kb())
        .unwrap_or_else(|e| panic!("{id}: {e}"));
    assert_eq!(mapped.document()["id"], id);
    let from_bundle = conclusions(mapped.document());
    assert_eq!(
        from_bundle,
        from_case,
        "{id}: the Bundle's conclusions differ from the case's; mapped case:\n{}",
        serde_json::to_string_pretty(&mapped.case).unwrap()
    );
    let kb = kb();
    let case = cobalt_core::parse_case_value(mapped.document(), &kb.vocab, &kb.analytes).unwrap();
    let a = cobalt_core::evaluate(kb, &kb.profiles[&kb.meta.default_profile], &case, AS_OF);
    let failures = cobalt_kb::check::check_expect(&a, &doc["expect"]);
    assert!(failures.is_empty(), "{id}: {}", failures.join("\n"));
}

#[test]
fn b12_11_bundle_reaches_the_cases_conclusions() {
    same_conclusions("B12-11", &[]);
}

#[test]
fn b12_14_bundle_reaches_the_cases_conclusions() {
    // The case's MRI (a symmetric dorsal-column pattern) is not in the Bundle: with it, the 2024
    // count of regions is 0 of the assessed cord; without imaging it is null.
    same_conclusions("B12-14", &[("mcdonald_2024", "regions")]);
}

#[test]
fn coex_02_bundle_reaches_the_cases_conclusions() {
    same_conclusions("COEX-02", &[]);
}
