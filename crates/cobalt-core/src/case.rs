//! The patient record that the evaluator reads, and its parser from the `cobalt.case/1` JSON
//! format of the public contract.
//!
//! Parsing checks everything the contract calls invalid (unknown fields and concepts, wrong
//! types, impossible values, units a test cannot have) and reports the JSON path of the first
//! problem. Missing data is never an error: every field but `format` is optional.

use crate::units::{self, Unit};
use crate::vocab::{CodeSystem, Kind, Vocabulary};
use crate::Analytes;
use serde::Deserialize;
use time::Date;

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

// ---------------------------------------------------------------------------------------------
// The wire shape of cobalt.case/1. Unknown fields are refused.

/// The raw JSON shape of `cobalt.case/1`, exactly as the contract fixes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCase {
    format: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    patient: Option<RawPatient>,
    #[serde(default)]
    diet: Option<Diet>,
    #[serde(default)]
    medications: Vec<RawMedication>,
    #[serde(default)]
    conditions: Vec<RawCondition>,
    #[serde(default)]
    procedures: Vec<RawProcedure>,
    #[serde(default)]
    exposures: Vec<RawExposure>,
    #[serde(default)]
    findings: Vec<RawFinding>,
    #[serde(default)]
    labs: Vec<RawLab>,
    #[serde(default)]
    mri: Option<RawMri>,
    #[serde(default)]
    csf: Option<RawCsf>,
    #[serde(default)]
    ms: Option<RawMs>,
    #[serde(default)]
    b12_replacement: Option<RawReplacement>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPatient {
    #[serde(default)]
    age_years: Option<f64>,
    #[serde(default)]
    sex: Option<Sex>,
    #[serde(default)]
    pregnant: Option<bool>,
    #[serde(default)]
    breastfeeding: Option<bool>,
    #[serde(default)]
    ethnicity: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCode {
    system: String,
    code: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMedication {
    #[serde(default)]
    concept: Option<String>,
    #[serde(default)]
    code: Option<RawCode>,
    #[serde(default)]
    months: Option<f64>,
    #[serde(default)]
    daily_dose_mg: Option<f64>,
    #[serde(default)]
    current: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    #[serde(default)]
    concept: Option<String>,
    #[serde(default)]
    code: Option<RawCode>,
    #[serde(default)]
    since: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcedure {
    #[serde(default)]
    concept: Option<String>,
    #[serde(default)]
    code: Option<RawCode>,
    #[serde(default)]
    date: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExposure {
    concept: String,
    #[serde(default)]
    frequency: Option<String>,
    #[serde(default)]
    last: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFinding {
    concept: String,
    #[serde(default)]
    laterality: Option<Laterality>,
    #[serde(default)]
    regions: Vec<Region>,
    #[serde(default)]
    onset: Option<Onset>,
    #[serde(default)]
    course: Option<Course>,
    #[serde(default)]
    weeks: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLab {
    #[serde(default)]
    test: Option<String>,
    #[serde(default)]
    code: Option<RawCode>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    result: Option<Qualitative>,
    #[serde(default)]
    comparator: Option<Comparator>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    reference_low: Option<f64>,
    #[serde(default)]
    reference_high: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLesion {
    site: Site,
    #[serde(default)]
    count: Option<u32>,
    #[serde(default)]
    enhancing: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCordPattern {
    #[serde(default)]
    dorsal_columns_symmetric: Option<bool>,
    #[serde(default)]
    longest_lesion_segments: Option<f64>,
    #[serde(default)]
    lateral_columns: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMri {
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    lesions: Vec<RawLesion>,
    #[serde(default)]
    new_lesion_on_follow_up: Option<bool>,
    #[serde(default)]
    spinal_cord_pattern: Option<RawCordPattern>,
    #[serde(default)]
    brain_normal: Option<bool>,
    #[serde(default)]
    spinal_cord_normal: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCsf {
    #[serde(default)]
    oligoclonal_bands: Option<OligoclonalBands>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMs {
    #[serde(default)]
    status: Option<MsStatus>,
    #[serde(default)]
    attacks: Option<u32>,
    #[serde(default)]
    lesions_with_objective_clinical_evidence: Option<u32>,
    #[serde(default)]
    progression_months: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReplacement {
    status: ReplacementStatus,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    daily_dose_mcg: Option<f64>,
}

/// Parses a `cobalt.case/1` document. Every error names the JSON path of the problem.
pub fn parse_case(json: &str, vocab: &Vocabulary, analytes: &Analytes) -> Result<Case, InputError> {
    // Fast path: straight from the text into the typed shape. Any error is re-diagnosed through
    // a JSON value, so that a wrong `format` is reported as such rather than as whatever field
    // the other format happens to have.
    let mut de = serde_json::Deserializer::from_str(json);
    let fast = serde_path_to_error::deserialize::<_, RawCase>(&mut de)
        .ok()
        .filter(|_| de.end().is_ok());
    match fast {
        Some(raw) if raw.format == CASE_FORMAT => Validator {
            vocab,
            analytes,
            unrecognised: Vec::new(),
        }
        .case(raw),
        _ => {
            let value: serde_json::Value = serde_json::from_str(json)
                .map_err(|e| InputError::new("$", format!("malformed JSON: {e}")))?;
            parse_case_value(value, vocab, analytes)
        }
    }
}

/// Parses a `cobalt.case/1` document already read as a JSON value.
pub fn parse_case_value(
    value: serde_json::Value,
    vocab: &Vocabulary,
    analytes: &Analytes,
) -> Result<Case, InputError> {
    match value.get("format") {
        None => {
            return Err(InputError::new(
                "format",
                "missing; expected \"cobalt.case/1\"",
            ))
        }
        Some(serde_json::Value::String(s)) if s == CASE_FORMAT => {}
        Some(other) => {
            return Err(InputError::new(
                "format",
                format!("unknown format {other}; expected \"cobalt.case/1\""),
            ))
        }
    }
    // Plain serde from a borrowed tree first (fast); only a failure is read again with path
    // tracking to name where the problem is.
    let raw = match RawCase::deserialize(&value) {
        Ok(raw) => Ok(raw),
        Err(_) => serde_path_to_error::deserialize(value),
    };
    let raw: RawCase = raw.map_err(|e| {
        let path = e.path().to_string();
        let path = match path.as_str() {
            "." => "$".to_string(),
            // An empty key: name it rather than give an empty path.
            "" => "$[\"\"]".to_string(),
            _ => path,
        };
        InputError::new(path, e.inner().to_string())
    })?;
    Validator {
        vocab,
        analytes,
        unrecognised: Vec::new(),
    }
    .case(raw)
}

struct Validator<'a> {
    vocab: &'a Vocabulary,
    analytes: &'a Analytes,
    unrecognised: Vec<UnrecognisedCode>,
}

fn date(path: &str, s: &Option<String>) -> Result<Option<Date>, InputError> {
    match s {
        None => Ok(None),
        Some(s) => parse_date(s).map(Some).ok_or_else(|| {
            InputError::new(path, format!("`{s}` is not a date; expected YYYY-MM-DD"))
        }),
    }
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Option<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &fmt).ok()
}

fn non_negative(path: &str, v: Option<f64>) -> Result<Option<f64>, InputError> {
    match v {
        Some(x) if !x.is_finite() || x < 0.0 => Err(InputError::new(
            path,
            format!("{x} is impossible; expected a number >= 0"),
        )),
        other => Ok(other),
    }
}

impl Validator<'_> {
    fn concept(
        &mut self,
        path: &str,
        concept: Option<&str>,
        code: Option<&RawCode>,
        kinds: &[Kind],
    ) -> Result<Option<String>, InputError> {
        let expected = kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(" or ");
        if let Some(id) = concept {
            let c = self.vocab.get(id).ok_or_else(|| {
                InputError::new(
                    format!("{path}.concept"),
                    format!("unknown concept `{id}`; expected a concept of kind {expected}"),
                )
            })?;
            if !kinds.contains(&c.kind) {
                return Err(InputError::new(
                    format!("{path}.concept"),
                    format!(
                        "`{id}` is a {} concept; expected kind {expected}",
                        c.kind.as_str()
                    ),
                ));
            }
            return Ok(Some(c.id.clone()));
        }
        if let Some(code) = code {
            let found = CodeSystem::parse(&code.system)
                .and_then(|sys| self.vocab.lookup(sys, &code.code))
                .filter(|c| kinds.contains(&c.kind));
            return match found {
                Some(c) => Ok(Some(c.id.clone())),
                None => {
                    self.unrecognised.push(UnrecognisedCode {
                        path: format!("{path}.code"),
                        system: code.system.clone(),
                        code: code.code.clone(),
                    });
                    Ok(None)
                }
            };
        }
        Err(InputError::new(path, "needs `concept` or `code`"))
    }

    fn case(mut self, raw: RawCase) -> Result<Case, InputError> {
        debug_assert_eq!(raw.format, CASE_FORMAT);
        let mut case = Case {
            id: raw.id,
            as_of: date("as_of", &raw.as_of)?,
            diet: raw.diet,
            ..Case::default()
        };
        if let Some(p) = raw.patient {
            if let Some(age) = p.age_years {
                if !(0.0..=130.0).contains(&age) {
                    return Err(InputError::new(
                        "patient.age_years",
                        format!("{age} is impossible; expected a number from 0 to 130"),
                    ));
                }
            }
            if p.pregnant == Some(true) && p.sex == Some(Sex::Male) {
                return Err(InputError::new(
                    "patient.pregnant",
                    "true for a patient whose sex is male; expected false or absent",
                ));
            }
            case.patient = Patient {
                age_years: p.age_years,
                sex: p.sex,
                pregnant: p.pregnant,
                breastfeeding: p.breastfeeding,
                ethnicity: p.ethnicity,
            };
        }
        for (i, m) in raw.medications.iter().enumerate() {
            let path = format!("medications[{i}]");
            let months = non_negative(&format!("{path}.months"), m.months)?;
            let dose = non_negative(&format!("{path}.daily_dose_mg"), m.daily_dose_mg)?;
            if let Some(concept) = self.concept(
                &path,
                m.concept.as_deref(),
                m.code.as_ref(),
                &[Kind::Medication, Kind::B12Product],
            )? {
                case.medications.push(Medication {
                    concept,
                    months,
                    daily_dose_mg: dose,
                    current: m.current.unwrap_or(true),
                });
            }
        }
        for (i, c) in raw.conditions.iter().enumerate() {
            let path = format!("conditions[{i}]");
            let since = date(&format!("{path}.since"), &c.since)?;
            if let Some(concept) = self.concept(
                &path,
                c.concept.as_deref(),
                c.code.as_ref(),
                &[Kind::Condition],
            )? {
                case.conditions.push(Dated {
                    concept,
                    date: since,
                    frequency: None,
                });
            }
        }
        for (i, p) in raw.procedures.iter().enumerate() {
            let path = format!("procedures[{i}]");
            let d = date(&format!("{path}.date"), &p.date)?;
            if let Some(concept) = self.concept(
                &path,
                p.concept.as_deref(),
                p.code.as_ref(),
                &[Kind::Procedure],
            )? {
                case.procedures.push(Dated {
                    concept,
                    date: d,
                    frequency: None,
                });
            }
        }
        for (i, e) in raw.exposures.iter().enumerate() {
            let path = format!("exposures[{i}]");
            let last = date(&format!("{path}.last"), &e.last)?;
            if let Some(concept) = self.concept(&path, Some(&e.concept), None, &[Kind::Exposure])? {
                case.exposures.push(Dated {
                    concept,
                    date: last,
                    frequency: e.frequency.clone(),
                });
            }
        }
        for (i, f) in raw.findings.into_iter().enumerate() {
            let path = format!("findings[{i}]");
            let weeks = non_negative(&format!("{path}.weeks"), f.weeks)?;
            if let Some(concept) = self.concept(&path, Some(&f.concept), None, &[Kind::Finding])? {
                case.findings.push(Finding {
                    concept,
                    laterality: f.laterality,
                    regions: f.regions,
                    onset: f.onset,
                    course: f.course,
                    weeks,
                });
            }
        }
        for (i, l) in raw.labs.iter().enumerate() {
            if let Some(lab) = self.lab(i, l)? {
                case.labs.push(lab);
            }
        }
        if let Some(m) = raw.mri {
            let mut lesions = Vec::new();
            for (i, l) in m.lesions.iter().enumerate() {
                if let (Some(c), Some(e)) = (l.count, l.enhancing) {
                    if e > c {
                        return Err(InputError::new(
                            format!("mri.lesions[{i}].enhancing"),
                            format!("{e} enhancing lesions of {c}; expected at most `count`"),
                        ));
                    }
                }
                lesions.push(Lesion {
                    site: l.site,
                    count: l.count,
                    enhancing: l.enhancing,
                });
            }
            let pattern = match m.spinal_cord_pattern {
                Some(p) => Some(CordPattern {
                    dorsal_columns_symmetric: p.dorsal_columns_symmetric,
                    longest_lesion_segments: non_negative(
                        "mri.spinal_cord_pattern.longest_lesion_segments",
                        p.longest_lesion_segments,
                    )?,
                    lateral_columns: p.lateral_columns,
                }),
                None => None,
            };
            case.mri = Some(Mri {
                date: date("mri.date", &m.date)?,
                lesions,
                new_lesion_on_follow_up: m.new_lesion_on_follow_up,
                spinal_cord_pattern: pattern,
                brain_normal: m.brain_normal,
                spinal_cord_normal: m.spinal_cord_normal,
            });
        }
        case.csf_oligoclonal_bands = raw.csf.and_then(|c| c.oligoclonal_bands);
        if let Some(ms) = raw.ms {
            case.ms = Some(MsHistory {
                status: ms.status,
                attacks: ms.attacks,
                lesions_with_objective_clinical_evidence: ms
                    .lesions_with_objective_clinical_evidence,
                progression_months: non_negative("ms.progression_months", ms.progression_months)?,
            });
        }
        if let Some(r) = raw.b12_replacement {
            case.b12_replacement = Some(Replacement {
                status: r.status,
                since: date("b12_replacement.since", &r.since)?,
                daily_dose_mcg: non_negative("b12_replacement.daily_dose_mcg", r.daily_dose_mcg)?,
            });
        }
        case.unrecognised = self.unrecognised;
        Ok(case)
    }

    fn lab(&mut self, i: usize, l: &RawLab) -> Result<Option<LabResult>, InputError> {
        let path = format!("labs[{i}]");
        let test = match (&l.test, &l.code) {
            (Some(t), _) => {
                let c = self.vocab.get(t).ok_or_else(|| {
                    InputError::new(
                        format!("{path}.test"),
                        format!("unknown test `{t}`; expected a concept of kind lab"),
                    )
                })?;
                if c.kind != Kind::Lab {
                    return Err(InputError::new(
                        format!("{path}.test"),
                        format!("`{t}` is a {} concept; expected kind lab", c.kind.as_str()),
                    ));
                }
                c.id.clone()
            }
            (None, Some(code)) => match self.concept(&path, None, Some(code), &[Kind::Lab])? {
                Some(id) => id,
                None => return Ok(None),
            },
            (None, None) => return Err(InputError::new(path, "needs `test` or `code`")),
        };
        let analyte = self.analytes.get(&test);
        let value = match (l.value, &l.unit, l.result) {
            (Some(_), _, Some(_)) => {
                return Err(InputError::new(
                    path,
                    "has both `value` and `result`; expected one",
                ))
            }
            (Some(v), unit, None) => {
                let Some(analyte) = analyte.filter(|a| !a.units.is_empty()) else {
                    return Err(InputError::new(
                        format!("{path}.value"),
                        format!("`{test}` is reported as `result` (positive, negative or equivocal), not as a number"),
                    ));
                };
                if !v.is_finite() || v < 0.0 {
                    return Err(InputError::new(
                        format!("{path}.value"),
                        format!("{v} is impossible; expected a concentration >= 0"),
                    ));
                }
                let Some(unit_str) = unit else {
                    return Err(InputError::new(
                        format!("{path}.unit"),
                        format!(
                            "missing; a numeric result needs its unit (for `{test}`: {})",
                            analyte.unit_list()
                        ),
                    ));
                };
                let Some(unit) = Unit::parse(unit_str) else {
                    return Err(InputError::new(
                        format!("{path}.unit"),
                        format!(
                            "`{unit_str}` is not a unit cobalt knows; expected one of {}",
                            analyte.unit_list()
                        ),
                    ));
                };
                if !analyte.units.contains(&unit) {
                    return Err(InputError::new(
                        format!("{path}.unit"),
                        format!(
                            "`{test}` cannot be reported in {unit}; expected one of {}",
                            analyte.unit_list()
                        ),
                    ));
                }
                for (field, r) in [
                    ("reference_low", l.reference_low),
                    ("reference_high", l.reference_high),
                ] {
                    non_negative(&format!("{path}.{field}"), r)?;
                }
                if let (Some(lo), Some(hi)) = (l.reference_low, l.reference_high) {
                    if lo > hi {
                        return Err(InputError::new(
                            format!("{path}.reference_low"),
                            format!("{lo} is above reference_high {hi}; expected low <= high"),
                        ));
                    }
                }
                LabValue::Numeric(Quantity {
                    value: v,
                    unit,
                    comparator: l.comparator,
                })
            }
            (None, _, Some(q)) => {
                if l.unit.is_some() || l.comparator.is_some() {
                    return Err(InputError::new(
                        path,
                        "a qualitative `result` takes no `unit` or `comparator`",
                    ));
                }
                if analyte.is_some_and(|a| !a.qualitative) {
                    return Err(InputError::new(
                        format!("{path}.result"),
                        format!("`{test}` is reported as a number with a unit, not as `result`"),
                    ));
                }
                LabValue::Qualitative(q)
            }
            (None, _, None) => {
                return Err(InputError::new(
                    path,
                    "needs `value` with `unit`, or `result`",
                ))
            }
        };
        Ok(Some(LabResult {
            test,
            value,
            date: date(&format!("{path}.date"), &l.date)?,
            reference_low: l.reference_low,
            reference_high: l.reference_high,
            index: i,
        }))
    }
}

impl Quantity {
    /// This value in another unit.
    pub fn to(&self, unit: Unit, molar_mass: Option<f64>) -> Result<f64, units::ConversionError> {
        units::convert(self.value, self.unit, unit, molar_mass)
    }
}
