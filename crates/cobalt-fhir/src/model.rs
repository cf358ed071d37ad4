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
#[serde(default)]
pub struct Coding {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct CodeableConcept {
    pub coding: Vec<Coding>,
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
#[serde(default)]
pub struct Reference {
    pub reference: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Quantity {
    pub value: Option<f64>,
    pub comparator: Option<String>,
    pub unit: Option<String>,
    pub system: Option<String>,
    pub code: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Period {
    pub start: Option<String>,
    pub end: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct ReferenceRange {
    pub low: Option<Quantity>,
    pub high: Option<Quantity>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Extension {
    pub url: Option<String>,
    pub extension: Vec<Extension>,
    pub valueCoding: Option<Coding>,
    pub valueString: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Patient {
    pub id: Option<String>,
    pub birthDate: Option<String>,
    pub gender: Option<String>,
    pub extension: Vec<Extension>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Observation {
    pub id: Option<String>,
    pub status: Option<String>,
    pub code: Option<CodeableConcept>,
    pub subject: Option<Reference>,
    pub effectiveDateTime: Option<String>,
    pub effectivePeriod: Option<Period>,
    pub effectiveInstant: Option<String>,
    pub issued: Option<String>,
    pub valueQuantity: Option<Quantity>,
    pub valueCodeableConcept: Option<CodeableConcept>,
    pub valueString: Option<String>,
    pub valueBoolean: Option<bool>,
    pub referenceRange: Vec<ReferenceRange>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Condition {
    pub id: Option<String>,
    pub clinicalStatus: Option<CodeableConcept>,
    pub verificationStatus: Option<CodeableConcept>,
    pub code: Option<CodeableConcept>,
    pub subject: Option<Reference>,
    pub onsetDateTime: Option<String>,
    pub onsetPeriod: Option<Period>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Dosage {
    pub route: Option<CodeableConcept>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct DispenseRequest {
    pub validityPeriod: Option<Period>,
}

/// A MedicationStatement or a MedicationRequest: the fields of both that cobalt reads.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct MedicationUse {
    pub id: Option<String>,
    pub status: Option<String>,
    pub medicationCodeableConcept: Option<CodeableConcept>,
    pub medicationReference: Option<Reference>,
    pub subject: Option<Reference>,
    // MedicationStatement
    pub effectiveDateTime: Option<String>,
    pub effectivePeriod: Option<Period>,
    pub dosage: Vec<Dosage>,
    // MedicationRequest
    pub authoredOn: Option<String>,
    pub dosageInstruction: Vec<Dosage>,
    pub dispenseRequest: Option<DispenseRequest>,
    pub contained: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Medication {
    pub id: Option<String>,
    pub code: Option<CodeableConcept>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Procedure {
    pub id: Option<String>,
    pub status: Option<String>,
    pub code: Option<CodeableConcept>,
    pub subject: Option<Reference>,
    pub performedDateTime: Option<String>,
    pub performedPeriod: Option<Period>,
}

/// The envelope every resource shares.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Envelope {
    pub id: Option<String>,
}
