//! The knowledge base: rules, references, threshold profiles, analytes, finding groups and the
//! diet tables, parsed from the text of the data files and checked by a linter.
//!
//! [`KnowledgeBase::load`] takes the files' text (it reads nothing itself), parses each with the
//! real parser and validates the whole. It returns every problem at once, each naming its file,
//! item and field, as [`Problem`]s. The same function backs `cobalt kb lint` and a test.

mod analytes;
mod codes;
mod diet;
mod index;
mod lint;
mod model;
mod overrides;

use crate::vocab::Vocabulary;
pub use analytes::{Analyte, Analytes};
pub use codes::{normalise_name, MedicineName, CODE_TABLES};
pub use index::{Index, KeyHasher, KeyMap};
use lint::*;
pub use model::*;
use overrides::*;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A rule id packed into an integer, so that looking a rule up compares integers, not strings.
/// Ids are short (`PREFIX-NNN`); a longer id keeps its first 15 bytes and its length, which the
/// linter's id shape makes unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(super) struct RuleKey(u128);

impl RuleKey {
    fn of(id: &str) -> RuleKey {
        let mut bytes = [0u8; 16];
        let b = id.as_bytes();
        let n = b.len().min(15);
        bytes[..n].copy_from_slice(&b[..n]);
        bytes[15] = b.len().min(255) as u8;
        RuleKey(u128::from_be_bytes(bytes))
    }
}

/// The knowledge base's own metadata (`knowledge/kb.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Version of the knowledge base.
    pub version: String,
    /// The default profile.
    pub default_profile: String,
    /// The decision-support statement every report carries.
    pub disclaimer: String,
    /// The sources of the codes in the vocabulary, one entry per code system.
    #[serde(default)]
    pub code_system: Vec<CodeSystemSources>,
}

/// Where the codes of one code system in the vocabulary come from.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CodeSystemSources {
    /// `loinc`, `snomed`, `icd10` or `atc`.
    pub system: String,
    /// Sources.
    pub sources: Vec<Cite>,
}

/// The whole knowledge base, validated.
#[derive(Debug, Clone, Default)]
pub struct KnowledgeBase {
    /// Metadata.
    pub meta: Meta,
    /// Concept vocabulary.
    pub vocab: Vocabulary,
    /// Analytes.
    pub analytes: Analytes,
    /// References by key.
    pub references: BTreeMap<String, Reference>,
    /// Rules in file order.
    pub rules: Vec<Rule>,
    rule_index: KeyMap<RuleKey, usize>,
    /// Lookups prepared at load for the evaluator.
    pub index: Index,
    /// Profiles by id.
    pub profiles: BTreeMap<String, Profile>,
    /// Finding groups by id.
    pub finding_groups: BTreeMap<String, FindingGroup>,
    /// Intake by life stage.
    pub intake: Vec<Intake>,
    /// Foods.
    pub foods: Vec<Food>,
    /// Food cautions in pregnancy.
    pub pregnancy_cautions: Vec<PregnancyCaution>,
    /// Medicine names, matched when a medicine carries no code cobalt knows.
    pub medicine_names: Vec<MedicineName>,
}

impl KnowledgeBase {
    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rule_index
            .get(&RuleKey::of(id))
            .map(|&i| &self.rules[i])
    }

    /// The bit of a finding group in [`KnowledgeBase::groups_of`] (0 if unknown).
    pub fn group_bit(&self, id: &str) -> u32 {
        self.index
            .group_bits
            .iter()
            .find(|(g, _)| g.len() == id.len() && g == id)
            .map_or(0, |(_, b)| *b)
    }

    /// The bits of the finding groups a concept belongs to.
    pub fn groups_of(&self, concept: &str) -> u32 {
        self.index.concept_groups.get(concept).copied().unwrap_or(0)
    }

    /// The value of the parameter at position `i` of [`crate::eval::BUILTIN_PARAMS`].
    pub fn param_at(&self, i: usize) -> f64 {
        self.index.params.get(i).copied().unwrap_or(f64::NAN)
    }

    /// A finding group's concepts (empty if unknown).
    pub fn group(&self, id: &str) -> &[String] {
        self.finding_groups
            .get(id)
            .map_or(&[], |g| g.concepts.as_slice())
    }

    /// The cause rules.
    pub fn cause_rules(&self) -> impl Iterator<Item = (&Rule, &CauseSpec)> {
        self.rules
            .iter()
            .filter(|r| r.status == RuleStatus::Active)
            .filter_map(|r| r.cause.as_ref().map(|c| (r, c)))
    }

    /// A numeric parameter of a rule. The linter guarantees that every parameter in
    /// [`crate::eval::BUILTIN_PARAMS`] exists, so a validated knowledge base always has it.
    pub fn param(&self, rule: &str, name: &str) -> f64 {
        self.rule(rule)
            .and_then(|r| r.params.get(name))
            .copied()
            .unwrap_or(f64::NAN)
    }

    /// Loads and validates the knowledge base from its files' text. `builtins` is the list of
    /// rule ids the evaluator implements: every active rule must have one, and every builtin
    /// must have a rule. Returns every problem found.
    pub fn load(
        files: &[SourceFile<'_>],
        builtins: &[&str],
    ) -> Result<KnowledgeBase, Vec<Problem>> {
        let mut lint = Linter::default();
        let mut kb = lint.load(files, builtins);
        kb.index = Index::build(&kb);
        if lint.problems.is_empty() {
            Ok(kb)
        } else {
            lint.problems.sort();
            lint.problems.dedup();
            Err(lint.problems)
        }
    }

    /// Loads the knowledge base as far as it can be read and returns it with every problem
    /// found. For tools that work on a knowledge base under edit (`cobalt kb test`); everything
    /// else uses [`KnowledgeBase::load`].
    pub fn load_with_problems(
        files: &[SourceFile<'_>],
        builtins: &[&str],
    ) -> (KnowledgeBase, Vec<Problem>) {
        let mut lint = Linter::default();
        let mut kb = lint.load(files, builtins);
        kb.index = Index::build(&kb);
        lint.problems.sort();
        lint.problems.dedup();
        (kb, lint.problems)
    }

    /// Parses a profile and applies a deployment's override on top of it: every table of the
    /// override replaces the keys it sets in the same table of the base. Both are TOML text.
    pub fn profile_with_override(
        &self,
        base_id: &str,
        override_toml: &str,
        override_name: &str,
    ) -> Result<Profile, Vec<Problem>> {
        let mut lint = Linter::default();
        let Some(base) = self.profiles.get(base_id) else {
            return Err(vec![Problem {
                file: override_name.into(),
                item: base_id.into(),
                message: "unknown base profile".into(),
            }]);
        };
        let over: Profile = match toml::from_str::<OverrideFile>(override_toml) {
            Ok(o) => {
                let mut p = base.clone();
                if let Some(id) = o.id {
                    p.id = id;
                } else {
                    p.id = format!("{}+{}", base.id, override_name);
                }
                if let Some(t) = o.title {
                    p.title = t;
                }
                for (test, table) in o.tests {
                    let entry = p.tests.entry(test).or_default();
                    merge_cutoffs(entry, table);
                }
                if let Some(csf) = o.csf {
                    merge_csf(&mut p.csf, csf);
                }
                p
            }
            Err(e) => {
                return Err(vec![Problem {
                    file: override_name.into(),
                    item: String::new(),
                    message: e.message().to_string(),
                }])
            }
        };
        let mut over = over;
        lint.check_profile(
            override_name,
            &mut over,
            &self.references,
            &self.analytes,
            &self.vocab,
        );
        if lint.problems.is_empty() {
            Ok(over)
        } else {
            Err(lint.problems)
        }
    }
}
