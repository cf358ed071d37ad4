//! Shared by the patient-view tests: the repository, the knowledge base, and the wording table
//! (`knowledge/plain.toml`).

#![allow(dead_code)]

use cobalt_core::assessment::{B12Status, Picture, Route};
use cobalt_core::KnowledgeBase;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn kb() -> KnowledgeBase {
    cobalt_kb::load().expect("knowledge base loads")
}

// --- The wording table -----------------------------------------------------------------------

pub fn plain() -> toml::Table {
    let text = std::fs::read_to_string(repo().join("knowledge/plain.toml")).unwrap();
    text.parse().expect("knowledge/plain.toml parses")
}

pub fn sub<'a>(t: &'a toml::Table, path: &[&str]) -> &'a toml::Table {
    path.iter().fold(t, |t, k| {
        t.get(*k)
            .and_then(|v| v.as_table())
            .unwrap_or_else(|| panic!("plain.toml has no table {}", path.join(".")))
    })
}

pub fn string<'a>(t: &'a toml::Table, path: &[&str]) -> &'a str {
    let (last, head) = path.split_last().unwrap();
    sub(t, head)
        .get(*last)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("plain.toml has no string {}", path.join(".")))
}

pub fn keys(t: &toml::Table, path: &[&str]) -> BTreeSet<String> {
    sub(t, path).keys().cloned().collect()
}

pub fn set<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> BTreeSet<String> {
    items.into_iter().map(|s| s.as_ref().to_string()).collect()
}

/// Every B12 status; the match breaks the build when a variant is added.
pub fn statuses() -> Vec<B12Status> {
    use B12Status::*;
    let all = vec![
        Deficient,
        FunctionalDeficiency,
        Indeterminate,
        NotDeficient,
        NotTested,
    ];
    for s in &all {
        match s {
            Deficient | FunctionalDeficiency | Indeterminate | NotDeficient | NotTested => {}
        }
    }
    all
}

pub fn pictures() -> Vec<Picture> {
    use Picture::*;
    let all = vec![B12Deficiency, MultipleSclerosis, Mixed, Undetermined];
    for p in &all {
        match p {
            B12Deficiency | MultipleSclerosis | Mixed | Undetermined => {}
        }
    }
    all
}

pub fn routes() -> Vec<Route> {
    use Route::*;
    let all = vec![Intramuscular, Oral, Dietary, None, Undetermined];
    for r in &all {
        match r {
            Intramuscular | Oral | Dietary | None | Undetermined => {}
        }
    }
    all
}

/// Sentences of a text: split at `.`, `?` or `!` followed by a space or the end of a line.
pub fn sentences(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in s.lines() {
        let mut cur = String::new();
        let chars: Vec<char> = line.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            cur.push(*c);
            let end =
                matches!(c, '.' | '?' | '!') && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
            if end {
                out.push(std::mem::take(&mut cur).trim().to_string());
            }
        }
        if !cur.trim().is_empty() {
            out.push(cur.trim().to_string());
        }
    }
    out
}

/// "B12" used without "vitamin" before it.
pub fn b12_alone(s: &str) -> Option<String> {
    s.match_indices("B12")
        .find(|(i, _)| !s[..*i].to_lowercase().ends_with("vitamin "))
        .map(|(i, _)| format!("\"B12\" without \"vitamin\" at {i}: {s}"))
}
