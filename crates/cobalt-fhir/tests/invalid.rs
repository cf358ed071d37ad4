//! Every rejection of invalid input, with the JSON path it names. Invalid FHIR is refused by the
//! mapper; values the case format refuses (a unit the test cannot have, an impossible age) are
//! refused by the case parser and named by the FHIR element they came from.

mod common;

use common::{kb, AS_OF};
use serde_json::{json, Value};

fn refused(input: Value) -> (String, String) {
    match cobalt_fhir::to_case(&input, AS_OF, kb()) {
        Ok(m) => panic!("accepted: {}", m.document()),
        Err(e) => (e.path, e.message),
    }
}

fn bundle(resources: Vec<Value>) -> Value {
    json!({
        "resourceType": "Bundle", "type": "collection",
        "entry": resources.into_iter().map(|r| json!({ "resource": r })).collect::<Vec<_>>()
    })
}

fn b12(value_quantity: Value) -> Value {
    json!({
        "resourceType": "Observation", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "2132-9" }] },
        "valueQuantity": value_quantity
    })
}

#[test]
fn not_an_object() {
    let (path, msg) = refused(json!("Bundle"));
    assert_eq!(path, "$");
    assert!(msg.contains("found a string"), "{msg}");
    let (path, _) = refused(json!([{ "resourceType": "Patient" }, 3]));
    assert_eq!(path, "[1]");
}

#[test]
fn missing_or_wrong_resource_type() {
    let (path, msg) = refused(json!({ "id": "x" }));
    assert_eq!(path, "resourceType");
    assert!(msg.starts_with("missing"), "{msg}");
    let (path, _) = refused(bundle(vec![json!({ "resourceType": 7 })]));
    assert_eq!(path, "entry[0].resource.resourceType");
}

#[test]
fn bundle_entry_is_not_an_array() {
    let (path, msg) =
        refused(json!({ "resourceType": "Bundle", "type": "collection", "entry": {} }));
    assert_eq!(path, "entry");
    assert!(msg.contains("expected an array"), "{msg}");
}

#[test]
fn bundle_entry_is_not_an_object_or_resource_is_not_one() {
    let (path, _) =
        refused(json!({ "resourceType": "Bundle", "type": "collection", "entry": [[]] }));
    assert_eq!(path, "entry[0]");
    let (path, _) = refused(
        json!({ "resourceType": "Bundle", "type": "collection", "entry": [{ "resource": "x" }] }),
    );
    assert_eq!(path, "entry[0].resource");
}

#[test]
fn bundle_type_missing_or_not_read() {
    let (path, _) = refused(json!({ "resourceType": "Bundle", "entry": [] }));
    assert_eq!(path, "type");
    let (path, msg) = refused(json!({ "resourceType": "Bundle", "type": "history", "entry": [] }));
    assert_eq!(path, "type");
    assert!(
        msg.contains("collection, searchset, transaction, batch"),
        "{msg}"
    );
}

#[test]
fn value_of_the_wrong_json_type() {
    let input = bundle(vec![
        json!({ "resourceType": "Patient", "id": "p" }),
        json!({ "resourceType": "Encounter" }),
        json!({ "resourceType": "Procedure", "status": "completed" }),
        b12(json!({ "value": "150", "unit": "ng/L" })),
    ]);
    let (path, msg) = refused(input);
    assert_eq!(path, "entry[3].resource.valueQuantity.value");
    assert!(msg.contains("invalid type: string"), "{msg}");
    let (path, _) = refused(json!({
        "resourceType": "Condition", "code": { "coding": { "system": "http://snomed.info/sct", "code": "1" } }
    }));
    assert_eq!(path, "code.coding");
}

#[test]
fn bad_dates() {
    let (path, msg) = refused(bundle(vec![json!({
        "resourceType": "Patient", "birthDate": "1980-02-30"
    })]));
    assert_eq!(path, "entry[0].resource.birthDate");
    assert!(msg.contains("not a FHIR date"), "{msg}");
    let mut obs = b12(json!({ "value": 150, "unit": "ng/L" }));
    obs["effectiveDateTime"] = json!("2025-12-01T10:00");
    let (path, _) = refused(bundle(vec![obs]));
    assert_eq!(path, "entry[0].resource.effectiveDateTime");
    let (path, _) = refused(json!({
        "resourceType": "MedicationStatement", "status": "active",
        "medicationCodeableConcept": { "coding": [{ "system": "http://www.whocc.no/atc", "code": "A10BA02" }] },
        "effectivePeriod": { "start": "01/02/2020" }
    }));
    assert_eq!(path, "effectivePeriod.start");
}

#[test]
fn gender_outside_the_fhir_value_set() {
    let (path, msg) = refused(json!({ "resourceType": "Patient", "gender": "F" }));
    assert_eq!(path, "gender");
    assert!(
        msg.contains("expected male, female, other or unknown"),
        "{msg}"
    );
}

#[test]
fn a_unit_the_test_cannot_have_is_named_by_its_fhir_element() {
    let (path, msg) = refused(bundle(vec![b12(json!({
        "value": 150, "unit": "milligrams", "system": "http://unitsofmeasure.org", "code": "mg"
    }))]));
    assert_eq!(path, "entry[0].resource.valueQuantity.code");
    assert!(
        msg.contains("is a mass or molar concentration") && msg.contains("`mg` is not one"),
        "{msg}"
    );
    let (path, _) = refused(bundle(vec![b12(
        json!({ "value": 150, "unit": "furlongs" }),
    )]));
    assert_eq!(path, "entry[0].resource.valueQuantity.unit");
    let (path, msg) = refused(bundle(vec![b12(json!({ "value": 150 }))]));
    assert_eq!(path, "entry[0].resource.valueQuantity");
    assert!(msg.contains("needs its unit"), "{msg}");
}

#[test]
fn impossible_values_are_named_by_their_fhir_element() {
    let (path, _) = refused(bundle(vec![b12(json!({ "value": -5, "unit": "ng/L" }))]));
    assert_eq!(path, "entry[0].resource.valueQuantity.value");
    let (path, msg) = refused(bundle(vec![b12(json!({ "value": 1e12, "unit": "pg/mL" }))]));
    assert_eq!(path, "entry[0].resource.valueQuantity.value");
    assert!(msg.contains("is impossible for `total_b12`"), "{msg}");
    let (path, msg) = refused(json!({ "resourceType": "Patient", "birthDate": "2027-01-01" }));
    assert_eq!(path, "birthDate");
    assert!(msg.contains("impossible"), "{msg}");
    let (path, _) = refused(bundle(vec![b12(
        json!({ "value": 150, "unit": "ng/L", "comparator": "~" }),
    )]));
    assert_eq!(path, "entry[0].resource.valueQuantity.comparator");
}

#[test]
fn a_pregnant_man_is_refused_at_the_pregnancy_record() {
    let (path, msg) = refused(bundle(vec![
        json!({ "resourceType": "Patient", "id": "p", "gender": "male" }),
        json!({
            "resourceType": "Observation", "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "82810-3" }] },
            "valueCodeableConcept": { "coding": [{ "system": "http://loinc.org", "code": "LA15173-0" }] }
        }),
    ]));
    assert_eq!(path, "entry[1].resource.valueCodeableConcept");
    assert!(msg.contains("male"), "{msg}");
}

#[test]
fn prefetch_paths_are_kept_in_errors() {
    let bad = json!({ "resourceType": "Observation", "status": 3 }).to_string();
    let items = vec![("prefetch.labs".to_string(), bad.as_str())];
    let e = cobalt_fhir::resources_to_case(&items, AS_OF, kb()).unwrap_err();
    assert_eq!(e.path, "prefetch.labs.status");
}

#[test]
fn a_duplicate_key_is_refused_with_its_path() {
    let text = r#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p","birthDate":"1950-01-01","birthDate":"2000-01-01"}}]}"#;
    let e = cobalt_fhir::from_slice(text.as_bytes(), AS_OF, kb()).unwrap_err();
    assert_eq!(e.path, "entry[0].resource.birthDate");
    assert!(e.message.contains("duplicate field"), "{}", e.message);
}

#[test]
fn an_impossible_birth_date_is_named_as_a_date() {
    for (birth, words) in [
        ("2090-01-01", "after the assessment date"),
        ("1850-06-01", "an age of"),
    ] {
        let (path, msg) =
            refused(json!({ "resourceType": "Patient", "id": "p", "birthDate": birth }));
        assert_eq!(path, "birthDate");
        assert!(msg.contains(birth) && msg.contains(words), "{msg}");
    }
}
