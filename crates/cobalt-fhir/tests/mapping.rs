//! One test per mapping rule, each on a FHIR R4 fixture under `tests/fixtures/` (every fixture
//! passes the official R4 JSON schema: `scripts/validate-fhir.mjs`). Each asserts the whole case
//! document the fixture maps to, and what was skipped.

mod common;

use common::{kb, map, skipped, AS_OF};
use serde_json::json;

/// The mapped case, written as its document and parsed again, is the same `Case` the mapping
/// validated (what `cobalt fhir-to-case` prints is what was assessed), and is `expected`.
fn assert_case(name: &str, expected: serde_json::Value) -> cobalt_fhir::Mapped {
    let m = map(name);
    let text = serde_json::to_string(&m.case).unwrap();
    let again = cobalt_core::parse_case(&text, &kb().vocab, &kb().analytes)
        .unwrap_or_else(|e| panic!("{name}: the mapped case does not parse: {e}"));
    assert_eq!(
        again, m.parsed,
        "{name}: the document parses to another case"
    );
    assert_eq!(
        m.document(),
        expected,
        "{name}: got\n{}",
        serde_json::to_string_pretty(&m.case).unwrap()
    );
    m
}

#[test]
fn patient_birth_date_sex_and_us_core_race_and_ethnicity() {
    let m = assert_case(
        "patient-race.json",
        json!({
            "format": "cobalt.case/1", "id": "patient-race", "as_of": "2026-01-15",
            "patient": {
                "age_years": 64, "sex": "female",
                "ethnicity": "Black or African American; Not Hispanic or Latino"
            }
        }),
    );
    assert_eq!(m.patient_id.as_deref(), Some("pat-race"));
    assert!(m.skipped.is_empty(), "{:?}", m.skipped);
}

#[test]
fn latest_pregnancy_status_wins_and_breastfeeding_is_read() {
    let m = assert_case(
        "pregnancy-observation.json",
        json!({
            "format": "cobalt.case/1", "id": "pregnancy-observation", "as_of": "2026-01-15",
            "patient": { "age_years": 31, "sex": "female", "pregnant": true, "breastfeeding": false }
        }),
    );
    assert!(m.skipped.is_empty(), "{:?}", m.skipped);
}

#[test]
fn b12_with_comparator_and_reference_range_and_entered_in_error_skipped() {
    let m = assert_case(
        "b12-comparator-range.json",
        json!({
            "format": "cobalt.case/1", "id": "b12-comparator-range", "as_of": "2026-01-15",
            "patient": { "age_years": 63, "sex": "female" },
            "labs": [{
                "test": "total_b12", "value": 60.0, "comparator": "<", "unit": "pg/mL",
                "reference_low": 198.0, "reference_high": 883.0, "date": "2025-11-28"
            }]
        }),
    );
    assert_eq!(
        skipped(&m),
        ["entry[2].resource: status entered-in-error: not a result"]
    );
}

#[test]
fn qualitative_antibody_from_a_snomed_code_and_from_text() {
    assert_case(
        "antibody-qualitative.json",
        json!({
            "format": "cobalt.case/1", "id": "antibody-qualitative", "as_of": "2026-01-15",
            "patient": { "age_years": 37, "sex": "male" },
            "labs": [
                { "test": "coeliac_serology", "result": "positive", "date": "2025-10-02" },
                { "test": "coeliac_serology", "result": "negative", "date": "2024-04-12" }
            ]
        }),
    );
}

#[test]
fn mma_in_umol_per_litre_takes_the_ucum_code_over_the_display_unit() {
    assert_case(
        "mma-umol.json",
        json!({
            "format": "cobalt.case/1", "id": "mma-umol", "as_of": "2026-01-15",
            "patient": { "age_years": 46, "sex": "male" },
            "labs": [{
                "test": "mma", "value": 0.62, "unit": "umol/L",
                "reference_low": 0.0, "reference_high": 0.4, "date": "2025-12-03"
            }]
        }),
    );
}

#[test]
fn conditions_active_and_without_status_count_resolved_and_refuted_do_not() {
    let m = assert_case(
        "conditions-status.json",
        json!({
            "format": "cobalt.case/1", "id": "conditions-status", "as_of": "2026-01-15",
            "patient": { "age_years": 55, "sex": "female" },
            "conditions": [
                { "concept": "crohns_disease", "since": "2012-06-01" },
                { "concept": "hypothyroidism" }
            ]
        }),
    );
    assert_eq!(
        skipped(&m),
        [
            "entry[2].resource: clinical status resolved: not present now",
            "entry[3].resource: verification status refuted",
        ]
    );
}

#[test]
fn icd10_subcodes_map_to_their_concept_and_g35_a_sets_the_ms_course() {
    assert_case(
        "icd10-subcode.json",
        json!({
            "format": "cobalt.case/1", "id": "icd10-subcode", "as_of": "2026-01-15",
            "patient": { "age_years": 39, "sex": "female" },
            "conditions": [
                { "concept": "crohns_disease", "since": "2015-02-01" },
                { "concept": "multiple_sclerosis", "since": "2021-09-17" }
            ],
            "ms": { "status": "relapsing_remitting" }
        }),
    );
}

#[test]
fn snomed_conditions_findings_and_a_provisional_ms_diagnosis() {
    assert_case(
        "snomed-condition.json",
        json!({
            "format": "cobalt.case/1", "id": "snomed-condition", "as_of": "2026-01-15",
            "patient": { "age_years": 35, "sex": "female" },
            "conditions": [{ "concept": "coeliac_disease", "since": "2018-05-05" }],
            "findings": [{ "concept": "paraesthesia" }],
            "ms": { "status": "suspected" }
        }),
    );
}

#[test]
fn medication_statements_with_periods_give_months_and_current() {
    let m = assert_case(
        "medication-statement-period.json",
        json!({
            "format": "cobalt.case/1", "id": "medication-statement-period", "as_of": "2026-01-15",
            "patient": { "age_years": 70, "sex": "male" },
            "medications": [
                { "concept": "metformin", "months": 48.0, "current": true },
                { "concept": "proton_pump_inhibitor", "months": 12.0, "current": false, "ended": "2021-01-01" }
            ]
        }),
    );
    assert_eq!(
        skipped(&m),
        ["entry[3].resource: status stopped: not taken"]
    );
}

#[test]
fn medication_requests_read_referenced_and_contained_medications() {
    let m = assert_case(
        "medication-request.json",
        json!({
            "format": "cobalt.case/1", "id": "medication-request", "as_of": "2026-01-15",
            "patient": { "age_years": 57, "sex": "female" },
            "medications": [
                { "concept": "proton_pump_inhibitor", "months": 6.0, "current": true },
                { "concept": "folic_acid", "months": 3.0, "current": true }
            ]
        }),
    );
    assert_eq!(
        skipped(&m),
        ["entry[4].resource: status cancelled: not taken"]
    );
}

/// A completed request lasts to the end of its validity period, which is when it was stopped; a
/// completed request with no end has no known duration (not the years since it was written).
#[test]
fn completed_medication_requests_end_with_their_validity_period() {
    let m = assert_case(
        "medication-request-completed.json",
        json!({
            "format": "cobalt.case/1", "id": "medication-request-completed", "as_of": "2026-01-15",
            "patient": { "age_years": 45, "sex": "female" },
            "medications": [
                { "concept": "proton_pump_inhibitor", "months": 0.5, "current": false, "ended": "2025-03-15" },
                { "concept": "metformin", "current": false }
            ]
        }),
    );
    assert!(m.skipped.is_empty(), "{:?}", m.skipped);
}

#[test]
fn intramuscular_hydroxocobalamin_is_replacement_and_oral_cyanocobalamin_stays_a_medicine() {
    assert_case(
        "hydroxocobalamin-im.json",
        json!({
            "format": "cobalt.case/1", "id": "hydroxocobalamin-im", "as_of": "2026-01-15",
            "patient": { "age_years": 53, "sex": "female" },
            "b12_replacement": { "status": "intramuscular", "since": "2025-11-01" },
            "medications": [{ "concept": "cyanocobalamin", "months": 3.5, "current": true }]
        }),
    );
}

#[test]
fn procedures_completed_count_and_an_acquired_absence_condition_is_a_procedure() {
    let m = assert_case(
        "procedure.json",
        json!({
            "format": "cobalt.case/1", "id": "procedure", "as_of": "2026-01-15",
            "patient": { "age_years": 60, "sex": "female" },
            "procedures": [
                { "concept": "bariatric_surgery", "date": "2019-04-23" },
                { "code": { "system": "http://snomed.info/sct", "code": "80146002" }, "date": "2001-08-12" },
                { "concept": "gastrectomy" }
            ]
        }),
    );
    assert_eq!(
        skipped(&m),
        ["entry[2].resource: status not-done: not done"]
    );
}

#[test]
fn unknown_codes_are_kept_as_unrecognised_never_an_error() {
    let m = assert_case(
        "unknown-code.json",
        json!({
            "format": "cobalt.case/1", "id": "unknown-code", "as_of": "2026-01-15",
            "patient": { "age_years": 67, "sex": "male" },
            "labs": [{ "code": { "system": "http://loinc.org", "code": "2276-4" }, "value": 25.0, "unit": "ng/mL" }],
            "conditions": [{ "code": { "system": "http://snomed.info/sct", "code": "38341003" } }],
            "medications": [{
                "code": { "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076" },
                "current": true
            }]
        }),
    );
    assert_eq!(
        skipped(&m),
        ["entry[4].resource: resource type Encounter is not read by cobalt"]
    );
    let case = cobalt_core::parse_case_value(m.document(), &kb().vocab, &kb().analytes).unwrap();
    let codes: Vec<(&str, &str)> = case
        .unrecognised
        .iter()
        .map(|u| (u.path.as_str(), u.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            ("medications[0].code", "314076"),
            ("conditions[0].code", "38341003"),
            ("labs[0].code", "2276-4"),
        ]
    );
}

#[test]
fn searchset_bundle_with_an_operation_outcome() {
    let m = assert_case(
        "searchset.json",
        json!({
            "format": "cobalt.case/1", "id": "searchset-labs", "as_of": "2026-01-15",
            "patient": { "age_years": 42, "sex": "female" },
            "labs": [
                { "test": "total_b12", "value": 152.0, "unit": "ng/L", "date": "2025-12-05" },
                { "test": "serum_folate", "value": 2.1, "unit": "ng/mL", "date": "2025-12-05" }
            ]
        }),
    );
    assert_eq!(
        skipped(&m),
        ["entry[3].resource: resource type OperationOutcome is not read by cobalt"]
    );
}

#[test]
fn transaction_bundle_with_urn_references_another_patient_and_a_delete() {
    let m = assert_case(
        "transaction.json",
        json!({
            "format": "cobalt.case/1", "id": "transaction-upload", "as_of": "2026-01-15",
            "patient": { "age_years": 34, "sex": "male" },
            "labs": [{ "test": "homocysteine", "value": 38.0, "unit": "umol/L", "date": "2025-12-12" }]
        }),
    );
    // The Patient has no id (only a urn:uuid fullUrl).
    assert_eq!(m.patient_id, None);
    let s = skipped(&m);
    assert_eq!(s.len(), 2, "{s:?}");
    assert!(s.contains(&"entry[3]: a DELETE request: no resource to read".to_string()));
    assert!(s
        .iter()
        .any(|l| l.starts_with("entry[2].resource: about another subject (urn:uuid:0d9e8f7a")));
}

// ---------------------------------------------------------------------------------------------
// Rules checked on small inputs rather than fixtures.

fn map_json(v: serde_json::Value) -> Result<cobalt_fhir::Mapped, cobalt_core::InputError> {
    cobalt_fhir::to_case(&v, AS_OF, kb())
}

#[test]
fn a_single_resource_and_an_array_of_resources_are_read() {
    let obs = json!({
        "resourceType": "Observation", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "14685-2" }] },
        "valueQuantity": { "value": 110, "unit": "pmol/L", "system": "http://unitsofmeasure.org", "code": "pmol/L" }
    });
    let one = map_json(obs.clone()).unwrap();
    assert_eq!(one.document()["labs"][0]["test"], "total_b12");
    let patient =
        json!({ "resourceType": "Patient", "id": "p1", "birthDate": "1980", "gender": "other" });
    let many = map_json(json!([patient, obs])).unwrap();
    // A year alone counts from 1 January.
    assert_eq!(
        many.document()["patient"],
        json!({ "age_years": 46, "sex": "other" })
    );
    assert_eq!(many.patient_id.as_deref(), Some("p1"));
}

#[test]
fn hydroxocobalamin_without_a_route_is_intramuscular_cyanocobalamin_without_one_is_a_medicine() {
    let stmt = |atc: &str| {
        json!({
            "resourceType": "MedicationStatement", "status": "active",
            "medicationCodeableConcept": { "coding": [{ "system": "http://www.whocc.no/atc", "code": atc }] },
            "subject": { "reference": "Patient/p" }, "effectivePeriod": { "start": "2025-12-15" }
        })
    };
    let m = map_json(stmt("B03BA03")).unwrap();
    assert_eq!(
        m.document()["b12_replacement"],
        json!({ "status": "intramuscular", "since": "2025-12-15" })
    );
    let m = map_json(stmt("B03BA01")).unwrap();
    assert!(m.document().get("b12_replacement").is_none());
    assert_eq!(
        m.document()["medications"],
        json!([{ "concept": "cyanocobalamin", "months": 1.0, "current": true }])
    );
    // A completed course is history, not replacement now.
    let mut done = stmt("B03BA03");
    done["status"] = json!("completed");
    done["effectivePeriod"]["end"] = json!("2025-12-30");
    let m = map_json(done).unwrap();
    assert!(m.document().get("b12_replacement").is_none());
    assert_eq!(m.document()["medications"][0]["current"], false);
}

#[test]
fn a_pregnancy_condition_counts_unless_the_pregnancy_has_ended() {
    let cond = |code: &str, clinical: &str| {
        json!({
            "resourceType": "Condition",
            "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": clinical }] },
            "code": { "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code }] },
            "subject": { "reference": "Patient/p" }
        })
    };
    assert_eq!(
        map_json(cond("Z34.01", "active")).unwrap().document()["patient"]["pregnant"],
        true
    );
    assert_eq!(
        map_json(cond("O24.410", "active")).unwrap().document()["patient"]["pregnant"],
        true
    );
    assert!(map_json(cond("O24.410", "resolved"))
        .unwrap()
        .document()
        .get("patient")
        .is_none());
    assert!(map_json(cond("O90.81", "active"))
        .unwrap()
        .document()
        .get("patient")
        .is_none());
    // An explicit pregnancy status observation wins over a condition.
    let obs = json!({
        "resourceType": "Observation", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "82810-3" }] },
        "valueCodeableConcept": { "coding": [{ "system": "http://loinc.org", "code": "LA26683-5" }] }
    });
    let m = map_json(json!([cond("Z33.1", "active"), obs])).unwrap();
    assert_eq!(m.document()["patient"]["pregnant"], false);
}

#[test]
fn a_finding_recorded_as_absent_is_not_a_finding() {
    let obs = |value: serde_json::Value| {
        let mut o = json!({
            "resourceType": "Observation", "status": "final",
            "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "84229001" }] }
        });
        o.as_object_mut()
            .unwrap()
            .extend(value.as_object().unwrap().clone());
        o
    };
    let present = map_json(obs(json!({ "valueBoolean": true }))).unwrap();
    assert_eq!(
        present.document()["findings"],
        json!([{ "concept": "fatigue" }])
    );
    let absent = map_json(obs(json!({ "valueBoolean": false }))).unwrap();
    assert!(absent.document().get("findings").is_none());
    assert!(absent.skipped[0].reason.contains("absent"));
}

#[test]
fn reference_ranges_in_another_unit_are_left_out() {
    let o = json!({
        "resourceType": "Observation", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "2132-9" }] },
        "valueQuantity": { "value": 300, "unit": "ng/L" },
        "referenceRange": [{ "low": { "value": 148, "unit": "pmol/L" } }]
    });
    let m = map_json(o).unwrap();
    assert!(m.document()["labs"][0].get("reference_low").is_none());
    assert_eq!(m.skipped[0].path, "referenceRange[0]");
}

#[test]
fn reference_ranges_in_a_unit_of_the_same_size_are_kept() {
    // pg/mL and ng/L are written differently but a number in one is the same in the other.
    let o = json!({
        "resourceType": "Observation", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "2132-9" }] },
        "valueQuantity": { "value": 300, "unit": "ng/L" },
        "referenceRange": [{ "low": { "value": 200, "unit": "pg/mL" } }]
    });
    let m = map_json(o).unwrap();
    assert_eq!(m.document()["labs"][0]["reference_low"], 200.0);
    assert!(m.skipped.is_empty(), "{:?}", m.skipped);
}

#[test]
fn values_of_the_wrong_kind_for_the_test_are_skipped_not_refused() {
    // A numeric tTG result: cobalt reads coeliac serology as positive or negative.
    let o = json!({
        "resourceType": "Observation", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "31017-7" }] },
        "valueQuantity": { "value": 3, "unit": "U/mL" }
    });
    let m = map_json(o).unwrap();
    assert!(m.document().get("labs").is_none());
    assert!(m.skipped[0]
        .reason
        .contains("positive, negative or equivocal"));
}

#[test]
fn observations_without_a_patient_follow_the_first_subject() {
    let obs = |subject: &str, value: f64| {
        json!({
            "resourceType": "Observation", "status": "final",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "2132-9" }] },
            "subject": { "reference": subject },
            "valueQuantity": { "value": value, "unit": "ng/L" }
        })
    };
    let m = map_json(json!([
        obs("https://fhir.example.org/r4/Patient/abc", 200.0),
        obs("Patient/abc", 210.0),
        obs("Patient/xyz", 90.0)
    ]))
    .unwrap();
    assert_eq!(m.patient_id.as_deref(), Some("abc"));
    assert_eq!(m.document()["labs"].as_array().unwrap().len(), 2);
    assert_eq!(m.skipped.len(), 1);
    assert_eq!(m.skipped[0].path, "[2]");
}

#[test]
fn resources_from_a_prefetch_keep_their_paths() {
    let patient = json!({ "resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1990-01-01" });
    let labs = json!({
        "resourceType": "Bundle", "type": "searchset",
        "entry": [{ "resource": {
            "resourceType": "Observation", "status": "cancelled",
            "code": { "coding": [{ "system": "http://loinc.org", "code": "2132-9" }] },
            "subject": { "reference": "Patient/p" }
        }}]
    });
    let (patient, labs) = (patient.to_string(), labs.to_string());
    let items = vec![
        ("prefetch.patient".to_string(), patient.as_str()),
        ("prefetch.labs".to_string(), labs.as_str()),
    ];
    let m = cobalt_fhir::resources_to_case(&items, AS_OF, kb()).unwrap();
    assert_eq!(m.patient_id.as_deref(), Some("p"));
    assert_eq!(m.document()["patient"]["age_years"], 36);
    assert_eq!(m.skipped[0].path, "prefetch.labs.entry[0].resource");
    // The case carries no Bundle id from a prefetch.
    assert!(m.document().get("id").is_some_and(|id| id == "p"));
}

#[test]
fn oct_rnfl_of_both_eyes_becomes_the_intereye_difference() {
    // The latest thickness of each eye counts (98 and 91.5 um; the older 110 um does not).
    let m = assert_case(
        "oct-rnfl.json",
        json!({
            "format": "cobalt.case/1", "id": "oct-rnfl", "as_of": "2026-01-15",
            "patient": { "age_years": 33, "sex": "female" },
            "optic_nerve": { "oct_prnfl_intereye_difference_um": 6.5 }
        }),
    );
    assert!(m.skipped.is_empty(), "{:?}", m.skipped);
    let a = cobalt_core::evaluate(
        kb(),
        &kb().profiles[&kb().meta.default_profile],
        &m.parsed,
        AS_OF,
    );
    assert_eq!(a.conclusions.mcdonald_2024.regions, Some(1));
    assert_eq!(a.mcdonald_2024_detail.optic_nerve_by, ["oct"]);
}
