//! The knowledge base: rules, references, threshold profiles, analytes, finding groups and the
//! diet tables, parsed from the text of the data files and checked by a linter.
//!
//! [`KnowledgeBase::load`] takes the files' text (it reads nothing itself), parses each with the
//! real parser and validates the whole. It returns every problem at once, each naming its file,
//! item and field, as [`Problem`]s. The same function backs `cobalt kb lint` and a test.

use crate::units::Unit;
use crate::vocab::{Kind, Vocabulary};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// One data file's name and text.
#[derive(Debug, Clone, Copy)]
pub struct SourceFile<'a> {
    /// Path relative to the knowledge directory, such as `rules/testing.toml`.
    pub path: &'a str,
    /// The file's text.
    pub text: &'a str,
}

/// A problem the linter found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// The item (rule id, reference key, profile section), or empty.
    pub item: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.item.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.item, self.message)
        }
    }
}

/// A citation of a reference from a rule or a threshold.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cite {
    /// The reference key.
    #[serde(rename = "ref")]
    pub key: String,
    /// Where in it: a recommendation number, table or section.
    #[serde(default)]
    pub at: Option<String>,
}

/// A source in `references.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// Unique key.
    pub key: String,
    /// Title.
    pub title: String,
    /// Issuing body or authors.
    pub issuer: String,
    /// Year.
    #[serde(default)]
    pub year: Option<i32>,
    /// URL.
    #[serde(default)]
    pub url: Option<String>,
    /// DOI.
    #[serde(default)]
    pub doi: Option<String>,
    /// Kind of source.
    pub kind: String,
    /// `primary` when read in the primary text, else `secondary`.
    pub checked: String,
    /// What cobalt takes from it.
    #[serde(default)]
    pub note: Option<String>,
    /// A link: the URL, or the DOI as a URL (filled at load).
    #[serde(skip)]
    pub link: Option<String>,
}

impl Reference {
    fn make_link(&self) -> Option<String> {
        self.url
            .clone()
            .filter(|u| !u.is_empty())
            .or_else(|| self.doi.as_ref().map(|d| format!("https://doi.org/{d}")))
    }
}

/// A test case of a rule, kept with the rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTest {
    /// What the case shows.
    pub name: String,
    /// Whether the rule must fire.
    pub fires: bool,
    /// A `cobalt.case/1` fragment; `format` and `as_of` are added when absent.
    pub case: String,
    /// Conclusions the case must reach, in the keys of the shared cases' `expect` block.
    #[serde(default)]
    pub expect: Option<toml::Table>,
}

/// What a cause rule matches.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CauseSpec {
    /// The concept that is the cause.
    pub concept: String,
    /// How it lowers B12: `diet`, `malabsorption`, `autoimmune`, `associated` (an autoimmune
    /// condition that goes with autoimmune gastritis), `drug`, `exposure`.
    pub mechanism: String,
    /// For screening: months of use after which testing is advised.
    #[serde(default)]
    pub screen_after_months: Option<f64>,
    /// How it lowers B12, in plain words, for the finding's message.
    pub effect: String,
}

/// A dose regimen, kept with the treatment rule that recommends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegimenSpec {
    /// Product and route.
    pub product: String,
    /// Initial or loading phase.
    pub initial: String,
    /// Maintenance.
    pub maintenance: String,
    /// An alternative regimen, if any.
    #[serde(default)]
    pub alternative: Option<String>,
}

/// Which picture a feature rule supports, and how strongly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PictureSpec {
    /// `b12_deficiency` or `multiple_sclerosis`.
    pub side: PictureSide,
    /// Weight of the feature: 1 weak, 2 moderate, 3 strong.
    pub weight: u8,
}

/// A side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PictureSide {
    /// Favours B12 deficiency.
    B12Deficiency,
    /// Favours MS.
    MultipleSclerosis,
}

/// A rule's life-cycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleStatus {
    /// Not yet in use.
    Draft,
    /// In use.
    Active,
    /// Still in use, to be withdrawn.
    Deprecated,
    /// No longer in use; its id is never reused.
    Withdrawn,
}

/// A rule: its documentation, sources and tests. Its logic is a registered builtin of the
/// evaluator with the same id.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable id such as `LAB-001`.
    pub id: String,
    /// Title, naming the finding.
    pub title: String,
    /// Category.
    pub category: String,
    /// Status.
    pub status: RuleStatus,
    /// Version of the knowledge base that added it.
    pub since: String,
    /// What it checks.
    pub checks: String,
    /// Why it matters.
    pub why: String,
    /// The inputs it reads.
    pub inputs: String,
    /// Thresholds and the profile keys they come from.
    #[serde(default)]
    pub thresholds: Option<String>,
    /// Known limitations.
    pub limitations: String,
    /// Sources.
    pub sources: Vec<Cite>,
    /// Cause data, for cause rules.
    #[serde(default)]
    pub cause: Option<CauseSpec>,
    /// Picture data, for picture feature rules.
    #[serde(default)]
    pub picture: Option<PictureSpec>,
    /// Numeric parameters the rule's logic reads (ages, durations, lengths), by name.
    #[serde(default)]
    pub params: BTreeMap<String, f64>,
    /// The dose regimen, for treatment rules.
    #[serde(default)]
    pub regimen: Option<RegimenSpec>,
    /// Test cases.
    #[serde(default)]
    pub tests: Vec<RuleTest>,
    /// Position of the category in [`CATEGORIES`] (filled at load), for ordering findings.
    #[serde(skip)]
    pub category_order: usize,
    /// The sources resolved against the references (filled at load), so that evaluation only
    /// copies references to them.
    #[serde(skip)]
    pub resolved: Vec<ResolvedCite>,
}

/// A citation resolved against its reference, as findings carry it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct ResolvedCite {
    /// Reference key.
    #[serde(rename = "ref")]
    pub key: String,
    /// Where in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The reference's title.
    pub title: String,
    /// The reference's link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The categories a rule can have, in report order.
pub const CATEGORIES: &[&str] = &[
    "testing",
    "interpretation",
    "cause",
    "picture",
    "mcdonald",
    "management",
    "diet",
    "evidence",
    "screening",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReferenceFile {
    #[serde(default)]
    reference: Vec<Reference>,
}

/// An analyte: the units a test can be reported in, and its molar mass.
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalyteFile {
    analyte: Vec<RawAnalyte>,
}

/// The analytes, by lab concept.
#[derive(Debug, Clone, Default)]
pub struct Analytes {
    by_test: BTreeMap<String, Analyte>,
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

/// A group of finding concepts used by rules (`knowledge/findings.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingGroup {
    /// Group id such as `neurological`.
    pub id: String,
    /// What the group is.
    pub description: String,
    /// Finding concepts.
    pub concepts: Vec<String>,
    /// Sources.
    pub sources: Vec<Cite>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingFile {
    group: Vec<FindingGroup>,
}

/// Recommended intake for a life stage.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intake {
    /// Life stage label.
    pub stage: String,
    /// Lowest age in years (inclusive).
    #[serde(default)]
    pub min_age_years: Option<f64>,
    /// Age in years the stage ends before (exclusive).
    #[serde(default)]
    pub max_age_years: Option<f64>,
    /// `pregnancy` or `lactation` for those stages.
    #[serde(default)]
    pub condition: Option<String>,
    /// Micrograms a day.
    pub mcg_per_day: f64,
    /// `RDA` or `AI`.
    pub measure: String,
    /// Sources.
    pub sources: Vec<Cite>,
}

/// A food and its B12 per serving.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Food {
    /// Food.
    pub name: String,
    /// Serving.
    pub serving: String,
    /// Micrograms per serving (the lower figure for a range).
    pub mcg: f64,
    /// Upper figure when the amount varies (fortified foods).
    #[serde(default)]
    pub mcg_high: Option<f64>,
    /// Suitable for vegetarians.
    pub vegetarian: bool,
    /// Suitable for vegans.
    pub vegan: bool,
    /// Fortified food.
    #[serde(default)]
    pub fortified: bool,
    /// Sources.
    pub sources: Vec<Cite>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DietFile {
    intake: Vec<Intake>,
    food: Vec<Food>,
}

/// Cut-offs for one test, in one unit. Bounds are named for their inclusiveness: `_below` is
/// strict (`value < x`), `_up_to` inclusive (`value <= x`), `_above` strict (`value > x`).
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Cutoffs {
    /// Unit of every bound in the section.
    pub unit: String,
    /// Deficiency confirmed below this.
    #[serde(default)]
    pub deficient_below: Option<f64>,
    /// Indeterminate from `deficient_below` up to and including this; above it deficiency is
    /// unlikely. Absent: no indeterminate zone.
    #[serde(default)]
    pub indeterminate_up_to: Option<f64>,
    /// Raised above this (MMA, homocysteine; used when the laboratory gives no range).
    #[serde(default)]
    pub raised_above: Option<f64>,
    /// Low below this (folate, eGFR).
    #[serde(default)]
    pub low_below: Option<f64>,
    /// High above this (total B12 that stays high on repeat testing).
    #[serde(default)]
    pub high_above: Option<f64>,
    /// Anaemia below this in men.
    #[serde(default)]
    pub anaemia_below_male: Option<f64>,
    /// Anaemia below this in non-pregnant women.
    #[serde(default)]
    pub anaemia_below_female: Option<f64>,
    /// Anaemia below this in pregnancy.
    #[serde(default)]
    pub anaemia_below_pregnant: Option<f64>,
    /// Sources.
    #[serde(default)]
    pub sources: Vec<Cite>,
    /// Unit, parsed (filled at load).
    #[serde(skip)]
    pub parsed_unit: Option<Unit>,
}

/// A threshold profile: the cut-offs one guideline (or one laboratory) uses.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Id such as `nice-ng239`.
    pub id: String,
    /// Title.
    pub title: String,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Cut-offs by lab concept.
    #[serde(default)]
    pub tests: BTreeMap<String, Cutoffs>,
}

impl Profile {
    /// The cut-offs for a test.
    pub fn cutoffs(&self, test: &str) -> Option<&Cutoffs> {
        self.tests.get(test)
    }
}

/// A rule id packed into an integer, so that looking a rule up compares integers, not strings.
/// Ids are short (`PREFIX-NNN`); a longer id keeps its first 15 bytes and its length, which the
/// linter's id shape makes unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
struct RuleKey(u128);

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
    rule_index: BTreeMap<RuleKey, usize>,
    /// Profiles by id.
    pub profiles: BTreeMap<String, Profile>,
    /// Finding groups by id.
    pub finding_groups: BTreeMap<String, FindingGroup>,
    /// Intake by life stage.
    pub intake: Vec<Intake>,
    /// Foods.
    pub foods: Vec<Food>,
}

impl KnowledgeBase {
    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rule_index
            .get(&RuleKey::of(id))
            .map(|&i| &self.rules[i])
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
        let kb = lint.load(files, builtins);
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
        let kb = lint.load(files, builtins);
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideFile {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    tests: BTreeMap<String, CutoffsPatch>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CutoffsPatch {
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    deficient_below: Option<f64>,
    #[serde(default)]
    indeterminate_up_to: Option<f64>,
    #[serde(default)]
    raised_above: Option<f64>,
    #[serde(default)]
    low_below: Option<f64>,
    #[serde(default)]
    high_above: Option<f64>,
    #[serde(default)]
    anaemia_below_male: Option<f64>,
    #[serde(default)]
    anaemia_below_female: Option<f64>,
    #[serde(default)]
    anaemia_below_pregnant: Option<f64>,
    #[serde(default)]
    sources: Option<Vec<Cite>>,
}

fn merge_cutoffs(c: &mut Cutoffs, p: CutoffsPatch) {
    if let Some(u) = p.unit {
        // A new unit invalidates the bounds given in the old one.
        if u != c.unit {
            *c = Cutoffs {
                unit: u,
                ..Cutoffs::default()
            };
        }
    }
    macro_rules! set {
        ($($f:ident),*) => { $( if p.$f.is_some() { c.$f = p.$f; } )* };
    }
    set!(
        deficient_below,
        indeterminate_up_to,
        raised_above,
        low_below,
        high_above,
        anaemia_below_male,
        anaemia_below_female,
        anaemia_below_pregnant
    );
    if let Some(s) = p.sources {
        c.sources = s;
    }
}

#[derive(Default)]
struct Linter {
    problems: Vec<Problem>,
}

fn rule_id_ok(id: &str) -> bool {
    let Some((prefix, num)) = id.split_once('-') else {
        return false;
    };
    !prefix.is_empty()
        && prefix.chars().all(|c| c.is_ascii_uppercase())
        && num.len() == 3
        && num.chars().all(|c| c.is_ascii_digit())
}

impl Linter {
    fn problem(&mut self, file: &str, item: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            file: file.into(),
            item: item.into(),
            message: message.into(),
        });
    }

    fn parse<T: serde::de::DeserializeOwned>(&mut self, file: &str, text: &str) -> Option<T> {
        match toml::from_str(text) {
            Ok(v) => Some(v),
            Err(e) => {
                let at = e
                    .span()
                    .map(|s| {
                        let line = text[..s.start.min(text.len())].lines().count().max(1);
                        format!("line {line}: ")
                    })
                    .unwrap_or_default();
                self.problem(file, "", format!("{at}{}", e.message()));
                None
            }
        }
    }

    fn cites(
        &mut self,
        file: &str,
        item: &str,
        cites: &[Cite],
        refs: &BTreeMap<String, Reference>,
        used: &mut BTreeSet<String>,
    ) {
        if cites.is_empty() {
            self.problem(file, item, "cites no source");
        }
        for c in cites {
            if refs.contains_key(&c.key) {
                used.insert(c.key.clone());
            } else {
                self.problem(file, item, format!("unresolved source `{}`", c.key));
            }
        }
    }

    fn load(&mut self, files: &[SourceFile<'_>], builtins: &[&str]) -> KnowledgeBase {
        let mut kb = KnowledgeBase::default();
        let find = |name: &str| files.iter().find(|f| f.path == name);
        let mut used_refs = BTreeSet::new();

        // Metadata.
        match find("kb.toml") {
            Some(f) => {
                if let Some(m) = self.parse::<Meta>(f.path, f.text) {
                    kb.meta = m;
                }
            }
            None => self.problem("kb.toml", "", "missing file"),
        }

        // Vocabulary.
        match find("concepts.tsv") {
            Some(f) => {
                let (vocab, problems) = Vocabulary::parse_tsv(f.text);
                for p in problems {
                    self.problem(f.path, &format!("line {}", p.line), p.message);
                }
                kb.vocab = vocab;
            }
            None => self.problem("concepts.tsv", "", "missing file"),
        }

        // References.
        match find("references.toml") {
            Some(f) => {
                if let Some(rf) = self.parse::<ReferenceFile>(f.path, f.text) {
                    for mut r in rf.reference {
                        r.link = r.make_link();
                        if !matches!(r.checked.as_str(), "primary" | "secondary") {
                            self.problem(f.path, &r.key, "`checked` must be primary or secondary");
                        }
                        if r.url.as_deref().unwrap_or("").is_empty()
                            && r.doi.is_none()
                            && !r.key.starts_with("seed-")
                        {
                            self.problem(f.path, &r.key, "has neither url nor doi");
                        }
                        if kb.references.insert(r.key.clone(), r.clone()).is_some() {
                            self.problem(f.path, &r.key, "duplicate reference key");
                        }
                    }
                }
            }
            None => self.problem("references.toml", "", "missing file"),
        }

        // Analytes.
        match find("analytes.toml") {
            Some(f) => {
                if let Some(af) = self.parse::<AnalyteFile>(f.path, f.text) {
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
                            self.cites(f.path, &item, &a.sources, &kb.references, &mut used_refs);
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
                            },
                        );
                    }
                }
            }
            None => self.problem("analytes.toml", "", "missing file"),
        }
        for c in kb.vocab.concepts() {
            if c.kind == Kind::Lab && c.id != "full_blood_count" && kb.analytes.get(&c.id).is_none()
            {
                self.problem(
                    "analytes.toml",
                    &c.id,
                    "lab concept without an analyte entry",
                );
            }
        }

        // Finding groups.
        match find("findings.toml") {
            Some(f) => {
                if let Some(ff) = self.parse::<FindingFile>(f.path, f.text) {
                    for g in ff.group {
                        for c in &g.concepts {
                            if kb.vocab.get(c).map(|c| c.kind) != Some(Kind::Finding) {
                                self.problem(
                                    f.path,
                                    &g.id,
                                    format!("`{c}` is not a finding concept"),
                                );
                            }
                        }
                        self.cites(f.path, &g.id, &g.sources, &kb.references, &mut used_refs);
                        if kb.finding_groups.insert(g.id.clone(), g.clone()).is_some() {
                            self.problem(f.path, &g.id, "duplicate group id");
                        }
                    }
                }
            }
            None => self.problem("findings.toml", "", "missing file"),
        }

        // Diet.
        match find("diet.toml") {
            Some(f) => {
                if let Some(df) = self.parse::<DietFile>(f.path, f.text) {
                    for i in &df.intake {
                        self.cites(f.path, &i.stage, &i.sources, &kb.references, &mut used_refs);
                        if let (Some(lo), Some(hi)) = (i.min_age_years, i.max_age_years) {
                            if lo >= hi {
                                self.problem(f.path, &i.stage, "inverted age range");
                            }
                        }
                    }
                    let ages: Vec<_> = df
                        .intake
                        .iter()
                        .filter(|i| i.condition.is_none())
                        .map(|i| {
                            (
                                i.min_age_years.unwrap_or(0.0),
                                i.max_age_years.unwrap_or(f64::INFINITY),
                                &i.stage,
                            )
                        })
                        .collect();
                    for (a, x) in ages.iter().enumerate() {
                        for y in &ages[a + 1..] {
                            if x.0 < y.1 && y.0 < x.1 {
                                self.problem(f.path, x.2, format!("age range overlaps `{}`", y.2));
                            }
                        }
                    }
                    for food in &df.food {
                        self.cites(
                            f.path,
                            &food.name,
                            &food.sources,
                            &kb.references,
                            &mut used_refs,
                        );
                        if food.vegan && !food.vegetarian {
                            self.problem(f.path, &food.name, "vegan but not vegetarian");
                        }
                    }
                    kb.intake = df.intake;
                    kb.foods = df.food;
                }
            }
            None => self.problem("diet.toml", "", "missing file"),
        }

        // Rules.
        let mut any_rules = false;
        for f in files.iter().filter(|f| f.path.starts_with("rules/")) {
            any_rules = true;
            let Some(rf) = self.parse::<RuleFile>(f.path, f.text) else {
                continue;
            };
            for r in rf.rule {
                let id = r.id.clone();
                if !rule_id_ok(&id) {
                    self.problem(f.path, &id, "id is not PREFIX-NNN");
                }
                if kb.rule_index.contains_key(&RuleKey::of(&id)) {
                    self.problem(f.path, &id, "duplicate rule id");
                    continue;
                }
                if !CATEGORIES.contains(&r.category.as_str()) {
                    self.problem(f.path, &id, format!("unknown category `{}`", r.category));
                }
                for (field, text) in [
                    ("title", &r.title),
                    ("checks", &r.checks),
                    ("why", &r.why),
                    ("inputs", &r.inputs),
                    ("limitations", &r.limitations),
                ] {
                    if text.trim().is_empty() {
                        self.problem(f.path, &id, format!("empty `{field}`"));
                    }
                }
                self.cites(f.path, &id, &r.sources, &kb.references, &mut used_refs);
                if r.status == RuleStatus::Active {
                    if !r.tests.iter().any(|t| t.fires) {
                        self.problem(f.path, &id, "active rule without a test where it fires");
                    }
                    if !r.tests.iter().any(|t| !t.fires) {
                        self.problem(
                            f.path,
                            &id,
                            "active rule without a test where it does not fire",
                        );
                    }
                    if !builtins.contains(&id.as_str()) {
                        self.problem(
                            f.path,
                            &id,
                            "active rule that the evaluator does not implement",
                        );
                    }
                }
                for t in &r.tests {
                    if let Err(e) = serde_json::from_str::<serde_json::Value>(&t.case) {
                        self.problem(
                            f.path,
                            &id,
                            format!("test `{}`: case is not JSON: {e}", t.name),
                        );
                    }
                }
                if let Some(c) = &r.cause {
                    if kb.vocab.get(&c.concept).is_none() {
                        self.problem(
                            f.path,
                            &id,
                            format!("cause concept `{}` is not in the vocabulary", c.concept),
                        );
                    }
                    if !matches!(
                        c.mechanism.as_str(),
                        "diet"
                            | "malabsorption"
                            | "autoimmune"
                            | "associated"
                            | "drug"
                            | "exposure"
                    ) {
                        self.problem(f.path, &id, format!("unknown mechanism `{}`", c.mechanism));
                    }
                }
                if let Some(p) = &r.picture {
                    if !(1..=3).contains(&p.weight) {
                        self.problem(f.path, &id, "picture weight must be 1, 2 or 3");
                    }
                }
                let mut r = r;
                r.category_order = CATEGORIES
                    .iter()
                    .position(|c| *c == r.category)
                    .unwrap_or(CATEGORIES.len());
                r.resolved = r
                    .sources
                    .iter()
                    .filter_map(|c| {
                        let refr = kb.references.get(&c.key)?;
                        Some(ResolvedCite {
                            key: refr.key.clone(),
                            at: c.at.clone(),
                            title: refr.title.clone(),
                            url: refr.link.clone(),
                        })
                    })
                    .collect();
                kb.rule_index.insert(RuleKey::of(&id), kb.rules.len());
                kb.rules.push(r);
            }
        }
        if !any_rules {
            self.problem("rules/", "", "no rule files");
        }
        for (rule, name) in crate::eval::BUILTIN_PARAMS {
            match kb.rule(rule) {
                Some(r) if r.params.get(*name).is_some_and(|v| v.is_finite()) => {}
                Some(_) => self.problem(
                    "rules/",
                    rule,
                    format!("missing parameter `params.{name}` that the evaluator reads"),
                ),
                None => {}
            }
        }
        for rule in crate::eval::BUILTIN_REGIMENS {
            if kb.rule(rule).is_some_and(|r| r.regimen.is_none()) {
                self.problem(
                    "rules/",
                    rule,
                    "missing the `regimen` table that the evaluator reads",
                );
            }
        }
        for r in &kb.rules {
            if r.regimen.is_some() && !crate::eval::BUILTIN_REGIMENS.contains(&r.id.as_str()) {
                self.problem("rules/", &r.id, "`regimen` is read by nothing");
            }
            for name in r.params.keys() {
                if !crate::eval::BUILTIN_PARAMS.contains(&(r.id.as_str(), name.as_str())) {
                    self.problem(
                        "rules/",
                        &r.id,
                        format!("parameter `params.{name}` is read by nothing"),
                    );
                }
            }
        }
        for b in builtins {
            if !kb.rule_index.contains_key(&RuleKey::of(b)) {
                self.problem(
                    "rules/",
                    b,
                    "the evaluator implements a rule that no rule file documents",
                );
            }
        }

        // Profiles.
        for f in files.iter().filter(|f| f.path.starts_with("profiles/")) {
            let Some(mut p) = self.parse::<Profile>(f.path, f.text) else {
                continue;
            };
            let expected = f
                .path
                .trim_start_matches("profiles/")
                .trim_end_matches(".toml");
            if p.id != expected {
                self.problem(
                    f.path,
                    &p.id,
                    format!("profile id does not match the file name `{expected}`"),
                );
            }
            self.check_profile_used(
                f.path,
                &mut p,
                &kb.references,
                &kb.analytes,
                &kb.vocab,
                &mut used_refs,
            );
            kb.profiles.insert(p.id.clone(), p);
        }
        if !kb.profiles.contains_key(&kb.meta.default_profile) {
            self.problem(
                "kb.toml",
                "default_profile",
                format!("no profile `{}`", kb.meta.default_profile),
            );
        }

        // Every code system used by the vocabulary cites its sources.
        for c in kb.vocab.concepts() {
            for (sys, _) in &c.codes {
                if !kb
                    .meta
                    .code_system
                    .iter()
                    .any(|cs| cs.system == sys.as_str())
                {
                    self.problem("kb.toml", sys.as_str(), "code system used by concepts.tsv without a [[code_system]] entry citing its sources");
                }
            }
        }
        let code_systems = kb.meta.code_system.clone();
        for cs in &code_systems {
            if crate::vocab::CodeSystem::parse(&cs.system).is_none() {
                self.problem("kb.toml", &cs.system, "unknown code system");
            }
            self.cites(
                "kb.toml",
                &cs.system,
                &cs.sources,
                &kb.references,
                &mut used_refs,
            );
        }

        for key in kb.references.keys() {
            if !used_refs.contains(key) {
                self.problem("references.toml", key, "reference cited by nothing");
            }
        }
        kb
    }

    fn check_profile(
        &mut self,
        file: &str,
        p: &mut Profile,
        refs: &BTreeMap<String, Reference>,
        analytes: &Analytes,
        vocab: &Vocabulary,
    ) {
        let mut used = BTreeSet::new();
        self.check_profile_used(file, p, refs, analytes, vocab, &mut used);
    }

    fn check_profile_used(
        &mut self,
        file: &str,
        p: &mut Profile,
        refs: &BTreeMap<String, Reference>,
        analytes: &Analytes,
        vocab: &Vocabulary,
        used: &mut BTreeSet<String>,
    ) {
        for (test, c) in p.tests.iter_mut() {
            let item = format!("{}.{test}", p.id);
            if vocab.get(test).map(|c| c.kind) != Some(Kind::Lab) {
                self.problem(file, &item, "not a lab concept");
            }
            match Unit::parse(&c.unit) {
                Some(u) => {
                    c.parsed_unit = Some(u);
                    if let Some(a) = analytes.get(test) {
                        if !a.units.contains(&u) {
                            self.problem(
                                file,
                                &item,
                                format!("unit `{}` is not a unit of this test", c.unit),
                            );
                        }
                    }
                }
                None => self.problem(file, &item, format!("unknown unit `{}`", c.unit)),
            }
            let bounds = [
                c.deficient_below,
                c.indeterminate_up_to,
                c.raised_above,
                c.low_below,
                c.high_above,
                c.anaemia_below_male,
                c.anaemia_below_female,
                c.anaemia_below_pregnant,
            ];
            if bounds.iter().all(Option::is_none) {
                self.problem(file, &item, "sets no bound");
            }
            for b in bounds.into_iter().flatten() {
                if !b.is_finite() || b < 0.0 {
                    self.problem(file, &item, format!("impossible bound {b}"));
                }
            }
            if let (Some(d), Some(i)) = (c.deficient_below, c.indeterminate_up_to) {
                if d > i {
                    self.problem(
                        file,
                        &item,
                        format!(
                            "inverted range: deficient_below {d} is above indeterminate_up_to {i}"
                        ),
                    );
                }
            }
            if let (Some(h), Some(top)) =
                (c.high_above, c.indeterminate_up_to.or(c.deficient_below))
            {
                if h <= top {
                    self.problem(file, &item, format!("overlapping ranges: high_above {h} is not above the deficiency ranges ({top})"));
                }
            }
            if c.indeterminate_up_to.is_some() && c.deficient_below.is_none() {
                self.problem(file, &item, "indeterminate_up_to without deficient_below");
            }
            if (c.deficient_below.is_some() || c.raised_above.is_some())
                && (c.deficient_below.is_some() as u8
                    + c.raised_above.is_some() as u8
                    + c.low_below.is_some() as u8)
                    > 1
            {
                self.problem(file, &item, "overlapping ranges: a test is either deficient_below, raised_above or low_below");
            }
            self.cites(file, &item, &c.sources, refs, used);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_have_a_fixed_shape() {
        assert!(rule_id_ok("LAB-001"));
        assert!(rule_id_ok("TX-010"));
        assert!(!rule_id_ok("lab-001"));
        assert!(!rule_id_ok("LAB-01"));
        assert!(!rule_id_ok("LAB001"));
    }
}
