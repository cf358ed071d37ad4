//! The B12 status the results support (rules LAB-017 and LAB-019), from what the laboratory
//! step found.

use super::labs::{Class, LabFacts};
use super::{Ctx, Facts};
use crate::assessment::B12Status;

pub(super) fn b12_status(
    ctx: &mut Ctx<'_, '_>,
    facts: &Facts,
    lab: &LabFacts,
    hypothyroid: bool,
) -> B12Status {
    use B12Status::*;
    let any = |c: Class| lab.total == Some(c) || lab.active == Some(c);
    let kidney = lab.kidney_reduced == Some(true);
    let hcy_confounded = lab.folate_low == Some(true) || hypothyroid || kidney;
    let (status, why): (B12Status, String) = if any(Class::Deficient) {
        (Deficient, "a B12 result is in the deficiency range".into())
    } else if lab.mma == Some(true) && !kidney {
        (FunctionalDeficiency, "MMA is raised while B12 is not in the deficiency range (or not measured): deficiency at the cell".into())
    } else if lab.hcy == Some(true)
        && facts.nitrous_oxide
        && !hcy_confounded
        && lab.mma != Some(false)
    {
        (
            FunctionalDeficiency,
            "homocysteine is raised after nitrous oxide exposure, which inactivates B12".into(),
        )
    } else if lab.mma == Some(true) {
        (
            Indeterminate,
            "MMA is raised but kidney function is reduced, so it cannot show deficiency by itself"
                .into(),
        )
    } else if lab.hcy == Some(true) && facts.nitrous_oxide {
        (
            Indeterminate,
            if lab.mma == Some(false) {
                "homocysteine is raised after nitrous oxide, but MMA is normal".into()
            } else {
                "homocysteine is raised after nitrous oxide, but a confounder is present".into()
            },
        )
    } else if any(Class::Indeterminate) {
        if lab.mma == Some(false) {
            ctx.fire(
                "LAB-019",
                "B12 is in the indeterminate range and MMA is normal: deficiency is unlikely.",
                None,
            );
            (
                NotDeficient,
                "B12 is indeterminate and MMA is normal".into(),
            )
        } else if any(Class::NotDeficient) {
            (
                NotDeficient,
                "one B12 measure is indeterminate and the other shows deficiency is unlikely"
                    .into(),
            )
        } else {
            (
                Indeterminate,
                "B12 is in the indeterminate range and no MMA result settles it".into(),
            )
        }
    } else if any(Class::NotDeficient) {
        (NotDeficient, "B12 is above the indeterminate range".into())
    } else if lab.mma == Some(false) {
        (NotDeficient, "MMA is normal".into())
    } else {
        (NotTested, String::new())
    };
    if status == NotTested {
        let hcy_only = lab.hcy.is_some();
        ctx.missing(
            "b12_status",
            vec!["labs[].total_b12", "labs[].active_b12", "labs[].mma"],
            if facts.pregnant { vec!["active_b12"] } else { vec!["total_b12", "active_b12"] },
            if hcy_only {
                "No total B12, active B12 or MMA result; homocysteine alone is not specific enough to decide B12 status."
            } else {
                "No total B12, active B12 or MMA result: B12 status is not known."
            },
        );
    } else {
        ctx.fire(
            "LAB-017",
            msg!(
                ctx,
                "B12 status: {} — {why}.",
                status.as_str().replace('_', " ")
            ),
            None,
        );
    }
    status
}
