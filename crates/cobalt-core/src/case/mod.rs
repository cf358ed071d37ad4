//! The patient record that the evaluator reads, and its parser from the `cobalt.case/1` JSON
//! format of the public contract.
//!
//! Parsing checks everything the contract calls invalid (unknown fields and concepts, wrong
//! types, impossible values, units a test cannot have) and reports the JSON path of the first
//! problem. Missing data is never an error: every field but `format` is optional.

use crate::units::{self, Unit};
use serde::{Deserialize, Serialize};
pub use time::Date;

mod duplicates;
mod raw;
#[cfg(test)]
mod tests;
mod validate;

pub use raw::*;
pub use validate::{parse_case, parse_case_value, parse_date, validate, MAX_NAME_CHARS};

/// The contract's format tag.
pub const CASE_FORMAT: &str = "cobalt.case/1";

/// The closed value lists of the case format, by field path (list members written `[]`-free, as
/// in the contract): what a form offers. Tested against the enums below, both ways.
pub const CHOICES: &[(&str, &[&str])] = &[
    ("patient.sex", &["female", "male", "other", "unknown"]),
    (
        "diet",
        &[
            "omnivore",
            "pescatarian",
            "vegetarian",
            "vegan",
            "low_animal_food",
            "unknown",
        ],
    ),
    (
        "findings.laterality",
        &[
            "bilateral_symmetric",
            "bilateral_asymmetric",
            "left",
            "right",
            "unknown",
        ],
    ),
    (
        "findings.regions",
        &[
            "feet",
            "legs",
            "hands",
            "arms",
            "trunk",
            "face",
            "eyes",
            "tongue",
            "bladder",
            "bowel",
            "whole_body",
        ],
    ),
    ("findings.onset", &["sudden", "subacute", "insidious"]),
    (
        "findings.course",
        &["progressive", "relapsing_remitting", "stable", "improving"],
    ),
    ("labs.result", &["positive", "negative", "equivocal"]),
    ("labs.comparator", &["<", "<=", ">=", ">"]),
    (
        "mri.lesions.site",
        &[
            "periventricular",
            "cortical_juxtacortical",
            "infratentorial",
            "spinal_cord",
            "optic_nerve",
            "deep_white_matter",
        ],
    ),
    (
        "csf.oligoclonal_bands",
        &["csf_specific", "absent", "matched_in_serum"],
    ),
    (
        "ms.status",
        &[
            "none",
            "suspected",
            "clinically_isolated_syndrome",
            "relapsing_remitting",
            "primary_progressive",
            "secondary_progressive",
            "radiologically_isolated_syndrome",
        ],
    ),
    ("b12_replacement.status", &["none", "oral", "intramuscular"]),
];

/// Sex as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

/// The diet, as the contract names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Diet {
    Omnivore,
    Pescatarian,
    Vegetarian,
    Vegan,
    LowAnimalFood,
    Unknown,
}

impl Diet {
    /// The diet concept this diet maps to, if it is one of the vocabulary's diet concepts.
    pub fn concept(self) -> Option<&'static str> {
        match self {
            Diet::Vegan => Some("vegan_diet"),
            Diet::Vegetarian => Some("vegetarian_diet"),
            Diet::LowAnimalFood => Some("low_animal_food_diet"),
            _ => None,
        }
    }
}

/// Which side of the body a finding affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Laterality {
    BilateralSymmetric,
    BilateralAsymmetric,
    Left,
    Right,
    Unknown,
}

/// A body region of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Region {
    Feet,
    Legs,
    Hands,
    Arms,
    Trunk,
    Face,
    Eyes,
    Tongue,
    Bladder,
    Bowel,
    WholeBody,
}

/// How a finding began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Onset {
    Sudden,
    Subacute,
    Insidious,
}

/// The course of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Course {
    Progressive,
    RelapsingRemitting,
    Stable,
    Improving,
}

/// A qualitative laboratory result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Qualitative {
    Positive,
    Negative,
    Equivocal,
}

/// A censoring comparator, as FHIR `Quantity.comparator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[allow(missing_docs)]
pub enum Comparator {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = ">")]
    Gt,
}

impl Comparator {
    /// The symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Ge => ">=",
            Comparator::Gt => ">",
        }
    }
}

/// An MRI lesion site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Site {
    Periventricular,
    CorticalJuxtacortical,
    Infratentorial,
    SpinalCord,
    OpticNerve,
    DeepWhiteMatter,
}

impl Site {
    /// Whether the site is one of the four McDonald 2017 regions for dissemination in space.
    pub fn is_mcdonald_2017_region(self) -> bool {
        matches!(
            self,
            Site::Periventricular
                | Site::CorticalJuxtacortical
                | Site::Infratentorial
                | Site::SpinalCord
        )
    }

    /// Whether the site is in the brain.
    pub fn is_brain(self) -> bool {
        matches!(
            self,
            Site::Periventricular
                | Site::CorticalJuxtacortical
                | Site::Infratentorial
                | Site::DeepWhiteMatter
        )
    }

    /// The contract's name of the site.
    pub fn as_str(self) -> &'static str {
        match self {
            Site::Periventricular => "periventricular",
            Site::CorticalJuxtacortical => "cortical_juxtacortical",
            Site::Infratentorial => "infratentorial",
            Site::SpinalCord => "spinal_cord",
            Site::OpticNerve => "optic_nerve",
            Site::DeepWhiteMatter => "deep_white_matter",
        }
    }
}

/// CSF oligoclonal band result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum OligoclonalBands {
    CsfSpecific,
    Absent,
    MatchedInSerum,
}

/// What is known or suspected about MS before the assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum MsStatus {
    None,
    Suspected,
    ClinicallyIsolatedSyndrome,
    RelapsingRemitting,
    PrimaryProgressive,
    SecondaryProgressive,
    /// Lesions typical of MS found incidentally, without typical clinical symptoms (2024).
    RadiologicallyIsolatedSyndrome,
}

/// B12 replacement route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ReplacementStatus {
    None,
    Oral,
    Intramuscular,
}

/// A code that mapped to no concept: kept and reported, never an error.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UnrecognisedCode {
    /// Where it was found (JSON path).
    pub path: String,
    /// The code system as given.
    pub system: String,
    /// The code.
    pub code: String,
}

/// A medicine.
#[derive(Debug, Clone, PartialEq)]
pub struct Medication {
    /// Concept id (kind medication or b12_product).
    pub concept: String,
    /// How long it has been taken, in months.
    pub months: Option<f64>,
    /// Daily dose in mg.
    pub daily_dose_mg: Option<f64>,
    /// Whether it is taken now.
    pub current: bool,
    /// When it was stopped, for a medicine no longer taken.
    pub ended: Option<Date>,
    /// The name it was matched by, when it carried no code cobalt knows.
    pub matched_by_name: Option<String>,
}

/// A condition, procedure or exposure: a concept with an optional date.
#[derive(Debug, Clone, PartialEq)]
pub struct Dated {
    /// Concept id.
    pub concept: String,
    /// `since` (condition), `date` (procedure) or `last` (exposure).
    pub date: Option<Date>,
    /// Free-text frequency (exposures).
    pub frequency: Option<String>,
}

/// A symptom or sign.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Concept id (kind finding).
    pub concept: String,
    /// Side of the body.
    pub laterality: Option<Laterality>,
    /// Regions.
    pub regions: Vec<Region>,
    /// Onset.
    pub onset: Option<Onset>,
    /// Course.
    pub course: Option<Course>,
    /// Duration in weeks.
    pub weeks: Option<f64>,
}

/// A numeric result with its unit as recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity {
    /// The number as reported.
    pub value: f64,
    /// The unit as reported.
    pub unit: Unit,
    /// A censoring comparator, if the value is censored.
    pub comparator: Option<Comparator>,
}

/// The value of a laboratory result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LabValue {
    /// A number with a unit.
    Numeric(Quantity),
    /// A qualitative result.
    Qualitative(Qualitative),
}

/// A laboratory result.
#[derive(Debug, Clone, PartialEq)]
pub struct LabResult {
    /// Lab concept id.
    pub test: String,
    /// The result.
    pub value: LabValue,
    /// When it was taken.
    pub date: Option<Date>,
    /// The reporting laboratory's lower reference limit, in the result's unit.
    pub reference_low: Option<f64>,
    /// The reporting laboratory's upper reference limit, in the result's unit.
    pub reference_high: Option<f64>,
    /// Position in the input list (for stable ordering and paths).
    pub index: usize,
}

/// An MRI lesion group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lesion {
    /// Site.
    pub site: Site,
    /// T2 lesions of at least 3 mm; `None` when the report says lesions without a count.
    pub count: Option<u32>,
    /// How many enhance with gadolinium; `None` when not stated.
    pub enhancing: Option<u32>,
}

/// The spinal cord signal pattern.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CordPattern {
    /// Symmetric dorsal-column T2 signal ("inverted V").
    pub dorsal_columns_symmetric: Option<bool>,
    /// Longest lesion in vertebral segments.
    pub longest_lesion_segments: Option<f64>,
    /// Lateral columns involved.
    pub lateral_columns: Option<bool>,
}

/// MRI findings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mri {
    /// Date of the scan.
    pub date: Option<Date>,
    /// Lesions by site.
    pub lesions: Vec<Lesion>,
    /// A new lesion compared with an earlier scan.
    pub new_lesion_on_follow_up: Option<bool>,
    /// The cord pattern, if described.
    pub spinal_cord_pattern: Option<CordPattern>,
    /// The brain was imaged and normal.
    pub brain_normal: Option<bool>,
    /// The cord was imaged and normal.
    pub spinal_cord_normal: Option<bool>,
    /// The central vein sign on susceptibility-sensitive MRI.
    pub central_vein_sign: Option<CentralVeinSign>,
    /// Lesions with a paramagnetic rim on susceptibility-sensitive MRI.
    pub paramagnetic_rim_lesions: Option<u32>,
}

/// The central vein sign: white-matter lesions assessed, and those with a central vein.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CentralVeinSign {
    /// Lesions assessed.
    pub lesions_assessed: u32,
    /// Lesions with a central vein (at most `lesions_assessed`).
    pub lesions_positive: u32,
}

/// Optic nerve tests outside MRI (McDonald 2024).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OpticNerve {
    /// OCT peripapillary retinal nerve fibre layer difference between the eyes, in micrometres.
    pub oct_prnfl_intereye_difference_um: Option<f64>,
    /// OCT macular ganglion cell + inner plexiform layer difference between the eyes, in micrometres.
    pub oct_gcipl_intereye_difference_um: Option<f64>,
    /// Visual evoked potential latency delayed against the laboratory's own norms.
    pub vep_delayed: Option<bool>,
}

/// MS history.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MsHistory {
    /// Status.
    pub status: Option<MsStatus>,
    /// Clinical attacks so far.
    pub attacks: Option<u32>,
    /// Lesions with objective clinical evidence.
    pub lesions_with_objective_clinical_evidence: Option<u32>,
    /// Months of progression independent of relapse.
    pub progression_months: Option<f64>,
}

/// B12 replacement already started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Replacement {
    /// Route, or none.
    pub status: ReplacementStatus,
    /// Since when.
    pub since: Option<Date>,
    /// Daily dose in micrograms.
    pub daily_dose_mcg: Option<f64>,
}

/// The patient.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Patient {
    /// Age in years.
    pub age_years: Option<f64>,
    /// Sex.
    pub sex: Option<Sex>,
    /// Pregnant.
    pub pregnant: Option<bool>,
    /// Breastfeeding.
    pub breastfeeding: Option<bool>,
    /// Free-text ethnicity.
    pub ethnicity: Option<String>,
}

/// One patient's case: everything the evaluator reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Case {
    /// The caller's identifier.
    pub id: Option<String>,
    /// The day the assessment is for; `None` means the caller's today.
    pub as_of: Option<Date>,
    /// The patient.
    pub patient: Patient,
    /// Diet.
    pub diet: Option<Diet>,
    /// Medicines.
    pub medications: Vec<Medication>,
    /// Conditions.
    pub conditions: Vec<Dated>,
    /// Procedures.
    pub procedures: Vec<Dated>,
    /// Exposures.
    pub exposures: Vec<Dated>,
    /// Symptoms and signs.
    pub findings: Vec<Finding>,
    /// Laboratory results.
    pub labs: Vec<LabResult>,
    /// MRI.
    pub mri: Option<Mri>,
    /// CSF oligoclonal bands.
    pub csf_oligoclonal_bands: Option<OligoclonalBands>,
    /// CSF kappa free light chain index.
    pub csf_kappa_flc_index: Option<f64>,
    /// Optic nerve tests outside MRI.
    pub optic_nerve: Option<OpticNerve>,
    /// MS history.
    pub ms: Option<MsHistory>,
    /// B12 replacement.
    pub b12_replacement: Option<Replacement>,
    /// Codes that mapped to no concept.
    pub unrecognised: Vec<UnrecognisedCode>,
}

impl Case {
    /// The result of `test` that counts on `as_of`: the latest dated on or before it (undated
    /// results count as older than dated ones; between equals, the later in the input).
    pub fn latest_lab(&self, test: &str, as_of: Date) -> Option<&LabResult> {
        self.labs
            .iter()
            .filter(|l| l.test == test && l.date.is_none_or(|d| d <= as_of))
            .max_by_key(|l| (l.date, l.index))
    }
}

/// Invalid input: the JSON path of the problem and what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct InputError {
    /// JSON path, such as `labs[0].unit`.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl InputError {
    /// A new error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        InputError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl Quantity {
    /// This value in another unit.
    pub fn to(&self, unit: Unit, molar_mass: Option<f64>) -> Result<f64, units::ConversionError> {
        units::convert(self.value, self.unit, unit, molar_mass)
    }
}
