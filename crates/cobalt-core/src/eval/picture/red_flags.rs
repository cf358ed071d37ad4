//! Syndromes typical of MS, and the red flags that point away from it, one function per rule.
//!
//! A syndrome counts as typical of MS (PIC-017) only with typical features: an onset over hours
//! to days, and for optic neuritis one eye, no progression beyond about two weeks and recovery
//! beginning by about three. The same syndrome with atypical features is a red flag (PIC-023),
//! and so is a progressive symmetric myelopathy (PIC-024). Red flags count against MS and are
//! named; they point to other causes (nutritional, toxic, NMOSD, MOG antibody disease and
//! others), of which B12 deficiency is one.

use super::{feature, feature_with, Tally};
use crate::case::{Course, Finding, Laterality, Onset};
use crate::eval::Ctx;
use crate::units::display_number;

/// The durations that make an optic neuropathy atypical (PIC-023's params): still progressing
/// after `max_progression_weeks`, or not recovering after `recovery_by_weeks`.
#[derive(Clone, Copy)]
struct OpticWeeks {
    max_progression: f64,
    recovery_by: f64,
}

impl OpticWeeks {
    fn of(ctx: &Ctx<'_, '_>) -> OpticWeeks {
        OpticWeeks {
            max_progression: param!(ctx, "PIC-023", "max_progression_weeks"),
            recovery_by: param!(ctx, "PIC-023", "recovery_by_weeks"),
        }
    }
}

/// What is atypical about a syndrome, as bits.
const BOTH_EYES: u8 = 1;
const INSIDIOUS: u8 = 2;
const STILL_PROGRESSING: u8 = 4;
const NO_RECOVERY: u8 = 8;

fn bilateral(f: &Finding) -> bool {
    matches!(
        f.laterality,
        Some(Laterality::BilateralSymmetric | Laterality::BilateralAsymmetric)
    )
}

/// The optic features: both eyes, still progressing, not recovering.
fn optic_features(f: &Finding, w: OpticWeeks) -> u8 {
    let mut why = 0;
    if bilateral(f) {
        why |= BOTH_EYES;
    }
    let weeks = f.weeks.unwrap_or(0.0);
    if f.course == Some(Course::Progressive) && weeks > w.max_progression {
        why |= STILL_PROGRESSING;
    }
    if f.course == Some(Course::Stable) && weeks > w.recovery_by {
        why |= NO_RECOVERY;
    }
    why
}

/// What makes an MS-typical syndrome atypical. An attack develops acutely or subacutely, so an
/// insidious onset is atypical for any of them; optic neuritis is also atypical in both eyes,
/// still progressing or not recovering.
fn atypical(f: &Finding, w: OpticWeeks) -> u8 {
    let mut why = 0;
    if f.onset == Some(Onset::Insidious) {
        why |= INSIDIOUS;
    }
    if f.concept == "optic_neuritis" {
        why |= optic_features(f, w);
    }
    why
}

/// Blurred or reduced vision in both eyes that began insidiously, goes on progressing or does
/// not recover: the pattern of a nutritional or toxic optic neuropathy.
fn atypical_visual_loss(f: &Finding, w: OpticWeeks) -> u8 {
    if f.concept != "vision_changes" || !bilateral(f) {
        return 0;
    }
    let course = optic_features(f, w) & !BOTH_EYES;
    let insidious = if f.onset == Some(Onset::Insidious) {
        INSIDIOUS
    } else {
        0
    };
    if course | insidious == 0 {
        0
    } else {
        BOTH_EYES | course | insidious
    }
}

/// Whether optic neuritis is recorded as progressing or not recovering without the weeks that
/// tell an attack still evolving from an atypical course. It then counts neither for MS nor
/// against it.
fn course_undecided(f: &Finding) -> bool {
    f.concept == "optic_neuritis"
        && matches!(f.course, Some(Course::Progressive | Course::Stable))
        && f.weeks.is_none()
}

fn describe(why: u8, w: OpticWeeks) -> String {
    let mut parts = Vec::new();
    if why & BOTH_EYES != 0 {
        parts.push("both eyes".to_string());
    }
    if why & INSIDIOUS != 0 {
        parts.push("insidious onset".to_string());
    }
    if why & STILL_PROGRESSING != 0 {
        parts.push(format!(
            "still progressing after {} weeks",
            display_number(w.max_progression, 1)
        ));
    }
    if why & NO_RECOVERY != 0 {
        parts.push(format!(
            "no recovery after {} weeks",
            display_number(w.recovery_by, 1)
        ));
    }
    parts.join(", ")
}

/// PIC-017: syndromes typical of MS, with typical features.
pub(super) fn typical_syndromes(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    let w = OpticWeeks::of(ctx);
    let typical = || {
        ctx.findings_in("ms_typical_syndromes")
            .filter(move |f| atypical(f, w) == 0 && !course_undecided(f))
    };
    if typical().next().is_some() {
        let m = if ctx.detail {
            let names: Vec<&str> = typical().map(|f| ctx.label(&f.concept)).collect();
            format!("Syndromes typical of MS: {}.", names.join(", "))
        } else {
            String::new()
        };
        feature(ctx, t, "PIC-017", m);
    }
}

/// PIC-023: an MS-typical syndrome with atypical features, or an atypical visual loss in both
/// eyes.
pub(super) fn atypical_syndromes(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    let w = OpticWeeks::of(ctx);
    let mut named: Vec<String> = Vec::new();
    let mut any = false;
    let typical = ctx.kb.group_bit("ms_typical_syndromes");
    for (i, f) in ctx.case.findings.iter().enumerate() {
        let why = if ctx.groups_at(i) & typical != 0 {
            atypical(f, w)
        } else {
            atypical_visual_loss(f, w)
        };
        if why != 0 {
            any = true;
            if ctx.detail {
                // The concept's label says "in one eye", which the red flag may contradict.
                let name = if f.concept == "optic_neuritis" {
                    "Optic neuritis"
                } else {
                    ctx.label(&f.concept)
                };
                named.push(format!("{name} ({})", describe(why, w)));
            }
        }
    }
    if !any {
        return;
    }
    let m = msg!(ctx, "Red flags against MS: {}. An attack of MS develops over hours to days; optic neuritis in MS affects one eye, stops progressing within about {} weeks and begins to recover within about {}.", named.join("; "), display_number(w.max_progression, 1), display_number(w.recovery_by, 1));
    feature_with(
        ctx,
        t,
        "PIC-023",
        m,
        Some("Look for other causes: B12 and folate deficiency, toxic causes, AQP4 and MOG antibodies (NMOSD, MOG antibody disease), compression and others; an ophthalmologist's opinion helps with the eyes.".into()),
    );
}

/// PIC-024: a progressive symmetric myelopathy.
pub(super) fn progressive_symmetric_myelopathy(ctx: &mut Ctx<'_, '_>, t: &mut Tally) {
    let bits = ctx.kb.group_bit("myelopathy_features") | ctx.kb.group_bit("limb_sensorimotor");
    let cord = || ctx.findings_with(bits);
    let progressing = ctx
        .findings_in("myelopathy_features")
        .any(|f| f.course == Some(Course::Progressive));
    let symmetric = cord().any(|f| f.laterality == Some(Laterality::BilateralSymmetric));
    let one_sided = cord().any(|f| {
        matches!(
            f.laterality,
            Some(Laterality::Left | Laterality::Right | Laterality::BilateralAsymmetric)
        )
    });
    if !(progressing && symmetric && !one_sided) {
        return;
    }
    let m = if ctx.detail {
        let mut signs: Vec<&str> = cord().map(|f| ctx.label(&f.concept)).collect();
        signs.dedup();
        format!("Red flag against MS: a progressive, symmetric myelopathy ({}). MS cord lesions are partial and usually asymmetric; a steadily progressing symmetric picture points to nutritional, toxic, compressive, hereditary and other causes.", signs.join("; "))
    } else {
        String::new()
    };
    feature_with(
        ctx,
        t,
        "PIC-024",
        m,
        Some("Look for other causes of a myelopathy: B12, folate and copper deficiency, nitrous oxide, cord compression on spinal MRI, and others.".into()),
    );
}
