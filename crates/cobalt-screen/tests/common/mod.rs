//! What the screening tests share: the knowledge base, a fresh directory, and the options of a
//! run as of 2026-01-01 on two threads.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The built-in knowledge base, loaded once.
pub fn kb() -> &'static cobalt_core::KnowledgeBase {
    static KB: OnceLock<cobalt_core::KnowledgeBase> = OnceLock::new();
    KB.get_or_init(|| cobalt_kb::load().unwrap())
}

/// A new, empty directory for one test: `cobalt-{suite}-{pid}-{name}` under the temp dir.
pub fn dir(suite: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cobalt-{suite}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A run's options, writing `format`.
pub fn options_as(
    input: &Path,
    out: &Path,
    format: cobalt_screen::Format,
) -> cobalt_screen::Options {
    cobalt_screen::Options {
        input: input.into(),
        out: out.into(),
        format,
        detail: cobalt_screen::Detail::Compact,
        validate_all: false,
        as_of: cobalt_core::case::parse_date("2026-01-01").unwrap(),
        as_of_source: "--as-of".into(),
        threads: 2,
        max_errors_per_file: cobalt_screen::DEFAULT_MAX_ERRORS_PER_FILE,
    }
}

/// A run's options, writing NDJSON.
pub fn options(input: &Path, out: &Path) -> cobalt_screen::Options {
    options_as(input, out, cobalt_screen::Format::Ndjson)
}
