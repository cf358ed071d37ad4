//! `value[x]` read one way: units UCUM defines as equal are accepted, and a number without a
//! unit (`valueInteger`) for a numeric test is refused with its path, never dropped.

mod common;

use common::{kb, AS_OF};
use serde_json::{json, Value};

fn observation(loinc: &str, value: Value) -> Value {
    let mut o = json!({
        "resourceType": "Observation", "id": "o", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": loinc }] },
        "subject": { "reference": "Patient/p" }, "effectiveDateTime": "2025-12-01"
    });
    for (k, v) in value.as_object().unwrap() {
        o[k] = v.clone();
    }
    json!({ "resourceType": "Bundle", "type": "collection", "entry": [
        { "resource": { "resourceType": "Patient", "id": "p", "gender": "male", "birthDate": "1960-01-01" } },
        { "resource": o }
    ] })
}

#[test]
fn a_cubic_micrometre_is_a_femtolitre() {
    let q = |unit: &str| json!({ "valueQuantity": { "value": 104, "system": "http://unitsofmeasure.org", "code": unit, "unit": unit } });
    let fl = cobalt_fhir::to_case(&observation("787-2", q("fL")), AS_OF, kb()).unwrap();
    let um3 = cobalt_fhir::to_case(&observation("787-2", q("um3")), AS_OF, kb()).unwrap();
    assert_eq!(um3.parsed.labs, fl.parsed.labs);
    assert_eq!(um3.parsed.labs.len(), 1);
}

#[test]
fn value_integer_for_a_numeric_test_is_refused_with_its_path() {
    let e = cobalt_fhir::to_case(
        &observation("2132-9", json!({ "valueInteger": 120 })),
        AS_OF,
        kb(),
    )
    .expect_err("a number without a unit is refused");
    assert_eq!(e.path, "entry[1].resource.valueInteger");
    assert!(e.message.contains("needs a unit"), "{}", e.message);
}
