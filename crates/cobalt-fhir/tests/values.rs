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

/// Every reason a fixture's resource is skipped for falls in a kind that names it, so that the
/// counts by kind in screening mean what they say.
#[test]
fn every_skip_reason_has_its_kind() {
    let mut seen = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(common::fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(m) = cobalt_fhir::to_case(&common::fixture(&name), AS_OF, kb()) else {
            continue;
        };
        for s in &m.skipped {
            let k = s.kind();
            assert!(cobalt_fhir::SKIP_KINDS.contains(&k));
            let r = s.reason.to_lowercase();
            let fits = match k {
                "value_not_read" => ["value", "comparator", "range", "number", "result", "unit"]
                    .iter()
                    .any(|w| r.contains(w)),
                "status" => r.contains("status"),
                "other_patient" => r.contains("patient") || r.contains("subject"),
                "no_code" => r.contains("code") || r.contains("text") || r.contains("medication"),
                "type_not_read" => r.contains("resource type"),
                _ => true,
            };
            assert!(fits, "{name}: `{}` counted as {k}", s.reason);
            seen.insert(k);
        }
    }
    assert!(seen.len() >= 4, "{seen:?}");
}
