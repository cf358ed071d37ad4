//! The picture's features, one function per rule (PIC-001 to PIC-016, PIC-018 to PIC-020,
//! PIC-022). The syndromes and red flags are in `red_flags`.

use super::{feature, feature_with, Tally};
use crate::case::{Course, Laterality, MsStatus, OligoclonalBands, Site};
use crate::eval::causes::Causes;
use crate::eval::facts::limb_regions;
use crate::eval::labs::LabFacts;
use crate::eval::{Ctx, Facts};
use crate::units::display_number;

const LIMB_FINDINGS: &str = "limb_sensorimotor";

/// Whether the case records a finding of this concept.
fn has_finding(ctx: &Ctx<'_, '_>, concept: &str) -> bool {
    ctx.case.findings.iter().any(|f| f.concept == concept)
}

/// Whether the MRI shows a lesion in a brain region typical of MS.
fn brain_typical_lesion(mri: &crate::case::Mri) -> bool {
    mri.lesions
        .iter()
        .any(|l| l.count != Some(0) && brain_typical_site(l.site))
}

fn one_sided(l: Option<Laterality>) -> bool {
    matches!(
        l,
        Some(Laterality::Left | Laterality::Right | Laterality::BilateralAsymmetric)
    )
}

/// PIC-001 (both sides equally) and PIC-002 (one side or unequal sides) over the limb sensory
/// and motor findings.
pub(super) fn laterality(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    let mut symmetric: Vec<&str> = Vec::new();
    let mut unequal: Vec<&str> = Vec::new();
    let (mut any_symmetric, mut any_unequal) = (false, false);
    for f in ctx.findings_in(LIMB_FINDINGS) {
        // Labels are looked up only for the prose.
        let label = || {
            if ctx.detail {
                ctx.label(&f.concept)
            } else {
                ""
            }
        };
        if f.laterality == Some(Laterality::BilateralSymmetric) {
            any_symmetric = true;
            symmetric.push(label());
        } else if one_sided(f.laterality) {
            any_unequal = true;
            unequal.push(label());
        }
    }
    if any_symmetric {
        let m = msg!(
            ctx,
            "Both sides of the body equally: {}.",
            symmetric.join(", ")
        );
        feature(ctx, t, "PIC-001", m);
    }
    if any_unequal {
        let m = msg!(
            ctx,
            "One side, or both sides unequally: {}.",
            unequal.join(", ")
        );
        feature(ctx, t, "PIC-002", m);
    }
}

/// PIC-003: legs and feet, not arms.
pub(super) fn legs_more_than_arms(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    let (mut legs, mut arms) = (false, false);
    for f in ctx.findings_in(LIMB_FINDINGS) {
        let (l, a) = limb_regions(f);
        legs |= l;
        arms |= a;
    }
    if legs && !arms {
        feature(
            ctx,
            t,
            "PIC-003",
            "Limb symptoms and signs are in the legs and feet, not the arms.".into(),
        );
    }
}

/// PIC-004: reduced or absent reflexes.
pub(super) fn peripheral_nerves(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    if has_finding(ctx, "reduced_reflexes") {
        feature(
            ctx,
            t,
            "PIC-004",
            "Reduced or absent reflexes point to peripheral nerve involvement as well as central."
                .into(),
        );
    }
}

/// PIC-005: dorsal-column signs that are not one-sided.
pub(super) fn dorsal_columns(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    let signs = || {
        ctx.findings_in("dorsal_column_signs")
            .filter(|f| !one_sided(f.laterality))
    };
    if signs().next().is_some() {
        let mut d: Vec<&str> = if ctx.detail {
            signs().map(|f| ctx.label(&f.concept)).collect()
        } else {
            Vec::new()
        };
        d.dedup();
        let m = msg!(ctx, "Dorsal-column signs: {}.", d.join(", "));
        feature(ctx, t, "PIC-005", m);
    }
}

/// PIC-006 (middle and older age) and PIC-007 (the ages at which MS most often begins).
pub(super) fn age(ctx: &mut Ctx<'_, '_>, t: &mut Tally, facts: &Facts) {
    let Some(age) = facts.age else {
        return;
    };
    let b12_from = param!(ctx, "PIC-006", "min_age_years");
    let (ms_from, ms_below) = (
        param!(ctx, "PIC-007", "min_age_years"),
        param!(ctx, "PIC-007", "max_age_years"),
    );
    if age >= b12_from {
        let m = msg!(
            ctx,
            "Age {}: B12 deficiency is more common in middle and older age, and rare before {}.",
            display_number(age, 1),
            display_number(b12_from, 0)
        );
        feature(ctx, t, "PIC-006", m);
    } else if ms_from <= age && age < ms_below {
        let m = msg!(
            ctx,
            "Age {}: MS most often begins in the 20s and 30s.",
            display_number(age, 1)
        );
        feature(ctx, t, "PIC-007", m);
    }
}

/// PIC-008: anaemia or macrocytosis.
pub(super) fn blood(ctx: &mut Ctx<'_, '_>, t: &mut Tally, lab: &LabFacts) {
    let mut blood = Vec::new();
    if lab.anaemia == Some(true) {
        blood.push("anaemia");
    }
    if lab.macrocytosis == Some(true) {
        blood.push("macrocytosis");
    }
    if !blood.is_empty() {
        let m = msg!(ctx, "Blood count: {}.", blood.join(" and "));
        feature(ctx, t, "PIC-008", m);
    }
}

/// PIC-009: glossitis or darkened skin.
pub(super) fn outside_nervous_system(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    let systemic: Vec<&str> = ctx
        .case
        .findings
        .iter()
        .filter(|f| matches!(f.concept.as_str(), "glossitis" | "skin_hyperpigmentation"))
        .map(|f| ctx.label(&f.concept))
        .collect();
    if !systemic.is_empty() {
        let m = msg!(
            ctx,
            "Features outside the nervous system: {}.",
            systemic.join(", ")
        );
        feature(ctx, t, "PIC-009", m);
    }
}

/// PIC-010: deficiency shown by results.
pub(super) fn deficiency_shown(ctx: &mut Ctx<'_, '_>, t: &mut Tally, lab: &LabFacts) {
    if lab.status.shown() {
        let m = msg!(
            ctx,
            "B12 deficiency is shown by results ({}).",
            lab.status.as_str().replace('_', " ")
        );
        feature(ctx, t, "PIC-010", m);
    }
}

/// The imaging features, in order: PIC-011 (symmetric dorsal columns), PIC-012 and PIC-013
/// (cord lesion length), PIC-014 (MS-typical regions), PIC-015 (normal brain), PIC-019
/// (enhancement).
pub(super) fn imaging(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    dorsal_column_signal(ctx, t);
    cord_lesion_length(ctx, t);
    typical_regions(ctx, t);
    normal_brain(ctx, t);
    enhancement(ctx, t);
}

/// PIC-011: the "inverted V".
fn dorsal_column_signal(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    let Some(pattern) = ctx.case.mri.as_ref().and_then(|m| m.spinal_cord_pattern) else {
        return;
    };
    if pattern.dorsal_columns_symmetric == Some(true) {
        let lateral = if pattern.lateral_columns == Some(true) {
            " with the lateral columns"
        } else {
            ""
        };
        let m = msg!(ctx, "Symmetric T2 signal in the dorsal columns of the cord{lateral} (the \"inverted V\") is the pattern of subacute combined degeneration.");
        feature(ctx, t, "PIC-011", m);
    }
}

/// PIC-012 (a long cord lesion) and PIC-013 (a short one).
fn cord_lesion_length(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    let Some(pattern) = ctx.case.mri.as_ref().and_then(|m| m.spinal_cord_pattern) else {
        return;
    };
    let Some(seg) = pattern.longest_lesion_segments else {
        return;
    };
    let (long, short) = (
        param!(ctx, "PIC-012", "min_segments"),
        param!(ctx, "PIC-013", "max_segments"),
    );
    if seg >= long {
        let m = msg!(ctx, "The longest cord lesion spans {seg} vertebral segments: longitudinally extensive lesions are not seen in MS myelitis.");
        feature_with(
            ctx,
            t,
            "PIC-012",
            m,
            Some("Besides subacute combined degeneration, a long cord lesion calls for AQP4 and MOG antibodies (NMOSD, MOG antibody disease) and tests for infection.".into()),
        );
    } else if seg < short && pattern.dorsal_columns_symmetric != Some(true) {
        let m = msg!(ctx, "The cord lesion spans {seg} vertebral segment(s): MS cord plaques are short, under two segments.");
        feature(ctx, t, "PIC-013", m);
    }
}

/// PIC-014: lesions in at least two of the four MS-typical regions, one of them in the brain.
fn typical_regions(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    let Some(mri) = &ctx.case.mri else {
        return;
    };
    let brain_typical = brain_typical_lesion(mri);
    let mut regions: Vec<Site> = mri
        .lesions
        .iter()
        .filter(|l| l.count != Some(0) && l.site.is_mcdonald_2017_region())
        .map(|l| l.site)
        .collect();
    regions.sort();
    regions.dedup();
    if brain_typical && regions.len() >= 2 {
        let names: Vec<&str> = regions.iter().map(|r| r.as_str()).collect();
        let m = msg!(
            ctx,
            "Lesions in {} of the four regions typical of MS, including the brain: {}.",
            regions.len(),
            names.join(", ").replace('_', " ")
        );
        feature(ctx, t, "PIC-014", m);
    }
}

fn brain_typical_site(s: Site) -> bool {
    matches!(
        s,
        Site::Periventricular | Site::CorticalJuxtacortical | Site::Infratentorial
    )
}

/// PIC-015: a normal brain MRI.
fn normal_brain(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    let Some(mri) = &ctx.case.mri else {
        return;
    };
    let typical = brain_typical_lesion(mri);
    if mri.brain_normal == Some(true) && !typical {
        feature(
            ctx,
            t,
            "PIC-015",
            "The brain MRI is normal; most people with MS have brain lesions.".into(),
        );
    }
}

/// PIC-019: gadolinium-enhancing lesions.
fn enhancement(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    let Some(mri) = &ctx.case.mri else {
        return;
    };
    let enhancing: u32 = mri.lesions.iter().filter_map(|l| l.enhancing).sum();
    if enhancing > 0 {
        let m = msg!(
            ctx,
            "{}: active inflammation, as in MS.",
            if enhancing == 1 {
                "1 lesion enhances with gadolinium".to_string()
            } else {
                format!("{enhancing} lesions enhance with gadolinium")
            }
        );
        feature(ctx, t, "PIC-019", m);
    }
}

/// PIC-016: CSF-specific oligoclonal bands.
pub(super) fn oligoclonal_bands(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    if ctx.case.csf_oligoclonal_bands == Some(OligoclonalBands::CsfSpecific) {
        feature(
            ctx,
            t,
            "PIC-016",
            "CSF-specific oligoclonal bands: intrathecal antibody production, as in MS.".into(),
        );
    }
}

/// PIC-018: a relapsing-remitting course.
pub(super) fn relapsing(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    let case = ctx.case;
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
            t,
            "PIC-018",
            "A relapsing-remitting course: separate attacks with recovery between them.".into(),
        );
    }
}

/// PIC-020: Uhthoff phenomenon.
pub(super) fn heat(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    if has_finding(ctx, "heat_sensitivity") {
        feature(
            ctx,
            t,
            "PIC-020",
            "Symptoms worse with heat (Uhthoff phenomenon).".into(),
        );
    }
}

/// PIC-022: a cause of deficiency is present.
pub(super) fn cause_present(ctx: &mut Ctx<'_, '_>, t: &mut Tally, causes: &Causes) {
    if !causes.concepts.is_empty() {
        let m = msg!(
            ctx,
            "A cause of B12 deficiency is present: {}.",
            causes
                .concepts
                .iter()
                .map(|c| ctx.label(c))
                .collect::<Vec<_>>()
                .join(", ")
        );
        feature(ctx, t, "PIC-022", m);
    }
}
