//! The route as the person chooses it with their clinician (TX-019), what injections can do
//! (TX-020), the medicines that change the response (TX-021), and starting B12 in pregnancy on a
//! plant-based diet (TX-018). Runs after the treatment plan and never changes a conclusion.

use super::labs::LabFacts;
use super::{Ctx, Facts};
use crate::assessment::{B12Status, Management, Route, Treatment};
use crate::case::Diet;

pub(crate) fn advise(
    ctx: &mut Ctx<'_, '_>,
    facts: &Facts,
    lab: &LabFacts,
    treatment: Treatment,
    m: &mut Management<'_>,
) {
    start_in_pregnancy(ctx, facts, lab);
    let Some(regimen) = m.regimen.as_ref().map(|r| r.rule) else {
        return;
    };
    // Either route suits: tablets chosen, or injections with tablets as the alternative. With
    // neurological involvement the intramuscular regimen (TX-001) is not a free choice.
    // Urgent treatment (pregnancy) is started at once by the route chosen, not chosen at leisure.
    let choice =
        !facts.neuro() && !treatment.urgent && matches!(regimen, "TX-002" | "TX-003" | "TX-004");
    if choice {
        let now = if treatment.route == Route::Oral {
            "Tablets are suggested here, and injections would also work"
        } else {
            "Injections are suggested here, and high-dose tablets (at least 1 mg a day) are the alternative"
        };
        ctx.fire(
            "TX-019",
            msg!(ctx, "{now}: the person can choose with their clinician. Tablets: taken daily, cheap, no clinic visits; a high dose is absorbed even without intrinsic factor, and oral and intramuscular B12 corrected levels similarly in trials. Injections: bypass the gut and may act faster, but need a loading course and then regular visits. Tablets are usually cyanocobalamin, UK injections hydroxocobalamin; methylcobalamin's claimed benefits in MS are unproven."),
            Some("If symptoms do not improve enough, raise the dose or switch to injections.".into()),
        );
    }
    if treatment.route == Route::Intramuscular || choice {
        let potassium = lab.anaemia == Some(true);
        ctx.fire(
            "TX-020",
            msg!(ctx, "Hydroxocobalamin injections can cause pain, redness or swelling where given; nausea or diarrhoea; itching, rash or acne-like spots; headache, hot flushes or dizziness; and red-coloured urine. A severe allergic reaction (anaphylaxis) is rare.{}", if potassium { " With anaemia, potassium can fall in the first days of treatment: monitor it." } else { "" }),
            None,
        );
        if potassium {
            m.cautions.push(
                "Anaemia: monitor potassium in the first days of B12 treatment (arrhythmias from low potassium have been reported)."
                    .into(),
            );
        }
    }
    interactions(ctx);
}

/// TX-021: the medicines that change the response to B12, those in the case first.
fn interactions(ctx: &mut Ctx<'_, '_>) {
    // The screening path keeps the rule and writes no prose.
    if !ctx.detail {
        ctx.fire("TX-021", String::new(), None);
        return;
    }
    let case = ctx.case;
    let takes = |c: &str| case.medications.iter().any(|m| m.concept == c);
    let mut recorded: Vec<String> = Vec::new();
    if takes("chloramphenicol") {
        recorded.push("Chloramphenicol taken: it may blunt the blood's response to B12, so check the blood count".into());
    }
    let absorption: Vec<&str> = [
        "metformin",
        "proton_pump_inhibitor",
        "h2_receptor_antagonist",
    ]
    .into_iter()
    .filter(|c| takes(c))
    .map(|c| ctx.label(c))
    .collect();
    if !absorption.is_empty() {
        recorded.push(msg!(
            ctx,
            "{} taken: {} absorption of B12 from food",
            absorption.join("; "),
            if absorption.len() == 1 {
                "it reduces"
            } else {
                "they reduce"
            }
        ));
    }
    let general = "Medicines that change the response to B12 or its results: chloramphenicol may blunt the response; metformin, proton pump inhibitors and H2-receptor antagonists reduce absorption from food; hormonal contraception lowers the B12 level without deficiency.";
    let message = if recorded.is_empty() {
        general.to_string()
    } else {
        msg!(ctx, "Recorded here: {}. {general}", recorded.join("; "))
    };
    ctx.fire(
        "TX-021",
        message,
        Some("Review the medicines list when treatment starts.".into()),
    );
}

/// TX-018: pregnant or breastfeeding on a plant-based diet, with symptoms, not yet treated and
/// deficiency neither shown nor excluded.
fn start_in_pregnancy(ctx: &mut Ctx<'_, '_>, facts: &Facts, lab: &LabFacts) {
    let plant = matches!(
        ctx.case.diet,
        Some(Diet::Vegan | Diet::Vegetarian | Diet::LowAnimalFood)
    );
    let undecided = matches!(lab.status, B12Status::NotTested | B12Status::Indeterminate);
    if (facts.pregnant || facts.breastfeeding)
        && plant
        && !facts.common_findings.is_empty()
        && !facts.on_replacement()
        && undecided
    {
        let stage = if facts.pregnant {
            "Pregnant"
        } else {
            "Breastfeeding"
        };
        let symptoms: Vec<&str> = facts.common_findings.iter().map(|f| ctx.label(f)).collect();
        ctx.fire(
            "TX-018",
            msg!(ctx, "{stage}, on a plant-based diet, with symptoms of B12 deficiency ({}): take the blood for active B12, then start B12 without waiting for the result. Deficiency harms the baby, the diet needs B12 from fortified foods or a supplement in any case, and results are harder to read in pregnancy.", symptoms.join("; ")),
            Some("Take the sample before the first dose. With neurological symptoms, seek specialist advice the same day.".into()),
        );
    }
}
