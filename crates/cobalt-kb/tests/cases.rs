//! Acceptance tests: every published case in `tests/published/` and every constructed case in
//! `tests/cases/` must meet its `expect` block. The published cases are copies of the project's
//! reference set; when that set sits beside the repository (`../shared/cases/dev/`), a test checks
//! that the copies agree with it.

use serde_json::Value;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_dir(dir: &Path) -> (usize, Vec<String>) {
    let kb = cobalt_kb::load().expect("knowledge base loads");
    let profile = &kb.profiles[&kb.meta.default_profile];
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    entries.sort();
    let mut failures = Vec::new();
    for path in &entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let case_doc = doc.get("case").cloned().expect("case");
        let expect = doc.get("expect").cloned().expect("expect");
        let case = match cobalt_core::parse_case_value(case_doc, &kb.vocab, &kb.analytes) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{name}: invalid case: {e}"));
                continue;
            }
        };
        let as_of = case
            .as_of
            .unwrap_or_else(|| cobalt_core::case::parse_date("2026-01-01").unwrap());
        let a = cobalt_core::evaluate(&kb, profile, &case, as_of);
        for f in cobalt_kb::check::check_expect(&a, &expect) {
            failures.push(format!("{name}: {f}"));
        }
    }
    (entries.len(), failures)
}

#[test]
fn published_dev_cases_meet_their_expectations() {
    let (n, failures) = run_dir(&repo().join("tests/published"));
    assert!(n >= 12, "only {n} published cases found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn constructed_cases_meet_their_expectations() {
    let (n, failures) = run_dir(&repo().join("tests/cases"));
    assert!(n >= 10, "only {n} constructed cases found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn published_cases_carry_their_citation_and_outcome() {
    let dir = repo().join("tests/published");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        n += 1;
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for key in ["case_id", "citation", "final_diagnosis"] {
            let ok = doc
                .get(key)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.trim().is_empty());
            assert!(ok, "{}: `{key}` missing or empty", path.display());
        }
    }
    assert!(n >= 12, "only {n} published cases found");
}

/// The copies in `tests/published/` agree with the reference set when it is present (a clone
/// from a public host has none; then there is nothing to compare and the test says so).
#[test]
fn published_copies_agree_with_the_reference_set_when_present() {
    let reference = repo().join("../shared/cases/dev");
    let Ok(entries) = std::fs::read_dir(&reference) else {
        eprintln!("{} absent: nothing to compare", reference.display());
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path.file_name().unwrap();
        let copy = repo().join("tests/published").join(name);
        let theirs: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let ours = std::fs::read_to_string(&copy)
            .unwrap_or_else(|e| panic!("{}: {e} (copy the new published case)", copy.display()));
        let ours: Value = serde_json::from_str(&ours).unwrap();
        assert_eq!(
            ours,
            theirs,
            "{} differs from {}",
            copy.display(),
            path.display()
        );
    }
}

/// Every published, constructed and example case and every rule test's case, parsed, with its
/// name and assessment day.
fn every_case(
    kb: &cobalt_core::KnowledgeBase,
) -> Vec<(String, cobalt_core::Case, cobalt_core::case::Date)> {
    let mut docs: Vec<(String, Value)> = Vec::new();
    for dir in ["tests/published", "tests/cases", "examples"] {
        let mut paths: Vec<_> = std::fs::read_dir(repo().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        for p in paths {
            let doc: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let case = doc.get("case").cloned().unwrap_or(doc);
            docs.push((p.display().to_string(), case));
        }
    }
    for rule in &kb.rules {
        for (i, t) in rule.tests.iter().enumerate() {
            if let Ok(case) = cobalt_kb::check::test_case_json(&t.case) {
                docs.push((format!("{} test {i}", rule.id), case));
            }
        }
    }
    assert!(docs.len() > 400, "only {} cases", docs.len());
    docs.into_iter()
        .filter_map(|(name, doc)| {
            let case = cobalt_core::parse_case_value(doc, &kb.vocab, &kb.analytes).ok()?;
            let as_of = case
                .as_of
                .unwrap_or_else(|| cobalt_core::case::parse_date("2026-01-01").unwrap());
            Some((name, case, as_of))
        })
        .collect()
}

/// Evaluation without prose reaches the same conclusions, flags and fired rules as the full
/// evaluation, for every published, constructed and example case and every rule test's case.
#[test]
fn conclusions_only_evaluation_agrees_with_the_full_one() {
    let kb = cobalt_kb::load().expect("knowledge base loads");
    let profile = &kb.profiles[&kb.meta.default_profile];
    for (name, case, as_of) in every_case(&kb) {
        let full = cobalt_core::evaluate(&kb, profile, &case, as_of);
        let bare = cobalt_core::evaluate_with(
            &kb,
            profile,
            &case,
            as_of,
            cobalt_core::Detail::Conclusions,
        );
        assert_eq!(bare.conclusions, full.conclusions, "{name}");
        assert_eq!(bare.screening, full.screening, "{name}");
        let rules = |a: &cobalt_core::Assessment<'_>| -> Vec<String> {
            a.findings.iter().map(|f| f.rule.to_string()).collect()
        };
        assert_eq!(rules(&bare), rules(&full), "{name}");
        assert!(bare.findings.iter().all(|f| f.message.is_empty()), "{name}");
    }
}

/// The conclusions agree with each other: no assessment favours MS (or a mixed picture) while
/// saying that no B12 test is indicated and B12 has not been measured, for every published,
/// constructed and example case and every rule test's case.
#[test]
fn an_ms_picture_always_indicates_a_b12_test() {
    use cobalt_core::assessment::{B12Status, Picture};
    let kb = cobalt_kb::load().expect("knowledge base loads");
    let profile = &kb.profiles[&kb.meta.default_profile];
    let mut ms_pictures = 0;
    let mut bad = Vec::new();
    for (name, case, as_of) in every_case(&kb) {
        let a = cobalt_core::evaluate(&kb, profile, &case, as_of);
        let c = &a.conclusions;
        if matches!(c.picture, Picture::MultipleSclerosis | Picture::Mixed) {
            ms_pictures += 1;
            if !c.test_indicated && c.b12_status == B12Status::NotTested {
                bad.push(name);
            }
        }
    }
    assert!(ms_pictures >= 20, "only {ms_pictures} MS or mixed pictures");
    assert!(
        bad.is_empty(),
        "MS favoured, no test indicated, B12 untested: {bad:?}"
    );
}
