//! Population-screening flags: who should be tested or treated, from the same case and
//! assessment. Each flag is a rule with sources; `cobalt screen` counts them across an export.

use super::causes::Causes;
use super::labs::LabFacts;
use super::{Ctx, Facts};
use crate::assessment::B12Status;
use crate::units::display_number;

/// Flag names, as they appear in `screening` and in the screening summary.
pub const LONG_TERM_DRUG_UNTESTED: &str = "long_term_drug_untested";
/// MS or demyelination with no B12 result.
pub const DEMYELINATION_UNTESTED: &str = "demyelination_untested";
/// Deficiency shown and no replacement.
pub const DEFICIENT_UNTREATED: &str = "deficient_untreated";
/// Malabsorption, autoimmune gastritis or a vegan diet with no recent B12 result.
pub const RISK_UNTESTED: &str = "risk_untested";

use super::medicine::months_between;

pub(crate) fn flags(
    ctx: &mut Ctx<'_, '_>,
    facts: &Facts,
    lab: &LabFacts,
    causes: &Causes,
) -> Vec<&'static str> {
    let case = ctx.case;
    let kb = ctx.kb;
    let mut out = Vec::new();
    let b12_tests = ["total_b12", "active_b12", "mma"];
    let as_of = ctx.as_of;
    let ever_tested = case
        .labs
        .iter()
        .any(|l| b12_tests.contains(&l.test.as_str()) && l.date.is_none_or(|d| d <= as_of));
    let lookback = param!(ctx, "SCR-001", "lookback_months");
    let recent = |lookback: f64| {
        case.labs.iter().any(|l| {
            b12_tests.contains(&l.test.as_str())
                && l.date
                    .is_some_and(|d| d <= as_of && months_between(d, as_of) <= lookback)
        })
    };

    // SCR-001: long-term metformin or acid suppression without a recent result.
    if !facts.on_replacement() && !recent(lookback) {
        let long: Vec<String> = case
            .medications
            .iter()
            .filter(|m| m.current)
            .filter_map(|m| {
                let spec = kb
                    .cause_rules()
                    .find(|(_, c)| c.concept == m.concept)
                    .map(|(_, c)| c)?;
                let after = spec.long_term_months?;
                let months = m.months?;
                (months > after).then(|| {
                    format!(
                        "{} for {} months (over {})",
                        ctx.label(&m.concept),
                        display_number(months, 1),
                        display_number(after, 0)
                    )
                })
            })
            .collect();
        long_term_duration_missing(ctx);
        if !long.is_empty() {
            ctx.fire(
                "SCR-001",
                msg!(
                    ctx,
                    "{}; no B12 result in the last {} months.",
                    long.join("; "),
                    display_number(lookback, 0)
                ),
                Some("Offer a B12 test (total or active B12).".into()),
            );
            out.push(LONG_TERM_DRUG_UNTESTED);
        }
    }

    // SCR-002: MS or demyelination considered, B12 never measured.
    if facts.demyelination_considered && !ever_tested && !facts.on_replacement() {
        ctx.fire(
            "SCR-002",
            "MS or another demyelinating disease is recorded or under work-up, and no B12 result is recorded at all.",
            Some("B12 deficiency must be excluded: offer a B12 test.".into()),
        );
        out.push(DEMYELINATION_UNTESTED);
    }

    // SCR-003: deficiency shown, no replacement.
    if matches!(
        lab.status,
        B12Status::Deficient | B12Status::FunctionalDeficiency
    ) && !facts.on_replacement()
    {
        ctx.fire(
            "SCR-003",
            msg!(
                ctx,
                "B12 status is {} and no B12 replacement is recorded.",
                lab.status.as_str().replace('_', " ")
            ),
            Some("Review and start treatment.".into()),
        );
        out.push(DEFICIENT_UNTREATED);
    }

    // SCR-004: malabsorption, autoimmune gastritis or a vegan diet without a recent result.
    let lookback4 = param!(ctx, "SCR-004", "lookback_months");
    if !facts.on_replacement() && !recent(lookback4) {
        let risks: Vec<&str> = causes
            .concepts
            .iter()
            .filter(|c| {
                c.as_str() == "vegan_diet"
                    || kb.cause_rules().any(|(_, s)| {
                        s.concept == **c
                            && matches!(s.mechanism.as_str(), "malabsorption" | "autoimmune")
                    })
            })
            .map(|c| ctx.label(c))
            .collect();
        if !risks.is_empty() {
            ctx.fire(
                "SCR-004",
                msg!(ctx, "{}; no B12 result in the last {} months.", risks.join(", "), display_number(lookback4, 0)),
                Some("Offer a B12 test; people with malabsorption or autoimmune gastritis usually need lifelong replacement.".into()),
            );
            out.push(RISK_UNTESTED);
        }
    }
    out
}

/// SCR-001 needs long-term use: a medicine taken now whose duration is not recorded is reported
/// as missing data, not assumed to be long-term or short.
fn long_term_duration_missing(ctx: &mut Ctx<'_, '_>) {
    let kb = ctx.kb;
    let unknown: Vec<&str> = ctx
        .case
        .medications
        .iter()
        .filter(|m| m.current && m.months.is_none())
        .filter(|m| {
            kb.cause_rules()
                .any(|(_, c)| c.concept == m.concept && c.long_term_months.is_some())
        })
        .map(|m| ctx.label(&m.concept))
        .collect();
    if unknown.is_empty() {
        return;
    }
    let message = msg!(
        ctx,
        "{} taken now, but for how long is not recorded: whether it is long-term use, a reason to offer a B12 test, cannot be judged.",
        unknown.join(", ")
    );
    ctx.missing(
        "screening.long_term_drug",
        vec!["medications[].months"],
        vec![],
        message,
    );
}
