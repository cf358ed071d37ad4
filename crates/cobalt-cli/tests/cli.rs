//! The command line at its boundary: exit codes, streams, formats, flags.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn cobalt() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cobalt"));
    c.env_remove("NO_COLOR");
    c
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example(name: &str) -> String {
    repo()
        .join("examples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = cobalt()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn assess_json_writes_one_object_with_the_contract_fields() {
    let out = cobalt()
        .args([
            "assess",
            &example("metformin-neuropathy.json"),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["id"], "example-metformin");
    for key in ["name", "version", "knowledge_version", "profile"] {
        assert!(v["engine"][key].is_string(), "engine.{key}");
    }
    let c = &v["conclusions"];
    for key in [
        "test_indicated",
        "b12_status",
        "next_tests",
        "causes",
        "picture",
        "mcdonald_2017",
        "treatment",
        "referrals",
    ] {
        assert!(!c[key].is_null(), "conclusions.{key} missing");
    }
    assert_eq!(c["b12_status"], "deficient");
    assert!(c["causes"]
        .as_array()
        .unwrap()
        .contains(&"metformin".into()));
    for f in v["findings"].as_array().unwrap() {
        assert!(f["rule"].is_string());
        assert!(
            !f["sources"].as_array().unwrap().is_empty(),
            "finding {} has no sources",
            f["rule"]
        );
    }
}

#[test]
fn assess_reads_standard_input() {
    let out = run_stdin(
        &["assess", "-", "--format", "json", "--as-of", "2026-01-01"],
        r#"{"format":"cobalt.case/1","id":"x"}"#,
    );
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["conclusions"]["b12_status"], "not_tested");
    assert_eq!(v["as_of"], "2026-01-01");
}

#[test]
fn invalid_input_exits_2_with_the_path_and_nothing_on_stdout() {
    for (input, path) in [
        ("{not json", "$"),
        (
            r#"{"format":"cobalt.case/1","labs":[{"test":"total_b12","value":-1,"unit":"pg/mL"}]}"#,
            "labs[0].value",
        ),
        (
            r#"{"format":"cobalt.case/1","labs":[{"test":"total_b12","value":200,"unit":"fL"}]}"#,
            "labs[0].unit",
        ),
        (
            r#"{"format":"cobalt.case/1","patient":{"age_years":150}}"#,
            "patient.age_years",
        ),
        (r#"{"format":"cobalt.case/1","diet":"keto"}"#, "diet"),
        (r#"{"format":"nope"}"#, "format"),
    ] {
        let out = run_stdin(&["assess", "-", "--format", "json"], input);
        assert_eq!(out.status.code(), Some(2), "{input}");
        assert!(out.stdout.is_empty(), "stdout not empty for {input}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(path), "stderr `{err}` lacks `{path}`");
    }
}

/// A French laboratory's total B12 in µg/L converts exactly and is assessed (issue 24); a mass
/// alone is no concentration and exits 2 naming the field.
#[test]
fn any_exact_concentration_unit_is_assessed_and_a_mass_alone_exits_2() {
    let case = |unit: &str| {
        format!(
            r#"{{"format":"cobalt.case/1","as_of":"2026-01-01","labs":[{{"test":"total_b12","value":11.63,"unit":"{unit}","reference_low":0.22,"reference_high":0.91}}]}}"#
        )
    };
    for unit in ["ug/L", "µg/L", "ng/mL"] {
        let out = run_stdin(&["assess", "-", "--format", "json"], &case(unit));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{unit}: {err}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["conclusions"]["b12_status"], "not_deficient", "{unit}");
        let lab = &v["labs"][0];
        // 11.63 µg/L = 11 630 ng/L = 8581 pmol/L (molar mass 1355.37).
        assert_eq!(
            (&lab["value"], &lab["unit"]),
            (&8581.0.into(), &"pmol/L".into()),
            "{lab}"
        );
    }
    let out = run_stdin(&["assess", "-", "--format", "json"], &case("mg"));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("labs[0].unit") && err.contains("`mg` is not one"),
        "{err}"
    );
}

#[test]
fn missing_file_and_unknown_profile_exit_2() {
    let out = cobalt()
        .args(["assess", "/no/such/case.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = cobalt()
        .args([
            "assess",
            &example("ms-workup.json"),
            "--profile",
            "who-knows",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nice-ng239"));
}

#[test]
fn profile_and_laboratory_thresholds_change_the_classification() {
    let case = r#"{"format":"cobalt.case/1","as_of":"2026-01-01","labs":[{"test":"total_b12","value":190,"unit":"ng/L"}]}"#;
    let status = |args: &[&str]| {
        let out = run_stdin(args, case);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["conclusions"]["b12_status"].as_str().unwrap().to_string(),
            v["engine"]["profile"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        status(&["assess", "-", "--format", "json"]).0,
        "indeterminate"
    );
    assert_eq!(
        status(&["assess", "-", "--format", "json", "--profile", "bsh-2014"]).0,
        "deficient"
    );
    let dir = std::env::temp_dir().join(format!("cobalt-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lab = dir.join("lab.toml");
    std::fs::write(&lab, "id = \"local-lab\"\n[tests.total_b12]\ndeficient_below = 145.0\nindeterminate_up_to = 180.0\nsources = [{ ref = \"ruh-bath-b12\" }]\n").unwrap();
    let (s, p) = status(&[
        "assess",
        "-",
        "--format",
        "json",
        "--thresholds",
        lab.to_str().unwrap(),
    ]);
    assert_eq!((s.as_str(), p.as_str()), ("not_deficient", "local-lab"));
    std::fs::write(&lab, "[tests.total_b12]\ndeficient_below = 500.0\nindeterminate_up_to = 180.0\nsources = [{ ref = \"ruh-bath-b12\" }]\n").unwrap();
    let out = run_stdin(
        &["assess", "-", "--thresholds", lab.to_str().unwrap()],
        case,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("inverted range"));
}

#[test]
fn text_report_has_no_colour_off_a_terminal_and_puts_conclusions_first() {
    let out = cobalt()
        .args(["assess", &example("nitrous-oxide.json")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b'), "ANSI escape off a terminal");
    let c = text.find("CONCLUSIONS").unwrap();
    let f = text.find("FINDINGS").unwrap();
    assert!(c < f);
    assert!(text.contains("not a diagnosis"));
    let coloured = cobalt()
        .args([
            "assess",
            &example("nitrous-oxide.json"),
            "--color",
            "always",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8(coloured.stdout).unwrap().contains('\x1b'));
}

#[test]
fn markdown_report() {
    let out = cobalt()
        .args(["assess", &example("ms-workup.json"), "--format", "markdown"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.starts_with("# cobalt assessment: example-ms-workup"));
    assert!(md.contains("## Conclusions") && md.contains("## Findings"));
}

#[test]
fn html_file_holds_both_views_and_patient_text_is_plain() {
    let out = cobalt()
        .args([
            "assess",
            &example("metformin-neuropathy.json"),
            "--format",
            "html",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.trim_end().ends_with("</html>"));
    let report = html
        .find("<article class=\"report\"")
        .expect("clinician report");
    let patient = html.find("id=\"patient-view\"").expect("patient view");
    assert!(report < patient, "the clinician report comes first");
    assert!(!html.contains("<script"));
    let out = cobalt()
        .args([
            "assess",
            &example("metformin-neuropathy.json"),
            "--format",
            "patient",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("not a diagnosis"));
    assert!(!text.contains('<') && !text.contains("TX-") && !text.contains("_"));
}

#[test]
fn rules_explain_and_lint() {
    let out = cobalt().args(["rules"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(list.lines().count() > 50);
    assert!(list.contains("LAB-001"));

    let out = cobalt().args(["explain", "lab-001"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc = String::from_utf8(out.stdout).unwrap();
    for h in [
        "## What it checks",
        "## Why it matters",
        "## Inputs",
        "## Known limitations",
        "## References",
    ] {
        assert!(doc.contains(h), "explain lacks {h}");
    }
    let out = cobalt().args(["explain", "NOPE-001"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = cobalt().args(["kb", "lint"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn kb_lint_of_a_broken_directory_reports_problems_and_exits_1() {
    let dir = std::env::temp_dir().join(format!("cobalt-kb-lint-{}", std::process::id()));
    let src = repo().join("knowledge");
    copy_dir(&src, &dir);
    let clean = cobalt()
        .args(["kb", "lint", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    let profile = std::fs::read_to_string(dir.join("profiles/nice-ng239.toml")).unwrap();
    std::fs::write(
        dir.join("profiles/nice-ng239.toml"),
        profile.replace("indeterminate_up_to = 350.0", "indeterminate_up_to = 150.0"),
    )
    .unwrap();
    let broken = cobalt()
        .args(["kb", "lint", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&broken.stdout).contains("inverted range"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

#[test]
fn a_laboratory_sets_its_own_kappa_flc_cut_off() {
    let case = r#"{"format":"cobalt.case/1","as_of":"2026-01-01","ms":{"status":"clinically_isolated_syndrome"},"mri":{"lesions":[{"site":"periventricular","count":3}]},"csf":{"kappa_flc_index":7}}"#;
    let csf = |args: &[&str]| {
        let out = run_stdin(args, case);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["conclusions"]["mcdonald_2024"]["csf_positive"].clone()
    };
    assert_eq!(
        csf(&["assess", "-", "--format", "json"]),
        serde_json::json!(true)
    );
    let dir = std::env::temp_dir().join(format!("cobalt-cli-kflc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lab = dir.join("lab.toml");
    let lab_arg = lab.to_str().unwrap().to_string();
    std::fs::write(&lab, "[csf]\nkappa_flc_index_positive_from = 8.0\nsources = [{ ref = \"deisenhammer-2025-csf\", at = \"method-specific cut-off\" }]\n").unwrap();
    let with_lab = csf(&["assess", "-", "--format", "json", "--thresholds", &lab_arg]);
    std::fs::write(&lab, "[csf]\nkappa_flc_index_positive_from = -1.0\nsources = [{ ref = \"deisenhammer-2025-csf\" }]\n").unwrap();
    let bad = run_stdin(&["assess", "-", "--thresholds", &lab_arg], case);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(with_lab, serde_json::json!(false));
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("csf: impossible bound -1"));
}

#[test]
fn as_of_is_checked_even_when_the_case_has_its_own_and_a_difference_is_said() {
    let case = r#"{"format":"cobalt.case/1","as_of":"2026-01-15","patient":{"age_years":70}}"#;
    let bad = run_stdin(
        &["assess", "-", "--format", "json", "--as-of", "01/03/2026"],
        case,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--as-of: `01/03/2026` is not a date"));
    let other = run_stdin(
        &["assess", "-", "--format", "json", "--as-of", "2026-03-01"],
        case,
    );
    assert_eq!(other.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&other.stdout).unwrap();
    assert_eq!(v["as_of"], "2026-01-15");
    assert!(String::from_utf8_lossy(&other.stderr).contains("the case's as_of 2026-01-15 is used"));
}

#[test]
fn screening_assesses_an_export_as_of_its_manifest_and_says_so() {
    let dir = std::env::temp_dir().join(format!("cobalt-cli-manifest-{}", std::process::id()));
    let export = dir.join("export");
    std::fs::create_dir_all(&export).unwrap();
    std::fs::write(
        export.join("Patient.ndjson"),
        "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"birthDate\":\"1950-01-01\"}\n",
    )
    .unwrap();
    let manifest = |time: &str| {
        format!("{{\"transactionTime\":\"{time}\",\"output\":[{{\"type\":\"Patient\",\"url\":\"https://example.org/x/Patient.ndjson\"}}]}}")
    };
    let run = |extra: &[&str]| {
        let mut args = vec!["screen", export.to_str().unwrap(), "--out"];
        let out = dir.join("out");
        let out = out.to_str().unwrap().to_string();
        args.push(&out);
        args.extend(extra);
        let o = cobalt().args(&args).output().unwrap();
        let summary = std::fs::read_to_string(dir.join("out/summary.json")).unwrap_or_default();
        (o, summary)
    };
    std::fs::write(
        export.join("manifest.json"),
        manifest("2025-07-04T10:11:12+02:00"),
    )
    .unwrap();
    let (o, summary) = run(&[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("assessing as of 2025-07-04 (manifest transactionTime)"));
    let s: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(s["as_of"], "2025-07-04");
    assert_eq!(s["as_of_source"], "manifest transactionTime");
    let rows = std::fs::read_to_string(dir.join("out/results.ndjson")).unwrap();
    assert!(rows.contains("\"as_of\":\"2025-07-04\""), "{rows}");
    let (o, summary) = run(&["--as-of", "2026-02-01"]);
    assert_eq!(o.status.code(), Some(0));
    let s: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(
        (s["as_of"].as_str(), s["as_of_source"].as_str()),
        (Some("2026-02-01"), Some("--as-of"))
    );
    let (o, _) = run(&["--as-of", "01/02/2026"]);
    assert_eq!(o.status.code(), Some(2));
    std::fs::write(export.join("manifest.json"), manifest("yesterday")).unwrap();
    let (o, _) = run(&[]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("transactionTime `\"yesterday\"` is not a FHIR instant"));
}

#[test]
fn fhir_input_as_json_carries_the_resources_not_used() {
    let bundle =
        std::fs::read_to_string(repo().join("crates/cobalt-fhir/tests/fixtures/unknown-code.json"))
            .unwrap();
    let out = run_stdin(&["assess", "-", "--format", "json"], &bundle);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["conclusions"].is_object(), "still the assessment");
    assert_eq!(
        v["skipped_resources"],
        serde_json::json!([{
            "path": "entry[4].resource",
            "kind": "type_not_read",
            "reason": "resource type Encounter is not read by cobalt"
        }])
    );
    // A case document has nothing skipped and no such member.
    let out = cobalt()
        .args([
            "assess",
            &example("metformin-neuropathy.json"),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.get("skipped_resources").is_none());
}
