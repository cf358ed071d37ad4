//! The B12-deficiency picture versus the MS picture, feature by feature. Each feature is a rule
//! whose side and weight are knowledge-base data; `PIC-021` weighs them.
//!
//! Strong features (weight 3) are the ones that carry a diagnosis on their own side: deficiency
//! shown by results or a symmetric dorsal-column cord signal for B12; MS-typical brain lesions or
//! CSF-specific oligoclonal bands for MS. Strong features on both sides give `mixed`: the two
//! conditions can coexist.

use super::causes::Causes;
use super::facts::limb_regions;
use super::labs::LabFacts;
use super::{Ctx, Facts};
use crate::assessment::Picture;
use crate::case::{Course, Laterality, MsStatus, OligoclonalBands};
use crate::kb::PictureSide;
use crate::units::display_number;

struct Tally {
    b12: u32,
    ms: u32,
    b12_strong: bool,
    ms_strong: bool,
    b12_features: Vec<&'static str>,
    ms_features: Vec<&'static str>,
}

fn feature(ctx: &mut Ctx<'_, '_>, t: &mut Tally, rule: &'static str, message: String) {
    feature_with(ctx, t, rule, message, None);
}

fn feature_with(
    ctx: &mut Ctx<'_, '_>,
    t: &mut Tally,
    rule: &'static str,
    message: String,
    suggestion: Option<String>,
) {
    let Some(spec) = ctx.kb.rule(rule).and_then(|r| r.picture) else {
        return;
    };
    let w = u32::from(spec.weight);
    match spec.side {
        PictureSide::B12Deficiency => {
            t.b12 += w;
            t.b12_strong |= w >= 3;
            t.b12_features.push(rule);
        }
        PictureSide::MultipleSclerosis => {
            t.ms += w;
            t.ms_strong |= w >= 3;
            t.ms_features.push(rule);
        }
    }
    let side = match spec.side {
        PictureSide::B12Deficiency => "B12 deficiency",
        PictureSide::MultipleSclerosis => "MS",
    };
    ctx.fire(
        rule,
        if message.is_empty() {
            message
        } else {
            let mut m = message;
            m.push_str(" Favours ");
            m.push_str(side);
            m.push_str(match w {
                1 => " (weight 1).",
                2 => " (weight 2).",
                _ => " (weight 3).",
            });
            m
        },
        suggestion,
    );
}

const LIMB_FINDINGS: &str = "limb_sensorimotor";

pub(crate) fn decide(
    ctx: &mut Ctx<'_, '_>,
    facts: &Facts,
    lab: &LabFacts,
    causes: &Causes,
) -> Picture {
    let case = ctx.case;
    let kb = ctx.kb;
    let mut t = Tally {
        b12: 0,
        ms: 0,
        b12_strong: false,
        ms_strong: false,
        b12_features: vec![],
        ms_features: vec![],
    };
    let limb = kb.group(LIMB_FINDINGS);
    let limb_findings: Vec<_> = case
        .findings
        .iter()
        .filter(|f| limb.contains(&f.concept))
        .collect();

    // Laterality of limb sensory and motor findings.
    let symmetric: Vec<&str> = limb_findings
        .iter()
        .filter(|f| f.laterality == Some(Laterality::BilateralSymmetric))
        .map(|f| ctx.label(&f.concept))
        .collect();
    let one_sided: Vec<&str> = limb_findings
        .iter()
        .filter(|f| {
            matches!(
                f.laterality,
                Some(Laterality::Left | Laterality::Right | Laterality::BilateralAsymmetric)
            )
        })
        .map(|f| ctx.label(&f.concept))
        .collect();
    if !symmetric.is_empty() {
        feature(
            ctx,
            &mut t,
            "PIC-001",
            msg!(
                ctx,
                "Both sides of the body equally: {}.",
                symmetric.join(", ")
            ),
        );
    }
    if !one_sided.is_empty() {
        feature(
            ctx,
            &mut t,
            "PIC-002",
            msg!(
                ctx,
                "One side, or both sides unequally: {}.",
                one_sided.join(", ")
            ),
        );
    }

    // Legs more than arms.
    let (mut legs, mut arms) = (false, false);
    for f in &limb_findings {
        let (l, a) = limb_regions(f);
        legs |= l;
        arms |= a;
    }
    if legs && !arms {
        feature(
            ctx,
            &mut t,
            "PIC-003",
            "Limb symptoms and signs are in the legs and feet, not the arms.".into(),
        );
    }

    // Peripheral nerves.
    if case
        .findings
        .iter()
        .any(|f| f.concept == "reduced_reflexes")
    {
        feature(
            ctx,
            &mut t,
            "PIC-004",
            "Reduced or absent reflexes point to peripheral nerve involvement as well as central."
                .into(),
        );
    }

    // Dorsal column signs.
    let dorsal: Vec<&str> = case
        .findings
        .iter()
        .filter(|f| kb.group("dorsal_column_signs").contains(&f.concept))
        .filter(|f| {
            !matches!(
                f.laterality,
                Some(Laterality::Left | Laterality::Right | Laterality::BilateralAsymmetric)
            )
        })
        .map(|f| ctx.label(&f.concept))
        .collect();
    if !dorsal.is_empty() {
        let mut d = dorsal;
        d.dedup();
        feature(
            ctx,
            &mut t,
            "PIC-005",
            msg!(ctx, "Dorsal-column signs: {}.", d.join(", ")),
        );
    }

    // Age.
    if let Some(age) = facts.age {
        let b12_from = ctx.param("PIC-006", "min_age_years");
        let (ms_from, ms_below) = (
            ctx.param("PIC-007", "min_age_years"),
            ctx.param("PIC-007", "max_age_years"),
        );
        if age >= b12_from {
            feature(ctx, &mut t, "PIC-006", msg!(ctx, "Age {}: B12 deficiency is more common in middle and older age, and rare before {}.", display_number(age, 1), display_number(b12_from, 0)));
        } else if ms_from <= age && age < ms_below {
            feature(
                ctx,
                &mut t,
                "PIC-007",
                msg!(
                    ctx,
                    "Age {}: MS most often begins in the 20s and 30s.",
                    display_number(age, 1)
                ),
            );
        }
    }

    // Blood and systemic features.
    let mut blood = Vec::new();
    if lab.anaemia == Some(true) {
        blood.push("anaemia");
    }
    if lab.macrocytosis == Some(true) {
        blood.push("macrocytosis");
    }
    if !blood.is_empty() {
        feature(
            ctx,
            &mut t,
            "PIC-008",
            msg!(ctx, "Blood count: {}.", blood.join(" and ")),
        );
    }
    let systemic: Vec<&str> = case
        .findings
        .iter()
        .filter(|f| matches!(f.concept.as_str(), "glossitis" | "skin_hyperpigmentation"))
        .map(|f| ctx.label(&f.concept))
        .collect();
    if !systemic.is_empty() {
        feature(
            ctx,
            &mut t,
            "PIC-009",
            msg!(
                ctx,
                "Features outside the nervous system: {}.",
                systemic.join(", ")
            ),
        );
    }

    // Laboratory deficiency.
    if lab.status.shown() {
        feature(
            ctx,
            &mut t,
            "PIC-010",
            msg!(
                ctx,
                "B12 deficiency is shown by results ({}).",
                lab.status.as_str().replace('_', " ")
            ),
        );
    }

    // Imaging.
    if let Some(mri) = &case.mri {
        let pattern = mri.spinal_cord_pattern.unwrap_or_default();
        if pattern.dorsal_columns_symmetric == Some(true) {
            let lateral = if pattern.lateral_columns == Some(true) {
                " with the lateral columns"
            } else {
                ""
            };
            feature(ctx, &mut t, "PIC-011", msg!(ctx, "Symmetric T2 signal in the dorsal columns of the cord{lateral} (the \"inverted V\") is the pattern of subacute combined degeneration."));
        }
        if let Some(seg) = pattern.longest_lesion_segments {
            let (long, short) = (
                ctx.param("PIC-012", "min_segments"),
                ctx.param("PIC-013", "max_segments"),
            );
            if seg >= long {
                feature_with(
                    ctx,
                    &mut t,
                    "PIC-012",
                    msg!(ctx, "The longest cord lesion spans {seg} vertebral segments: longitudinally extensive lesions are not seen in MS myelitis."),
                    Some("Besides subacute combined degeneration, a long cord lesion calls for AQP4 and MOG antibodies (NMOSD, MOG antibody disease) and tests for infection.".into()),
                );
            } else if seg < short && pattern.dorsal_columns_symmetric != Some(true) {
                feature(ctx, &mut t, "PIC-013", msg!(ctx, "The cord lesion spans {seg} vertebral segment(s): MS cord plaques are short, under two segments."));
            }
        }
        let typical: Vec<&str> = mri
            .lesions
            .iter()
            .filter(|l| l.count != Some(0))
            .filter(|l| {
                matches!(
                    l.site,
                    crate::case::Site::Periventricular
                        | crate::case::Site::CorticalJuxtacortical
                        | crate::case::Site::Infratentorial
                )
            })
            .map(|l| l.site.as_str())
            .collect();
        let mut regions: Vec<crate::case::Site> = mri
            .lesions
            .iter()
            .filter(|l| l.count != Some(0) && l.site.is_mcdonald_2017_region())
            .map(|l| l.site)
            .collect();
        regions.sort();
        regions.dedup();
        if !typical.is_empty() && regions.len() >= 2 {
            let names: Vec<&str> = regions.iter().map(|r| r.as_str()).collect();
            feature(
                ctx,
                &mut t,
                "PIC-014",
                msg!(
                    ctx,
                    "Lesions in {} of the four regions typical of MS, including the brain: {}.",
                    regions.len(),
                    names.join(", ").replace('_', " ")
                ),
            );
        }
        if mri.brain_normal == Some(true) && typical.is_empty() {
            feature(
                ctx,
                &mut t,
                "PIC-015",
                "The brain MRI is normal; most people with MS have brain lesions.".into(),
            );
        }
        let enhancing: u32 = mri.lesions.iter().filter_map(|l| l.enhancing).sum();
        if enhancing > 0 {
            feature(
                ctx,
                &mut t,
                "PIC-019",
                msg!(
                    ctx,
                    "{}: active inflammation, as in MS.",
                    if enhancing == 1 {
                        "1 lesion enhances with gadolinium".to_string()
                    } else {
                        format!("{enhancing} lesions enhance with gadolinium")
                    }
                ),
            );
        }
    }
    if case.csf_oligoclonal_bands == Some(OligoclonalBands::CsfSpecific) {
        feature(
            ctx,
            &mut t,
            "PIC-016",
            "CSF-specific oligoclonal bands: intrathecal antibody production, as in MS.".into(),
        );
    }

    // MS-typical syndromes and course.
    let syndromes: Vec<&str> = case
        .findings
        .iter()
        .filter(|f| kb.group("ms_typical_syndromes").contains(&f.concept))
        .filter(|f| {
            !(f.concept == "optic_neuritis" && f.laterality == Some(Laterality::BilateralSymmetric))
        })
        .map(|f| ctx.label(&f.concept))
        .collect();
    if !syndromes.is_empty() {
        feature(
            ctx,
            &mut t,
            "PIC-017",
            msg!(ctx, "Syndromes typical of MS: {}.", syndromes.join(", ")),
        );
    }
    let relapsing = case
        .findings
        .iter()
        .any(|f| f.course == Some(Course::RelapsingRemitting))
        || case.ms.and_then(|m| m.attacks).is_some_and(|a| a >= 2)
        || matches!(
            case.ms.and_then(|m| m.status),
            Some(MsStatus::RelapsingRemitting | MsStatus::SecondaryProgressive)
        );
    if relapsing {
        feature(
            ctx,
            &mut t,
            "PIC-018",
            "A relapsing-remitting course: separate attacks with recovery between them.".into(),
        );
    }
    if case
        .findings
        .iter()
        .any(|f| f.concept == "heat_sensitivity")
    {
        feature(
            ctx,
            &mut t,
            "PIC-020",
            "Symptoms worse with heat (Uhthoff phenomenon).".into(),
        );
    }

    // A cause of deficiency makes the B12 picture more likely.
    if !causes.concepts.is_empty() {
        let labels: Vec<&str> = causes.concepts.iter().map(|c| ctx.label(c)).collect();
        feature(
            ctx,
            &mut t,
            "PIC-022",
            msg!(
                ctx,
                "A cause of B12 deficiency is present: {}.",
                labels.join(", ")
            ),
        );
    }

    if t.b12_features.is_empty() && t.ms_features.is_empty() {
        ctx.missing(
            "picture",
            vec!["findings[].laterality", "findings[].regions", "labs[].total_b12", "mri"],
            vec!["total_b12", "brain_mri", "spinal_mri"],
            "No feature that distinguishes the B12-deficiency picture from the MS picture is recorded.",
        );
        return Picture::Undetermined;
    }

    // Weighing.
    let other = ctx.param("PIC-021", "mixed_if_other_side_scores") as u32;
    let (min_score, min_lead) = (
        ctx.param("PIC-021", "min_score") as u32,
        ctx.param("PIC-021", "min_lead") as u32,
    );
    // Results that exclude deficiency rule the B12 picture out (after nitrous oxide only a
    // functional marker can).
    let excluded = lab.status == crate::assessment::B12Status::NotDeficient
        && !(facts.nitrous_oxide && lab.mma.is_none() && lab.hcy.is_none());
    let picture = if excluded {
        if t.ms_strong || (t.ms >= min_score && t.ms >= min_lead) {
            Picture::MultipleSclerosis
        } else {
            Picture::Undetermined
        }
    } else if t.b12_strong && t.ms_strong {
        Picture::Mixed
    } else if t.b12_strong {
        if t.ms >= other {
            Picture::Mixed
        } else {
            Picture::B12Deficiency
        }
    } else if t.ms_strong {
        if t.b12 >= other {
            Picture::Mixed
        } else {
            Picture::MultipleSclerosis
        }
    } else if t.b12 >= min_score && t.b12 >= t.ms + min_lead {
        Picture::B12Deficiency
    } else if t.ms >= min_score && t.ms >= t.b12 + min_lead {
        Picture::MultipleSclerosis
    } else {
        Picture::Undetermined
    };
    let excluded_note = if excluded {
        " B12 deficiency is excluded by the results."
    } else {
        ""
    };
    let summary = msg!(
                ctx,
        "B12-deficiency features score {} ({}), MS features score {} ({}):{excluded_note} the picture is {}.",
        t.b12,
        if t.b12_features.is_empty() {
            "none".to_string()
        } else {
            t.b12_features.join(", ")
        },
        t.ms,
        if t.ms_features.is_empty() {
            "none".to_string()
        } else {
            t.ms_features.join(", ")
        },
        match picture {
            Picture::B12Deficiency => "B12 deficiency",
            Picture::MultipleSclerosis => "multiple sclerosis",
            Picture::Mixed => "mixed",
            Picture::Undetermined => "undetermined",
        }
    );
    let suggestion = match picture {
        Picture::Mixed => Some("Both conditions can coexist: treat the B12 deficiency and continue the MS work-up; reassess after treatment.".to_string()),
        Picture::Undetermined => Some("More data would decide it: B12 results, MRI of the brain and spinal cord, and the side and distribution of symptoms.".to_string()),
        _ => None,
    };
    ctx.fire("PIC-021", summary, suggestion);
    if picture == Picture::Undetermined {
        let mut inputs = Vec::new();
        let mut by = Vec::new();
        if lab.status == crate::assessment::B12Status::NotTested {
            inputs.push("labs[].total_b12");
            by.push("total_b12");
        }
        if case.mri.is_none() {
            inputs.push("mri");
            by.push("brain_mri");
            by.push("spinal_mri");
        }
        ctx.missing(
            "picture",
            inputs,
            by,
            "The features recorded do not favour either picture.",
        );
    }
    picture
}
