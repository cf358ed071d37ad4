//! The vocabulary's code index answers exactly as a scan of every code does, on the real
//! vocabulary: for its own codes, their subcodes, other spellings (case, dots, spaces) and
//! codes that are not there.

use cobalt_core::vocab::CodeSystem;
use proptest::prelude::*;

const SYSTEMS: [CodeSystem; 4] = [
    CodeSystem::Loinc,
    CodeSystem::Snomed,
    CodeSystem::Icd10,
    CodeSystem::Atc,
];

fn kb() -> &'static cobalt_core::KnowledgeBase {
    static KB: std::sync::OnceLock<cobalt_core::KnowledgeBase> = std::sync::OnceLock::new();
    KB.get_or_init(|| cobalt_kb::load().unwrap())
}

fn codes() -> Vec<(CodeSystem, String)> {
    kb().vocab
        .concepts()
        .iter()
        .flat_map(|c| c.codes.iter().cloned())
        .collect()
}

#[test]
fn every_code_of_the_vocabulary_finds_the_same_concept() {
    let kb = kb();
    let mut n = 0;
    for (sys, code) in codes() {
        for variant in [
            code.clone(),
            code.to_lowercase(),
            code.replace('.', ""),
            format!(" {code} "),
            format!("{code}9"),
            format!("{code}.1"),
            code[..code.len() - 1].to_string(),
        ] {
            for system in SYSTEMS {
                let a = kb.vocab.lookup(system, &variant).map(|c| &c.id);
                let b = kb.vocab.lookup_by_scan(system, &variant).map(|c| &c.id);
                assert_eq!(a, b, "{system:?} {variant:?}");
                n += 1;
            }
        }
        assert!(kb.vocab.lookup(sys, &code).is_some(), "{code}");
    }
    assert!(n > 1000, "{n} lookups");
}

proptest! {
    #[test]
    fn any_code_finds_the_same_concept_as_a_scan(
        pick in 0usize..1000,
        suffix in "[0-9A-Za-z.]{0,3}",
        cut in 0usize..4,
        system in 0usize..4,
    ) {
        let kb = kb();
        let all = codes();
        let (_, code) = &all[pick % all.len()];
        let base = &code[..code.len().saturating_sub(cut)];
        let probe = format!("{base}{suffix}");
        let system = SYSTEMS[system];
        prop_assert_eq!(
            kb.vocab.lookup(system, &probe).map(|c| &c.id),
            kb.vocab.lookup_by_scan(system, &probe).map(|c| &c.id)
        );
    }
}
