//! Screening on small exports written here: reconciliation, bad lines, gzip, the manifest, and
//! agreement with one-patient assessment.

mod common;

use common::options_as as options;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cobalt-screen-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_lines(path: &Path, lines: &[String], gzip: bool) {
    let text = lines.join("\n") + "\n";
    if gzip {
        let f = std::fs::File::create(path).unwrap();
        let mut g = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        g.write_all(text.as_bytes()).unwrap();
        g.finish().unwrap();
    } else {
        std::fs::write(path, text).unwrap();
    }
}

fn patient(id: &str, gender: &str, birth: &str) -> String {
    json!({"resourceType": "Patient", "id": id, "gender": gender, "birthDate": birth}).to_string()
}

fn b12(id: &str, pat: &str, value: Value, unit: &str, date: &str) -> String {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
        "subject": {"reference": format!("Patient/{pat}")}, "effectiveDateTime": date,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}).to_string()
}

fn med(id: &str, pat: &str, atc: &str, start: &str) -> String {
    json!({"resourceType": "MedicationStatement", "id": id, "status": "active",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": atc}]},
        "subject": {"reference": format!("Patient/{pat}")}, "effectivePeriod": {"start": start}}).to_string()
}

fn ms(id: &str, pat: &str) -> String {
    json!({"resourceType": "Condition", "id": id,
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "G35"}]},
        "subject": {"reference": format!("Patient/{pat}")}}).to_string()
}

fn export(d: &Path, gzip: bool) {
    let ext = if gzip { "ndjson.gz" } else { "ndjson" };
    write_lines(
        &d.join(format!("Patient.{ext}")),
        &[
            patient("p3", "female", "1950-01-01"),
            patient("p1", "male", "1960-01-01"),
            "{not json".into(),
            patient("p2", "female", "1990-06-01"),
        ],
        gzip,
    );
    write_lines(&d.join(format!("Observation.{ext}")), &[
        b12("o1", "p1", json!(150), "pg/mL", "2025-06-01"),
        b12("o2", "p3", json!(600), "pg/mL", "2025-06-01"),
        b12("o3", "p3", json!(200), "fL", "2025-07-01"),
        json!({"resourceType": "Observation", "id": "o4", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]}}).to_string(),
        json!({"noResourceType": true}).to_string(),
    ], gzip);
    write_lines(
        &d.join(format!("MedicationStatement.{ext}")),
        &[med("m1", "p3", "A10BA02", "2018-01-01")],
        gzip,
    );
    write_lines(&d.join(format!("Condition.{ext}")), &[ms("c1", "p2")], gzip);
}

fn run_with(opts: &cobalt_screen::Options) -> cobalt_screen::Summary {
    let kb = cobalt_kb::load().unwrap();
    let profile = &kb.profiles[&kb.meta.default_profile];
    cobalt_screen::screen(&kb, profile, opts, &|_| {}).unwrap()
}

fn run(input: &Path, out: &Path, format: cobalt_screen::Format) -> cobalt_screen::Summary {
    run_with(&options(input, out, format))
}

fn read_ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_patient_is_accounted_for_and_bad_lines_become_error_records() {
    let d = dir("plain");
    export(&d, false);
    let out = d.join("results");
    let s = run(&d, &out, cobalt_screen::Format::Ndjson);
    assert_eq!(s.patients_read, 3);
    assert_eq!(s.patients_assessed + s.patients_in_error, s.patients_read);
    assert_eq!(s.patients_assessed, 3);
    assert_eq!(s.lines_read, 11);
    // The unparseable line, the Observation without a subject, and the B12 in fL. The
    // Observation line without resourceType holds no code cobalt reads: skipped unparsed.
    assert_eq!(s.bad_lines, 3, "{:?}", s.bad_lines_by_kind);
    assert_eq!(s.lines_skipped, 1);
    let errors: Vec<Value> = std::fs::read_to_string(out.join("errors.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let bad_unit = errors
        .iter()
        .find(|e| e["kind"] == "invalid_value")
        .expect("unit error");
    assert_eq!(bad_unit["file"], "Observation.ndjson");
    assert_eq!(bad_unit["line"], 3);
    assert_eq!(bad_unit["patient"], "p3");
    let not_json = errors.iter().find(|e| e["kind"] == "not_json").unwrap();
    assert_eq!(
        (not_json["file"].as_str(), not_json["line"].as_u64()),
        (Some("Patient.ndjson"), Some(3))
    );

    let results = read_ndjson(&out.join("results.ndjson"));
    let ids: Vec<&str> = results.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["p1", "p2", "p3"], "results in patient-id order");
    assert_eq!(results[0]["b12_status"], "deficient");
    assert_eq!(results[0]["b12_value"], 150.0);
    assert_eq!(results[0]["b12_unit"], "pg/mL");
    assert_eq!(results[0]["b12_date"], "2025-06-01");
    assert_eq!(results[1]["flags"], json!(["demyelination_untested"]));
    assert_eq!(results[1]["b12_value"], Value::Null);
    assert_eq!(
        results[2]["b12_status"], "not_deficient",
        "the fL line is dropped, not the patient"
    );
    assert_eq!(
        results[2]["refused_lines"], 1,
        "the refused B12 line is counted"
    );
    assert_eq!(results[0]["refused_lines"], 0);
    assert_eq!(s.by_flag.get("deficient_untreated"), Some(&1));
    assert_eq!(s.by_b12_status.values().sum::<u64>(), 3);
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["patients_read"], 3);
}

#[test]
fn gzip_and_plain_give_the_same_results() {
    let a = dir("a");
    export(&a, false);
    let b = dir("b");
    export(&b, true);
    run(&a, &a.join("out"), cobalt_screen::Format::Csv);
    run(&b, &b.join("out"), cobalt_screen::Format::Csv);
    let ra = std::fs::read_to_string(a.join("out/results.csv")).unwrap();
    let rb = std::fs::read_to_string(b.join("out/results.csv")).unwrap();
    assert_eq!(ra, rb);
    assert!(ra.starts_with("id,as_of,knowledge_version,profile,b12_status"));
    assert_eq!(ra.lines().count(), 4);
}

#[test]
fn the_manifest_names_the_files() {
    let d = dir("manifest");
    export(&d, false);
    std::fs::rename(d.join("Patient.ndjson"), d.join("1.ndjson")).unwrap();
    let manifest = json!({"transactionTime": "2026-01-01T00:00:00Z", "request": "x", "requiresAccessToken": false,
        "output": [{"type": "Patient", "url": "https://fhir.example/bulk/1.ndjson"}, {"type": "Observation", "url": "Observation.ndjson"}], "error": []});
    std::fs::write(d.join("manifest.json"), manifest.to_string()).unwrap();
    let s = run(&d, &d.join("out"), cobalt_screen::Format::Csv);
    assert_eq!(s.files.len(), 2);
    assert_eq!(s.patients_read, 3);
}

#[test]
fn the_same_patient_screened_and_assessed_alone_agree() {
    let d = dir("agree");
    export(&d, false);
    let s_out = d.join("out");
    let mut opts = options(&d, &s_out, cobalt_screen::Format::Ndjson);
    opts.detail = cobalt_screen::Detail::Full;
    run_with(&opts);
    let results: Vec<Value> = std::fs::read_to_string(s_out.join("results.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // p3 alone, as a Bundle, without the bad line.
    let kb = cobalt_kb::load().unwrap();
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": serde_json::from_str::<Value>(&patient("p3", "female", "1950-01-01")).unwrap()},
        {"resource": serde_json::from_str::<Value>(&b12("o2", "p3", json!(600), "pg/mL", "2025-06-01")).unwrap()},
        {"resource": serde_json::from_str::<Value>(&med("m1", "p3", "A10BA02", "2018-01-01")).unwrap()},
    ]});
    let as_of = cobalt_core::case::parse_date("2026-01-01").unwrap();
    let case = cobalt_fhir::to_case(&bundle, as_of, &kb).unwrap().parsed;
    let a = cobalt_core::evaluate(&kb, &kb.profiles["nice-ng239"], &case, as_of);
    assert_eq!(
        results[2]["conclusions"],
        serde_json::to_value(&a.conclusions).unwrap()
    );
    // `--detail full` writes the whole assessment, byte for byte as the one-patient path does
    // for FHIR input (with the patient's id as its id, and the resources not used).
    let mut whole = serde_json::to_value(&a).unwrap();
    whole["id"] = json!("p3");
    whole["skipped_resources"] = json!([]);
    let text = std::fs::read_to_string(s_out.join("results.ndjson")).unwrap();
    assert_eq!(text.lines().nth(2).unwrap(), whole.to_string());
}

#[test]
fn medications_resources_across_files_and_skipped_resources_are_counted() {
    let d = dir("medication");
    write_lines(
        &d.join("Patient.ndjson"),
        &[patient("p1", "male", "1950-01-01")],
        false,
    );
    write_lines(
        &d.join("Medication.ndjson"),
        &[
            json!({"resourceType": "Medication", "id": "m-met", "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "861007", "display": "metformin hydrochloride 500 MG Oral Tablet"}]}}).to_string(),
            json!({"resourceType": "Medication", "id": "m-unused", "code": {"text": "Aspirin"}}).to_string(),
        ],
        false,
    );
    let request = |id: &str, status: &str, med: Value| {
        let mut r = json!({"resourceType": "MedicationRequest", "id": id, "status": status, "intent": "order",
            "subject": {"reference": "Patient/p1"}, "authoredOn": "2019-03-01"});
        r.as_object_mut()
            .unwrap()
            .extend(med.as_object().unwrap().clone());
        r.to_string()
    };
    write_lines(
        &d.join("MedicationRequest.ndjson"),
        &[
            request(
                "r1",
                "active",
                json!({"medicationReference": {"reference": "Medication/m-met"}}),
            ),
            // A second request for the same Medication: the Medication is used once.
            request(
                "r2",
                "active",
                json!({"medicationReference": {"reference": "Medication/m-met"}}),
            ),
            request(
                "r3",
                "entered-in-error",
                json!({"medicationCodeableConcept": {"text": "omeprazole"}}),
            ),
            request(
                "r4",
                "active",
                json!({"medicationCodeableConcept": {"text": "Aspirin 75 mg"}}),
            ),
        ],
        false,
    );
    let out = d.join("out");
    let s = run(&d, &out, cobalt_screen::Format::Ndjson);
    let rows = read_ndjson(&out.join("results.ndjson"));
    assert_eq!(rows[0]["causes"], json!(["metformin"]), "{}", rows[0]);
    assert_eq!(rows[0]["skipped_resources"], json!(2));
    assert_eq!(
        serde_json::to_value(&s.skipped_resources_by_kind).unwrap(),
        json!({"no_code": 1, "status": 1})
    );
    // The Medication file is read and listed; the unreferenced Medication is not a bad line.
    assert!(s
        .files
        .iter()
        .any(|f| f.kind == "Medication" && f.lines == 2));
    assert_eq!(s.bad_lines, 0);
}
