//! Unit tests of the patient view's wording table and helpers.
use super::*;

#[test]
fn the_wording_parses() {
    let w = wording();
    assert_eq!(w.months.len(), 12);
}

#[test]
fn every_rule_read_is_a_builtin_with_a_documented_rule() {
    let kb = cobalt_kb::load().expect("knowledge base loads");
    for id in RULES_READ {
        assert!(cobalt_core::BUILTINS.contains(id), "{id} is not a builtin");
        assert!(kb.rule(id).is_some(), "{id} is not in the knowledge base");
    }
}

#[test]
fn dates_read_as_words() {
    let w = wording();
    assert_eq!(long_date(w, "2026-03-01"), "1 March 2026");
    assert_eq!(long_date(w, "2025-12-31"), "31 December 2025");
    assert_eq!(long_date(w, "2026-13-01"), "2026-13-01");
    assert_eq!(long_date(w, "soon"), "soon");
}
