//! Shared helpers of the cobalt-fhir tests: the knowledge base, fixtures, the assessment date.

#![allow(dead_code)]

use cobalt_core::KnowledgeBase;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The date every fixture is mapped at.
pub const AS_OF: time::Date = time::macros::date!(2026 - 01 - 15);

pub fn kb() -> &'static KnowledgeBase {
    static KB: OnceLock<KnowledgeBase> = OnceLock::new();
    KB.get_or_init(|| cobalt_kb::load().expect("knowledge base loads"))
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture(name: &str) -> Value {
    let path = fixtures().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn map(name: &str) -> cobalt_fhir::Mapped {
    cobalt_fhir::to_case(&fixture(name), AS_OF, kb()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The skipped entries as `path: reason` lines.
pub fn skipped(m: &cobalt_fhir::Mapped) -> Vec<String> {
    m.skipped
        .iter()
        .map(|s| format!("{}: {}", s.path, s.reason))
        .collect()
}
