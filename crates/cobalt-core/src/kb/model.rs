//! The knowledge base's data model: what each file holds.

use crate::units::Unit;
use serde::Deserialize;
use std::collections::BTreeMap;

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
    /// The citation as a clinician reads it: `Issuer. Title. Year. doi:…`, or, for a
    /// patient-information article, `Patient information: Title (Publisher)`.
    pub fn citation(&self) -> String {
        if self.kind == "consumer-article" {
            return format!("Patient information: {} ({})", self.title, self.issuer);
        }
        let mut c = format!(
            "{}. {}.",
            self.issuer.trim_end_matches('.'),
            self.title.trim_end_matches('.')
        );
        if let Some(y) = self.year {
            c.push_str(&format!(" {y}."));
        }
        if let Some(d) = &self.doi {
            c.push_str(&format!(" doi:{d}"));
        }
        c
    }

    pub(super) fn make_link(&self) -> Option<String> {
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
    /// For a medicine: the months of use beyond which it is long-term use, a risk factor (a
    /// course of this length or shorter is not a cause) and a reason to screen.
    #[serde(default)]
    pub long_term_months: Option<f64>,
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
    /// `b12_deficiency`, `multiple_sclerosis` or `against_multiple_sclerosis`.
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
    /// A red flag: counts against MS (its weight is taken off the MS score) and points to
    /// other causes, without favouring B12 deficiency in particular.
    AgainstMultipleSclerosis,
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
    /// What in the rule rests on secondary sources or could not be verified, in one sentence a
    /// clinician reads beside the finding.
    #[serde(default)]
    pub unverified: Option<String>,
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
    /// The reference as a clinician reads a citation: authors or issuer, title, year, and the
    /// DOI when there is one; patient-information articles are labelled as such.
    pub citation: String,
    /// A patient-information article (not clinical guidance or research).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub patient_information: bool,
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
    "differential",
    "mcdonald",
    "mcdonald_2024",
    "management",
    "diet",
    "evidence",
    "screening",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleFile {
    #[serde(default)]
    pub(super) rule: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReferenceFile {
    #[serde(default)]
    pub(super) reference: Vec<Reference>,
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
pub(super) struct FindingFile {
    pub(super) group: Vec<FindingGroup>,
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
    /// What kind of food: `meat`, `liver`, `fish`, `oily_fish`, `tuna`, `shellfish`, `dairy`,
    /// `egg`, `fortified` or `plant`. Pescatarian diets leave out `meat` and `liver`; the
    /// pregnancy cautions (`[[pregnancy]]`) name kinds.
    pub kind: String,
    /// Sources.
    pub sources: Vec<Cite>,
}

/// The food kinds of [`Food::kind`].
pub const FOOD_KINDS: &[&str] = &[
    "meat",
    "liver",
    "fish",
    "oily_fish",
    "tuna",
    "shellfish",
    "dairy",
    "egg",
    "fortified",
    "plant",
];

/// Advice on a kind of food in pregnancy: `avoid` leaves it out of the list, `limit` keeps it
/// with the limit beside it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PregnancyCaution {
    /// The food kind.
    pub kind: String,
    /// `avoid` or `limit`.
    pub advice: String,
    /// The reason and the limit, in a sentence a person reads.
    pub reason: String,
    /// Sources.
    pub sources: Vec<Cite>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DietFile {
    pub(super) intake: Vec<Intake>,
    pub(super) food: Vec<Food>,
    #[serde(default)]
    pub(super) pregnancy: Vec<PregnancyCaution>,
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
    /// CSF cut-offs (McDonald 2024), which depend on the laboratory's assay.
    #[serde(default)]
    pub csf: Option<CsfCutoffs>,
}

/// CSF cut-offs: the kappa free light chain index counts as positive at or above this.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CsfCutoffs {
    /// Positive at or above this index (unitless).
    pub kappa_flc_index_positive_from: f64,
    /// Sources.
    #[serde(default)]
    pub sources: Vec<Cite>,
}

impl Profile {
    /// The cut-offs for a test.
    pub fn cutoffs(&self, test: &str) -> Option<&Cutoffs> {
        self.tests.get(test)
    }
}
