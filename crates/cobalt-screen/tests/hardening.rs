//! What a hardening review found, each fixed and kept fixed: a run owns its output directory;
//! error records are bounded per file and streamed; export files are read whatever the case of
//! their names, and every file not read is named; the export's own error files are reported;
//! links out of the export are not followed; each over-long line is its own record; CSV cells
//! are not spreadsheet formulas.

mod common;

use common::{kb, options};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

fn dir(name: &str) -> PathBuf {
    common::dir("hardening", name)
}

fn try_screen(opts: &cobalt_screen::Options) -> anyhow::Result<cobalt_screen::Summary> {
    let kb = kb();
    cobalt_screen::screen(kb, &kb.profiles[&kb.meta.default_profile], opts, &|_| {})
}

fn screen(opts: &cobalt_screen::Options) -> cobalt_screen::Summary {
    try_screen(opts).unwrap()
}

fn patient(id: &str) -> String {
    json!({"resourceType": "Patient", "id": id, "gender": "female", "birthDate": "1950-01-01"})
        .to_string()
}

fn b12(pat: &str, value: f64) -> String {
    json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
        "subject": {"reference": format!("Patient/{pat}")}, "effectiveDateTime": "2025-06-01",
        "valueQuantity": {"value": value, "unit": "pg/mL", "system": "http://unitsofmeasure.org", "code": "pg/mL"}})
    .to_string()
}

fn ms(pat: &str) -> String {
    json!({"resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "G35"}]},
        "subject": {"reference": format!("Patient/{pat}")}})
    .to_string()
}

fn gzip(path: &Path, text: &[u8]) {
    let mut g = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    g.write_all(text).unwrap();
    g.finish().unwrap();
}

fn ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn names_in(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Three patients, then `bad` lines that are not JSON, in the Patient file; ten in Condition.
fn bad_export(d: &Path, bad: usize) {
    let mut text = [patient("p1"), patient("p2"), patient("p3")].join("\n") + "\n";
    text.push_str(&"x\n".repeat(bad));
    std::fs::write(d.join("Patient.ndjson"), text).unwrap();
    std::fs::write(d.join("Condition.ndjson"), "{oops\n".repeat(10)).unwrap();
}

#[test]
fn error_records_of_one_file_are_bounded_and_the_counts_stay_exact() {
    let d = dir("bounded");
    bad_export(&d, 5000);
    let mut opts = options(&d, &d.join("out"));
    opts.max_errors_per_file = 100;
    let s = screen(&opts);
    assert_eq!(s.bad_lines, 5010, "every bad line is counted");
    assert_eq!(s.bad_lines_by_kind.get("not_json"), Some(&5010));
    assert_eq!(s.errors_not_recorded, 4900);
    assert_eq!((s.patients_assessed, s.max_errors_per_file), (3, 100));
    let errors = ndjson(&d.join("out/errors.ndjson"));
    let of = |f: &str| errors.iter().filter(|e| e["file"] == f).collect::<Vec<_>>();
    assert_eq!(
        of("Condition.ndjson").len(),
        10,
        "another file is not held back"
    );
    let patient = of("Patient.ndjson");
    assert_eq!(
        patient.len(),
        101,
        "100 records, then one that counts the rest"
    );
    // The first 100 bad lines (lines 4 to 103), then the note from line 104 on.
    let lines: Vec<u64> = patient
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, (4..=104).collect::<Vec<u64>>());
    let note = patient[100];
    assert_eq!(note["kind"], "not_recorded");
    assert!(note["message"]
        .as_str()
        .unwrap()
        .starts_with("4900 more error records"));

    // The same records whatever the number of threads, and with none kept.
    let first = std::fs::read(d.join("out/errors.ndjson")).unwrap();
    for threads in [1, 4] {
        opts.threads = threads;
        screen(&opts);
        assert_eq!(std::fs::read(d.join("out/errors.ndjson")).unwrap(), first);
    }
    opts.max_errors_per_file = 0;
    let s = screen(&opts);
    assert_eq!(s.bad_lines, 5010);
    let kinds: Vec<(String, String)> = ndjson(&d.join("out/errors.ndjson"))
        .iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap().into(),
                e["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    let note = |f: &str| (f.to_string(), "not_recorded".to_string());
    assert_eq!(kinds, [note("Condition.ndjson"), note("Patient.ndjson")]);
}

#[test]
fn many_error_records_are_sorted_through_runs_on_disk() {
    let d = dir("runs");
    bad_export(&d, 120_000);
    let mut opts = options(&d, &d.join("out"));
    opts.max_errors_per_file = u64::MAX;
    let s = screen(&opts);
    assert_eq!((s.bad_lines, s.errors_not_recorded), (120_010, 0));
    let text = std::fs::read_to_string(d.join("out/errors.ndjson")).unwrap();
    let records: Vec<cobalt_screen::ErrorRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 120_010);
    assert!(records.windows(2).all(|w| w[0] <= w[1]), "in order");
    assert_eq!(
        names_in(&d.join("out")),
        ["errors.ndjson", "results.ndjson", "summary.json"]
    );
}

#[test]
fn export_files_are_read_whatever_the_case_of_their_names() {
    let d = dir("case");
    let patients = [patient("p1"), patient("p2"), patient("p3")].join("\n") + "\n";
    std::fs::write(d.join("Patient.ndjson"), patients).unwrap();
    std::fs::write(d.join("observation.ndjson"), b12("p1", 90.0) + "\n").unwrap();
    gzip(
        &d.join("Observation.ndjson.GZ"),
        (b12("p2", 95.0) + "\n").as_bytes(),
    );
    std::fs::write(d.join("Condition.NDJSON"), ms("p3") + "\n").unwrap();
    let s = screen(&options(&d, &d.join("out")));
    let read: Vec<(&str, &str)> = s
        .files
        .iter()
        .map(|f| (f.kind.as_str(), f.path.as_str()))
        .collect();
    assert_eq!(
        read,
        [
            ("Condition", "Condition.NDJSON"),
            ("Observation", "Observation.ndjson.GZ"),
            ("Patient", "Patient.ndjson"),
            ("Observation", "observation.ndjson"),
        ]
    );
    assert!(s.files_not_read.is_empty(), "{:?}", s.files_not_read);
    let rows = ndjson(&d.join("out/results.ndjson"));
    assert_eq!(rows[0]["b12_value"], 90.0, "{}", rows[0]);
    assert_eq!(rows[0]["b12_status"], "deficient");
    assert_eq!(rows[1]["b12_value"], 95.0);
    assert_eq!(rows[2]["flags"], json!(["demyelination_untested"]));
}

#[test]
fn every_file_of_the_export_that_is_not_read_is_named() {
    let d = dir("not-read");
    std::fs::write(d.join("Patient.ndjson"), patient("p1") + "\n").unwrap();
    std::fs::write(d.join("Encounter.ndjson"), "{}\n").unwrap();
    std::fs::write(d.join("notes.txt"), "hello\n").unwrap();
    std::fs::write(d.join("Observation.json"), b12("p1", 90.0)).unwrap();
    std::fs::write(d.join(".DS_Store"), "").unwrap();
    std::fs::create_dir_all(d.join("old-results")).unwrap();
    let s = screen(&options(&d, &d.join("out")));
    let not_read: Vec<(&str, &str)> = s
        .files_not_read
        .iter()
        .map(|n| (n.path.as_str(), n.reason.as_str()))
        .collect();
    assert_eq!(
        not_read,
        [
            ("Encounter.ndjson", "type_not_read"),
            ("Observation.json", "unrecognised_name"),
            ("notes.txt", "unrecognised_name"),
        ]
    );
    let errors = ndjson(&d.join("out/errors.ndjson"));
    let records: Vec<(&str, &str, u64)> = errors
        .iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
                e["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        records,
        [
            ("Encounter.ndjson", "file_not_read", 0),
            ("Observation.json", "file_not_read", 0),
            ("notes.txt", "file_not_read", 0),
        ]
    );
    assert_eq!((s.bad_lines, s.files_in_error), (0, 0));
    assert!(
        s.fails_strict(),
        "a name cobalt cannot place fails --strict"
    );
    // A type cobalt does not read is named, and does not fail --strict.
    std::fs::remove_file(d.join("notes.txt")).unwrap();
    std::fs::remove_file(d.join("Observation.json")).unwrap();
    let s = screen(&options(&d, &d.join("out")));
    assert_eq!(s.files_not_read.len(), 1);
    assert!(!s.fails_strict());
}

#[test]
fn the_exports_own_error_files_are_reported() {
    let d = dir("manifest-errors");
    std::fs::write(d.join("Patient.ndjson"), patient("p1") + "\n").unwrap();
    let outcome =
        |issues: Value| json!({"resourceType": "OperationOutcome", "issue": issues}).to_string();
    let lines = [
        outcome(
            json!([{"severity": "error", "code": "processing", "diagnostics": "Observation export failed: timeout"},
                       {"severity": "warning", "code": "incomplete", "details": {"text": "3 Condition resources left out"}}]),
        ),
        outcome(json!([{"severity": "fatal", "code": "exception"}])),
    ];
    std::fs::write(
        d.join("error-OperationOutcome-0.ndjson"),
        lines.join("\n") + "\n",
    )
    .unwrap();
    std::fs::write(d.join("README.md"), "about this export\n").unwrap();
    let manifest = json!({"transactionTime": "2026-01-01T00:00:00Z", "output": [
            {"type": "Patient", "url": "https://ehr.example/bulk/Patient.ndjson"}],
        "error": [{"type": "OperationOutcome", "url": "https://ehr.example/bulk/error-OperationOutcome-0.ndjson"},
                  {"type": "OperationOutcome", "url": "error-gone.ndjson"}]});
    std::fs::write(d.join("manifest.json"), manifest.to_string()).unwrap();
    let s = screen(&options(&d, &d.join("out")));
    assert_eq!(s.export_issues, 3);
    assert_eq!(s.export_errors[0].path, "error-OperationOutcome-0.ndjson");
    assert_eq!(
        (s.export_errors[0].lines, s.export_errors[0].issues),
        (2, 3)
    );
    assert_eq!(s.files_in_error, 1, "the error file that is missing");
    assert_eq!(s.bad_lines, 0, "issues are not bad lines");
    assert_eq!(s.files_not_read[0].reason, "not_in_manifest");
    assert!(s.fails_strict());
    let errors = ndjson(&d.join("out/errors.ndjson"));
    let issues: Vec<(u64, &str)> = errors
        .iter()
        .filter(|e| e["kind"] == "export_error")
        .map(|e| (e["line"].as_u64().unwrap(), e["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        issues,
        [
            (
                1,
                "the export reports error (processing): Observation export failed: timeout"
            ),
            (
                1,
                "the export reports warning (incomplete): 3 Condition resources left out"
            ),
            (2, "the export reports fatal (exception): no diagnostics"),
        ]
    );
    assert!(errors
        .iter()
        .any(|e| e["file"] == "error-gone.ndjson" && e["kind"] == "unreadable"));
    assert!(errors
        .iter()
        .any(|e| e["file"] == "README.md" && e["kind"] == "file_not_read"));
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_out_of_the_export_is_not_followed() {
    let d = dir("links");
    let export = d.join("export");
    std::fs::create_dir_all(export.join("part")).unwrap();
    std::fs::write(d.join("secret.ndjson"), patient("outsider") + "\n").unwrap();
    std::os::unix::fs::symlink(d.join("secret.ndjson"), export.join("Patient.ndjson")).unwrap();
    // A link to a file inside the export is followed.
    std::fs::write(export.join("part/p.ndjson"), patient("insider") + "\n").unwrap();
    std::os::unix::fs::symlink("part/p.ndjson", export.join("Patient-2.ndjson")).unwrap();
    let s = screen(&options(&export, &d.join("out")));
    let rows = ndjson(&d.join("out/results.ndjson"));
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["insider"]);
    assert_eq!(s.files_not_read[0].path, "Patient.ndjson");
    assert_eq!(s.files_not_read[0].reason, "outside_export");
    assert!(s.fails_strict());
    let errors = ndjson(&d.join("out/errors.ndjson"));
    assert_eq!(
        (errors[0]["file"].as_str(), errors[0]["kind"].as_str()),
        (Some("Patient.ndjson"), Some("file_not_read"))
    );
}

#[test]
fn each_over_long_line_is_its_own_record_and_reading_goes_on() {
    let d = dir("long");
    let long = |id: &str| {
        let mut l =
            format!("{{\"resourceType\":\"Patient\",\"id\":\"{id}\",\"text\":\"").into_bytes();
        l.resize(l.len() + (65 << 20), b'a');
        l.extend_from_slice(b"\"}\n");
        l
    };
    let mut text = (patient("p1") + "\n").into_bytes();
    text.extend(long("big1"));
    text.extend((patient("p2") + "\n").as_bytes());
    text.extend(long("big2"));
    text.extend((patient("p3") + "\n").as_bytes());
    gzip(&d.join("Patient.ndjson.gz"), &text);
    drop(text);
    let s = screen(&options(&d, &d.join("out")));
    assert_eq!((s.patients_assessed, s.lines_read), (3, 5));
    assert_eq!((s.bad_lines, s.files_in_error), (2, 0));
    let errors = ndjson(&d.join("out/errors.ndjson"));
    let records: Vec<(u64, &str)> = errors
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(records, [(2, "too_long"), (4, "too_long")]);
}

#[test]
fn csv_cells_that_a_spreadsheet_would_run_are_neutralised() {
    let d = dir("csv");
    let ids = [
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "+1",
        "-2",
        "@SUM(A1)",
        "p1",
    ];
    let lines: Vec<String> = ids.iter().map(|i| patient(i)).collect();
    std::fs::write(d.join("Patient.ndjson"), lines.join("\n") + "\n").unwrap();
    let mut opts = options(&d, &d.join("out"));
    opts.format = cobalt_screen::Format::Csv;
    screen(&opts);
    let csv = std::fs::read_to_string(d.join("out/results.csv")).unwrap();
    let first: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.rsplit_once(",2026-01-01,").unwrap().0)
        .collect();
    assert_eq!(
        first,
        [
            "'+1",
            "'-2",
            "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"",
            "'@SUM(A1)",
            "p1"
        ]
    );
    assert_eq!(cobalt_screen::row::csv_text("\tcmd"), "'\tcmd");
    assert_eq!(cobalt_screen::row::csv_text("\rcmd"), "'\rcmd");
    // The NDJSON keeps the id as it is.
    opts.format = cobalt_screen::Format::Ndjson;
    screen(&opts);
    let rows = ndjson(&d.join("out/results.ndjson"));
    assert_eq!(rows[0]["id"], "+1");
}

#[test]
fn a_run_owns_its_output_directory() {
    let d = dir("lock");
    std::fs::write(d.join("Patient.ndjson"), patient("p1") + "\n").unwrap();
    let out = d.join("out");
    let opts = options(&d, &out);
    let held = cobalt_screen::OutputLock::acquire(&out).unwrap();
    let e = try_screen(&opts).unwrap_err().to_string();
    assert!(e.contains("is in use by another screening"), "{e}");
    assert!(
        e.contains(&format!("(process {})", std::process::id())),
        "{e}"
    );
    assert!(!out.join("results.ndjson").exists());
    // What runs that were stopped left, under their own names, is removed by the next run.
    std::fs::create_dir_all(out.join(".partitions-1-ab")).unwrap();
    std::fs::create_dir_all(out.join(".partitions")).unwrap();
    std::fs::write(out.join(".results.ndjson.1-ab-0.partial"), "x").unwrap();
    std::fs::write(out.join(".errors.ndjson.partial"), "x").unwrap();
    drop(held);
    screen(&opts);
    assert_eq!(
        names_in(&out),
        ["errors.ndjson", "results.ndjson", "summary.json"]
    );
}

#[test]
fn an_export_with_nothing_cobalt_reads_is_an_input_problem() {
    let d = dir("nothing");
    std::fs::write(d.join("notes.txt"), "hello\n").unwrap();
    let e = try_screen(&options(&d, &d.join("out"))).unwrap_err();
    assert!(e.chain().any(|c| c.is::<cobalt_screen::InputProblem>()));
    assert!(format!("{e:#}").contains("notes.txt"), "{e:#}");
    let e = try_screen(&options(&d.join("gone"), &d.join("out"))).unwrap_err();
    assert!(
        e.chain().any(|c| c.is::<cobalt_screen::InputProblem>()),
        "{e:#}"
    );
}
