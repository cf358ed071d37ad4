//! `POST /v1/assess` answers as `cobalt assess --format json` does: for FHIR input, with the
//! resources it did not use; and a document with a key given twice is refused, whether it is a
//! case or FHIR, with the path of the repeated key.

mod common;

use common::*;

const ASSESS: &str = "/v1/assess";

/// Two patients in one Bundle, and a resource type cobalt does not read.
fn two_patients() -> Value {
    json!({ "resourceType": "Bundle", "type": "collection", "entry": [
        { "resource": { "resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1943-05-01" } },
        { "resource": { "resourceType": "Observation", "id": "o1", "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "14685-2" }] },
            "subject": { "reference": "Patient/p1" }, "effectiveDateTime": "2025-10-01",
            "valueQuantity": { "value": 97, "unit": "pmol/L", "system": "http://unitsofmeasure.org", "code": "pmol/L" } } },
        { "resource": { "resourceType": "Patient", "id": "p2", "gender": "male", "birthDate": "1990-02-01" } },
        { "resource": { "resourceType": "Observation", "id": "o2", "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "14685-2" }] },
            "subject": { "reference": "Patient/p2" }, "effectiveDateTime": "2025-11-01",
            "valueQuantity": { "value": 400, "unit": "pmol/L", "system": "http://unitsofmeasure.org", "code": "pmol/L" } } },
        { "resource": { "resourceType": "Encounter", "id": "e1", "status": "finished" } }
    ]})
}

/// For the Bundle above, `cobalt assess --format json` gives the assessment of the first patient
/// and these `skipped_resources` (its output, recorded).
fn skipped_as_the_cli_gives_them() -> Value {
    json!([
        { "path": "entry[2].resource", "kind": "other_patient",
          "reason": "another patient (p2); only the first Patient is used" },
        { "path": "entry[3].resource", "kind": "other_patient",
          "reason": "about another subject (Patient/p2); the case is about Patient/p1" },
        { "path": "entry[4].resource", "kind": "type_not_read",
          "reason": "resource type Encounter is not read by cobalt" }
    ])
}

#[tokio::test]
async fn a_bundle_of_two_patients_is_answered_with_what_was_not_used_as_the_cli_does() {
    let (s, _) = state().await;
    let bundle = two_patients();
    let (status, v) = call(
        &s,
        "POST",
        ASSESS,
        Some(&token(ASSESS)),
        Some(bundle.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["skipped_resources"],
        skipped_as_the_cli_gives_them(),
        "{v}"
    );
    // Everything else is the first patient's assessment, as the CLI writes it.
    let as_of = cobalt_server::today();
    let m = cobalt_fhir::from_slice(bundle.to_string().as_bytes(), as_of, &s.kb).unwrap();
    let a = cobalt_core::evaluate(&s.kb, &s.profile, &m.parsed, as_of);
    let mut want = serde_json::to_value(&a).unwrap();
    want["skipped_resources"] = skipped_as_the_cli_gives_them();
    assert_eq!(v, want);
    assert_eq!(
        v["conclusions"]["b12_status"], "deficient",
        "p1's 97 pmol/L"
    );
    // A case document has nothing skipped and no such member, as with the CLI.
    let case = json!({ "format": "cobalt.case/1", "as_of": "2026-01-01", "labs": [{ "test": "total_b12", "value": 150, "unit": "ng/L" }] });
    let (status, v) = call(&s, "POST", ASSESS, Some(&token(ASSESS)), Some(case)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v.get("skipped_resources").is_none(), "{v}");
}

#[tokio::test]
async fn a_case_with_a_key_given_twice_is_refused_with_its_path() {
    let (s, _) = state().await;
    for (body, path) in [
        (
            r#"{"format": "cobalt.case/1", "patient": {"age_years": 40, "age_years": 9}}"#,
            "patient.age_years",
        ),
        // Another problem first: the repeat is still found, not read as its last value.
        (
            r#"{"format": "cobalt.case/1", "patient": {"age_years": "forty", "age_years": 40}}"#,
            "patient.age_years",
        ),
        (
            r#"{"format": "cobalt.case/1", "labs": [{"test": "total_b12", "value": 150, "unit": "ng/L", "value": 400}]}"#,
            "labs[0].value",
        ),
        (
            r#"{"format": "cobalt.case/1", "format": "cobalt.case/1"}"#,
            "format",
        ),
    ] {
        let (status, v) = call_text(&s, ASSESS, Some(&token(ASSESS)), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["path"], path, "{body}: {v}");
        assert!(
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("duplicate")),
            "{body}: {v}"
        );
    }
    // FHIR input refused a repeated key before; it still does.
    let fhir = r#"{"resourceType": "Observation", "status": "final", "status": "cancelled",
        "code": {"coding": [{"system": "http://loinc.org", "code": "14685-2"}]}}"#;
    let (status, v) = call_text(&s, ASSESS, Some(&token(ASSESS)), fhir).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["path"], "status", "{v}");
    // A valid case is still answered.
    let ok = r#"{"format": "cobalt.case/1", "patient": {"age_years": 40}}"#;
    let (status, v) = call_text(&s, ASSESS, Some(&token(ASSESS)), ok).await;
    assert_eq!(status, StatusCode::OK, "{v}");
}
