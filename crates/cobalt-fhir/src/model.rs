//! The subset of FHIR R4 that cobalt reads, as typed serde structs that borrow their text from
//! the input bytes (escaped strings are the only copies). Unknown fields are skipped without
//! being built (FHIR has many); a known field of the wrong JSON type is an error with its path,
//! through [`read`]. Dates are kept as text here and checked by [`crate::dates`].

#![allow(non_snake_case, missing_docs)]

use cobalt_core::InputError;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Text borrowed from the input where it has no escapes.
pub type Str<'a> = Cow<'a, str>;

/// Reads a resource (or part of one) from its JSON text as `T`, naming the JSON path of the
/// first problem under `base` (the resource's own path, such as `entry[3].resource`).
pub fn read<'a, T: Deserialize<'a>>(json: &'a str, base: &str) -> Result<T, InputError> {
    // Plain serde first (fast); only a failure is read again to name the path of the problem.
    if let Ok(v) = serde_json::from_str::<T>(json) {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_str(json);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let inner = e.path().to_string();
            let message = message_of(e.inner());
            // A duplicate key is reported at the object that holds it; name the key itself.
            let inner = match message
                .strip_prefix("duplicate field `")
                .and_then(|r| r.split_once('`'))
            {
                Some((key, _)) if inner == "." || inner.is_empty() => key.to_string(),
                Some((key, _)) => format!("{inner}.{key}"),
                None => inner,
            };
            let path = join(base, &inner);
            let path = if path.is_empty() {
                "$".to_string()
            } else {
                path
            };
            Err(InputError::new(path, message))
        }
    }
}

/// A serde_json error's message without its " at line L column C" suffix: the path says where.
pub fn message_of(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i)
            if s[i + 9..].split_once(" column ").is_some_and(|(l, c)| {
                l.bytes().all(|b| b.is_ascii_digit()) && c.bytes().all(|b| b.is_ascii_digit())
            }) =>
        {
            s[..i].to_string()
        }
        _ => s,
    }
}

/// Joins a base path and a relative serde path (`.` is the root, `[2]` an index).
pub fn join(base: &str, rel: &str) -> String {
    // Built by hand: `format!` costs several times as much, and this runs for many fields.
    match rel {
        "" | "." => base.to_string(),
        r if base.is_empty() || base == "$" => r.to_string(),
        r => {
            let mut s = String::with_capacity(base.len() + r.len() + 1);
            s.push_str(base);
            if !r.starts_with('[') {
                s.push('.');
            }
            s.push_str(r);
            s
        }
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Coding<'a> {
    #[serde(borrow)]
    pub system: Option<Str<'a>>,
    #[serde(borrow)]
    pub code: Option<Str<'a>>,
    #[serde(borrow)]
    pub display: Option<Str<'a>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct CodeableConcept<'a> {
    #[serde(borrow)]
    pub coding: Vec<Coding<'a>>,
    #[serde(borrow)]
    pub text: Option<Str<'a>>,
}

impl<'a> CodeableConcept<'a> {
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
pub struct Reference<'a> {
    #[serde(borrow)]
    pub reference: Option<Str<'a>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Quantity<'a> {
    pub value: Option<f64>,
    #[serde(borrow)]
    pub comparator: Option<Str<'a>>,
    #[serde(borrow)]
    pub unit: Option<Str<'a>>,
    #[serde(borrow)]
    pub system: Option<Str<'a>>,
    #[serde(borrow)]
    pub code: Option<Str<'a>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Period<'a> {
    #[serde(borrow)]
    pub start: Option<Str<'a>>,
    #[serde(borrow)]
    pub end: Option<Str<'a>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct ReferenceRange<'a> {
    #[serde(borrow)]
    pub low: Option<Quantity<'a>>,
    #[serde(borrow)]
    pub high: Option<Quantity<'a>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Extension<'a> {
    #[serde(borrow)]
    pub url: Option<Str<'a>>,
    #[serde(borrow)]
    pub extension: Vec<Extension<'a>>,
    #[serde(borrow)]
    pub valueCoding: Option<Coding<'a>>,
    #[serde(borrow)]
    pub valueString: Option<Str<'a>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Patient<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub birthDate: Option<Str<'a>>,
    #[serde(borrow)]
    pub gender: Option<Str<'a>>,
    #[serde(borrow)]
    pub extension: Vec<Extension<'a>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Observation<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub status: Option<Str<'a>>,
    #[serde(borrow)]
    pub code: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub subject: Option<Reference<'a>>,
    #[serde(borrow)]
    pub effectiveDateTime: Option<Str<'a>>,
    #[serde(borrow)]
    pub effectivePeriod: Option<Period<'a>>,
    #[serde(borrow)]
    pub effectiveInstant: Option<Str<'a>>,
    #[serde(borrow)]
    pub issued: Option<Str<'a>>,
    #[serde(borrow)]
    pub valueQuantity: Option<Quantity<'a>>,
    #[serde(borrow)]
    pub valueCodeableConcept: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub valueString: Option<Str<'a>>,
    pub valueBoolean: Option<bool>,
    /// A number without a unit: refused for a numeric test (its unit is unknown).
    pub valueInteger: Option<i64>,
    #[serde(borrow)]
    pub referenceRange: Vec<ReferenceRange<'a>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Condition<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub clinicalStatus: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub verificationStatus: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub code: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub subject: Option<Reference<'a>>,
    #[serde(borrow)]
    pub onsetDateTime: Option<Str<'a>>,
    #[serde(borrow)]
    pub onsetPeriod: Option<Period<'a>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Dosage<'a> {
    #[serde(borrow)]
    pub route: Option<CodeableConcept<'a>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct DispenseRequest<'a> {
    #[serde(borrow)]
    pub validityPeriod: Option<Period<'a>>,
}

/// A MedicationStatement or a MedicationRequest: the fields of both that cobalt reads.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct MedicationUse<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub status: Option<Str<'a>>,
    #[serde(borrow)]
    pub medicationCodeableConcept: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub medicationReference: Option<Reference<'a>>,
    #[serde(borrow)]
    pub subject: Option<Reference<'a>>,
    // MedicationStatement
    #[serde(borrow)]
    pub effectiveDateTime: Option<Str<'a>>,
    #[serde(borrow)]
    pub effectivePeriod: Option<Period<'a>>,
    #[serde(borrow)]
    pub dosage: Vec<Dosage<'a>>,
    // MedicationRequest
    #[serde(borrow)]
    pub authoredOn: Option<Str<'a>>,
    #[serde(borrow)]
    pub dosageInstruction: Vec<Dosage<'a>>,
    #[serde(borrow)]
    pub dispenseRequest: Option<DispenseRequest<'a>>,
    #[serde(borrow)]
    pub contained: Vec<&'a RawValue>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Medication<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub code: Option<CodeableConcept<'a>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Procedure<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
    #[serde(borrow)]
    pub status: Option<Str<'a>>,
    #[serde(borrow)]
    pub code: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub subject: Option<Reference<'a>>,
    #[serde(borrow)]
    pub performedDateTime: Option<Str<'a>>,
    #[serde(borrow)]
    pub performedPeriod: Option<Period<'a>>,
}

/// The envelope every resource shares.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct Envelope<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
}
