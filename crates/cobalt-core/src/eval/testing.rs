//! Who to test and which test next.

use super::causes::Causes;
use super::labs::LabFacts;
use super::{Ctx, Facts};
use crate::assessment::B12Status;
use crate::case::Qualitative;
use crate::units::display_number;

pub(crate) fn indication(ctx: &mut Ctx<'_, '_>, facts: &Facts, causes: &Causes) -> bool {
    // The risk factors' names are written only with the prose.
    let mut any_risk = !causes.concepts.is_empty();
    let mut risk: Vec<String> = if ctx.detail {
        causes
            .concepts
            .iter()
            .map(|c| ctx.label(c).to_string())
            .collect()
    } else {
        Vec::new()
    };
    let min_age = param!(ctx, "TEST-011", "min_age_years");
    if facts.age.is_some_and(|a| a >= min_age) {
        ctx.fire(
            "TEST-011",
            msg!(
                ctx,
                "Age {}: people aged {} or over are a group in whom B12 testing may be warranted.",
                display_number(facts.age.unwrap_or(0.0), 1),
                display_number(min_age, 0)
            ),
            None,
        );
        any_risk = true;
        if ctx.detail {
            risk.push(format!("age {} or over", display_number(min_age, 0)));
        }
    }
    let mut indicated = false;
    if !facts.common_findings.is_empty() && any_risk {
        let symptoms: Vec<&str> = facts.common_findings.iter().map(|c| ctx.label(c)).collect();
        ctx.fire(
            "TEST-001",
            msg!(
                ctx,
                "At least one common symptom or sign ({}) and at least one risk factor ({}): an initial B12 test is indicated.",
                symptoms.join("; "),
                risk.join("; ")
            ),
            None,
        );
        indicated = true;
    }
    if facts.neuro() && facts.demyelination_considered {
        let symptoms: Vec<&str> = facts.neuro_findings.iter().map(|c| ctx.label(c)).collect();
        ctx.fire(
            "TEST-002",
            msg!(
                ctx,
                "Neurological symptoms or signs ({}) are being worked up for MS or another demyelinating disease: B12 deficiency must be excluded first.",
                symptoms.join("; ")
            ),
            None,
        );
        indicated = true;
    }
    if !indicated {
        let inputs = if facts.common_findings.is_empty() && ctx.case.findings.is_empty() {
            vec!["findings[]"]
        } else {
            vec![]
        };
        if !inputs.is_empty() {
            ctx.missing(
                "test_indicated",
                inputs,
                vec![],
                "No symptoms or signs are recorded, so whether testing is indicated cannot be judged from symptoms.",
            );
        }
    }
    indicated
}

/// TEST-014: when cobalt's own picture is MS or mixed, or an optic or brainstem syndrome has red
/// flags (PIC-023, which raise NMOSD and MOG antibody disease), a demyelinating disease is being
/// considered, so an initial B12 test is indicated (B12 deficiency must be excluded first),
/// whatever the record says about a work-up. Keeps `test_indicated` in agreement with the
/// picture.
pub(crate) fn picture_indication(
    ctx: &mut Ctx<'_, '_>,
    picture: crate::assessment::Picture,
    indicated: bool,
) -> bool {
    use crate::assessment::Picture;
    let red_flags = ctx.fired.iter().any(|f| f.rule == "PIC-023");
    let ms = matches!(picture, Picture::MultipleSclerosis | Picture::Mixed);
    if indicated || !(ms || red_flags) {
        return indicated;
    }
    let why = match picture {
        Picture::Mixed => "The features recorded give a mixed picture (features of both B12 deficiency and MS): MS is being considered",
        Picture::MultipleSclerosis => "The features recorded give the picture multiple sclerosis: MS is being considered",
        _ => "An optic or brainstem syndrome has red flags against MS, which raise neuromyelitis optica and MOG antibody disease: a demyelinating disease is being considered",
    };
    ctx.fire(
        "TEST-014",
        msg!(ctx, "{why}, and B12 deficiency must be excluded before a demyelinating diagnosis, so an initial B12 test is indicated."),
        None,
    );
    ctx.missing.retain(|m| m.conclusion != "test_indicated");
    true
}

/// Neurological or haematological symptoms and signs of B12 deficiency, for which a B12 test is
/// ordered on clinical judgement even without a risk factor (TEST-013).
fn judgement_signs(facts: &Facts, lab: &LabFacts) -> bool {
    facts.demyelination_considered
        || facts.neuro()
        || !facts.haem_findings.is_empty()
        || lab.anaemia == Some(true)
        || lab.macrocytosis == Some(true)
}

pub(crate) fn next_tests(
    ctx: &mut Ctx<'_, '_>,
    facts: &Facts,
    lab: &LabFacts,
    causes: &Causes,
    indicated: bool,
) -> Vec<&'static str> {
    let mut tests: Vec<&'static str> = Vec::new();
    let add = |t: &'static str, tests: &mut Vec<&'static str>| {
        if !tests.contains(&t) && !lab.has(t) {
            tests.push(t);
        }
    };
    let status = lab.status;
    let b12_measured = lab.total.is_some() || lab.active.is_some();
    let suspected = indicated || !facts.common_findings.is_empty() || facts.neuro();

    if facts.on_replacement() {
        if !b12_measured && status == B12Status::NotTested && suspected {
            ctx.fire(
                "TEST-010",
                "B12 replacement has already been started: a B12 level taken now reflects the supplement, not the body's stores.",
                Some("Judge by the clinical response; do not re-test B12 on long-term replacement.".into()),
            );
        }
    } else if status == B12Status::NotTested && (indicated || judgement_signs(facts, lab)) {
        if !indicated {
            let mut signs: Vec<&str> = facts
                .neuro_findings
                .iter()
                .chain(&facts.haem_findings)
                .map(|c| ctx.label(c))
                .collect();
            if lab.anaemia == Some(true) {
                signs.push("anaemia");
            }
            if lab.macrocytosis == Some(true) {
                signs.push("macrocytosis");
            }
            if signs.is_empty() {
                ctx.fire(
                    "TEST-013",
                    "MS or another demyelinating disease is being considered and B12 has not been measured: B12 deficiency must be excluded before a demyelinating diagnosis, so order it.",
                    None,
                );
            } else {
                ctx.fire(
                    "TEST-013",
                    msg!(
                        ctx,
                        "Symptoms or signs of B12 deficiency ({}) but no recorded risk factor: NICE asks for clinical judgement here rather than \"no test\". B12 deficiency is cheap to test for, treatable, and must be excluded before a demyelinating diagnosis, so order it.",
                        signs.join("; ")
                    ),
                    None,
                );
            }
        }
        if facts.nitrous_oxide {
            ctx.fire(
                "TEST-005",
                "Nitrous oxide exposure: nitrous oxide inactivates B12, so total B12 can be normal while the cells are deficient. Plasma homocysteine or serum MMA is the initial test.",
                Some("Measure plasma homocysteine (through phlebotomy in secondary care) or serum MMA; total B12 alongside confirms a deficiency but cannot exclude one.".into()),
            );
            add("homocysteine", &mut tests);
            add("mma", &mut tests);
            add("total_b12", &mut tests);
        } else if facts.pregnant {
            ctx.fire(
                "TEST-004",
                "Pregnant: total B12 falls in pregnancy, so active B12 is the initial test.",
                None,
            );
            add("active_b12", &mut tests);
        } else {
            ctx.fire(
                "TEST-003",
                "The initial test is total B12 (serum cobalamin) or active B12 (holotranscobalamin).",
                None,
            );
            add("total_b12", &mut tests);
            add("active_b12", &mut tests);
        }
    }

    if facts.nitrous_oxide
        && !facts.on_replacement()
        && status == B12Status::NotDeficient
        && lab.mma.is_none()
        && lab.hcy.is_none()
    {
        ctx.fire(
            "TEST-005",
            "Nitrous oxide exposure: B12 is not low, but nitrous oxide inactivates B12, so a normal level does not exclude deficiency at the cell. Homocysteine (or MMA) decides.",
            Some("Measure plasma homocysteine (or MMA).".into()),
        );
        add("homocysteine", &mut tests);
        add("mma", &mut tests);
    }

    if status == B12Status::Indeterminate
        && lab.mma.is_none()
        && !facts.on_replacement()
        && suspected
    {
        ctx.fire(
            "TEST-007",
            "B12 is indeterminate and there are symptoms or signs of deficiency: MMA can show whether the cells are deficient.",
            Some("Consider treating while waiting if deficiency is strongly suspected.".into()),
        );
        add("mma", &mut tests);
    }

    let workup =
        !tests.is_empty() || status != B12Status::NotTested && status != B12Status::NotDeficient;
    if workup && !facts.on_replacement() {
        let fbc_missing =
            !lab.has("haemoglobin") && !lab.has("mcv") && !lab.has("full_blood_count");
        let folate_missing = !lab.has("serum_folate") && !lab.has("red_cell_folate");
        if fbc_missing || folate_missing {
            let mut what = Vec::new();
            if fbc_missing {
                what.push("a full blood count");
            }
            if folate_missing {
                what.push("serum folate");
            }
            ctx.fire(
                "TEST-006",
                msg!(ctx, "Order {} alongside: anaemia and macrocytosis support the diagnosis, and folate deficiency mimics and accompanies B12 deficiency.", what.join(" and ")),
                None,
            );
            if fbc_missing {
                add("full_blood_count", &mut tests);
            }
            if folate_missing {
                add("serum_folate", &mut tests);
            }
        }
    }

    if status.shown()
        && lab.ifab.is_none()
        && !causes.has("autoimmune_gastritis")
        && !facts.nitrous_oxide
    {
        ctx.fire(
            "TEST-008",
            "B12 deficiency is shown: test for intrinsic factor antibodies to look for autoimmune gastritis (pernicious anaemia), the commonest cause of severe deficiency.",
            Some("A negative result does not exclude autoimmune gastritis.".into()),
        );
        add("intrinsic_factor_antibody", &mut tests);
    }
    if status == B12Status::Deficient
        && lab.ifab == Some(Qualitative::Negative)
        && lab.pca.is_none()
        && causes.concepts.is_empty()
    {
        ctx.fire(
            "TEST-008",
            "Intrinsic factor antibodies are negative and no other cause is evident: gastric parietal cell antibodies can support autoimmune gastritis.",
            None,
        );
        add("parietal_cell_antibody", &mut tests);
    }
    if status.shown() && causes.concepts.is_empty() {
        ctx.fire(
            "CAUSE-026",
            "No cause of B12 deficiency is evident from the diet, medicines, exposures, conditions or operations recorded.",
            Some("Ask again about diet, supplements, medicines and recreational nitrous oxide; look for malabsorption.".into()),
        );
        if lab.coeliac.is_none() {
            ctx.fire(
                "TEST-009",
                "No other cause is evident: test for coeliac disease.",
                None,
            );
            add("coeliac_serology", &mut tests);
        }
    }
    if lab.mma == Some(true) && lab.kidney_reduced.is_none() {
        ctx.fire(
            "TEST-012",
            "MMA is raised and kidney function is not known: reduced kidney function raises MMA by itself.",
            None,
        );
        add("egfr", &mut tests);
    }
    tests
}
