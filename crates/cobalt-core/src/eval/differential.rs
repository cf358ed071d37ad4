//! Other explanations (rules DIFF-*): where the case records a common alternative or coexisting
//! cause of the same symptoms (diabetes, alcohol, hypothyroidism, copper deficiency, a second
//! cause of anaemia), say so. These rules read the case and the lab facts and never change a
//! conclusion.

use super::labs::LabFacts;
use super::Ctx;

/// The group's members present in the case, by label, in the case's order.
fn present<'kb>(ctx: &Ctx<'kb, '_>, group: &str) -> Vec<&'kb str> {
    let members = ctx.kb.group(group);
    let mut out: Vec<&'kb str> = Vec::new();
    for f in &ctx.case.findings {
        if members.contains(&f.concept) {
            let l = ctx.label(&f.concept);
            if !out.contains(&l) {
                out.push(l);
            }
        }
    }
    out
}

pub(crate) fn consider(ctx: &mut Ctx<'_, '_>, lab: &LabFacts) {
    let case = ctx.case;
    let condition = |id: &str| case.conditions.iter().any(|c| c.concept == id);
    let neuropathy = present(ctx, "peripheral_neuropathy_features");

    // DIFF-001: diabetes (or metformin, taken mostly for it) with neuropathy symptoms.
    let diabetes = condition("type_1_diabetes") || condition("type_2_diabetes");
    let metformin = case.medications.iter().any(|m| m.concept == "metformin");
    if (diabetes || metformin) && !neuropathy.is_empty() {
        let what = if diabetes {
            "Diabetes is recorded"
        } else {
            "Metformin is taken, most often for diabetes"
        };
        ctx.fire(
            "DIFF-001",
            msg!(ctx, "{what}, and the case records symptoms or signs of a neuropathy ({}). Diabetic neuropathy causes the same symptoms and can coexist with B12 deficiency; it is diagnosed only once treatable causes such as B12 deficiency are excluded.", neuropathy.join("; ")),
            Some("Assess for diabetic neuropathy as well; treating B12 deficiency may leave the part that diabetes causes.".into()),
        );
    }

    // DIFF-002: alcohol with neuropathy or macrocytosis.
    if condition("alcohol_excess") && (!neuropathy.is_empty() || lab.macrocytosis == Some(true)) {
        // Written only when the assessment carries messages (not on the screening path).
        let what = || match (neuropathy.is_empty(), lab.macrocytosis == Some(true)) {
            (false, true) => format!("a neuropathy ({}) and macrocytosis", neuropathy.join("; ")),
            (false, false) => format!("a neuropathy ({})", neuropathy.join("; ")),
            _ => "macrocytosis".to_string(),
        };
        ctx.fire(
            "DIFF-002",
            msg!(ctx, "Alcohol misuse is recorded, and so is {}. Alcohol causes a sensory neuropathy and a raised MCV without B12 deficiency, and often goes with B12 and thiamine deficiency.", what()),
            Some("Neither the neuropathy nor the MCV shows B12 deficiency here; the B12 result does. Ask about alcohol and diet.".into()),
        );
    }

    // DIFF-003: hypothyroidism with tiredness, neuropathy, anaemia or macrocytosis.
    if condition("hypothyroidism") {
        let mut shared: Vec<&str> = Vec::new();
        if case.findings.iter().any(|f| f.concept == "fatigue") {
            shared.push(ctx.label("fatigue"));
        }
        shared.extend(neuropathy.iter().copied());
        if lab.anaemia == Some(true) {
            shared.push("anaemia");
        }
        if lab.macrocytosis == Some(true) {
            shared.push("macrocytosis");
        }
        if !shared.is_empty() {
            ctx.fire(
                "DIFF-003",
                msg!(ctx, "Hypothyroidism is recorded, and the case shares features with it ({}). Hypothyroidism causes tiredness, a mild polyneuropathy and anaemia (sometimes macrocytic) of its own.", shared.join("; ")),
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
    let myelopathy = present(ctx, "myelopathy_features");
    let dorsal = case
        .mri
        .as_ref()
        .and_then(|m| m.spinal_cord_pattern)
        .and_then(|p| p.dorsal_columns_symmetric)
        == Some(true);
    if (!surgery.is_empty() || zinc) && (!myelopathy.is_empty() || dorsal) {
        let mut risk: Vec<&str> = surgery.iter().map(|p| ctx.label(p)).collect();
        if zinc {
            risk.push(ctx.label("zinc_excess"));
        }
        let mut signs = myelopathy.join("; ");
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
