//! Medicine names are found in a text by one automaton over all of them, and it answers exactly
//! as reading the names one by one does (a B12 product first, then the earliest name, then the
//! name listed first), on the real list of names.

use proptest::prelude::*;

fn kb() -> &'static cobalt_core::KnowledgeBase {
    static KB: std::sync::OnceLock<cobalt_core::KnowledgeBase> = std::sync::OnceLock::new();
    KB.get_or_init(|| cobalt_kb::load().unwrap())
}

/// The same knowledge base without the automaton: names are read one by one.
fn scanning() -> &'static cobalt_core::KnowledgeBase {
    static KB: std::sync::OnceLock<cobalt_core::KnowledgeBase> = std::sync::OnceLock::new();
    KB.get_or_init(|| {
        let mut kb = kb().clone();
        kb.index.medicine_names = None;
        kb
    })
}

fn id(c: Option<&cobalt_core::vocab::Concept>) -> Option<&str> {
    c.map(|c| c.id.as_str())
}

#[test]
fn the_automaton_is_built_and_every_name_finds_its_concept() {
    let kb = kb();
    assert!(kb.index.medicine_names.is_some());
    assert!(kb.medicine_names.len() >= 10);
    for n in &kb.medicine_names {
        let found = kb.medicine_by_name(&n.name).expect(&n.name);
        assert_eq!(id(Some(found)), id(scanning().medicine_by_name(&n.name)));
    }
    // A B12 product wins over a medicine named before it.
    let b12 = kb
        .medicine_names
        .iter()
        .find(|n| kb.vocab.get(&n.concept).unwrap().kind == cobalt_core::vocab::Kind::B12Product)
        .unwrap();
    let other = kb
        .medicine_names
        .iter()
        .find(|n| kb.vocab.get(&n.concept).unwrap().kind != cobalt_core::vocab::Kind::B12Product)
        .unwrap();
    let text = format!("{} and {}", other.name, b12.name);
    assert_eq!(id(kb.medicine_by_name(&text)), Some(b12.concept.as_str()));
}

proptest! {
    #[test]
    fn the_automaton_answers_as_the_names_one_by_one(
        parts in prop::collection::vec(
            prop_oneof![
                (0usize..1000).prop_map(|i| {
                    let names = &kb().medicine_names;
                    names[i % names.len()].name.to_uppercase()
                }),
                "[a-z]{1,8}",
                "[0-9]{1,3} ?(MG|mg|mcg)",
                "[ /,.()-]{1,2}",
            ],
            0..8,
        )
    ) {
        let text: String = parts.concat();
        prop_assert_eq!(
            id(kb().medicine_by_name(&text)),
            id(scanning().medicine_by_name(&text)),
            "{}", text
        );
    }
}
