//! The subset of FHIR R4 that cobalt reads, as typed serde structs. Unknown fields are allowed
//! (FHIR has many); a known field of the wrong JSON type is an error with its path, through
//! [`read`]. Dates are kept as text here and checked by [`crate::dates`].

#![allow(non_snake_case, missing_docs)]

use cobalt_core::InputError;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Reads a resource (or part of one) as `T`, naming the JSON path of the first problem under
/// `base` (the resource's own path, such as `entry[3].resource`).
pub fn read<T: DeserializeOwned>(value: &serde_json::Value, base: &str) -> Result<T, InputError> {
    // Plain serde first (fast); only a failure is read again to name the path of the problem.
    if let Ok(v) = T::deserialize(value) {
        return Ok(v);
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = join(base, &inner);
        InputError::new(path, e.inner().to_string())
    })
}

/// Joins a base path and a relative serde path (`.` is the root, `[2]` an index).
pub fn join(base: &str, rel: &str) -> String {
    match rel {
        "" | "." => base.to_string(),
        r if base.is_empty() || base == "$" => r.to_string(),
        r if r.starts_with('[') => format!("{base}{r}"),
        r => format!("{base}.{r}"),
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct Coding {
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub display: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct CodeableConcept {
    #[serde(default)]
    pub coding: Vec<Coding>,
    #[serde(default)]
    pub text: Option<String>,
}

impl CodeableConcept {
    /// The codings with both a system and a code, as `(system, code)`.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.coding
            .iter()
            .filter_map(|c| Some((c.system.as_deref()?, c.code.as_deref()?)))
            .collect()
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct Reference {
    #[serde(default)]
    pub reference: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct Quantity {
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub comparator: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct Period {
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct ReferenceRange {
    #[serde(default)]
    pub low: Option<Quantity>,
    #[serde(default)]
    pub high: Option<Quantity>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct Extension {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub extension: Vec<Extension>,
    #[serde(default)]
    pub valueCoding: Option<Coding>,
    #[serde(default)]
    pub valueString: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct Patient {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub birthDate: Option<String>,
    #[serde(default)]
    pub gender: Option<String>,
    #[serde(default)]
    pub extension: Vec<Extension>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct Observation {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub code: Option<CodeableConcept>,
    #[serde(default)]
    pub subject: Option<Reference>,
    #[serde(default)]
    pub effectiveDateTime: Option<String>,
    #[serde(default)]
    pub effectivePeriod: Option<Period>,
    #[serde(default)]
    pub effectiveInstant: Option<String>,
    #[serde(default)]
    pub issued: Option<String>,
    #[serde(default)]
    pub valueQuantity: Option<Quantity>,
    #[serde(default)]
    pub valueCodeableConcept: Option<CodeableConcept>,
    #[serde(default)]
    pub valueString: Option<String>,
    #[serde(default)]
    pub valueBoolean: Option<bool>,
    #[serde(default)]
    pub referenceRange: Vec<ReferenceRange>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct Condition {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub clinicalStatus: Option<CodeableConcept>,
    #[serde(default)]
    pub verificationStatus: Option<CodeableConcept>,
    #[serde(default)]
    pub code: Option<CodeableConcept>,
    #[serde(default)]
    pub subject: Option<Reference>,
    #[serde(default)]
    pub onsetDateTime: Option<String>,
    #[serde(default)]
    pub onsetPeriod: Option<Period>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct Dosage {
    #[serde(default)]
    pub route: Option<CodeableConcept>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct DispenseRequest {
    #[serde(default)]
    pub validityPeriod: Option<Period>,
}

/// A MedicationStatement or a MedicationRequest: the fields of both that cobalt reads.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct MedicationUse {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub medicationCodeableConcept: Option<CodeableConcept>,
    #[serde(default)]
    pub medicationReference: Option<Reference>,
    #[serde(default)]
    pub subject: Option<Reference>,
    // MedicationStatement
    #[serde(default)]
    pub effectiveDateTime: Option<String>,
    #[serde(default)]
    pub effectivePeriod: Option<Period>,
    #[serde(default)]
    pub dosage: Vec<Dosage>,
    // MedicationRequest
    #[serde(default)]
    pub authoredOn: Option<String>,
    #[serde(default)]
    pub dosageInstruction: Vec<Dosage>,
    #[serde(default)]
    pub dispenseRequest: Option<DispenseRequest>,
    #[serde(default)]
    pub contained: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct Medication {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub code: Option<CodeableConcept>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct Procedure {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub code: Option<CodeableConcept>,
    #[serde(default)]
    pub subject: Option<Reference>,
    #[serde(default)]
    pub performedDateTime: Option<String>,
    #[serde(default)]
    pub performedPeriod: Option<Period>,
}

/// The envelope every resource shares.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct Envelope {
    #[serde(default)]
    pub id: Option<String>,
}
