//! `cobalt screen` at the process boundary, under what a hardening review found: two runs into
//! one results directory, a disk that fills, files the export cannot have meant to hide, a
//! missing directory, and a cap on error records.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cobalt() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cobalt"))
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "cobalt-screen-hardening-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn synth(export: &Path, patients: u32) {
    let o = cobalt()
        .args([
            "synth",
            "--patients",
            &patients.to_string(),
            "--seed",
            "7",
            "--out",
        ])
        .arg(export)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

fn screen(export: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = cobalt();
    c.arg("screen")
        .arg(export)
        .arg("--out")
        .arg(out)
        .args(extra);
    c
}

/// Every entry of a directory, sorted.
fn entries(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(d) {
        Ok(r) => r
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

const SET: [&str; 3] = ["errors.ndjson", "results.ndjson", "summary.json"];

/// Results, errors and summary of a run, without the summary's timings.
fn outputs(out: &Path) -> (Vec<u8>, Vec<u8>, serde_json::Value) {
    let mut summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    summary["seconds"] = 0.into();
    summary["read_seconds"] = 0.into();
    (
        std::fs::read(out.join("results.ndjson")).unwrap(),
        std::fs::read(out.join("errors.ndjson")).unwrap(),
        summary,
    )
}

#[test]
fn two_screenings_into_one_directory_never_both_succeed_over_mixed_output() {
    let d = dir("race");
    let export = d.join("export");
    synth(&export, 4000);
    let solo = d.join("solo");
    let o = screen(&export, &solo, &[]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = outputs(&solo);
    let out = d.join("out");
    let mut refusals = 0;
    for round in 0..4 {
        let _ = std::fs::remove_dir_all(&out);
        // Started together; the second a few milliseconds later in some rounds.
        let a = screen(&export, &out, &[])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if round % 2 == 1 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let b = screen(&export, &out, &[])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let codes = (a.status.code(), b.status.code());
        for o in [&a, &b] {
            match o.status.code() {
                Some(0) => {}
                Some(1) => {
                    refusals += 1;
                    assert!(
                        stderr(o).contains("is in use by another screening"),
                        "{}",
                        stderr(o)
                    );
                }
                other => panic!("round {round}: exit {other:?}: {}", stderr(o)),
            }
        }
        assert!(
            codes.0 == Some(0) || codes.1 == Some(0),
            "round {round}: one run finishes: {codes:?}"
        );
        // What is in the directory is one whole run's output, as a run alone writes it.
        assert_eq!(entries(&out), SET, "round {round}");
        assert!(
            outputs(&out) == expected,
            "round {round}: the output differs from a run alone"
        );
    }
    assert!(
        refusals > 0,
        "runs started together overlap, and one refuses"
    );
    std::fs::remove_dir_all(&d).ok();
}

/// Runs `cobalt screen` with a limit on the size of any file it writes (`ulimit -f`, in KiB;
/// SIGXFSZ ignored, so a write past it fails with EFBIG as a full disk fails with ENOSPC).
fn screen_limited(export: &Path, out: &Path, kib: u64) -> Output {
    let script = format!(
        "trap '' XFSZ; ulimit -f {kib}; exec \"$0\" screen \"$1\" --out \"$2\" --max-errors-per-file 1000000"
    );
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_cobalt"))
        .arg(export)
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn a_full_disk_leaves_the_whole_set_or_nothing_and_names_the_file() {
    let d = dir("disk");
    let export = d.join("export");
    synth(&export, 1500);
    // 100,000 bad lines: about 11 MB of error records, and small results.
    let mut patients = std::fs::read(export.join("Patient.ndjson")).unwrap();
    patients.extend("x\n".repeat(100_000).as_bytes());
    std::fs::write(export.join("Patient.ndjson"), patients).unwrap();
    let out = d.join("out");
    // An earlier run's complete set is there to begin with.
    let o = screen(&export, &out, &["--max-errors-per-file", "1000000"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(entries(&out), SET);
    // errors.ndjson is the file that does not fit (8 MiB); then the spill (1 MiB).
    for (kib, file) in [(8192, "errors.ndjson"), (1024, ".partitions-")] {
        let o = screen_limited(&export, &out, kib);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains(file) && e.contains("File too large"),
            "{kib} KiB: {e}"
        );
        assert!(e.contains("nothing written"), "{e}");
        // Nothing of this run: no output, no temporary file, no spill, no lock file.
        assert_eq!(entries(&out), Vec::<String>::new(), "{kib} KiB");
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn strict_fails_on_files_not_read_and_on_the_exports_own_errors() {
    let d = dir("strict");
    let export = d.join("export");
    std::fs::create_dir_all(&export).unwrap();
    let patient =
        r#"{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1950-01-01"}"#;
    std::fs::write(export.join("patient.NDJSON"), format!("{patient}\n")).unwrap();
    let out = d.join("out");
    let o = screen(&export, &out, &["--strict"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::write(export.join("Observations.ndjson"), "{}\n").unwrap();
    let o = screen(&export, &out, &["--strict"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not read: Observations.ndjson"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(export.join("Observations.ndjson")).unwrap();
    let outcome = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"Observation export failed"}]}"#;
    std::fs::write(export.join("err.ndjson"), format!("{outcome}\n")).unwrap();
    let manifest = r#"{"transactionTime":"2026-01-01T00:00:00Z","output":[{"type":"Patient","url":"patient.NDJSON"}],"error":[{"type":"OperationOutcome","url":"err.ndjson"}]}"#;
    std::fs::write(export.join("manifest.json"), manifest).unwrap();
    let o = screen(&export, &out, &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("the export reports 1 errors of its own (err.ndjson)"),
        "{}",
        stderr(&o)
    );
    let o = screen(&export, &out, &["--strict"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_missing_export_directory_is_the_inputs_fault() {
    let d = dir("missing");
    let o = screen(&d.join("gone"), &d.join("out"), &[])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("gone"), "{}", stderr(&o));
    assert!(!d.join("out").exists(), "nothing is written");
    // A directory with nothing cobalt reads is the input's fault too.
    std::fs::create_dir_all(d.join("empty")).unwrap();
    let o = screen(&d.join("empty"), &d.join("out"), &[])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn max_errors_per_file_bounds_the_records_of_a_file() {
    let d = dir("max");
    let export = d.join("export");
    std::fs::create_dir_all(&export).unwrap();
    let patient =
        r#"{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1950-01-01"}"#;
    std::fs::write(
        export.join("Patient.ndjson"),
        format!("{patient}\n{}", "x\n".repeat(20)),
    )
    .unwrap();
    let out = d.join("out");
    let o = screen(&export, &out, &["--max-errors-per-file", "5"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("15 error records over --max-errors-per-file 5"),
        "{}",
        stderr(&o)
    );
    let errors = std::fs::read_to_string(out.join("errors.ndjson")).unwrap();
    assert_eq!(errors.lines().count(), 6);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        (
            summary["bad_lines"].as_u64(),
            summary["errors_not_recorded"].as_u64()
        ),
        (Some(20), Some(15))
    );
    std::fs::remove_dir_all(&d).ok();
}
