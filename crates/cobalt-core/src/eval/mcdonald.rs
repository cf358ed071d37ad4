//! McDonald 2017 criteria (Thompson et al. 2018): dissemination in space and time, the table of
//! presentations with an attack at onset, CSF-specific oligoclonal bands in place of DIT,
//! primary progressive MS, and "no better explanation". `None` means not enough data.

use super::{Ctx, Facts};
use crate::assessment::{B12Status, McDonald};
use crate::case::{Mri, MsStatus, OligoclonalBands, Site};

/// Whether the brain and the spinal cord were imaged. An MRI report lists every lesion it found:
/// in an imaged part of the CNS, a region without a listed lesion has none.
pub(crate) fn imaged(m: &Mri) -> (bool, bool) {
    let brain = m.brain_normal.is_some() || m.lesions.iter().any(|l| l.site.is_brain());
    let cord = m.spinal_cord_normal.is_some()
        || m.spinal_cord_pattern.is_some()
        || m.lesions.iter().any(|l| l.site == Site::SpinalCord);
    (brain, cord)
}

/// Two or more spinal cord lesions (the primary progressive criterion in 2017 and 2024): yes with
/// two counted, no when the cord is clear or every cord lesion is counted and there are fewer,
/// `None` otherwise (a cord lesion without a count, or the cord not imaged).
pub(super) fn two_cord_lesions(m: &Mri) -> Option<bool> {
    let mut known = 0u32;
    let mut any = false;
    let mut all_counted = true;
    for l in m.lesions.iter().filter(|l| l.site == Site::SpinalCord) {
        any = true;
        match l.count {
            Some(n) => known += n,
            None => all_counted = false,
        }
    }
    if known >= 2 {
        Some(true)
    } else if m.spinal_cord_normal == Some(true) || (any && all_counted) {
        Some(false)
    } else {
        None
    }
}

/// `1 attack`, `2 attacks`.
pub(crate) fn count(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub(crate) fn tri(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "met",
        Some(false) => "not met",
        None => "not enough data",
    }
}

pub(crate) fn assess(ctx: &mut Ctx<'_, '_>, facts: &Facts, b12: B12Status) -> McDonald {
    let case = ctx.case;
    let ms = case.ms.unwrap_or_default();
    let mri = case.mri.as_ref();
    let ocb = case.csf_oligoclonal_bands;
    let relevant = facts.demyelination_considered || ms.attacks.is_some() || mri.is_some();
    if !relevant {
        return McDonald::default();
    }

    // --- Dissemination in space -------------------------------------------------------
    let mut regions: Vec<Site> = Vec::new();
    if let Some(m) = mri {
        for l in &m.lesions {
            if l.count != Some(0) && l.site.is_mcdonald_2017_region() && !regions.contains(&l.site)
            {
                regions.push(l.site);
            }
        }
        if m.lesions
            .iter()
            .any(|l| l.site == Site::OpticNerve && l.count != Some(0))
        {
            ctx.fire(
                "MCD-009",
                "An optic nerve lesion is recorded; in the 2017 criteria the optic nerve is not one of the regions for dissemination in space.",
                None,
            );
        }
    }
    regions.sort();
    let clinical_dis = ms.attacks.is_some_and(|a| a >= 2)
        && ms
            .lesions_with_objective_clinical_evidence
            .is_some_and(|l| l >= 2);
    let dis = if regions.len() >= 2 {
        let names: Vec<&str> = regions.iter().map(|s| s.as_str()).collect();
        ctx.fire(
            "MCD-001",
            msg!(
                ctx,
                "T2 lesions in {} of the four regions ({}): dissemination in space shown by MRI.",
                regions.len(),
                names.join(", ").replace('_', " ")
            ),
            None,
        );
        Some(true)
    } else if clinical_dis {
        ctx.fire(
            "MCD-002",
            "Two or more attacks with objective clinical evidence of two or more lesions: dissemination in space shown clinically.",
            None,
        );
        Some(true)
    } else if let Some(possible) = mri
        .map(|m| {
            // Regions that were not imaged could still have a lesion.
            let (brain_imaged, cord_imaged) = imaged(m);
            let unknown = [
                Site::Periventricular,
                Site::CorticalJuxtacortical,
                Site::Infratentorial,
                Site::SpinalCord,
            ]
            .into_iter()
            .filter(|s| !regions.contains(s))
            .filter(|s| {
                if *s == Site::SpinalCord {
                    !cord_imaged
                } else {
                    !brain_imaged
                }
            })
            .count();
            regions.len() + unknown
        })
        .filter(|p| *p < 2)
    {
        ctx.fire(
            "MCD-001",
            msg!(
                ctx,
                "Lesions are in {} of the four regions and at most {possible} could be (the rest were imaged and showed none): dissemination in space is not shown.",
                regions.len()
            ),
            None,
        );
        Some(false)
    } else {
        if facts.demyelination_considered {
            ctx.missing(
            "mcdonald_2017.dis",
            vec!["mri.lesions", "mri.brain_normal", "mri.spinal_cord_normal"],
            vec!["brain_mri", "spinal_mri"],
            msg!(ctx, "Lesions are known in {} of the four regions; MRI of the brain and spinal cord would show whether there are two.", regions.len()),
        );
        }
        None
    };

    // --- Dissemination in time --------------------------------------------------------
    let mut dit: Option<bool> = None;
    if let Some(m) = mri {
        let (simultaneous, new_lesion) = mri_shows_dit(m);
        if simultaneous {
            ctx.fire("MCD-003", "Enhancing and non-enhancing lesions at the same time: dissemination in time shown by MRI.", None);
            dit = Some(true);
        } else if new_lesion {
            ctx.fire("MCD-003", "A new T2 or enhancing lesion on a follow-up scan: dissemination in time shown by MRI.", None);
            dit = Some(true);
        }
    }
    if dit.is_none() && ms.attacks.is_some_and(|a| a >= 2) {
        ctx.fire(
            "MCD-004",
            "A further clinical attack: dissemination in time shown clinically.",
            None,
        );
        dit = Some(true);
    }
    if dit.is_none() && ocb == Some(OligoclonalBands::CsfSpecific) {
        ctx.fire(
            "MCD-005",
            "CSF-specific oligoclonal bands substitute for dissemination in time (2017), provided dissemination in space is shown and nothing explains the picture better.",
            None,
        );
        dit = Some(true);
    }
    if dit.is_none() {
        let all_enh_known = mri.is_some_and(|m| {
            !m.lesions.is_empty() && m.lesions.iter().all(|l| l.enhancing.is_some())
        });
        let follow_up_negative = mri.is_some_and(|m| m.new_lesion_on_follow_up == Some(false));
        let ocb_negative = matches!(
            ocb,
            Some(OligoclonalBands::Absent | OligoclonalBands::MatchedInSerum)
        );
        let one_attack = ms.attacks.is_some_and(|a| a <= 1);
        if all_enh_known
            && ocb_negative
            && one_attack
            && (follow_up_negative || mri.is_some_and(|m| m.new_lesion_on_follow_up.is_none()))
        {
            dit = Some(false);
        } else {
            if facts.demyelination_considered {
                ctx.missing(
                "mcdonald_2017.dit",
                vec!["mri.lesions[].enhancing", "mri.new_lesion_on_follow_up", "csf.oligoclonal_bands", "ms.attacks"],
                vec!["brain_mri", "csf_oligoclonal_bands"],
                "Dissemination in time needs gadolinium enhancement data, a follow-up scan, a further attack or CSF oligoclonal bands.",
            );
            }
        }
    }

    // --- The criteria for the presentation ---------------------------------------------
    let year_months = param!(ctx, "MCD-007", "min_progression_months");
    let progressive = ms.status == Some(MsStatus::PrimaryProgressive)
        || (ms.progression_months.is_some_and(|m| m >= year_months)
            && ms.attacks.unwrap_or(0) == 0);
    let criteria: Option<bool> = if progressive {
        let year = ms.progression_months.map(|m| m >= year_months);
        let brain = mri.and_then(|m| {
            let listed = m.lesions.iter().any(|l| {
                l.count != Some(0)
                    && matches!(
                        l.site,
                        Site::Periventricular | Site::CorticalJuxtacortical | Site::Infratentorial
                    )
            });
            if listed {
                Some(true)
            } else if m.brain_normal == Some(true) {
                Some(false)
            } else {
                None
            }
        });
        let cord = mri.and_then(two_cord_lesions);
        let csf = ocb.map(|o| o == OligoclonalBands::CsfSpecific);
        let items = [brain, cord, csf];
        let yes = items.iter().filter(|x| **x == Some(true)).count();
        let unknown = items.iter().filter(|x| x.is_none()).count();
        let two_of_three = if yes >= 2 {
            Some(true)
        } else if yes + unknown < 2 {
            Some(false)
        } else {
            None
        };
        let r = match (year, two_of_three) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        };
        ctx.fire(
            "MCD-007",
            msg!(
                ctx,
                "Primary progressive presentation: one year of progression {}; brain lesions {}, two or more cord lesions {}, CSF-specific bands {} (two of three needed): {}.",
                tri(year), tri(brain), tri(cord), tri(csf), tri(r)
            ),
            None,
        );
        r
    } else {
        match (ms.attacks, ms.lesions_with_objective_clinical_evidence) {
            (Some(0), _) | (Some(_), Some(0)) => Some(false),
            (Some(a), Some(l)) if a >= 2 && l >= 2 => Some(true),
            (Some(a), Some(1)) if a >= 2 => dis,
            (Some(1), Some(l)) if l >= 2 => dit,
            (Some(1), Some(1)) => match (dis, dit) {
                (Some(true), Some(true)) => Some(true),
                (Some(false), _) | (_, Some(false)) => Some(false),
                _ => None,
            },
            _ => {
                if facts.demyelination_considered {
                ctx.missing(
                    "mcdonald_2017.met",
                    vec!["ms.attacks", "ms.lesions_with_objective_clinical_evidence"],
                    vec![],
                    "The number of clinical attacks and of lesions with objective clinical evidence decide which dissemination is still needed.",
                );
                }
                None
            }
        }
        .inspect(|r| {
            ctx.fire(
                "MCD-006",
                msg!(
                ctx,
                    "{} with objective evidence of {}; dissemination in space {}, in time {}: the clinical and imaging part of the criteria is {}.",
                    count(ms.attacks.unwrap_or(0), "attack", "attacks"),
                    count(ms.lesions_with_objective_clinical_evidence.unwrap_or(0), "lesion", "lesions"),
                    tri(dis),
                    tri(dit),
                    tri(Some(*r))
                ),
                None,
            )
        })
    };

    let met = no_better_explanation(ctx, "MCD-008", criteria, b12);
    McDonald { dis, dit, met }
}

/// "No better explanation" (MCD-008 for 2017, MCD-018 for 2024): `met` is the criteria's result
/// only once B12 deficiency is excluded; while it is shown or not yet excluded, `met` is
/// undecided (never true), unless the criteria already fail.
pub(crate) fn no_better_explanation(
    ctx: &mut Ctx<'_, '_>,
    rule: &'static str,
    criteria: Option<bool>,
    b12: B12Status,
) -> Option<bool> {
    match (criteria, b12) {
        (Some(false), _) => Some(false),
        (_, B12Status::NotDeficient) => criteria,
        (c, s) => {
            let why = if s.shown() {
                "B12 deficiency is shown, a competing explanation that must be treated first"
            } else {
                "B12 deficiency has not yet been excluded by a result"
            };
            let fulfilled = if c == Some(true) {
                " the other criteria are fulfilled, but"
            } else {
                ""
            };
            let which = if rule == "MCD-018" {
                "The 2024 criteria"
            } else {
                "The 2017 criteria"
            };
            ctx.fire(
                rule,
                msg!(ctx, "{which} require that no other diagnosis explains the picture better:{fulfilled} {why}. Whether they are met cannot be decided now."),
                Some("Measure B12 (and treat a deficiency), then reassess against the criteria.".into()),
            );
            None
        }
    }
}

/// Dissemination in time by MRI: enhancing and non-enhancing lesions on one scan, or a new
/// lesion on follow-up (the same definitions in 2017 and, as far as known, 2024).
pub(crate) fn mri_shows_dit(m: &Mri) -> (bool, bool) {
    let enhancing: u32 = m.lesions.iter().filter_map(|l| l.enhancing).sum();
    let non_enhancing = m.lesions.iter().any(|l| match (l.count, l.enhancing) {
        (Some(c), Some(e)) => c > e,
        (None, Some(0)) => true,
        _ => false,
    });
    (
        enhancing > 0 && non_enhancing,
        m.new_lesion_on_follow_up == Some(true),
    )
}
