//! The laboratory results of a case as the report shows them: each in its canonical unit,
//! with the interpretation of the latest result of each test.

use super::format_date;
use super::labs::{class_name, numeric, qualitative, reported, LabFacts};
use crate::assessment::NormalisedLab;
use crate::case::{Case, LabResult, Qualitative};
use crate::KnowledgeBase;
use time::Date;

/// Every result of the case, normalised; `lab` holds the interpretations of the latest ones.
pub(super) fn results(
    kb: &KnowledgeBase,
    case: &Case,
    as_of: Date,
    lab: &LabFacts,
    egfr_low: Option<bool>,
) -> Vec<NormalisedLab> {
    let mut normalised = Vec::with_capacity(case.labs.len());
    // The latest result of each test, found in one pass (not once per result: a case may hold
    // many thousands of results).
    let mut latest: std::collections::BTreeMap<&str, &LabResult> =
        std::collections::BTreeMap::new();
    for l in case
        .labs
        .iter()
        .filter(|l| l.date.is_none_or(|d| d <= as_of))
    {
        let e = latest.entry(l.test.as_str()).or_insert(l);
        if (l.date, l.index) > (e.date, e.index) {
            *e = l;
        }
    }
    for l in &case.labs {
        let analyte = kb.analytes.get(&l.test);
        let canonical = analyte.and_then(|a| a.canonical_unit);
        let (value, unit, comparator) = match (numeric(l), canonical) {
            (Some(qty), Some(u)) => (
                qty.to(u, analyte.and_then(|a| a.molar_mass))
                    .ok()
                    .map(|v| crate::units::round_sig(v, 4)),
                Some(u.ucum()),
                qty.comparator.map(|c| c.symbol()),
            ),
            (Some(qty), None) => (
                Some(qty.value),
                Some(qty.unit.ucum()),
                qty.comparator.map(|c| c.symbol()),
            ),
            _ => (None, None, None),
        };
        let is_latest = latest
            .get(l.test.as_str())
            .is_some_and(|x| x.index == l.index);
        let interpretation = if !is_latest {
            None
        } else {
            match l.test.as_str() {
                "total_b12" => lab.total.map(class_name),
                "active_b12" => lab.active.map(class_name),
                "mma" | "homocysteine" => {
                    let v = if l.test == "mma" { lab.mma } else { lab.hcy };
                    v.map(|r| if r { "raised" } else { "normal" })
                }
                "haemoglobin" => lab.anaemia.map(|a| if a { "anaemia" } else { "normal" }),
                "mcv" => lab
                    .macrocytosis
                    .map(|m| if m { "macrocytosis" } else { "normal" }),
                "serum_folate" => lab.folate_low.map(|f| if f { "low" } else { "normal" }),
                "egfr" => egfr_low.map(|r| if r { "reduced" } else { "normal" }),
                _ => qualitative(l).map(|r| match r {
                    Qualitative::Positive => "positive",
                    Qualitative::Negative => "negative",
                    Qualitative::Equivocal => "equivocal",
                }),
            }
        };
        normalised.push(NormalisedLab {
            test: l.test.clone(),
            date: l.date.map(format_date),
            reported: reported(l),
            value,
            unit,
            comparator,
            interpretation,
            latest: is_latest,
        });
    }
    normalised
}
