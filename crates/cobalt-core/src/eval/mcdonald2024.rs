//! McDonald 2024 criteria (Montalban et al., Lancet Neurol 2025), as contract section 5 fixes
//! them: five regions with the optic nerve (by MRI, OCT or VEP), dissemination in time without
//! CSF, CSF positive by oligoclonal bands or the kappa FLC index, the select-six central vein
//! sign, paramagnetic rim lesions, the pathways by presentation, the rule at age 50 or over, and
//! "no better explanation". Every value is three-valued: `None` is not enough data.

use super::mcdonald::{imaged, tri};
use super::{Ctx, Facts};
use crate::assessment::{B12Status, McDonald2024, McDonald2024Detail};
use crate::case::{Mri, MsStatus, OligoclonalBands, Site};

/// Kleene conjunction.
fn and(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

/// Kleene disjunction.
fn or(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

const REGIONS: [Site; 5] = [
    Site::Periventricular,
    Site::CorticalJuxtacortical,
    Site::Infratentorial,
    Site::SpinalCord,
    Site::OpticNerve,
];

/// The presentation the pathways are chosen for.
#[derive(Clone, Copy, PartialEq)]
enum Presentation {
    Attack,
    Ris,
    Progressive,
    NoPathway,
}

impl Presentation {
    fn as_str(self) -> &'static str {
        match self {
            Presentation::Attack => "attack",
            Presentation::Ris => "radiologically_isolated",
            Presentation::Progressive => "primary_progressive",
            Presentation::NoPathway => "none",
        }
    }
}

/// Regions shown and regions not assessed.
struct Regions {
    shown: Vec<Site>,
    unassessed: Vec<Site>,
    optic_by: Vec<&'static str>,
}

impl Regions {
    /// At least `k` regions: true when shown, false when even the unassessed could not reach it.
    fn at_least(&self, k: usize) -> Option<bool> {
        if self.shown.len() >= k {
            Some(true)
        } else if self.shown.len() + self.unassessed.len() < k {
            Some(false)
        } else {
            None
        }
    }

    /// Whether a region is shown (`Some(false)` when it was assessed and is clear).
    fn has(&self, s: Site) -> Option<bool> {
        if self.shown.contains(&s) {
            Some(true)
        } else if self.unassessed.contains(&s) {
            None
        } else {
            Some(false)
        }
    }
}

fn regions(ctx: &Ctx<'_, '_>, mri: Option<&Mri>) -> Regions {
    let case = ctx.case;
    let prnfl = param!(ctx, "MCD-011", "prnfl_min_um");
    let gcipl = param!(ctx, "MCD-011", "gcipl_min_um");
    let mut shown = Vec::new();
    let mut optic_by = Vec::new();
    let (brain, cord) = mri.map_or((false, false), imaged);
    let mut optic_assessed = false;
    if let Some(m) = mri {
        for l in &m.lesions {
            if l.site == Site::OpticNerve {
                optic_assessed = true;
            }
            if l.count != Some(0) && REGIONS.contains(&l.site) && !shown.contains(&l.site) {
                shown.push(l.site);
                if l.site == Site::OpticNerve {
                    optic_by.push("mri");
                }
            }
        }
    }
    if let Some(o) = case.optic_nerve {
        let by_oct = o
            .oct_prnfl_intereye_difference_um
            .is_some_and(|d| d >= prnfl)
            || o.oct_gcipl_intereye_difference_um
                .is_some_and(|d| d >= gcipl);
        let by_vep = o.vep_delayed == Some(true);
        optic_assessed |= o.oct_prnfl_intereye_difference_um.is_some()
            || o.oct_gcipl_intereye_difference_um.is_some()
            || o.vep_delayed.is_some();
        if by_oct {
            optic_by.push("oct");
        }
        if by_vep {
            optic_by.push("vep");
        }
        if (by_oct || by_vep) && !shown.contains(&Site::OpticNerve) {
            shown.push(Site::OpticNerve);
        }
    }
    shown.sort();
    let unassessed = REGIONS
        .into_iter()
        .filter(|s| !shown.contains(s))
        .filter(|s| match s {
            Site::SpinalCord => !cord,
            Site::OpticNerve => !optic_assessed,
            _ => !brain,
        })
        .collect();
    Regions {
        shown,
        unassessed,
        optic_by,
    }
}

pub(crate) fn assess(
    ctx: &mut Ctx<'_, '_>,
    facts: &Facts,
    b12: B12Status,
) -> (McDonald2024, McDonald2024Detail) {
    let case = ctx.case;
    let ms = case.ms.unwrap_or_default();
    let mri = case.mri.as_ref();
    let relevant = facts.demyelination_considered
        || ms.attacks.is_some()
        || mri.is_some()
        || case.optic_nerve.is_some()
        || case.csf_kappa_flc_index.is_some();
    if !relevant {
        return Default::default();
    }
    let mut detail = McDonald2024Detail::default();

    // --- Regions and dissemination in space ----------------------------------------------
    let r = regions(ctx, mri);
    let any_data = mri.is_some() || case.optic_nerve.is_some();
    let count = any_data.then_some(r.shown.len() as u8);
    let dis = if any_data { r.at_least(2) } else { None };
    if any_data {
        let names = |v: &[Site]| -> String {
            if v.is_empty() {
                "none".into()
            } else {
                v.iter()
                    .map(|s| s.as_str().replace('_', " "))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        ctx.fire(
            "MCD-010",
            msg!(
                ctx,
                "Typical lesions in {} of the five 2024 regions ({}); not assessed: {}. Dissemination in space {}.",
                r.shown.len(),
                names(&r.shown),
                names(&r.unassessed),
                tri(dis)
            ),
            None,
        );
        if !r.unassessed.is_empty() && dis.is_none() && facts.demyelination_considered {
            ctx.missing(
                "mcdonald_2024.regions",
                vec![
                    "mri.lesions",
                    "mri.brain_normal",
                    "mri.spinal_cord_normal",
                    "optic_nerve",
                ],
                vec!["brain_mri", "spinal_mri"],
                msg!(
                    ctx,
                    "{} of the five regions were not assessed; they could still hold a lesion.",
                    r.unassessed.len()
                ),
            );
        }
    } else if facts.demyelination_considered {
        ctx.missing(
            "mcdonald_2024.regions",
            vec!["mri.lesions", "optic_nerve"],
            vec!["brain_mri", "spinal_mri"],
            "No MRI and no optic nerve tests: the 2024 regions cannot be counted.",
        );
    }
    if !r.optic_by.is_empty() && r.optic_by.iter().any(|b| *b != "mri") {
        ctx.fire(
            "MCD-011",
            msg!(
                ctx,
                "The optic nerve counts as a region by {}.",
                r.optic_by
                    .iter()
                    .filter(|b| **b != "mri")
                    .map(|b| if *b == "oct" {
                        "OCT (inter-eye difference at or above the cut-off)"
                    } else {
                        "a delayed visual evoked potential"
                    })
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            None,
        );
    }

    // --- Presentation ----------------------------------------------------------------------
    let year_months = param!(ctx, "MCD-019", "min_progression_months");
    let presentation = match ms.status {
        Some(MsStatus::RadiologicallyIsolatedSyndrome) => Some(Presentation::Ris),
        Some(MsStatus::PrimaryProgressive) => Some(Presentation::Progressive),
        None | Some(MsStatus::Suspected)
            if ms.progression_months.is_some_and(|m| m >= year_months)
                && ms.attacks.unwrap_or(0) == 0 =>
        {
            Some(Presentation::Progressive)
        }
        Some(
            MsStatus::ClinicallyIsolatedSyndrome
            | MsStatus::RelapsingRemitting
            | MsStatus::SecondaryProgressive,
        ) => Some(Presentation::Attack),
        _ if ms.attacks.is_some_and(|a| a >= 1) => Some(Presentation::Attack),
        Some(MsStatus::None) => Some(Presentation::NoPathway),
        _ if ms.attacks == Some(0) => Some(Presentation::NoPathway),
        _ => None,
    };
    detail.presentation = presentation.map(Presentation::as_str);

    // --- Dissemination in time (CSF does not count in 2024) ------------------------------------
    let attacks = ms.attacks.or(match presentation {
        Some(Presentation::Ris | Presentation::Progressive) => Some(0),
        _ => None,
    });
    let mut dit = None;
    if let Some(m) = mri {
        let (simultaneous, new_lesion) = super::mcdonald::mri_shows_dit(m);
        if simultaneous || new_lesion {
            dit = Some(true);
        }
    }
    if dit.is_none() && attacks.is_some_and(|a| a >= 2) {
        dit = Some(true);
    }
    if dit.is_none() {
        let all_enh_known = mri.is_some_and(|m| {
            !m.lesions.is_empty() && m.lesions.iter().all(|l| l.enhancing.is_some())
        });
        let no_new = mri.is_some_and(|m| m.new_lesion_on_follow_up != Some(true));
        if all_enh_known && no_new && attacks.is_some_and(|a| a <= 1) {
            dit = Some(false);
        }
    }
    if dit.is_some() {
        ctx.fire(
            "MCD-012",
            msg!(
                ctx,
                "Dissemination in time (2024: MRI or a further attack; CSF no longer substitutes): {}.",
                tri(dit)
            ),
            None,
        );
    }

    // --- CSF, central vein sign, paramagnetic rim lesions --------------------------------------
    let cutoff = ctx
        .profile
        .csf
        .as_ref()
        .map(|c| c.kappa_flc_index_positive_from);
    let ocb = case
        .csf_oligoclonal_bands
        .map(|o| o == OligoclonalBands::CsfSpecific);
    let kflc = match (case.csf_kappa_flc_index, cutoff) {
        (Some(k), Some(c)) => Some(k >= c),
        _ => None,
    };
    let csf = match (ocb, kflc) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (None, None) => None,
        _ => Some(false),
    };
    if csf.is_some() {
        let k = match (case.csf_kappa_flc_index, cutoff) {
            (Some(k), Some(c)) => format!("kappa FLC index {k} (positive from {c})"),
            (Some(k), None) => format!("kappa FLC index {k} (the profile sets no cut-off)"),
            _ => "no kappa FLC index".into(),
        };
        let o = match case.csf_oligoclonal_bands {
            Some(OligoclonalBands::CsfSpecific) => "CSF-specific oligoclonal bands",
            Some(_) => "no CSF-specific oligoclonal bands",
            None => "oligoclonal bands not tested",
        };
        ctx.fire(
            "MCD-013",
            msg!(
                ctx,
                "CSF: {o}, {k}: CSF {}.",
                if csf == Some(true) {
                    "positive"
                } else {
                    "not positive"
                }
            ),
            None,
        );
    }
    let min_pos = param!(ctx, "MCD-014", "min_positive_lesions");
    let small = param!(ctx, "MCD-014", "few_lesions_below");
    let cvs = mri.and_then(|m| m.central_vein_sign).map(|c| {
        let pos = f64::from(c.lesions_positive);
        let all = f64::from(c.lesions_assessed);
        let yes = pos >= min_pos || (all < small && pos > all - pos);
        ctx.fire(
            "MCD-014",
            msg!(
                ctx,
                "Central vein sign in {} of {} lesions assessed: select-six {}.",
                c.lesions_positive,
                c.lesions_assessed,
                if yes { "met" } else { "not met" }
            ),
            None,
        );
        yes
    });
    let prl = mri.and_then(|m| m.paramagnetic_rim_lesions).map(|n| {
        ctx.fire(
            "MCD-015",
            msg!(
                ctx,
                "{}: {}.",
                super::mcdonald::count(n, "paramagnetic rim lesion", "paramagnetic rim lesions"),
                if n >= 1 {
                    "counts as a lesion-characterisation tool in the one-region pathway"
                } else {
                    "none"
                }
            ),
            None,
        );
        n >= 1
    });
    detail.prl = prl;

    // --- Pathways ---------------------------------------------------------------------------
    let one_region = and(r.at_least(1), and(or(dit, csf), or(cvs, prl)));
    let relapsing = or(r.at_least(4), and(r.at_least(2), or(dit, or(csf, cvs))));
    let criteria = match presentation {
        Some(Presentation::Attack) => or(relapsing, one_region),
        Some(Presentation::Ris) => relapsing,
        Some(Presentation::Progressive) => {
            let year = ms.progression_months.map(|m| m >= year_months);
            let cord2 = mri.and_then(super::mcdonald::two_cord_lesions);
            let dis_pp = or(r.at_least(2), cord2);
            let c = and(
                year,
                or(
                    and(dis_pp, or(or(csf, cvs), or(dit, r.at_least(4)))),
                    one_region,
                ),
            );
            ctx.fire(
                "MCD-019",
                msg!(
                    ctx,
                    "Primary progressive onset (2024): a year of progression {}; dissemination in space (two regions or two cord lesions) {}; CSF {}, central vein sign {}, dissemination in time {}: {}.",
                    tri(year), tri(dis_pp), tri(csf), tri(cvs), tri(dit), tri(c)
                ),
                None,
            );
            c
        }
        Some(Presentation::NoPathway) => Some(false),
        None => {
            if facts.demyelination_considered {
                ctx.missing(
                "mcdonald_2024.met",
                vec!["ms.status", "ms.attacks", "ms.progression_months"],
                vec![],
                "The 2024 pathway depends on the presentation: a clinical attack, a radiologically isolated syndrome or progression from onset.",
            );
            }
            None
        }
    };
    let pathway = match presentation {
        _ if criteria != Some(true) => None,
        Some(Presentation::Progressive) => Some("primary progressive"),
        _ if r.at_least(4) == Some(true) => Some("four or more regions"),
        _ if relapsing == Some(true) => Some("two or three regions with DIT, positive CSF or the central vein sign"),
        _ => Some("one region with DIT or positive CSF, and the central vein sign or a paramagnetic rim lesion"),
    };
    if presentation.is_some_and(|p| p != Presentation::Progressive && p != Presentation::NoPathway)
        && criteria.is_some()
    {
        ctx.fire(
            "MCD-016",
            msg!(
                ctx,
                "Presentation: {}; regions {}, DIT {}, CSF {}, central vein sign {}, paramagnetic rim lesion {}: {}.",
                if presentation == Some(Presentation::Ris) { "radiologically isolated syndrome" } else { "a typical clinical attack" },
                r.shown.len(),
                tri(dit), tri(csf), tri(cvs), tri(prl),
                pathway.map_or_else(|| "no pathway is fulfilled".to_string(), |p| format!("fulfilled by {p}"))
            ),
            None,
        );
    }

    // --- Age 50 or over -----------------------------------------------------------------------
    let min_age = param!(ctx, "MCD-017", "min_age_years");
    let marker = or(r.has(Site::SpinalCord), or(csf, cvs));
    let criteria = match facts.age {
        Some(a) if a >= min_age && criteria != Some(false) => {
            detail.older_marker_needed = true;
            let c = and(criteria, marker);
            ctx.fire(
                "MCD-017",
                msg!(
                    ctx,
                    "Age {}: at {} or over the 2024 criteria ask for a marker of high specificity (a spinal cord lesion, positive CSF or the select-six central vein sign): {}.",
                    crate::units::display_number(a, 0),
                    crate::units::display_number(min_age, 0),
                    tri(marker)
                ),
                None,
            );
            c
        }
        None if criteria == Some(true)
            && marker != Some(true)
            && facts.demyelination_considered =>
        {
            ctx.missing(
                "mcdonald_2024.met",
                vec!["patient.age_years"],
                vec![],
                "At age 50 or over the 2024 criteria need a spinal cord lesion, positive CSF or the central vein sign; the age is not known.",
            );
            None
        }
        _ => criteria,
    };

    let met = super::mcdonald::no_better_explanation(ctx, "MCD-018", criteria, b12);
    // The pathway that holds on the MS criteria alone (before the B12 gate).
    detail.pathway = if criteria == Some(true) {
        pathway
    } else {
        None
    };
    detail.regions_shown = r.shown;
    detail.regions_not_assessed = if any_data {
        r.unassessed
    } else {
        REGIONS.to_vec()
    };
    detail.optic_nerve_by = r.optic_by;
    (
        McDonald2024 {
            regions: count,
            dis,
            dit,
            csf_positive: csf,
            cvs_select6: cvs,
            met,
        },
        detail,
    )
}
