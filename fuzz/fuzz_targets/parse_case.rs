//! Fuzzes the case parser and, for every case it accepts, the evaluator: neither may panic, and
//! an error must name a JSON path.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static KB: LazyLock<cobalt_core::KnowledgeBase> = LazyLock::new(|| cobalt_kb::load().expect("knowledge base"));

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let kb = &*KB;
    match cobalt_core::parse_case(text, &kb.vocab, &kb.analytes) {
        Ok(case) => {
            let profile = &kb.profiles[&kb.meta.default_profile];
            let as_of = case.as_of.unwrap_or_else(|| cobalt_core::case::parse_date("2026-01-01").unwrap());
            let a = cobalt_core::evaluate(kb, profile, &case, as_of);
            assert!(a.findings.iter().all(|f| !f.sources.is_empty()));
        }
        Err(e) => assert!(!e.path.is_empty()),
    }
});
