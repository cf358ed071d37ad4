//! Maps FHIR R4 resources to a `cobalt.case/1` document.
//!
//! The input is a Bundle (`collection`, `searchset`, `transaction`, `batch` or `document`), a
//! single resource, a JSON array of resources ([`to_case`]), or resources gathered elsewhere,
//! such as a CDS Hooks prefetch, each with the JSON path it came from ([`resources_to_case`]).
//! The result is a case document that `cobalt_core::parse_case_value` accepts: the mapper runs
//! that parser itself before returning, so any problem (a unit a test cannot have, an impossible
//! age) comes back as an [`InputError`] naming the FHIR path it came from.
//!
//! What is read: Patient (age, sex, US Core race and ethnicity), Observation (laboratory
//! results through the vocabulary's LOINC codes, findings, pregnancy and breastfeeding status),
//! Condition, MedicationStatement, MedicationRequest (with Medication resources they reference)
//! and Procedure. Everything else, and every resource that does not count (an entered-in-error
//! observation, a resolved condition, another patient's data), is listed in
//! [`Mapped::skipped`] with the reason. Codes that map to no concept are written as
//! `code: {system, code}` entries so that the parser lists them as unrecognised; they are never
//! an error. The code lists beyond the vocabulary live in `knowledge/fhir.toml` ([`tables`]).
//!
//! ```
//! let kb = cobalt_kb::load().unwrap();
//! let bundle = serde_json::json!({
//!     "resourceType": "Bundle", "type": "collection",
//!     "entry": [{ "resource": {
//!         "resourceType": "Observation", "status": "final",
//!         "code": { "coding": [{ "system": "http://loinc.org", "code": "2132-9" }] },
//!         "valueQuantity": { "value": 150, "unit": "ng/L", "system": "http://unitsofmeasure.org", "code": "ng/L" }
//!     }}]
//! });
//! let as_of = time::macros::date!(2026 - 01 - 01);
//! let mapped = cobalt_fhir::to_case(&bundle, as_of, &kb).unwrap();
//! assert_eq!(mapped.case["labs"][0]["test"], "total_b12");
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod dates;
mod map;
pub mod model;
pub mod reference;
pub mod tables;

use cobalt_core::{InputError, KnowledgeBase};

/// The resource types the mapper reads, in the order of a Bulk Data manifest: what the
/// screening job reads and the synthetic exports write.
pub const RESOURCE_TYPES: [&str; 6] = [
    "Patient",
    "Observation",
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
    "Procedure",
];

/// The case mapped from FHIR, with what could not be used.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// A `cobalt.case/1` document, already accepted by `cobalt_core::parse_case_value`.
    pub case: serde_json::Value,
    /// The id of the patient the case is about: the first Patient resource's id, or, without
    /// one, the id in the first `subject` reference.
    pub patient_id: Option<String>,
    /// Resources, or parts of them, that were not used, each with its JSON path and the reason.
    pub skipped: Vec<Skipped>,
    /// The same case as parsed by `cobalt_core::parse_case_value`, so that callers need not
    /// parse it again.
    pub parsed: cobalt_core::Case,
}

/// A resource, or part of one, that was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The JSON path, such as `entry[4].resource`.
    pub path: String,
    /// Why it was not used.
    pub reason: String,
}

/// Maps a Bundle (collection, searchset, transaction, batch or document), a single resource, or
/// a JSON array of resources. Ages and durations are counted to `as_of`, which the case also
/// carries as its `as_of`.
///
/// # Errors
/// Invalid FHIR (not an object, a missing `resourceType`, a Bundle whose `entry` is not an
/// array, a value of the wrong JSON type, a bad date) and values the case format refuses, each
/// with the JSON path of the problem, such as `entry[3].resource.valueQuantity.value`.
pub fn to_case(
    input: &serde_json::Value,
    as_of: time::Date,
    kb: &KnowledgeBase,
) -> Result<Mapped, InputError> {
    map::to_case(input, as_of, kb)
}

/// Maps a list of resources gathered elsewhere (such as CDS Hooks prefetch), each with the JSON
/// path it came from. An item may itself be a Bundle (a prefetched search), whose entries are
/// read in turn.
///
/// # Errors
/// As [`to_case`], with paths under each item's own path.
pub fn resources_to_case(
    resources: &[(String, &serde_json::Value)],
    as_of: time::Date,
    kb: &KnowledgeBase,
) -> Result<Mapped, InputError> {
    map::resources_to_case(resources, as_of, kb)
}
