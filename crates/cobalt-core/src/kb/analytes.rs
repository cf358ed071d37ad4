//! Analytes (`knowledge/analytes.toml`): the unit cobalt normalises each laboratory test to, the
//! molar mass between mass and molar units, and the value above which a result cannot be a
//! measurement of a living person.
//!
//! Which units a test takes is a rule, not a list ([`Analyte::accepts`]): any unit of its
//! canonical unit's dimension, and, when the analyte has a molar mass, any unit of the other
//! concentration dimension (mass ↔ molar). Every such unit converts exactly: within a dimension by
//! a power of ten, across by the cited molar mass. `examples` only names the usual units, for the
//! page and for messages.

use super::lint::Linter;
use super::{Cite, KnowledgeBase, SourceFile};
use crate::units::{self, Dimension, Unit};
use crate::vocab::Kind;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// An analyte: the unit a test is normalised to, its molar mass and its impossible values.
#[derive(Debug, Clone, PartialEq)]
pub struct Analyte {
    /// Lab concept id.
    pub test: String,
    /// The usual units, which the page offers and messages name; not a limit (see
    /// [`Analyte::accepts`]). Empty for a qualitative test.
    pub examples: Vec<Unit>,
    /// The unit results are normalised to; `None` for a qualitative test.
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
    /// Whether the test is reported as a number with a unit.
    pub fn numeric(&self) -> bool {
        self.canonical_unit.is_some()
    }

    /// Whether a result may be reported in `unit`: its dimension is the canonical unit's, or it
    /// is the other concentration (mass for molar, molar for mass) and the analyte has a molar
    /// mass to convert it.
    pub fn accepts(&self, unit: Unit) -> bool {
        self.dimensions().contains(&unit.dimension())
    }

    /// The dimensions a result may be in: the canonical unit's, and the other concentration's
    /// when the analyte has a molar mass. Empty for a qualitative test.
    pub fn dimensions(&self) -> Vec<Dimension> {
        let Some(canonical) = self.canonical_unit else {
            return Vec::new();
        };
        match canonical.dimension() {
            d if d.is_concentration() && self.molar_mass.is_some() => {
                vec![Dimension::MassConcentration, Dimension::MolarConcentration]
            }
            d => vec![d],
        }
    }

    /// What the test takes, for messages: "a mass or molar concentration (for example pg/mL,
    /// ng/L, pmol/L)".
    pub fn takes(&self) -> String {
        let what = match self.dimensions().as_slice() {
            [Dimension::MassConcentration, Dimension::MolarConcentration] => {
                "a mass or molar concentration"
            }
            [d] => d.describe(),
            _ => "a qualitative result",
        };
        format!("{what} (for example {})", self.example_list())
    }

    /// Why a result of this test cannot be in the unit `written`: "`total_b12` is a mass or molar
    /// concentration (for example pg/mL, ng/L, pmol/L); `mg` is not one".
    pub fn refusal(&self, written: &str) -> String {
        let why = match Unit::parse(written) {
            Some(u)
                if u.dimension().is_concentration()
                    && self.dimensions().iter().any(|d| d.is_concentration())
                    && self.molar_mass.is_none() =>
            {
                format!(
                    "`{written}` is {}, and cobalt knows no molar mass of `{}` to convert it",
                    u.dimension().describe(),
                    self.test
                )
            }
            Some(u) => format!("`{written}` is {}", u.dimension().describe()),
            None => format!("`{written}` is not one"),
        };
        format!("`{}` is {}; {why}", self.test, self.takes())
    }

    /// The usual units, for messages.
    pub fn example_list(&self) -> String {
        self.examples
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
    examples: Vec<String>,
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
            let canonical = a.canonical_unit.as_deref().and_then(|u| {
                let parsed = Unit::parse(u);
                if parsed.is_none() {
                    self.problem(f.path, &item, format!("unknown canonical_unit `{u}`"));
                }
                parsed
            });
            if a.qualitative == a.canonical_unit.is_some() {
                self.problem(
                    f.path,
                    &item,
                    "a test is qualitative exactly when it has no canonical_unit",
                );
            }
            if let Some(mm) = a.molar_mass_g_per_mol {
                if !(mm.is_finite() && mm > 0.0) {
                    self.problem(
                        f.path,
                        &item,
                        format!("molar_mass_g_per_mol {mm} is not > 0"),
                    );
                }
                if canonical.is_some_and(|c| !c.dimension().is_concentration()) {
                    self.problem(
                        f.path,
                        &item,
                        "molar_mass_g_per_mol on a test that is not a concentration",
                    );
                }
            }
            let mut analyte = Analyte {
                test: a.test.clone(),
                examples: Vec::new(),
                canonical_unit: canonical,
                molar_mass: a.molar_mass_g_per_mol,
                qualitative: a.qualitative,
                sources: Vec::new(),
                impossible_above: a.impossible_above,
                bound_sources: Vec::new(),
            };
            for u in &a.examples {
                match Unit::parse(u) {
                    Some(unit) if analyte.accepts(unit) => analyte.examples.push(unit),
                    Some(_) => self.problem(
                        f.path,
                        &item,
                        format!("example `{u}` is not a unit this test takes"),
                    ),
                    None => self.problem(f.path, &item, format!("unknown unit `{u}`")),
                }
            }
            if canonical.is_some_and(|c| !analyte.examples.contains(&c)) {
                self.problem(
                    f.path,
                    &item,
                    "the canonical_unit is not among the examples",
                );
            }
            let numeric = a.canonical_unit.is_some();
            if a.molar_mass_g_per_mol.is_some() || numeric {
                self.cites(f.path, &item, &a.sources, &kb.references, used_refs);
            }
            match a.impossible_above {
                Some(b) if !(b.is_finite() && b > 0.0) => {
                    self.problem(f.path, &item, format!("impossible_above {b} is not > 0"))
                }
                Some(_) if !numeric => {
                    self.problem(f.path, &item, "impossible_above on a qualitative test")
                }
                Some(_) => self.cites(f.path, &item, &a.bound_sources, &kb.references, used_refs),
                None if numeric => self.problem(
                    f.path,
                    &item,
                    "a numeric test needs impossible_above (canonical unit) and bound_sources",
                ),
                None => {}
            }
            if a.impossible_above.is_none() && !a.bound_sources.is_empty() {
                self.problem(f.path, &item, "bound_sources without impossible_above");
            }
            analyte.sources = a.sources;
            analyte.bound_sources = a.bound_sources;
            kb.analytes.by_test.insert(a.test, analyte);
        }
    }
}
