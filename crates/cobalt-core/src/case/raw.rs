//! The wire shape of `cobalt.case/1`, exactly as the contract fixes it: what the parser reads
//! and what `cobalt fhir-to-case` writes. Unknown fields are refused. The FHIR mapping builds
//! this shape directly, so that a case from FHIR goes through the one validation
//! ([`super::validate`]) without a JSON document in between.
//!
//! Each field is the contract's field of the same name; `docs/case-format.md` describes them.

#![allow(missing_docs)]

use super::*;

/// Whether a field is left out when written: absent or empty.
fn skip<T: Skippable>(v: &T) -> bool {
    v.is_empty_field()
}

/// An age in whole years is written without a fraction (`63`, not `63.0`).
fn whole<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => s.serialize_i64(*x as i64),
        Some(x) => s.serialize_f64(*x),
        None => s.serialize_none(),
    }
}

trait Skippable {
    fn is_empty_field(&self) -> bool;
}

impl<T> Skippable for Option<T> {
    fn is_empty_field(&self) -> bool {
        self.is_none()
    }
}

impl<T> Skippable for Vec<T> {
    fn is_empty_field(&self) -> bool {
        self.is_empty()
    }
}

impl RawCase {
    /// An empty case of the contract's format.
    pub fn new() -> RawCase {
        RawCase {
            format: CASE_FORMAT.to_string(),
            ..RawCase::default()
        }
    }
}

/// The raw JSON shape of `cobalt.case/1`, exactly as the contract fixes it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCase {
    pub format: String,
    #[serde(default, skip_serializing_if = "skip")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "skip")]
    pub as_of: Option<String>,
    #[serde(default, skip_serializing_if = "skip")]
    pub patient: Option<RawPatient>,
    #[serde(default, skip_serializing_if = "skip")]
    pub diet: Option<Diet>,
    #[serde(default, skip_serializing_if = "skip")]
    pub medications: Vec<RawMedication>,
    #[serde(default, skip_serializing_if = "skip")]
    pub conditions: Vec<RawCondition>,
    #[serde(default, skip_serializing_if = "skip")]
    pub procedures: Vec<RawProcedure>,
    #[serde(default, skip_serializing_if = "skip")]
    pub exposures: Vec<RawExposure>,
    #[serde(default, skip_serializing_if = "skip")]
    pub findings: Vec<RawFinding>,
    #[serde(default, skip_serializing_if = "skip")]
    pub labs: Vec<RawLab>,
    #[serde(default, skip_serializing_if = "skip")]
    pub mri: Option<RawMri>,
    #[serde(default, skip_serializing_if = "skip")]
    pub csf: Option<RawCsf>,
    #[serde(default, skip_serializing_if = "skip")]
    pub optic_nerve: Option<RawOpticNerve>,
    #[serde(default, skip_serializing_if = "skip")]
    pub ms: Option<RawMs>,
    #[serde(default, skip_serializing_if = "skip")]
    pub b12_replacement: Option<RawReplacement>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPatient {
    #[serde(default, skip_serializing_if = "skip", serialize_with = "whole")]
    pub age_years: Option<f64>,
    #[serde(default, skip_serializing_if = "skip")]
    pub sex: Option<Sex>,
    #[serde(default, skip_serializing_if = "skip")]
    pub pregnant: Option<bool>,
    #[serde(default, skip_serializing_if = "skip")]
    pub breastfeeding: Option<bool>,
    #[serde(default, skip_serializing_if = "skip")]
    pub ethnicity: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCode {
    pub system: String,
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMedication {
    #[serde(default, skip_serializing_if = "skip")]
    pub concept: Option<String>,
    #[serde(default, skip_serializing_if = "skip")]
    pub code: Option<RawCode>,
    #[serde(default, skip_serializing_if = "skip")]
    pub months: Option<f64>,
    #[serde(default, skip_serializing_if = "skip")]
    pub daily_dose_mg: Option<f64>,
    #[serde(default, skip_serializing_if = "skip")]
    pub current: Option<bool>,
    /// When a medicine no longer taken was stopped (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "skip")]
    pub ended: Option<String>,
    /// The medicine's name as the source gave it, when its concept was matched by name rather
    /// than by a code (the FHIR mapping writes it).
    #[serde(default, skip_serializing_if = "skip")]
    pub matched_by_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    #[serde(default, skip_serializing_if = "skip")]
    pub concept: Option<String>,
    #[serde(default, skip_serializing_if = "skip")]
    pub code: Option<RawCode>,
    #[serde(default, skip_serializing_if = "skip")]
    pub since: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawProcedure {
    #[serde(default, skip_serializing_if = "skip")]
    pub concept: Option<String>,
    #[serde(default, skip_serializing_if = "skip")]
    pub code: Option<RawCode>,
    #[serde(default, skip_serializing_if = "skip")]
    pub date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawExposure {
    pub concept: String,
    #[serde(default, skip_serializing_if = "skip")]
    pub frequency: Option<String>,
    #[serde(default, skip_serializing_if = "skip")]
    pub last: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawFinding {
    pub concept: String,
    #[serde(default, skip_serializing_if = "skip")]
    pub laterality: Option<Laterality>,
    #[serde(default, skip_serializing_if = "skip")]
    pub regions: Vec<Region>,
    #[serde(default, skip_serializing_if = "skip")]
    pub onset: Option<Onset>,
    #[serde(default, skip_serializing_if = "skip")]
    pub course: Option<Course>,
    #[serde(default, skip_serializing_if = "skip")]
    pub weeks: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLab {
    #[serde(default, skip_serializing_if = "skip")]
    pub test: Option<String>,
    #[serde(default, skip_serializing_if = "skip")]
    pub code: Option<RawCode>,
    #[serde(default, skip_serializing_if = "skip")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "skip")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "skip")]
    pub result: Option<Qualitative>,
    #[serde(default, skip_serializing_if = "skip")]
    pub comparator: Option<Comparator>,
    #[serde(default, skip_serializing_if = "skip")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "skip")]
    pub reference_low: Option<f64>,
    #[serde(default, skip_serializing_if = "skip")]
    pub reference_high: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLesion {
    pub site: Site,
    #[serde(default, skip_serializing_if = "skip")]
    pub count: Option<u32>,
    #[serde(default, skip_serializing_if = "skip")]
    pub enhancing: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCordPattern {
    #[serde(default, skip_serializing_if = "skip")]
    pub dorsal_columns_symmetric: Option<bool>,
    #[serde(default, skip_serializing_if = "skip")]
    pub longest_lesion_segments: Option<f64>,
    #[serde(default, skip_serializing_if = "skip")]
    pub lateral_columns: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMri {
    #[serde(default, skip_serializing_if = "skip")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "skip")]
    pub lesions: Vec<RawLesion>,
    #[serde(default, skip_serializing_if = "skip")]
    pub new_lesion_on_follow_up: Option<bool>,
    #[serde(default, skip_serializing_if = "skip")]
    pub spinal_cord_pattern: Option<RawCordPattern>,
    #[serde(default, skip_serializing_if = "skip")]
    pub brain_normal: Option<bool>,
    #[serde(default, skip_serializing_if = "skip")]
    pub spinal_cord_normal: Option<bool>,
    #[serde(default, skip_serializing_if = "skip")]
    pub central_vein_sign: Option<RawCentralVeinSign>,
    #[serde(default, skip_serializing_if = "skip")]
    pub paramagnetic_rim_lesions: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCentralVeinSign {
    pub lesions_assessed: u32,
    pub lesions_positive: u32,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOpticNerve {
    #[serde(default, skip_serializing_if = "skip")]
    pub oct_prnfl_intereye_difference_um: Option<f64>,
    #[serde(default, skip_serializing_if = "skip")]
    pub oct_gcipl_intereye_difference_um: Option<f64>,
    #[serde(default, skip_serializing_if = "skip")]
    pub vep_delayed: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCsf {
    #[serde(default, skip_serializing_if = "skip")]
    pub oligoclonal_bands: Option<OligoclonalBands>,
    #[serde(default, skip_serializing_if = "skip")]
    pub kappa_flc_index: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMs {
    #[serde(default, skip_serializing_if = "skip")]
    pub status: Option<MsStatus>,
    #[serde(default, skip_serializing_if = "skip")]
    pub attacks: Option<u32>,
    #[serde(default, skip_serializing_if = "skip")]
    pub lesions_with_objective_clinical_evidence: Option<u32>,
    #[serde(default, skip_serializing_if = "skip")]
    pub progression_months: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplacement {
    pub status: ReplacementStatus,
    #[serde(default, skip_serializing_if = "skip")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "skip")]
    pub daily_dose_mcg: Option<f64>,
}
