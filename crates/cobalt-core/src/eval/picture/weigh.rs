//! PIC-021: weighing the features into the overall picture.

use super::Tally;
use crate::assessment::{B12Status, Picture};
use crate::eval::labs::LabFacts;
use crate::eval::{Ctx, Facts};

/// The picture the scores give, before it is explained.
fn choose(ctx: &Ctx<'_, '_>, t: &Tally, excluded: bool) -> Picture {
    let other = param!(ctx, "PIC-021", "mixed_if_other_side_scores") as u32;
    let (min_score, min_lead) = (
        param!(ctx, "PIC-021", "min_score") as u32,
        param!(ctx, "PIC-021", "min_lead") as u32,
    );
    // Red flags take their weight off the MS score; while one is present, only a strong MS
    // feature (MS-typical lesions, CSF-specific bands) makes the picture MS.
    let ms = t.ms.saturating_sub(t.against_ms);
    let ms_possible = t.red_flags.is_empty() || t.ms_strong;
    let ms_wins = |lead_over: u32| ms_possible && ms >= min_score && ms >= lead_over;
    if excluded {
        return if t.ms_strong || ms_wins(min_lead) {
            Picture::MultipleSclerosis
        } else {
            Picture::Undetermined
        };
    }
    if t.b12_strong && t.ms_strong {
        Picture::Mixed
    } else if t.b12_strong {
        if ms >= other && ms_possible {
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
    } else if t.b12 >= min_score && t.b12 >= ms + min_lead {
        Picture::B12Deficiency
    } else if ms_wins(t.b12 + min_lead) {
        Picture::MultipleSclerosis
    } else {
        Picture::Undetermined
    }
}

fn list(rules: &[&str]) -> String {
    if rules.is_empty() {
        "none".to_string()
    } else {
        rules.join(", ")
    }
}

pub(super) fn weigh(ctx: &mut Ctx<'_, '_>, t: &Tally, facts: &Facts, lab: &LabFacts) -> Picture {
    if t.b12_features.is_empty() && t.ms_features.is_empty() && t.red_flags.is_empty() {
        ctx.missing(
            "picture",
            vec!["findings[].laterality", "findings[].regions", "labs[].total_b12", "mri"],
            vec!["total_b12", "brain_mri", "spinal_mri"],
            "No feature that distinguishes the B12-deficiency picture from the MS picture is recorded.",
        );
        return Picture::Undetermined;
    }
    // Results that exclude deficiency rule the B12 picture out (after nitrous oxide only a
    // functional marker can).
    let excluded = lab.status == B12Status::NotDeficient
        && !(facts.nitrous_oxide && lab.mma.is_none() && lab.hcy.is_none());
    let picture = choose(ctx, t, excluded);
    let excluded_note = if excluded {
        " B12 deficiency is excluded by the results."
    } else {
        ""
    };
    let red_flags = if t.red_flags.is_empty() {
        String::new()
    } else {
        format!(
            ", less {} for red flags against MS ({})",
            t.against_ms,
            t.red_flags.as_slice().join(", ")
        )
    };
    let summary = msg!(
        ctx,
        "B12-deficiency features score {} ({}), MS features score {} ({}{red_flags}):{excluded_note} the picture is {}.",
        t.b12,
        list(t.b12_features.as_slice()),
        t.ms,
        list(t.ms_features.as_slice()),
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
        if lab.status == B12Status::NotTested {
            inputs.push("labs[].total_b12");
            by.push("total_b12");
        }
        if ctx.case.mri.is_none() {
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
