//! The patient view's wording table (`knowledge/plain.toml`) covers every id the evaluator can
//! emit and nothing else, and every string in it is short and has no numbers (the rendered view
//! is checked in `patient.rs`).

mod common;

use cobalt_core::vocab::Kind;
use cobalt_core::KnowledgeBase;
use common::*;
use std::collections::BTreeSet;

fn concepts_of(kb: &KnowledgeBase, kind: Kind) -> BTreeSet<String> {
    set(kb
        .vocab
        .concepts()
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| c.id.as_str()))
}

fn eval_source(file: &str) -> String {
    let path = repo().join("crates/cobalt-core/src/eval").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The string literals in `text`.
fn literals(text: &str) -> Vec<&str> {
    text.split('"').skip(1).step_by(2).collect()
}

/// Every conclusion the evaluator can report as missing: the first argument of each
/// `ctx.missing(` call in crates/cobalt-core/src/eval and its subdirectories.
fn missing_conclusions() -> BTreeSet<String> {
    let mut dirs = vec![repo().join("crates/cobalt-core/src/eval")];
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut out = BTreeSet::new();
    let mut calls = 0;
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, _) in text.match_indices("ctx.missing(") {
            calls += 1;
            let after = &text[i..];
            let name = literals(after).first().copied().unwrap_or_default();
            out.insert(name.to_string());
        }
    }
    assert!(calls >= 5, "only {calls} ctx.missing( calls found");
    out
}

/// Every laboratory interpretation the evaluator can give: the string literals of the
/// interpretation block (eval/normalise.rs) and of `class_name` (eval/labs.rs), less the lab
/// concept ids matched on.
fn interpretations(labs: &BTreeSet<String>) -> BTreeSet<String> {
    let block = |file: &str, start: &str, end: &str| -> String {
        let src = eval_source(file);
        let i = src
            .find(start)
            .unwrap_or_else(|| panic!("{file}: `{start}` not found"));
        let j = src[i..]
            .find(end)
            .unwrap_or_else(|| panic!("{file}: `{end}` not found"));
        src[i..i + j].to_string()
    };
    let mut text = block(
        "normalise.rs",
        "let interpretation = if !is_latest",
        "normalised.push",
    );
    text.push_str(&block("labs.rs", "fn class_name", "\n}\n"));
    let out: BTreeSet<String> = set(literals(&text).into_iter().filter(|l| !labs.contains(*l)));
    assert!(
        out.contains("anaemia") && out.contains("not_deficient"),
        "{out:?}"
    );
    out
}

#[test]
fn the_wording_covers_every_id_the_evaluator_can_emit_and_no_other() {
    let kb = kb();
    let t = plain();
    let labs = concepts_of(&kb, Kind::Lab);
    assert_eq!(
        keys(&t, &["results", "status"]),
        set(statuses().into_iter().map(|s| s.as_str())),
        "results.status"
    );
    assert_eq!(
        keys(&t, &["ms", "picture"]),
        set(pictures().into_iter().map(|p| p.as_str())),
        "ms.picture"
    );
    assert_eq!(
        keys(&t, &["next", "route"]),
        set(routes().into_iter().map(|r| r.as_str())),
        "next.route"
    );
    assert_eq!(
        keys(&t, &["next", "referrals"]),
        concepts_of(&kb, Kind::Referral),
        "next.referrals"
    );
    assert_eq!(keys(&t, &["tests"]), labs, "tests: every lab concept");
    let causes = set(kb.cause_rules().map(|(_, c)| c.concept.as_str()));
    assert!(causes.len() >= 25, "{causes:?}");
    assert_eq!(keys(&t, &["causes", "concepts"]), causes, "causes.concepts");
    for (id, v) in sub(&t, &["causes", "concepts"]) {
        let medicine = v.get("medicine").and_then(|m| m.as_bool()).unwrap_or(false);
        let kind = kb.vocab.get(id).map(|c| c.kind);
        assert_eq!(
            medicine,
            kind == Some(Kind::Medication),
            "causes.concepts.{id}: `medicine` must match the vocabulary's kind ({kind:?})"
        );
    }
    assert_eq!(
        keys(&t, &["missing", "conclusions"]),
        missing_conclusions(),
        "missing.conclusions"
    );
    assert_eq!(
        keys(&t, &["results", "meaning"]),
        interpretations(&labs),
        "results.meaning"
    );
}

/// Every string of the table, with its path.
fn strings(v: &toml::Value, path: String, out: &mut Vec<(String, String)>) {
    match v {
        toml::Value::String(s) => out.push((path, s.clone())),
        toml::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                strings(x, format!("{path}[{i}]"), out);
            }
        }
        toml::Value::Table(t) => {
            for (k, x) in t {
                strings(x, format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

const PLACEHOLDERS: &[&str] = &[
    "date", "id", "test", "meaning", "name", "what", "when", "stage", "mcg", "serving",
];

#[test]
fn every_string_of_the_wording_is_short_and_has_no_numbers() {
    let mut all = Vec::new();
    strings(&toml::Value::Table(plain()), String::new(), &mut all);
    assert!(all.len() > 100, "{} strings", all.len());
    let mut failures = Vec::new();
    for (path, s) in &all {
        if s.trim().is_empty() {
            failures.push(format!("{path}: empty"));
        }
        for sentence in sentences(s) {
            let n = sentence.split_whitespace().count();
            if n > 25 {
                failures.push(format!("{path}: {n} words: {sentence}"));
            }
        }
        // Numbers need citations: none here, apart from the names "vitamin B12" and "type 1
        // diabetes".
        let bare = s.replace("B12", "").replace("Type 1 ", "");
        if bare.chars().any(|c| c.is_ascii_digit()) {
            failures.push(format!("{path}: a number: {s}"));
        }
        failures.extend(b12_alone(s).map(|e| format!("{path}: {e}")));
        for part in s.split('{').skip(1) {
            let name = part.split('}').next().unwrap_or_default();
            if !PLACEHOLDERS.contains(&name) {
                failures.push(format!("{path}: unknown placeholder {{{name}}}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_reaches_the_patient_view_or_says_why_not() {
    let kb = cobalt_kb::load().expect("knowledge base loads");
    let ids: Vec<&str> = kb.rules.iter().map(|r| r.id.as_str()).collect();
    let problems = cobalt_report::patient::coverage_problems(ids.iter().copied());
    assert!(problems.is_empty(), "{problems:#?}");
    // A new rule without a line is reported, naming the rule and the way to fix it.
    let mut with_new = ids.clone();
    with_new.push("TX-099");
    let problems = cobalt_report::patient::coverage_problems(with_new);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("TX-099: no patient wording"),
        "{}",
        problems[0]
    );
    // A line for a rule that does not exist is reported too.
    let problems =
        cobalt_report::patient::coverage_problems(ids.iter().copied().filter(|r| *r != "LAB-001"));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`LAB-001`, which is not a rule")),
        "{problems:?}"
    );
}
