//! Sections whose sentences come from the rules that fired (`[[rule_sections]]` in
//! `knowledge/plain.toml`): other causes of the same symptoms, starting vitamin B12 now, and
//! what to know about the treatment.

use super::{PlainSection, Wording};
use cobalt_core::assessment::Assessment;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One section: its id, heading, intro and each rule's sentences.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleSection {
    pub id: String,
    heading: String,
    intro: Vec<String>,
    pub rules: BTreeMap<String, Vec<String>>,
}

/// The section `id` for this assessment: the intro, then the sentences of each of its rules that
/// fired; `None` when none fired.
pub(super) fn rule_section(
    w: &'static Wording,
    a: &Assessment<'_>,
    id: &str,
) -> Option<PlainSection> {
    let s = w.rule_sections.iter().find(|s| s.id == id)?;
    let said: Vec<String> = s
        .rules
        .iter()
        .filter(|(rule, _)| a.fired(rule))
        .flat_map(|(_, sentences)| sentences.iter().cloned())
        .collect();
    if said.is_empty() {
        return None;
    }
    Some(PlainSection {
        id: s.id.as_str(),
        heading: s.heading.clone(),
        paragraphs: s.intro.iter().cloned().chain(said).collect(),
        items: Vec::new(),
    })
}

/// Whether a rule has sentences in some rule section.
pub(super) fn has_sentences(w: &Wording, rule: &str) -> bool {
    w.rule_sections.iter().any(|s| s.rules.contains_key(rule))
}
