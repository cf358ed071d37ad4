//! Laboratory interpretation: units normalised, the latest result before `as_of` with the
//! earlier trend, profile thresholds, the laboratory's own range, MMA and homocysteine with
//! their confounders, the blood count and folate, antibodies, and the B12 status.

use super::lab_values::q;
pub(super) use super::lab_values::{numeric, qualitative, reported};
use super::{format_date, Ctx, Facts};
use crate::assessment::{B12Status, NormalisedLab};
use crate::case::{Comparator, LabResult, LabValue, Qualitative, Quantity, Sex};
pub(crate) use crate::thresholds::{above, below, classify_b12, Class};
use crate::units::Unit;

/// What the laboratory step found.
#[derive(Debug, Default)]
pub(crate) struct LabFacts {
    pub status: B12Status,
    pub total: Option<Class>,
    pub active: Option<Class>,
    /// MMA raised (Some(true)), normal (Some(false)), or no interpretable result.
    pub mma: Option<bool>,
    pub hcy: Option<bool>,
    pub anaemia: Option<bool>,
    pub macrocytosis: Option<bool>,
    pub folate_low: Option<bool>,
    pub kidney_reduced: Option<bool>,
    pub ifab: Option<Qualitative>,
    pub pca: Option<Qualitative>,
    pub coeliac: Option<Qualitative>,
    /// A B12 result was set aside because it was taken on replacement.
    pub supplemented: bool,
    /// Tests with a result on or before `as_of`.
    pub tested: Vec<String>,
    pub normalised: Vec<NormalisedLab>,
}

impl LabFacts {
    pub fn has(&self, test: &str) -> bool {
        self.tested.iter().any(|t| t == test)
    }
}

struct Lab<'c> {
    ctx_as_of: time::Date,
    labs: &'c [LabResult],
}

impl<'c> Lab<'c> {
    /// Results of a test on or before `as_of`, oldest first (undated ones before dated ones,
    /// then input order).
    fn history(&self, test: &str) -> Vec<&'c LabResult> {
        let mut v: Vec<&LabResult> = self
            .labs
            .iter()
            .filter(|l| l.test == test && l.date.is_none_or(|d| d <= self.ctx_as_of))
            .collect();
        v.sort_by_key(|l| (l.date, l.index));
        v
    }

    fn latest(&self, test: &str) -> Option<&'c LabResult> {
        self.history(test).pop()
    }
}

pub(crate) fn interpret(ctx: &mut Ctx<'_, '_>, facts: &Facts) -> LabFacts {
    let case = ctx.case;
    let kb = ctx.kb;
    let profile = ctx.profile;
    let lab = Lab {
        ctx_as_of: ctx.as_of,
        labs: &case.labs,
    };
    let mut out = LabFacts::default();

    // Results after as_of do not count.
    let as_of = ctx.as_of;
    for l in case
        .labs
        .iter()
        .filter(|l| l.date.is_some_and(|d| d > as_of))
    {
        ctx.fire(
            "LAB-014",
            msg!(
                ctx,
                "{} {} dated {} is after the assessment date {} and is not used.",
                ctx.label(&l.test),
                reported(l),
                format_date(l.date.unwrap_or(as_of)),
                format_date(as_of)
            ),
            None,
        );
    }
    for l in &case.labs {
        if l.date.is_none_or(|d| d <= as_of) && !out.tested.contains(&l.test) {
            out.tested.push(l.test.clone());
        }
    }

    let molar = |test: &str| kb.analytes.get(test).and_then(|a| a.molar_mass);
    let in_unit = |l: &LabResult, unit: Unit| -> Option<(f64, Option<Comparator>)> {
        let qty = numeric(l)?;
        qty.to(unit, molar(&l.test))
            .ok()
            .map(|v| (v, qty.comparator))
    };

    // --- Total and active B12 -----------------------------------------------------------
    let mut supplemented: Vec<&str> = Vec::new();
    for (test, rule) in [("total_b12", "LAB-001"), ("active_b12", "LAB-002")] {
        let Some(latest) = lab.latest(test) else {
            continue;
        };
        let Some(cut) = profile.cutoffs(test) else {
            ctx.missing(
                "b12_status",
                vec![],
                vec![],
                msg!(
                    ctx,
                    "The {} profile has no cut-offs for {}; the result cannot be classified.",
                    profile.id,
                    ctx.label(test)
                ),
            );
            continue;
        };
        let unit = cut.parsed_unit.unwrap_or(Unit::PmolPerL);
        let Some((v, cmp)) = in_unit(latest, unit) else {
            continue;
        };
        let Some(class) = classify_b12(v, cmp, cut) else {
            continue;
        };
        let range = match (cut.deficient_below, cut.indeterminate_up_to) {
            _ if !ctx.detail => String::new(),
            (Some(d), Some(i)) => format!(
                "deficient below {d}, indeterminate {d}–{i}, deficiency unlikely above {i} {}",
                cut.unit
            ),
            (Some(d), None) => format!("deficient below {d} {}", cut.unit),
            _ => String::new(),
        };
        let verdict = match class {
            Class::Deficient => "deficiency confirmed",
            Class::Indeterminate => "indeterminate: possible deficiency",
            Class::NotDeficient => "deficiency unlikely",
        };
        let shown = if !ctx.detail {
            String::new()
        } else if latest.value
            != LabValue::Numeric(Quantity {
                value: v,
                unit,
                comparator: cmp,
            })
        {
            format!(
                "{} (= {}{})",
                reported(latest),
                cmp.map_or("", |c| c.symbol()),
                q(v, unit)
            )
        } else {
            reported(latest)
        };
        ctx.fire(
            rule,
            msg!(
                ctx,
                "{} {shown}: {verdict} ({} profile: {range}).",
                ctx.label(test),
                profile.id
            ),
            None,
        );
        if cmp.is_some() {
            ctx.fire(
                "LAB-009",
                msg!(
                ctx,
                    "{} was reported as {}: the true value is only known to lie {} {}; it is classed as {}.",
                    ctx.label(test),
                    reported(latest),
                    if matches!(cmp, Some(Comparator::Lt) | Some(Comparator::Le)) { "below" } else { "above" },
                    q(numeric(latest).map_or(v, |x| x.value), numeric(latest).map_or(unit, |x| x.unit)),
                    verdict
                ),
                None,
            );
        }
        // The reporting laboratory's own range.
        if let (Some(qty), Some(low)) = (numeric(latest), latest.reference_low) {
            let below_lab = below(qty.value, qty.comparator, low);
            let msg = match (below_lab, class) {
                // Without prose, the rule fires with an empty message.
                (Some(true), Class::Indeterminate | Class::NotDeficient) if !ctx.detail => {
                    Some(String::new())
                }
                (Some(false), Class::Deficient) if !ctx.detail => Some(String::new()),
                (Some(true), Class::Indeterminate | Class::NotDeficient) => Some(format!(
                    "{} is below the reporting laboratory's lower limit ({}) although the {} profile classes it as {}.",
                    reported(latest), q(low, qty.unit), profile.id, verdict
                )),
                (Some(false), Class::Deficient) => Some(format!(
                    "{} is within the reporting laboratory's range (lower limit {}) but below the {} cut-off.",
                    reported(latest), q(low, qty.unit), profile.id
                )),
                _ => None,
            };
            if let Some(msg) = msg {
                ctx.fire(
                    "LAB-008",
                    msg,
                    ctx.detail.then(|| "Cut-offs depend on the assay; ask the laboratory which thresholds apply to its method, or load its range with --thresholds.".into()),
                );
            }
        }
        // Earlier results.
        let history = lab.history(test);
        if history.len() > 1 {
            let earlier: Vec<String> = if ctx.detail {
                history[..history.len() - 1]
                    .iter()
                    .map(|l| {
                        let when = l.date.map(format_date).unwrap_or_else(|| "undated".into());
                        format!("{} ({when})", reported(l))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let first = in_unit(history[0], unit).map(|x| x.0);
            let trend = match first {
                Some(f) if f > v => "falling",
                Some(f) if f < v => "rising",
                Some(_) => "unchanged",
                None => "not comparable",
            };
            ctx.fire(
                "LAB-010",
                msg!(
                    ctx,
                    "{}: latest {}; earlier {}. The trend is {trend}.",
                    ctx.label(test),
                    reported(latest),
                    earlier.join(", ")
                ),
                None,
            );
            // Persistently high total B12.
            if test == "total_b12" {
                if let Some(high) = cut.high_above {
                    let highs = history
                        .iter()
                        .filter(|l| {
                            in_unit(l, unit).is_some_and(|(x, c)| above(x, c, high) == Some(true))
                        })
                        .count();
                    if highs >= 2 && !facts.on_replacement() {
                        ctx.fire(
                            "LAB-020",
                            msg!(ctx, "Total B12 is above {high} {} on {highs} measurements without replacement.", cut.unit),
                            Some("A persistently high B12 without supplements is associated with solid tumours, blood cancers and cardiovascular death; consider why.".into()),
                        );
                    }
                }
            }
        }
        // A level taken after replacement started reflects the supplement: only a result in the
        // deficiency range (deficient despite the supplement) still counts.
        let since = case.b12_replacement.and_then(|r| r.since);
        let on_supplement = facts.on_replacement()
            && match (since, latest.date) {
                (Some(s), Some(d)) => d >= s,
                _ => true,
            };
        if on_supplement && class != Class::Deficient {
            ctx.fire(
                "TEST-010",
                msg!(
                ctx,
                    "{} {} was taken on B12 replacement, so it reflects the supplement, not the body's stores; it does not count towards the B12 status.",
                    ctx.label(test),
                    reported(latest)
                ),
                Some("Do not re-test B12 on long-term replacement; judge by symptoms and the blood count.".into()),
            );
            supplemented.push(test);
            continue;
        }
        if test == "total_b12" {
            out.total = Some(class);
        } else {
            out.active = Some(class);
        }
    }
    // In pregnancy total B12 falls without a real lack: active B12, when measured, decides.
    if facts.pregnant && out.active.is_some() && out.total.is_some() && out.total != out.active {
        ctx.fire(
            "TEST-004",
            msg!(
                ctx,
                "Pregnant: total B12 falls in pregnancy without a real lack, so active B12 ({}) decides over total B12 ({}).",
                class_name(out.active.unwrap_or(Class::Indeterminate)),
                class_name(out.total.unwrap_or(Class::Indeterminate))
            ),
            None,
        );
        out.total = None;
    }
    if let (Some(t), Some(a)) = (out.total, out.active) {
        if t != a {
            ctx.fire(
                "LAB-018",
                msg!(
                ctx,
                    "Total B12 ({}) and active B12 ({}) disagree.",
                    class_name(t),
                    class_name(a)
                ),
                Some("Weigh the clinical picture; MMA can arbitrate. A result in the deficiency range is taken as deficiency.".into()),
            );
        }
    }
    if facts.black_family_background && (out.total.is_some() || out.active.is_some()) {
        ctx.fire(
            "LAB-007",
            "The patient's family background is Black. NICE notes that B12 reference ranges may differ by family background; the cut-offs are applied unchanged.",
            Some("Interpret the result with the symptoms, signs and risk factors rather than the cut-off alone; consider MMA when the result is near a cut-off.".into()),
        );
    }
    out.supplemented = !supplemented.is_empty();

    // --- Kidney function --------------------------------------------------------------
    let ckd = case
        .conditions
        .iter()
        .any(|c| c.concept == "chronic_kidney_disease");
    let egfr_low = lab.latest("egfr").and_then(|l| {
        let cut = profile.cutoffs("egfr")?;
        let (v, c) = in_unit(l, cut.parsed_unit?)?;
        below(v, c, cut.low_below?)
    });
    out.kidney_reduced = match (ckd, egfr_low) {
        (true, _) | (_, Some(true)) => Some(true),
        (false, Some(false)) => Some(false),
        (false, None) => None,
    };

    // --- Folate -----------------------------------------------------------------------
    let folate_def = case
        .conditions
        .iter()
        .any(|c| c.concept == "folate_deficiency");
    if let Some(l) = lab.latest("serum_folate") {
        if let Some(cut) = profile.cutoffs("serum_folate") {
            if let (Some(u), Some(low)) = (cut.parsed_unit, cut.low_below) {
                if let Some((v, c)) = in_unit(l, u) {
                    out.folate_low = below(v, c, low);
                    if out.folate_low == Some(true) {
                        ctx.fire(
                            "LAB-013",
                            msg!(ctx, "Serum folate {} is below {low} {}: folate deficiency.", reported(l), cut.unit),
                            Some("Start B12 before folic acid if B12 deficiency is present or not excluded.".into()),
                        );
                    }
                }
            }
        }
    }
    if folate_def {
        out.folate_low = Some(true);
    }

    // --- MMA --------------------------------------------------------------------------
    if let Some(l) = lab.latest("mma") {
        if let Some(qty) = numeric(l) {
            let (raised, basis) = raised_marker(l, qty, "mma", profile, molar("mma"), ctx.detail);
            out.mma = raised;
            if raised == Some(true) {
                ctx.fire(
                    "LAB-003",
                    msg!(
                        ctx,
                        "MMA {} is above {basis}: raised, a sign of B12 deficiency at the cell.",
                        reported(l)
                    ),
                    None,
                );
                if out.kidney_reduced == Some(true) {
                    ctx.fire(
                        "LAB-004",
                        "Kidney function is reduced, which raises MMA by itself; the raised MMA does not on its own show B12 deficiency.".to_string(),
                        Some("Interpret MMA with the eGFR; a total or active B12 result and the clinical picture decide.".into()),
                    );
                }
            }
        }
    }

    // --- Homocysteine -----------------------------------------------------------------
    let hypothyroid = case
        .conditions
        .iter()
        .any(|c| c.concept == "hypothyroidism");
    if let Some(l) = lab.latest("homocysteine") {
        if let Some(qty) = numeric(l) {
            let (raised, basis) = raised_marker(
                l,
                qty,
                "homocysteine",
                profile,
                molar("homocysteine"),
                ctx.detail,
            );
            out.hcy = raised;
            if raised == Some(true) {
                ctx.fire(
                    "LAB-005",
                    msg!(
                        ctx,
                        "Homocysteine {} is above {basis}: raised.",
                        reported(l)
                    ),
                    None,
                );
                let mut confounders = Vec::new();
                if out.folate_low == Some(true) {
                    confounders.push("folate deficiency");
                }
                if hypothyroid {
                    confounders.push("hypothyroidism");
                }
                if out.kidney_reduced == Some(true) {
                    confounders.push("reduced kidney function");
                }
                if !confounders.is_empty() {
                    ctx.fire(
                        "LAB-006",
                        msg!(ctx, "Homocysteine is also raised by {}, present here; a raised homocysteine does not on its own show B12 deficiency.", confounders.join(" and ")),
                        Some("MMA is more specific for B12 deficiency than homocysteine.".into()),
                    );
                }
            }
        }
    }

    // --- Blood count ------------------------------------------------------------------
    if let Some(l) = lab.latest("haemoglobin") {
        if let Some(cut) = profile.cutoffs("haemoglobin") {
            let limit = if facts.pregnant {
                cut.anaemia_below_pregnant
            } else {
                match facts.sex {
                    Some(Sex::Female) => cut.anaemia_below_female,
                    Some(Sex::Male) => cut.anaemia_below_male,
                    _ => None,
                }
            };
            match (limit, cut.parsed_unit) {
                (Some(lim), Some(u)) => {
                    if let Some((v, c)) = in_unit(l, u) {
                        out.anaemia = below(v, c, lim);
                        if out.anaemia == Some(true) {
                            let group = if facts.pregnant { "in pregnancy" } else if facts.sex == Some(Sex::Female) { "for a woman" } else { "for a man" };
                            ctx.fire("LAB-011", msg!(ctx, "Haemoglobin {} is below {lim} {} {group}: anaemia.", reported(l), cut.unit), None);
                        }
                    }
                }
                _ => ctx.missing(
                    "anaemia",
                    vec!["patient.sex"],
                    vec![],
                    "The anaemia cut-off depends on sex and pregnancy; sex is not recorded as female or male.",
                ),
            }
        }
    }
    if let Some(l) = lab.latest("mcv") {
        if let Some(cut) = profile.cutoffs("mcv") {
            if let (Some(u), Some(lim)) = (cut.parsed_unit, cut.raised_above) {
                if let Some((v, c)) = in_unit(l, u) {
                    out.macrocytosis = above(v, c, lim);
                    if out.macrocytosis == Some(true) {
                        ctx.fire(
                            "LAB-012",
                            msg!(
                                ctx,
                                "MCV {} is above {lim} {}: macrocytosis.",
                                reported(l),
                                cut.unit
                            ),
                            None,
                        );
                    }
                }
            }
        }
    }

    // --- Antibodies -------------------------------------------------------------------
    out.ifab = lab
        .latest("intrinsic_factor_antibody")
        .and_then(qualitative);
    out.pca = lab.latest("parietal_cell_antibody").and_then(qualitative);
    out.coeliac = lab.latest("coeliac_serology").and_then(qualitative);
    if let Some(r) = out.ifab {
        let msg = match r {
            Qualitative::Positive => "Intrinsic factor antibodies are positive: this strongly supports autoimmune gastritis (pernicious anaemia) as the cause.",
            Qualitative::Negative => "Intrinsic factor antibodies are negative. The test finds only about half of the people with autoimmune gastritis, so this does not exclude it.",
            Qualitative::Equivocal => "Intrinsic factor antibodies are equivocal: autoimmune gastritis is neither shown nor excluded.",
        };
        ctx.fire("LAB-015", msg, None);
    }
    if let Some(r) = out.pca {
        let msg = match r {
            Qualitative::Positive => "Gastric parietal cell antibodies are positive: common in autoimmune gastritis, but less specific than intrinsic factor antibodies.",
            Qualitative::Negative => "Gastric parietal cell antibodies are negative, which makes autoimmune gastritis less likely.",
            Qualitative::Equivocal => "Gastric parietal cell antibodies are equivocal.",
        };
        ctx.fire("LAB-021", msg, None);
    }
    if out.coeliac == Some(Qualitative::Positive) {
        ctx.fire(
            "LAB-016",
            "Coeliac serology is positive: coeliac disease is a likely cause of malabsorption of B12.",
            Some("Refer to gastroenterology for confirmation; keep eating gluten until then.".into()),
        );
    }

    // --- B12 status -------------------------------------------------------------------
    out.status = super::status::b12_status(ctx, facts, &out, hypothyroid);

    // --- Normalised results (not written without detail) ---------------------------------
    if !ctx.detail {
        return out;
    }
    out.normalised = super::normalise::results(kb, case, as_of, &out, egfr_low);
    out
}

/// Whether a marker (MMA, homocysteine) is raised: against the reporting laboratory's upper
/// limit when it gives one (ranges depend on the assay), else against the profile's fallback.
/// Returns the answer and the limit it used, in words (with `detail`; empty without).
fn raised_marker(
    l: &LabResult,
    qty: Quantity,
    test: &str,
    profile: &crate::kb::Profile,
    molar_mass: Option<f64>,
    detail: bool,
) -> (Option<bool>, String) {
    let words = |f: &dyn Fn() -> String| if detail { f() } else { String::new() };
    match l.reference_high {
        Some(hi) => (
            above(qty.value, qty.comparator, hi),
            words(&|| format!("the laboratory's upper limit {}", q(hi, qty.unit))),
        ),
        None => match profile
            .cutoffs(test)
            .and_then(|c| Some((c.parsed_unit?, c.raised_above?, c)))
        {
            Some((u, lim, c)) => (
                qty.to(u, molar_mass)
                    .ok()
                    .and_then(|v| above(v, qty.comparator, lim)),
                words(&|| {
                    format!(
                        "{lim} {} ({} profile; no laboratory range given)",
                        c.unit, profile.id
                    )
                }),
            ),
            None => (None, String::new()),
        },
    }
}

pub(crate) fn class_name(c: Class) -> &'static str {
    match c {
        Class::Deficient => "deficient",
        Class::Indeterminate => "indeterminate",
        Class::NotDeficient => "not_deficient",
    }
}
