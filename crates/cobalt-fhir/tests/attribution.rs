//! Whose data a resource is, and how often it counts: a resource not shown to be the patient's
//! is not used for them (`resources_for_patient`, and `from_slice` when the input holds more
//! than one patient), and the same resource read twice counts once.

mod common;

use common::*;
use serde_json::{json, Value};

/// A total B12 result of 180 pg/mL on 1 October 2025, with `extra` fields (a subject, an id).
fn b12(extra: Value) -> Value {
    let mut o = json!({
        "resourceType": "Observation", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "2132-9" }] },
        "effectiveDateTime": "2025-10-01",
        "valueQuantity": { "value": 180, "unit": "pg/mL", "system": "http://unitsofmeasure.org", "code": "pg/mL" }
    });
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

fn bundle(resources: &[Value]) -> Value {
    let entries: Vec<Value> = resources.iter().map(|r| json!({ "resource": r })).collect();
    json!({ "resourceType": "Bundle", "type": "collection", "entry": entries })
}

/// Maps items as the service gathers them (each under its own path) for patient `p1`.
fn for_p1(items: &[(&str, Value)]) -> Result<cobalt_fhir::Mapped, cobalt_core::InputError> {
    let texts: Vec<(String, String)> = items
        .iter()
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect();
    let refs: Vec<(String, &str)> = texts.iter().map(|(p, t)| (p.clone(), t.as_str())).collect();
    cobalt_fhir::resources_for_patient(&refs, "p1", AS_OF, kb())
}

/// The skipped records as `path kind`.
fn kinds(m: &cobalt_fhir::Mapped) -> Vec<String> {
    m.skipped
        .iter()
        .map(|s| format!("{} {}", s.path, s.kind()))
        .collect()
}

fn fired(m: &cobalt_fhir::Mapped, rule: &str) -> bool {
    let kb = kb();
    let a = cobalt_core::evaluate(kb, &kb.profiles[&kb.meta.default_profile], &m.parsed, AS_OF);
    a.fired(rule)
}

/// The B12 status the case is assessed as.
fn status(m: &cobalt_fhir::Mapped) -> String {
    let kb = kb();
    let a = cobalt_core::evaluate(kb, &kb.profiles[&kb.meta.default_profile], &m.parsed, AS_OF);
    a.conclusions.b12_status.as_str().to_string()
}

// ---------------------------------------------------------------------------------------------
// A resource not shown to be the patient's.

#[test]
fn for_a_named_patient_a_resource_without_a_subject_naming_them_is_not_used() {
    let patient = json!({ "resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-01-01" });
    let observations = bundle(&[
        b12(json!({ "id": "none" })),
        b12(
            json!({ "id": "identifier", "subject": { "identifier": { "system": "urn:mrn", "value": "p1" } } }),
        ),
        b12(json!({ "id": "display", "subject": { "display": "p1" } })),
    ]);
    let others = bundle(&[
        json!({ "resourceType": "Condition", "id": "c", "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
            "code": { "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10", "code": "K50.9" }] } }),
        json!({ "resourceType": "MedicationStatement", "id": "ms", "status": "active",
            "medicationCodeableConcept": { "coding": [{ "system": "http://www.whocc.no/atc", "code": "A10BA02" }] } }),
        json!({ "resourceType": "MedicationRequest", "id": "mr", "status": "active", "intent": "order",
            "medicationCodeableConcept": { "coding": [{ "system": "http://www.whocc.no/atc", "code": "A10BA02" }] } }),
        json!({ "resourceType": "Procedure", "id": "pr", "status": "completed",
            "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "26390003" }] } }),
    ]);
    let m = for_p1(&[
        ("prefetch.patient", patient.clone()),
        ("prefetch.observations", observations),
        ("prefetch.others", others),
    ])
    .expect("not refused: nothing names another patient");
    // Nothing of theirs is assessed: no result, condition, medicine or procedure.
    assert!(m.parsed.labs.is_empty(), "{:?}", m.parsed.labs);
    assert!(m.case.conditions.is_empty() && m.case.medications.is_empty());
    assert!(m.case.procedures.is_empty());
    assert_eq!(status(&m), "not_tested");
    let mut want: Vec<String> = (0..3)
        .map(|i| format!("prefetch.observations.entry[{i}].resource no_patient"))
        .collect();
    want.extend((0..4).map(|i| format!("prefetch.others.entry[{i}].resource no_patient")));
    assert_eq!(kinds(&m), want);
    for s in &m.skipped {
        assert!(cobalt_fhir::SKIP_KINDS.contains(&s.kind()));
        assert!(
            s.reason.starts_with("no subject naming Patient/p1") && s.reason.ends_with("not used"),
            "{}",
            s.reason
        );
    }
    // The same result naming the patient is used.
    let named = bundle(&[b12(
        json!({ "id": "o1", "subject": { "reference": "Patient/p1" } }),
    )]);
    let m = for_p1(&[
        ("prefetch.patient", patient),
        ("prefetch.observations", named),
    ])
    .unwrap();
    assert_eq!(m.parsed.labs.len(), 1);
    assert!(m.skipped.is_empty(), "{:?}", m.skipped);
}

#[test]
fn for_a_named_patient_another_patients_resource_is_still_refused() {
    let e = for_p1(&[(
        "prefetch.observations",
        bundle(&[
            b12(json!({ "id": "none" })),
            b12(json!({ "id": "o2", "subject": { "reference": "Patient/p2" } })),
        ]),
    )])
    .expect_err("another patient's result is refused");
    assert_eq!(
        e.path,
        "prefetch.observations.entry[1].resource.subject.reference"
    );
}

/// A Bundle given without a patient id (the CLI, `/v1/assess`) keeps reading a single patient's
/// resources that carry no subject: nothing in it is anyone else's.
#[test]
fn a_single_patient_bundle_without_subjects_is_still_read() {
    let m = cobalt_fhir::to_case(
        &bundle(&[
            json!({ "resourceType": "Patient", "id": "p1", "gender": "female" }),
            b12(json!({})),
        ]),
        AS_OF,
        kb(),
    )
    .unwrap();
    assert_eq!(m.parsed.labs.len(), 1);
    assert!(m.skipped.is_empty(), "{:?}", m.skipped);
}

/// When the input holds more than one patient, a resource without a subject could be either's:
/// it is not used, wherever it stands in the Bundle.
#[test]
fn in_a_bundle_of_two_patients_a_resource_without_a_subject_is_not_used() {
    let p1 = json!({ "resourceType": "Patient", "id": "p1", "gender": "female" });
    let p2 = json!({ "resourceType": "Patient", "id": "p2", "gender": "male" });
    let theirs = b12(
        json!({ "id": "o1", "subject": { "reference": "Patient/p1" }, "effectiveDateTime": "2025-11-01" }),
    );
    let nobody = b12(json!({ "id": "o0" }));
    for (resources, at) in [
        (
            vec![p1.clone(), nobody.clone(), theirs.clone(), p2.clone()],
            1,
        ),
        (
            vec![p1.clone(), theirs.clone(), p2.clone(), nobody.clone()],
            3,
        ),
    ] {
        let m = cobalt_fhir::to_case(&bundle(&resources), AS_OF, kb()).unwrap();
        assert_eq!(m.patient_id.as_deref(), Some("p1"));
        assert_eq!(m.parsed.labs.len(), 1, "only the result naming p1");
        let k = kinds(&m);
        assert!(
            k.contains(&format!("entry[{at}].resource no_patient")),
            "{k:?}"
        );
    }
    // An Observation of the second patient, named by its subject, is skipped as before.
    let m = cobalt_fhir::to_case(
        &bundle(&[
            p1,
            theirs,
            b12(json!({ "subject": { "reference": "Patient/p2" } })),
        ]),
        AS_OF,
        kb(),
    )
    .unwrap();
    assert_eq!(kinds(&m), ["entry[2].resource other_patient"]);
}

// ---------------------------------------------------------------------------------------------
// The same resource read twice.

#[test]
fn a_repeated_observation_is_one_result_and_one_skipped_duplicate() {
    let patient = json!({ "resourceType": "Patient", "id": "p1", "gender": "female" });
    let o = b12(json!({ "id": "o1", "subject": { "reference": "Patient/p1" } }));
    let m = cobalt_fhir::to_case(&bundle(&[patient, o.clone(), o]), AS_OF, kb()).unwrap();
    assert_eq!(m.parsed.labs.len(), 1, "{:?}", m.parsed.labs);
    assert_eq!(kinds(&m), ["entry[2].resource duplicate"]);
    assert!(
        m.skipped[0].reason.contains("Observation/o1")
            && m.skipped[0].reason.contains("entry[1].resource"),
        "{}",
        m.skipped[0].reason
    );
    // No repeat test that never happened: LAB-010 compares earlier results.
    assert!(!fired(&m, "LAB-010"));
}

#[test]
fn resources_without_an_id_or_of_another_type_are_never_duplicates() {
    let o = b12(json!({}));
    let later = b12(json!({ "effectiveDateTime": "2025-12-01" }));
    let m = cobalt_fhir::to_case(&bundle(&[o, later]), AS_OF, kb()).unwrap();
    assert_eq!(m.parsed.labs.len(), 2);
    assert!(m.skipped.is_empty(), "{:?}", m.skipped);
    assert!(
        fired(&m, "LAB-010"),
        "two results without ids are two results"
    );
    // The same id on a statement and a request is two resources.
    let med = |kind: &str| {
        json!({ "resourceType": kind, "id": "m1", "status": "active", "intent": "order",
            "medicationCodeableConcept": { "coding": [{ "system": "http://www.whocc.no/atc", "code": "A10BA02" }] } })
    };
    let m = cobalt_fhir::to_case(
        &bundle(&[med("MedicationStatement"), med("MedicationRequest")]),
        AS_OF,
        kb(),
    )
    .unwrap();
    assert!(
        m.skipped.iter().all(|s| s.kind() != "duplicate"),
        "{:?}",
        m.skipped
    );
}

#[test]
fn the_same_observation_in_two_prefetch_items_is_used_once() {
    let o = b12(json!({ "id": "o1", "subject": { "reference": "Patient/p1" } }));
    let m = for_p1(&[
        ("prefetch.observations", bundle(std::slice::from_ref(&o))),
        ("prefetch.procedures", bundle(&[o])),
    ])
    .unwrap();
    assert_eq!(m.parsed.labs.len(), 1);
    assert_eq!(
        kinds(&m),
        ["prefetch.procedures.entry[0].resource duplicate"]
    );
    assert!(!fired(&m, "LAB-010"));
}

#[test]
fn a_repeated_patient_or_medication_is_a_duplicate() {
    let patient = json!({ "resourceType": "Patient", "id": "p1", "gender": "female" });
    let med = json!({ "resourceType": "Medication", "id": "met",
        "code": { "coding": [{ "system": "http://www.whocc.no/atc", "code": "A10BA02" }] } });
    let request = json!({ "resourceType": "MedicationRequest", "id": "r1", "status": "active", "intent": "order",
        "subject": { "reference": "Patient/p1" }, "medicationReference": { "reference": "Medication/met" } });
    let m = cobalt_fhir::to_case(
        &bundle(&[patient.clone(), med.clone(), request, patient, med]),
        AS_OF,
        kb(),
    )
    .unwrap();
    assert_eq!(m.case.medications.len(), 1);
    assert_eq!(
        kinds(&m),
        ["entry[3].resource duplicate", "entry[4].resource duplicate"]
    );
}
