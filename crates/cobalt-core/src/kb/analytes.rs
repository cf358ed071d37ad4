//! Analytes (`knowledge/analytes.toml`): the units each laboratory test may be reported in, the
//! unit cobalt normalises to, the molar mass between mass and molar units, and the value above
//! which a result cannot be a measurement of a living person.

use super::lint::Linter;
use super::{Cite, KnowledgeBase, SourceFile};
use crate::units::{self, Unit};
use crate::vocab::Kind;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// An analyte: the units a test can be reported in, its molar mass and its impossible values.
#[derive(Debug, Clone, PartialEq)]
pub struct Analyte {
    /// Lab concept id.
    pub test: String,
    /// Accepted units; empty for a qualitative test.
    pub units: Vec<Unit>,
    /// The unit results are normalised to.
    pub canonical_unit: Option<Unit>,
    /// Molar mass in g/mol.
    pub molar_mass: Option<f64>,
    /// Whether the test is reported as positive, negative or equivocal.
    pub qualitative: bool,
    /// Sources of the molar mass and units.
    pub sources: Vec<Cite>,
    /// A value above this, in the canonical unit, is impossible: far above the highest value
    /// reported in people, so it is a unit or entry error, not a result.
    pub impossible_above: Option<f64>,
    /// Sources of the highest values reported, which the bound rests on.
    pub bound_sources: Vec<Cite>,
}

impl Analyte {
    /// The accepted units, for messages.
    pub fn unit_list(&self) -> String {
        self.units
            .iter()
            .map(|u| u.ucum())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The impossible bound in `unit`, when the analyte has one and `unit` converts to it.
    pub fn impossible_above_in(&self, unit: Unit) -> Option<f64> {
        let bound = self.impossible_above?;
        let canonical = self.canonical_unit?;
        units::convert(bound, canonical, unit, self.molar_mass).ok()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnalyte {
    test: String,
    #[serde(default)]
    units: Vec<String>,
    #[serde(default)]
    canonical_unit: Option<String>,
    #[serde(default)]
    molar_mass_g_per_mol: Option<f64>,
    #[serde(default)]
    qualitative: bool,
    #[serde(default)]
    sources: Vec<Cite>,
    #[serde(default)]
    impossible_above: Option<f64>,
    #[serde(default)]
    bound_sources: Vec<Cite>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalyteFile {
    analyte: Vec<RawAnalyte>,
}

/// The analytes, by lab concept.
#[derive(Debug, Clone, Default)]
pub struct Analytes {
    pub(super) by_test: BTreeMap<String, Analyte>,
}

impl Analytes {
    /// The analyte of a lab concept.
    pub fn get(&self, test: &str) -> Option<&Analyte> {
        self.by_test.get(test)
    }

    /// All analytes.
    pub fn iter(&self) -> impl Iterator<Item = &Analyte> {
        self.by_test.values()
    }
}

impl Linter {
    /// Parses and checks `analytes.toml` into `kb.analytes`.
    pub(super) fn analytes(
        &mut self,
        f: &SourceFile<'_>,
        kb: &mut KnowledgeBase,
        used_refs: &mut BTreeSet<String>,
    ) {
        let Some(af) = self.parse::<AnalyteFile>(f.path, f.text) else {
            return;
        };
        for a in af.analyte {
            let item = a.test.clone();
            match kb.vocab.get(&a.test) {
                Some(c) if c.kind == Kind::Lab => {}
                _ => self.problem(f.path, &item, "not a lab concept of the vocabulary"),
            }
            let mut units = Vec::new();
            for u in &a.units {
                match Unit::parse(u) {
                    Some(unit) => units.push(unit),
                    None => self.problem(f.path, &item, format!("unknown unit `{u}`")),
                }
            }
            let canonical = a.canonical_unit.as_deref().and_then(|u| {
                let parsed = Unit::parse(u);
                if parsed.is_none() {
                    self.problem(f.path, &item, format!("unknown unit `{u}`"));
                }
                parsed
            });
            if let Some(c) = canonical {
                if !units.contains(&c) {
                    self.problem(f.path, &item, "canonical_unit is not among units");
                }
            }
            if a.qualitative != units.is_empty() {
                self.problem(
                    f.path,
                    &item,
                    "a test is qualitative exactly when it has no units",
                );
            }
            let dims: BTreeSet<_> = units
                .iter()
                .map(|u| format!("{:?}", u.dimension()))
                .collect();
            if dims.len() > 1 && a.molar_mass_g_per_mol.is_none() {
                self.problem(
                    f.path,
                    &item,
                    "mass and molar units without molar_mass_g_per_mol",
                );
            }
            if a.molar_mass_g_per_mol.is_some() || !units.is_empty() {
                self.cites(f.path, &item, &a.sources, &kb.references, used_refs);
            }
            match a.impossible_above {
                Some(b) if !(b.is_finite() && b > 0.0) => {
                    self.problem(f.path, &item, format!("impossible_above {b} is not > 0"))
                }
                Some(_) if units.is_empty() => {
                    self.problem(f.path, &item, "impossible_above on a qualitative test")
                }
                Some(_) => self.cites(f.path, &item, &a.bound_sources, &kb.references, used_refs),
                None if !units.is_empty() => self.problem(
                    f.path,
                    &item,
                    "a numeric test needs impossible_above (canonical unit) and bound_sources",
                ),
                None => {}
            }
            if a.impossible_above.is_none() && !a.bound_sources.is_empty() {
                self.problem(f.path, &item, "bound_sources without impossible_above");
            }
            kb.analytes.by_test.insert(
                a.test.clone(),
                Analyte {
                    test: a.test,
                    units,
                    canonical_unit: canonical,
                    molar_mass: a.molar_mass_g_per_mol,
                    qualitative: a.qualitative,
                    sources: a.sources,
                    impossible_above: a.impossible_above,
                    bound_sources: a.bound_sources,
                },
            );
        }
    }
}
