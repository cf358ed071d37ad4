//! Causes: each cause rule of the knowledge base names a concept (a diet, medicine, exposure,
//! condition or procedure); the rule fires when the case has it. Positive intrinsic factor
//! antibodies or coeliac serology count as evidence of their condition.

use super::labs::LabFacts;
use super::medicine::Course;
use super::{Ctx, Facts};
use crate::case::Qualitative;

#[derive(Debug, Default)]
pub(crate) struct Causes {
    /// Concept ids, in rule order.
    pub concepts: Vec<String>,
    /// Mechanisms present.
    pub mechanisms: Vec<String>,
}

impl Causes {
    pub fn has(&self, concept: &str) -> bool {
        self.concepts.iter().any(|c| c == concept)
    }
    pub fn has_mechanism(&self, m: &str) -> bool {
        self.mechanisms.iter().any(|x| x == m)
    }
}

pub(crate) fn find<'kb>(ctx: &mut Ctx<'kb, '_>, _facts: &Facts, lab: &LabFacts) -> Causes {
    let case = ctx.case;
    let kb = ctx.kb;
    let mut out = Causes::default();
    let diet = case.diet.and_then(|d| d.concept());
    for (rule, spec) in kb.cause_rules() {
        let rule_id = rule.id.as_str();
        let concept = spec.concept.as_str();
        let other = diet == Some(concept)
            || case.exposures.iter().any(|e| e.concept == concept)
            || case.conditions.iter().any(|c| c.concept == concept)
            || case.procedures.iter().any(|p| p.concept == concept)
            || (concept == "autoimmune_gastritis" && lab.ifab == Some(Qualitative::Positive))
            || (concept == "coeliac_disease" && lab.coeliac == Some(Qualitative::Positive));
        // A medicine counts only when its course does (medicine.rs); the first entry that
        // counts is the one the message describes.
        let mut medicine = None;
        let mut not_counted = Vec::new();
        for m in case.medications.iter().filter(|m| m.concept == concept) {
            match super::medicine::course(ctx, spec, m) {
                Course::Counts => {
                    medicine.get_or_insert(m);
                }
                c => not_counted.push((c, m)),
            }
        }
        if medicine.is_none() {
            for (c, m) in not_counted {
                match c {
                    Course::TooShort => super::medicine::too_short(ctx, spec, m),
                    _ => super::medicine::stopped_long_ago(ctx, m),
                }
            }
        }
        if !other && medicine.is_none() {
            continue;
        }
        let label = ctx.label(concept);
        let effect = spec.effect.as_str();
        // Every present cause has a message; it is written only when the assessment carries
        // messages.
        let message: Option<String> = if !ctx.detail {
            Some(String::new())
        } else if diet == Some(concept) {
            Some(format!("{label}: {effect}."))
        } else if let Some(m) = medicine {
            Some(super::medicine::message(label, effect, spec, m))
        } else if let Some(e) = case.exposures.iter().find(|e| e.concept == concept) {
            let freq = e
                .frequency
                .as_deref()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default();
            let last = e
                .date
                .map(|d| format!(", last {}", super::format_date(d)))
                .unwrap_or_default();
            Some(format!("{label}{freq}{last}: {effect}."))
        } else if case.conditions.iter().any(|c| c.concept == concept) {
            Some(format!("{label} is recorded: {effect}."))
        } else if let Some(p) = case.procedures.iter().find(|p| p.concept == concept) {
            let when = p
                .date
                .map(|d| format!(" ({})", super::format_date(d)))
                .unwrap_or_default();
            Some(format!("{label}{when} is recorded: {effect}."))
        } else if concept == "autoimmune_gastritis" && lab.ifab == Some(Qualitative::Positive) {
            Some(format!("Intrinsic factor antibodies are positive: autoimmune gastritis (pernicious anaemia) is the likely cause; {effect}."))
        } else if concept == "coeliac_disease" && lab.coeliac == Some(Qualitative::Positive) {
            Some(format!(
                "Coeliac serology is positive: coeliac disease is a likely cause; {effect}."
            ))
        } else {
            None
        };
        if let Some(message) = message {
            ctx.fire(rule_id, message, None);
            if !out.has(concept) {
                out.concepts.push(concept.to_string());
            }
            if !out.has_mechanism(&spec.mechanism) {
                out.mechanisms.push(spec.mechanism.clone());
            }
        }
    }
    out
}
