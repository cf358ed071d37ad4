//! Architecture invariants, enforced: the core does no I/O, reads no clock, prints nothing; its
//! dependency list is pinned; every rule id used in the evaluator is a registered builtin; every
//! module opens with a doc comment.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn core_sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let t = std::fs::read_to_string(&p).unwrap();
            (p, t)
        })
        .collect()
}

#[test]
fn core_does_no_io_reads_no_clock_and_prints_nothing() {
    let forbidden = [
        "std::fs",
        "std::net",
        "std::process",
        "std::env",
        "std::io::stdin",
        "std::io::stdout",
        "SystemTime",
        "Instant::now",
        "now_utc",
        "now_local",
        "println!",
        "eprintln!",
        "print!(",
        "eprint!(",
        "dbg!(",
        "tokio",
        "std::thread",
    ];
    let mut hits = Vec::new();
    for (path, text) in core_sources() {
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for f in forbidden {
                if code.contains(f) {
                    hits.push(format!("{}:{}: `{f}`", path.display(), i + 1));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "forbidden in cobalt-core:\n{}",
        hits.join("\n")
    );
}

#[test]
fn core_dependencies_are_pinned() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    let names: Vec<&str> = deps
        .lines()
        .filter_map(|l| l.split(['.', '=', ' ']).next())
        .filter(|n| !n.is_empty())
        .collect();
    assert_eq!(
        names,
        [
            "aho-corasick",
            "serde",
            "serde_json",
            "serde_path_to_error",
            "toml",
            "thiserror",
            "time"
        ],
        "a new dependency of cobalt-core changes the architecture: update ARCHITECTURE.md and this list"
    );
}

#[test]
fn every_rule_id_in_the_evaluator_is_a_builtin_and_used() {
    let mut used = std::collections::BTreeSet::new();
    for (path, text) in core_sources() {
        if !path.to_string_lossy().contains("eval") || path.ends_with("mod.rs") {
            continue;
        }
        let bytes = text.as_bytes();
        for i in 0..bytes.len() {
            if bytes[i] == b'"' {
                let rest = &text[i + 1..];
                if let Some(end) = rest.find('"') {
                    let s = &rest[..end];
                    let ok = s.split_once('-').is_some_and(|(p, n)| {
                        !p.is_empty()
                            && p.chars().all(|c| c.is_ascii_uppercase())
                            && n.len() == 3
                            && n.chars().all(|c| c.is_ascii_digit())
                    });
                    if ok {
                        used.insert(s.to_string());
                    }
                }
            }
        }
    }
    let builtins: std::collections::BTreeSet<String> = cobalt_core::BUILTINS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let unregistered: Vec<_> = used.difference(&builtins).collect();
    assert!(
        unregistered.is_empty(),
        "used but not in BUILTINS: {unregistered:?}"
    );
    // Cause rules fire by data (their ids come from the knowledge base), so they need not appear.
    let unused: Vec<_> = builtins
        .difference(&used)
        .filter(|id| !id.starts_with("CAUSE-") || id.as_str() == "CAUSE-026")
        .collect();
    assert!(
        unused.is_empty(),
        "in BUILTINS but never fired by the evaluator: {unused:?}"
    );
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    for (path, text) in core_sources() {
        assert!(
            text.trim_start().starts_with("//!"),
            "{} has no //! module doc",
            path.display()
        );
    }
}
