//! What a real export throws at a screening run: lines that cannot matter, bad bytes,
//! truncated files, missing files, stale outputs, versioned references; and what the run
//! writes: compact rows, full assessments, Parquet.

mod common;

use common::{kb, options};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

fn dir(name: &str) -> PathBuf {
    common::dir("robust", name)
}

fn screen(opts: &cobalt_screen::Options) -> cobalt_screen::Summary {
    let kb = kb();
    cobalt_screen::screen(kb, &kb.profiles[&kb.meta.default_profile], opts, &|_| {}).unwrap()
}

fn patient(id: &str) -> String {
    json!({"resourceType": "Patient", "id": id, "gender": "female", "birthDate": "1950-01-01"})
        .to_string()
}

fn b12(pat: &str, reference: &str, value: f64) -> String {
    let _ = pat;
    json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
        "subject": {"reference": reference}, "effectiveDateTime": "2025-06-01",
        "valueQuantity": {"value": value, "unit": "pg/mL", "system": "http://unitsofmeasure.org", "code": "pg/mL"}})
    .to_string()
}

fn metformin(pat: &str) -> String {
    json!({"resourceType": "MedicationStatement", "status": "active",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "A10BA02"}]},
        "subject": {"reference": format!("Patient/{pat}")}, "effectivePeriod": {"start": "2018-01-01"}})
    .to_string()
}

/// A small export: five patients, some with a B12 result, some on metformin.
fn base(d: &Path) -> (Vec<String>, Vec<String>, Vec<String>) {
    let patients: Vec<String> = (1..=5).map(|i| patient(&format!("p{i}"))).collect();
    let obs = vec![
        b12("p1", "Patient/p1", 150.0),
        b12("p2", "Patient/p2", 600.0),
        b12("p4", "Patient/p4", 90.0),
    ];
    let meds = vec![metformin("p2"), metformin("p3"), metformin("p5")];
    write(d, &patients, &obs, &meds);
    (patients, obs, meds)
}

fn write(d: &Path, patients: &[String], obs: &[String], meds: &[String]) {
    std::fs::write(d.join("Patient.ndjson"), patients.join("\n") + "\n").unwrap();
    std::fs::write(d.join("Observation.ndjson"), obs.join("\n") + "\n").unwrap();
    std::fs::write(d.join("MedicationStatement.ndjson"), meds.join("\n") + "\n").unwrap();
}

/// Observation lines that hold no code cobalt reads: vital signs, other laboratory tests,
/// and malformed lines.
fn unrelated() -> impl Strategy<Value = String> {
    let vital = (
        prop::sample::select(vec!["8867-4", "8480-6", "8462-4", "29463-7", "8302-2", "2345-7"]),
        0u32..5,
        30.0f64..200.0,
    )
        .prop_map(|(code, p, v)| {
            json!({"resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": "a vital sign"}]},
                "subject": {"reference": format!("Patient/p{}", p + 1)}, "effectiveDateTime": "2025-07-01",
                "valueQuantity": {"value": v, "unit": "1/min"}})
            .to_string()
        });
    let malformed = prop::sample::select(vec![
        "{not json".to_string(),
        "{\"resourceType\": \"Observation\", \"code\": 12".to_string(),
        "[1, 2, 3]".to_string(),
        "{\"resourceType\": \"Condition\"}".to_string(),
        "{\"resourceType\": \"Observation\", \"subject\": {\"reference\": \"Patient/p1\"}}"
            .to_string(),
    ]);
    prop_oneof![3 => vital, 1 => malformed]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// The filter's invariant: a skipped line cannot change any patient's assessment. Adding
    /// unrelated Observation lines (malformed ones too) anywhere leaves the results
    /// byte-identical, in compact rows and in full assessments, and every added line is
    /// counted as skipped.
    #[test]
    fn lines_that_cannot_matter_change_no_result(
        extra in prop::collection::vec((unrelated(), 0usize..4), 1..30)
    ) {
        let d = dir("prop");
        let (patients, obs, meds) = base(&d);
        let mut padded = obs.clone();
        for (line, at) in &extra {
            let at = (*at).min(padded.len());
            padded.insert(at, line.clone());
        }
        let e = dir("prop-padded");
        write(&e, &patients, &padded, &meds);
        for detail in [cobalt_screen::Detail::Compact, cobalt_screen::Detail::Full] {
            let mut a = options(&d, &d.join("out"));
            a.detail = detail;
            let mut b = options(&e, &e.join("out"));
            b.detail = detail;
            let sa = screen(&a);
            let sb = screen(&b);
            let ra = std::fs::read(d.join("out/results.ndjson")).unwrap();
            let rb = std::fs::read(e.join("out/results.ndjson")).unwrap();
            prop_assert_eq!(ra, rb);
            prop_assert_eq!(sb.lines_skipped, sa.lines_skipped + extra.len() as u64);
            prop_assert_eq!(sb.bad_lines, sa.bad_lines);
        }
    }
}

#[test]
fn validate_all_reports_every_bad_line() {
    let d = dir("validate");
    let (patients, mut obs, meds) = base(&d);
    obs.push("{not json".into());
    obs.push(json!({"resourceType": "Observation", "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}}).to_string());
    write(&d, &patients, &obs, &meds);
    let mut opts = options(&d, &d.join("out"));
    let s = screen(&opts);
    assert_eq!((s.bad_lines, s.lines_skipped), (0, 2));
    opts.validate_all = true;
    let s = screen(&opts);
    assert_eq!(s.bad_lines, 1, "the malformed line is reported");
    assert_eq!(s.lines_skipped, 1, "the heart rate is read and not used");
    assert_eq!(s.bad_lines_by_kind.get("not_json"), Some(&1));
}

#[test]
fn a_line_that_is_not_utf8_is_an_error_record_and_the_run_goes_on() {
    let d = dir("utf8");
    base(&d);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("Patient.ndjson"))
        .unwrap();
    f.write_all(
        b"{\"resourceType\": \"Patient\", \"id\": \"p9\", \"name\": [{\"text\": \"\xff\xfe\"}]}\n",
    )
    .unwrap();
    f.write_all(patient("p8").as_bytes()).unwrap();
    drop(f);
    let s = screen(&options(&d, &d.join("out")));
    assert_eq!(s.bad_lines_by_kind.get("not_utf8"), Some(&1));
    assert_eq!(
        s.patients_assessed, 6,
        "the patient after the bad line is read"
    );
    let errors = std::fs::read_to_string(d.join("out/errors.ndjson")).unwrap();
    let e: Value = serde_json::from_str(errors.lines().next().unwrap()).unwrap();
    assert_eq!(
        (e["file"].as_str(), e["line"].as_u64()),
        (Some("Patient.ndjson"), Some(6))
    );
}

#[test]
fn a_truncated_gzip_file_keeps_its_lines_and_is_reported() {
    let d = dir("gz");
    let (patients, obs, meds) = base(&d);
    std::fs::remove_file(d.join("Patient.ndjson")).unwrap();
    let mut more = patients.clone();
    for i in 10..3000 {
        more.push(patient(&format!("q{i}")));
    }
    let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    g.write_all((more.join("\n") + "\n").as_bytes()).unwrap();
    let gz = g.finish().unwrap();
    std::fs::write(d.join("Patient.ndjson.gz"), &gz[..gz.len() / 2]).unwrap();
    let _ = (obs, meds);
    let s = screen(&options(&d, &d.join("out")));
    assert_eq!(s.files_in_error, 1);
    assert!(
        s.patients_assessed >= 5,
        "the lines before the cut are read"
    );
    let errors = std::fs::read_to_string(d.join("out/errors.ndjson")).unwrap();
    assert!(errors.contains("\"kind\":\"unreadable\""), "{errors}");
    assert!(errors.contains("Patient.ndjson.gz"), "{errors}");
}

#[test]
fn a_manifest_that_names_a_missing_file_is_reported_and_the_rest_read() {
    let d = dir("missing");
    base(&d);
    let manifest = json!({"transactionTime": "2026-01-01T00:00:00Z", "output": [
        {"type": "Patient", "url": "Patient.ndjson"},
        {"type": "Observation", "url": "Observation.ndjson"},
        {"type": "Condition", "url": "Condition-gone.ndjson"}]});
    std::fs::write(d.join("manifest.json"), manifest.to_string()).unwrap();
    let s = screen(&options(&d, &d.join("out")));
    assert_eq!(s.files_in_error, 1);
    assert_eq!(s.patients_assessed, 5);
}

#[test]
fn no_stale_or_partial_output_is_left() {
    let d = dir("stale");
    base(&d);
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("results.csv"), "an earlier run").unwrap();
    screen(&options(&d, &out));
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["errors.ndjson", "results.ndjson", "summary.json"]);
}

#[test]
fn versioned_and_absolute_references_name_the_same_patient() {
    let d = dir("refs");
    write(
        &d,
        &[patient("a"), patient("b")],
        &[
            b12("a", "Patient/a/_history/2", 90.0),
            b12("b", "https://ehr.example/fhir/Patient/b", 600.0),
        ],
        &[],
    );
    screen(&options(&d, &d.join("out")));
    let rows: Vec<Value> = std::fs::read_to_string(d.join("out/results.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(rows[0]["b12_status"], "deficient");
    assert_eq!(rows[1]["b12_status"], "not_deficient");
}

#[test]
fn compact_rows_are_small_and_csv_has_the_same_columns() {
    let d = dir("compact");
    base(&d);
    let s = screen(&options(&d, &d.join("out")));
    let text = std::fs::read_to_string(d.join("out/results.ndjson")).unwrap();
    assert!(text.len() as u64 / s.patients_assessed < 1024, "{text}");
    let row: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let keys: Vec<&str> = row
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut columns = cobalt_screen::row::COLUMNS.to_vec();
    columns.sort();
    let mut keys = keys.clone();
    keys.sort();
    assert_eq!(keys, columns);
    let mut opts = options(&d, &d.join("csv"));
    opts.format = cobalt_screen::Format::Csv;
    screen(&opts);
    let csv = std::fs::read_to_string(d.join("csv/results.csv")).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        cobalt_screen::row::COLUMNS.join(",")
    );
    assert_eq!(csv.lines().count(), 6);
}

#[test]
fn parquet_holds_the_compact_rows_with_their_types() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let d = dir("parquet");
    base(&d);
    let mut opts = options(&d, &d.join("out"));
    opts.format = cobalt_screen::Format::Parquet;
    screen(&opts);
    let f = std::fs::File::open(d.join("out/results.parquet")).unwrap();
    let r = SerializedFileReader::new(f).unwrap();
    assert_eq!(r.metadata().file_metadata().num_rows(), 5);
    let schema = r.metadata().file_metadata().schema_descr();
    let names: Vec<String> = schema
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    assert_eq!(
        names,
        cobalt_screen::row::COLUMNS.map(String::from).to_vec()
    );
}

#[test]
fn conflicting_duplicate_patients_and_absent_patients_are_error_records() {
    let d = dir("dup");
    let (mut patients, mut obs, meds) = base(&d);
    // p1 twice, identical: no record. p2 twice, different: the second is refused.
    patients.push(patients[0].clone());
    patients.push(
        json!({"resourceType": "Patient", "id": "p2", "gender": "male", "birthDate": "1980-01-01"})
            .to_string(),
    );
    // p9 has a result and no Patient.
    obs.push(b12("p9", "Patient/p9", 120.0));
    write(&d, &patients, &obs, &meds);
    let s = screen(&options(&d, &d.join("out")));
    let errors: Vec<Value> = std::fs::read_to_string(d.join("out/errors.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<(&str, &str, u64)> = errors
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["patient"].as_str().unwrap_or(""),
                e["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("patient_absent", "p9", 0),
            ("conflicting_patient", "p2", 7)
        ],
        "{errors:?}"
    );
    assert_eq!(s.bad_lines_by_kind.get("conflicting_patient"), Some(&1));
    assert_eq!(
        s.patients_assessed, 6,
        "p9 is still assessed, from its result"
    );
    let rows: Vec<Value> = std::fs::read_to_string(d.join("out/results.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let p2 = rows.iter().find(|r| r["id"] == "p2").unwrap();
    assert_eq!(p2["refused_lines"], 1);
}
