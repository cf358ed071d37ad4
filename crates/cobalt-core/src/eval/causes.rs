//! Causes: each cause rule of the knowledge base names a concept (a diet, medicine, exposure,
//! condition or procedure); the rule fires when the case has it. Positive intrinsic factor
//! antibodies or coeliac serology count as evidence of their condition.

use super::labs::LabFacts;
use super::{Ctx, Facts};
use crate::case::Qualitative;
use crate::units::display_number;

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
        let present = diet == Some(concept)
            || case.medications.iter().any(|m| m.concept == concept)
            || case.exposures.iter().any(|e| e.concept == concept)
            || case.conditions.iter().any(|c| c.concept == concept)
            || case.procedures.iter().any(|p| p.concept == concept)
            || (concept == "autoimmune_gastritis" && lab.ifab == Some(Qualitative::Positive))
            || (concept == "coeliac_disease" && lab.coeliac == Some(Qualitative::Positive));
        if !present {
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
        } else if let Some(m) = case.medications.iter().find(|m| m.concept == concept) {
            let mut s = format!(
                "{label} {}",
                if m.current {
                    "is taken"
                } else {
                    "was taken in the past"
                }
            );
            if let Some(months) = m.months {
                s.push_str(&format!(" ({} months", display_number(months, 1)));
                if let Some(dose) = m.daily_dose_mg {
                    s.push_str(&format!(", {} mg a day", display_number(dose, 1)));
                }
                s.push(')');
            } else if let Some(dose) = m.daily_dose_mg {
                s.push_str(&format!(" ({} mg a day)", display_number(dose, 1)));
            }
            s.push_str(&format!(": {effect}."));
            if let Some(name) = &m.matched_by_name {
                s.push_str(&format!(
                    " Matched by name (\"{name}\"): the record has no code cobalt knows."
                ));
            }
            if let (Some(after), Some(months), true) =
                (spec.screen_after_months, m.months, m.current)
            {
                if months <= after {
                    s.push_str(&format!(
                        " Long-term users are tested after {} months; this is within that time.",
                        display_number(after, 0)
                    ));
                }
            }
            Some(s)
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
