//! Other explanations (rules DIFF-*): where the case records a common alternative or coexisting
//! cause of the same symptoms (diabetes, alcohol, hypothyroidism, copper deficiency, a second
//! cause of anaemia), say so. These rules read the case and the lab facts and never change a
//! conclusion.

use super::labs::LabFacts;
use super::Ctx;

/// The group's members present in the case, by label, in the case's order.
fn present<'kb>(ctx: &Ctx<'kb, '_>, group: &str) -> Vec<&'kb str> {
    let mut out: Vec<&'kb str> = Vec::new();
    for f in ctx.findings_in(group) {
        let l = ctx.label(&f.concept);
        if !out.contains(&l) {
            out.push(l);
        }
    }
    out
}

pub(crate) fn consider(ctx: &mut Ctx<'_, '_>, lab: &LabFacts) {
    let case = ctx.case;
    let condition = |id: &str| case.conditions.iter().any(|c| c.concept == id);
    // Whether a group has a member decides a rule; the members' names are written only with
    // the prose (inside `msg!`).
    let neuropathy = ctx
        .findings_in("peripheral_neuropathy_features")
        .next()
        .is_some();

    // DIFF-001: diabetes (or metformin, taken mostly for it) with neuropathy symptoms.
    let diabetes = condition("type_1_diabetes") || condition("type_2_diabetes");
    let metformin = case.medications.iter().any(|m| m.concept == "metformin");
    if (diabetes || metformin) && neuropathy {
        let what = if diabetes {
            "Diabetes is recorded"
        } else {
            "Metformin is taken, most often for diabetes"
        };
        ctx.fire(
            "DIFF-001",
            msg!(ctx, "{what}, and the case records symptoms or signs of a neuropathy ({}). Diabetic neuropathy causes the same symptoms and can coexist with B12 deficiency; it is diagnosed only once treatable causes such as B12 deficiency are excluded.", present(ctx, "peripheral_neuropathy_features").join("; ")),
            Some("Assess for diabetic neuropathy as well; treating B12 deficiency may leave the part that diabetes causes.".into()),
        );
    }

    // DIFF-002: alcohol with neuropathy or macrocytosis.
    if condition("alcohol_excess") && (neuropathy || lab.macrocytosis == Some(true)) {
        // Written only when the assessment carries messages (not on the screening path).
        let what = || {
            let names = || present(ctx, "peripheral_neuropathy_features").join("; ");
            match (neuropathy, lab.macrocytosis == Some(true)) {
                (true, true) => format!("a neuropathy ({}) and macrocytosis", names()),
                (true, false) => format!("a neuropathy ({})", names()),
                _ => "macrocytosis".to_string(),
            }
        };
        ctx.fire(
            "DIFF-002",
            msg!(ctx, "Alcohol misuse is recorded, and so is {}. Alcohol causes a sensory neuropathy and a raised MCV without B12 deficiency, and often goes with B12 and thiamine deficiency.", what()),
            Some("Neither the neuropathy nor the MCV shows B12 deficiency here; the B12 result does. Ask about alcohol and diet.".into()),
        );
    }

    // DIFF-003: hypothyroidism with tiredness, neuropathy, anaemia or macrocytosis.
    if condition("hypothyroidism") {
        let fatigue = case.findings.iter().any(|f| f.concept == "fatigue");
        let shared = || {
            let mut shared: Vec<&str> = Vec::new();
            if fatigue {
                shared.push(ctx.label("fatigue"));
            }
            shared.extend(present(ctx, "peripheral_neuropathy_features"));
            if lab.anaemia == Some(true) {
                shared.push("anaemia");
            }
            if lab.macrocytosis == Some(true) {
                shared.push("macrocytosis");
            }
            shared
        };
        if fatigue || neuropathy || lab.anaemia == Some(true) || lab.macrocytosis == Some(true) {
            ctx.fire(
                "DIFF-003",
                msg!(ctx, "Hypothyroidism is recorded, and the case shares features with it ({}). Hypothyroidism causes tiredness, a mild polyneuropathy and anaemia (sometimes macrocytic) of its own.", shared().join("; ")),
                Some("Check that thyroid treatment is adequate; the B12 conclusions stand either way.".into()),
            );
        }
    }

    // DIFF-004: copper deficiency after gastric surgery or with excess zinc, with a myelopathy.
    let surgery: Vec<&str> = ["bariatric_surgery", "gastrectomy"]
        .into_iter()
        .filter(|p| case.procedures.iter().any(|x| x.concept == *p))
        .collect();
    let zinc = case.exposures.iter().any(|e| e.concept == "zinc_excess");
    let myelopathy = ctx.findings_in("myelopathy_features").next().is_some();
    let dorsal = case
        .mri
        .as_ref()
        .and_then(|m| m.spinal_cord_pattern)
        .and_then(|p| p.dorsal_columns_symmetric)
        == Some(true);
    if (!surgery.is_empty() || zinc) && (myelopathy || dorsal) {
        let mut risk: Vec<&str> = surgery.iter().map(|p| ctx.label(p)).collect();
        if zinc {
            risk.push(ctx.label("zinc_excess"));
        }
        let mut signs = if ctx.detail {
            present(ctx, "myelopathy_features").join("; ")
        } else {
            String::new()
        };
        if dorsal {
            if !signs.is_empty() {
                signs.push_str("; ");
            }
            signs.push_str("symmetric dorsal-column signal on spinal MRI");
        }
        ctx.fire(
            "DIFF-004",
            msg!(ctx, "A cause of copper deficiency is recorded ({}), with features of a myelopathy ({signs}). Copper deficiency causes a myelopathy that looks like B12 subacute combined degeneration, clinically and on MRI, and the two can coexist.", risk.join("; ")),
            Some("Check serum copper and caeruloplasmin (and zinc), especially if the myelopathy does not recover on B12.".into()),
        );
    }

    // DIFF-005: anaemia without macrocytosis.
    if lab.anaemia == Some(true) && lab.macrocytosis == Some(false) {
        ctx.fire(
            "DIFF-005",
            "Anaemia with a normal MCV: this neither shows nor excludes B12 deficiency. A second cause, most often iron deficiency, can keep the MCV normal when both are present.",
            Some("Consider iron studies (serum ferritin) alongside the B12 tests.".into()),
        );
    }
}

/// DIFF-006: no response to B12. On replacement for at least `min_months_on_replacement`
/// months, neurological findings that are still progressing or unchanged call for other causes
/// (and for a check of the treatment). Without a start date the response cannot be judged, and
/// that is reported as missing.
pub(crate) fn no_response(ctx: &mut Ctx<'_, '_>, facts: &super::Facts) {
    if !facts.on_replacement() {
        return;
    }
    let unchanged: Vec<&crate::case::Finding> = ctx
        .findings_in("neurological")
        .filter(|f| {
            matches!(
                f.course,
                Some(crate::case::Course::Progressive | crate::case::Course::Stable)
            )
        })
        .collect();
    if unchanged.is_empty() {
        return;
    }
    let Some(months) = months_on_replacement(ctx) else {
        ctx.missing(
            "response_to_b12",
            vec!["b12_replacement.since", "medications[].months"],
            vec![],
            "Neurological symptoms are not improving, but when B12 replacement began is not recorded, so whether they have had time to respond cannot be judged.",
        );
        return;
    };
    let min = param!(ctx, "DIFF-006", "min_months_on_replacement");
    if months < min {
        return;
    }
    let message = if ctx.detail {
        let named: Vec<String> = unchanged
            .iter()
            .map(|f| {
                let course = if f.course == Some(crate::case::Course::Progressive) {
                    "still progressing"
                } else {
                    "unchanged"
                };
                format!("{} ({course})", ctx.label(&f.concept))
            })
            .collect();
        format!("On B12 replacement for {} months, neurological findings are not improving: {}. Recovery is often incomplete, but no improvement at all, or worsening, on adequate replacement calls for other causes.", crate::units::display_number(months, 1), named.join("; "))
    } else {
        String::new()
    };
    ctx.fire(
        "DIFF-006",
        message,
        Some("Check that replacement is taken and adequate (dose, route), then look for other causes: copper deficiency, AQP4 and MOG antibodies (NMOSD, MOG antibody disease), MS, cord compression and other myelopathies. B12 deficiency and a demyelinating disease can coexist.".into()),
    );
}

/// Months since replacement began: from `b12_replacement.since`, or the longest current B12
/// product among the medicines.
fn months_on_replacement(ctx: &Ctx<'_, '_>) -> Option<f64> {
    let case = ctx.case;
    let since = case
        .b12_replacement
        .and_then(|r| r.since)
        .filter(|d| *d <= ctx.as_of)
        .map(|d| super::medicine::months_between(d, ctx.as_of));
    let product = case
        .medications
        .iter()
        .filter(|m| {
            m.current
                && ctx
                    .kb
                    .vocab
                    .get(&m.concept)
                    .is_some_and(|c| c.kind == crate::vocab::Kind::B12Product)
        })
        .filter_map(|m| m.months)
        .fold(None, |a: Option<f64>, m| Some(a.map_or(m, |a| a.max(m))));
    match (since, product) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}
