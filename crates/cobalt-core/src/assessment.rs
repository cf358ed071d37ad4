//! The assessment: what the evaluator returns. Its JSON shape is the public contract's
//! assessment (`id`, `engine`, `conclusions`, `findings` with rule and sources) plus cobalt's
//! own sections (`labs`, `missing`, `management`, `unrecognised_codes`).

use crate::case::UnrecognisedCode;
use serde::Serialize;

/// B12 status the results support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum B12Status {
    Deficient,
    FunctionalDeficiency,
    Indeterminate,
    NotDeficient,
    #[default]
    NotTested,
}

impl B12Status {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            B12Status::Deficient => "deficient",
            B12Status::FunctionalDeficiency => "functional_deficiency",
            B12Status::Indeterminate => "indeterminate",
            B12Status::NotDeficient => "not_deficient",
            B12Status::NotTested => "not_tested",
        }
    }

    /// Deficiency shown by results (total, active B12 or a functional marker).
    pub fn shown(self) -> bool {
        matches!(self, B12Status::Deficient | B12Status::FunctionalDeficiency)
    }
}

/// Which pattern the features favour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Picture {
    B12Deficiency,
    MultipleSclerosis,
    Mixed,
    Undetermined,
}

impl Picture {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Picture::B12Deficiency => "b12_deficiency",
            Picture::MultipleSclerosis => "multiple_sclerosis",
            Picture::Mixed => "mixed",
            Picture::Undetermined => "undetermined",
        }
    }
}

/// Treatment route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Route {
    Intramuscular,
    Oral,
    Dietary,
    None,
    Undetermined,
}

impl Route {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Intramuscular => "intramuscular",
            Route::Oral => "oral",
            Route::Dietary => "dietary",
            Route::None => "none",
            Route::Undetermined => "undetermined",
        }
    }
}

/// McDonald 2017: each `None` means not enough data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct McDonald {
    /// Dissemination in space.
    pub dis: Option<bool>,
    /// Dissemination in time (or its substitute, CSF-specific oligoclonal bands).
    pub dit: Option<bool>,
    /// The criteria are met for the presentation.
    pub met: Option<bool>,
}

/// McDonald 2024 (contract section 5b): each `None` means not enough data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct McDonald2024 {
    /// Regions of the five shown to hold a typical lesion (a lower bound while some were not
    /// assessed); `None` with no imaging and no optic nerve data.
    pub regions: Option<u8>,
    /// Dissemination in space: two or more regions.
    pub dis: Option<bool>,
    /// Dissemination in time by MRI or by a further attack (CSF does not count).
    pub dit: Option<bool>,
    /// CSF-specific oligoclonal bands, or a kappa FLC index at or above the profile's cut-off.
    pub csf_positive: Option<bool>,
    /// The central vein sign by the select-six rule.
    pub cvs_select6: Option<bool>,
    /// The 2024 criteria are fulfilled.
    pub met: Option<bool>,
}

/// What the 2024 assessment rests on, for the reports: which regions were shown and which were
/// not assessed, the pathway that held, and the parts that rest on secondary sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct McDonald2024Detail {
    /// Regions shown to hold a typical lesion.
    pub regions_shown: Vec<crate::case::Site>,
    /// Regions not assessed (they could still hold a lesion).
    pub regions_not_assessed: Vec<crate::case::Site>,
    /// How the optic nerve was shown (`mri`, `oct`, `vep`), when it was.
    pub optic_nerve_by: Vec<&'static str>,
    /// Paramagnetic rim lesions: at least one.
    pub prl: Option<bool>,
    /// The presentation the pathways were chosen for: `attack`, `radiologically_isolated`,
    /// `primary_progressive`, `none`, or `None` when unknown.
    pub presentation: Option<&'static str>,
    /// The pathway that holds on the MS criteria alone (`met` still needs B12 deficiency to be
    /// excluded), when one does.
    pub pathway: Option<&'static str>,
    /// Age 50 or over: a marker of high specificity was needed.
    pub older_marker_needed: bool,
}

/// Treatment conclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Treatment {
    /// Route.
    pub route: Route,
    /// Urgent.
    pub urgent: bool,
}

/// The contract's `conclusions` block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conclusions {
    /// An initial B12 test is indicated.
    pub test_indicated: bool,
    /// B12 status.
    pub b12_status: B12Status,
    /// Lab concepts to order now, most useful first.
    pub next_tests: Vec<&'static str>,
    /// Cause concepts present.
    pub causes: Vec<String>,
    /// Picture.
    pub picture: Picture,
    /// McDonald 2017.
    pub mcdonald_2017: McDonald,
    /// McDonald 2024.
    pub mcdonald_2024: McDonald2024,
    /// Treatment.
    pub treatment: Treatment,
    /// Referrals.
    pub referrals: Vec<&'static str>,
}

/// A cited source as it appears in a finding: the reference key (`ref`), where in it (`at`),
/// its title and link (`url`).
pub use crate::kb::ResolvedCite as SourceRef;

/// One conclusion a rule reached, with its sources.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingOut<'kb> {
    /// Position of the category in report order.
    #[serde(skip)]
    pub order: usize,
    /// The rule id.
    pub rule: &'kb str,
    /// The rule's title.
    pub title: &'kb str,
    /// The rule's category.
    pub category: &'kb str,
    /// What was found, with the values that made it.
    pub message: String,
    /// What to consider doing, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// The rule's sources.
    pub sources: &'kb [SourceRef],
    /// What in the rule is unverified (secondary sources only), when the rule says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unverified: Option<&'kb str>,
}

/// Not enough data for a conclusion: what is missing and what would supply it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Missing {
    /// The conclusion that lacks data, such as `b12_status`.
    pub conclusion: &'static str,
    /// The missing inputs, as case-format paths.
    pub inputs: Vec<&'static str>,
    /// The test or investigation concept that would supply them, if any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub supplied_by: Vec<&'static str>,
    /// Plain explanation.
    pub message: String,
}

/// A laboratory result, normalised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NormalisedLab {
    /// Lab concept.
    pub test: String,
    /// Date, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// As reported, such as `<60 pg/mL` or `negative`.
    pub reported: String,
    /// Value in the canonical unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The canonical unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<&'static str>,
    /// Censoring comparator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparator: Option<&'static str>,
    /// Interpretation (`deficient`, `indeterminate`, `not_deficient`, `raised`, `normal`,
    /// `low`, `anaemia`, `macrocytosis`, `positive`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpretation: Option<&'static str>,
    /// Whether this is the latest result of its test before `as_of` (the one that counts).
    pub latest: bool,
}

/// The profile's total B12 bands in pmol/L.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct B12Cutoffs {
    /// Deficient below this.
    pub deficient_below: f64,
    /// Indeterminate up to this, when the profile has an indeterminate band.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indeterminate_up_to: Option<f64>,
}

/// A dose regimen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regimen {
    /// The rule that chose it.
    pub rule: &'static str,
    /// Product and route.
    pub product: String,
    /// Loading or initial phase.
    pub initial: String,
    /// Maintenance.
    pub maintenance: String,
    /// Alternative, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternative: Option<String>,
}

/// A food suggestion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoodOut<'kb> {
    /// Food.
    pub name: &'kb str,
    /// Serving.
    pub serving: &'kb str,
    /// Micrograms per serving.
    pub mcg: f64,
    /// Upper figure for fortified foods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcg_high: Option<f64>,
    /// Share of the daily intake for this person, in percent.
    pub percent_of_intake: f64,
    /// A limit that applies to this person (in pregnancy: tuna, oily fish), with its reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caution: Option<&'kb str>,
}

/// The diet plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DietPlan<'kb> {
    /// Life stage.
    pub stage: &'kb str,
    /// Recommended intake, micrograms a day.
    pub intake_mcg_per_day: f64,
    /// `RDA` or `AI`.
    pub measure: &'kb str,
    /// Foods that suit the diet, most B12 per serving first.
    pub foods: Vec<FoodOut<'kb>>,
    /// Advice specific to this person.
    pub advice: Vec<String>,
    /// In pregnancy, the foods left out or limited and why (also in `advice`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pregnancy: Vec<&'kb str>,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Management<'kb> {
    /// The regimen, when treatment is indicated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regimen: Option<Regimen>,
    /// Follow-up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<String>,
    /// The follow-up review, in months of treatment (TX-013), for renderers that word it
    /// themselves. B12 is not re-tested while on long-term replacement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up_months: Option<f64>,
    /// Cautions.
    pub cautions: Vec<String>,
    /// Diet plan, when the age is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diet_plan: Option<DietPlan<'kb>>,
}

/// Engine identification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Engine<'kb> {
    /// `cobalt`.
    pub name: &'static str,
    /// Engine version.
    pub version: &'static str,
    /// Knowledge-base version.
    pub knowledge_version: &'kb str,
    /// Threshold profile.
    pub profile: &'kb str,
}

/// The knowledge base an assessment was made with, for renderers that name its concepts. Not
/// serialised; two handles compare equal when they point at the same knowledge base.
#[derive(Clone, Copy)]
pub struct KbRef<'kb>(pub &'kb crate::kb::KnowledgeBase);

impl std::fmt::Debug for KbRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KbRef({})", self.0.meta.version)
    }
}

impl PartialEq for KbRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

/// The assessment of one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment<'kb> {
    /// The caller's id, echoed.
    pub id: Option<String>,
    /// The day assessed.
    pub as_of: String,
    /// Engine.
    pub engine: Engine<'kb>,
    /// Decision-support statement.
    pub disclaimer: &'kb str,
    /// Conclusions (the contract's block).
    pub conclusions: Conclusions,
    /// Findings, each with its rule and sources, in category order.
    pub findings: Vec<FindingOut<'kb>>,
    /// Not enough data.
    pub missing: Vec<Missing>,
    /// Laboratory results, normalised.
    pub labs: Vec<NormalisedLab>,
    /// What the McDonald 2024 conclusions rest on.
    pub mcdonald_2024_detail: McDonald2024Detail,
    /// The profile's total B12 cut-offs in pmol/L (the normalised unit), for charts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_b12_cutoffs_pmol_l: Option<B12Cutoffs>,
    /// What to do.
    pub management: Management<'kb>,
    /// Codes that mapped to no concept.
    pub unrecognised_codes: Vec<UnrecognisedCode>,
    /// Population-screening flags (rules SCR-*), for `cobalt screen`.
    pub screening: Vec<&'static str>,
    /// The knowledge base it was made with.
    #[serde(skip)]
    pub kb: KbRef<'kb>,
}

impl Assessment<'_> {
    /// Whether the McDonald 2017 criteria were assessed at all (a criterion decided, or a
    /// McDonald rule fired).
    pub fn mcdonald_assessed(&self) -> bool {
        self.conclusions.mcdonald_2017 != McDonald::default()
            || self.findings.iter().any(|f| f.category == "mcdonald")
    }

    /// Whether the McDonald 2024 criteria were assessed at all.
    pub fn mcdonald_2024_assessed(&self) -> bool {
        self.conclusions.mcdonald_2024 != McDonald2024::default()
            || self.findings.iter().any(|f| f.category == "mcdonald_2024")
    }

    /// A concept's label in the vocabulary (the id itself when unknown), so that every renderer
    /// names a test, cause or referral the same way.
    pub fn label<'a>(&'a self, id: &'a str) -> &'a str {
        self.kb.0.vocab.label(id)
    }

    /// Whether a rule fired.
    pub fn fired(&self, rule: &str) -> bool {
        self.findings.iter().any(|f| f.rule == rule)
    }
}
