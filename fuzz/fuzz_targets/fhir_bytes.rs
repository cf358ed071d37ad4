//! Fuzzes the FHIR path from bytes: the mapping may refuse (with a path) but never panic; a case
//! it accepts evaluates, and its document parses back to the same case.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static KB: LazyLock<cobalt_core::KnowledgeBase> = LazyLock::new(|| cobalt_kb::load().expect("knowledge base"));

fuzz_target!(|data: &[u8]| {
    let kb = &*KB;
    let as_of = cobalt_core::case::parse_date("2026-01-01").unwrap();
    match cobalt_fhir::from_slice(data, as_of, kb) {
        Ok(m) => {
            let profile = &kb.profiles[&kb.meta.default_profile];
            let a = cobalt_core::evaluate(kb, profile, &m.parsed, as_of);
            assert!(a.findings.iter().all(|f| !f.sources.is_empty()));
            let text = serde_json::to_string(&m.case).unwrap();
            let again = cobalt_core::parse_case(&text, &kb.vocab, &kb.analytes).expect("the document parses");
            assert_eq!(again, m.parsed);
        }
        Err(e) => assert!(!e.path.is_empty()),
    }
});
