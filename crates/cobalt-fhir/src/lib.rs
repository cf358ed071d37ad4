//! Maps FHIR R4 resources straight from their JSON bytes to a `cobalt_core::Case`.
//!
//! The input is a Bundle (`collection`, `searchset`, `transaction`, `batch` or `document`), a
//! single resource or a JSON array of resources ([`from_slice`]), or resources gathered
//! elsewhere, such as a CDS Hooks prefetch or a patient's lines in a Bulk Data export, each
//! with the JSON path it came from ([`resources_to_case`]). Resources are read from the bytes
//! into typed structs that borrow their text and hold only the fields cobalt reads (no JSON
//! tree), mapped into the case's wire shape (`cobalt_core::case::RawCase`), and validated by
//! the core's one validation, so any problem (a unit a test cannot have, an impossible age)
//! comes back as an [`InputError`] naming the FHIR path it came from. `cobalt fhir-to-case`
//! prints that wire shape as the `cobalt.case/1` document ([`Mapped::case`]).
//!
//! What is read: Patient (age, sex, US Core race and ethnicity), Observation (laboratory
//! results through the vocabulary's LOINC codes, findings, pregnancy and breastfeeding status),
//! Condition, MedicationStatement, MedicationRequest (with Medication resources they reference)
//! and Procedure. Everything else, and every resource that does not count (an entered-in-error
//! observation, a resolved condition, another patient's data, a resource not shown to be the
//! patient's, a repeat of a resource already read), is listed in [`Mapped::skipped`] with the
//! reason. A resource is identified by its type and id: the same one read twice (a Bundle entry
//! repeated, or one resource in two CDS Hooks prefetch searches) is used once. Codes that map to no concept are written as
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
//! assert_eq!(mapped.case.labs[0].test.as_deref(), Some("total_b12"));
//! assert_eq!(mapped.parsed.labs[0].test, "total_b12");
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod dates;
mod gather;
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
    /// The case in its wire shape: serialised, the `cobalt.case/1` document.
    pub case: cobalt_core::case::RawCase,
    /// The id of the patient the case is about: the first Patient resource's id, or, without
    /// one, the id in the first `subject` reference.
    pub patient_id: Option<String>,
    /// Resources, or parts of them, that were not used, each with its JSON path and the reason.
    pub skipped: Vec<Skipped>,
    /// The same case, validated: what the evaluator reads.
    pub parsed: cobalt_core::Case,
}

impl Mapped {
    /// The `cobalt.case/1` document of the case, as `cobalt fhir-to-case` prints it.
    pub fn document(&self) -> serde_json::Value {
        serde_json::to_value(&self.case).unwrap_or(serde_json::Value::Null)
    }
}

/// A resource, or part of one, that was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The JSON path, such as `entry[4].resource`.
    pub path: String,
    /// Why it was not used.
    pub reason: String,
}

/// The kinds of [`Skipped::kind`], for counting.
pub const SKIP_KINDS: &[&str] = &[
    "type_not_read",
    "status",
    "other_patient",
    "no_patient",
    "duplicate",
    "no_code",
    "other_kind",
    "medication_reference",
    "value_not_read",
    "finding",
    "extension",
    "entry",
];

impl Skipped {
    /// Why, as one of [`SKIP_KINDS`]: `type_not_read` (a resource type cobalt does not read),
    /// `status` (not taken, not done, not a result, not present now), `other_patient`,
    /// `no_patient` (no subject reference naming the patient, where one is needed),
    /// `duplicate` (a repeat of a resource already read: the same type and id),
    /// `no_code` (no code, or text naming nothing cobalt reads), `other_kind` (a code of a
    /// concept the resource cannot carry), `medication_reference` (an unresolved or unused
    /// Medication), `value_not_read`, `finding` (recorded as absent or twice), `extension`,
    /// `entry` (a Bundle entry without a resource or a DELETE).
    pub fn kind(&self) -> &'static str {
        let r = self.reason.as_str();
        let starts = |p: &str| r.starts_with(p);
        if starts("resource type ") {
            "type_not_read"
        } else if starts("status ")
            || starts("no status")
            || starts("clinical status ")
            || starts("verification status ")
        {
            "status"
        } else if starts("about another subject") || starts("another patient") {
            "other_patient"
        } else if starts("no subject naming ") {
            "no_patient"
        } else if starts("a repeat of ") {
            "duplicate"
        } else if starts("no code")
            || starts("no coded ")
            || starts("no medication")
            || starts("medicine named only in text")
            || starts("a LOINC code that maps to no concept")
        {
            "no_code"
        } else if starts("the code maps to") || starts("the medicine maps to") {
            "other_kind"
        } else if starts("medicationReference") || starts("a Medication no ") {
            "medication_reference"
        } else if starts("finding ") {
            "finding"
        } else if r.contains(" extension ") {
            "extension"
        } else if starts("a DELETE request") || starts("the entry has no resource") {
            "entry"
        } else {
            "value_not_read"
        }
    }
}

impl serde::Serialize for Kinded<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Skipped", 3)?;
        st.serialize_field("path", &self.0.path)?;
        st.serialize_field("kind", self.0.kind())?;
        st.serialize_field("reason", &self.0.reason)?;
        st.end()
    }
}

/// A skipped resource as its JSON record: `{"path", "kind", "reason"}`.
#[derive(Debug)]
pub struct Kinded<'a>(pub &'a Skipped);

/// The JSON answer for FHIR input: the assessment's members, then `skipped_resources`, the
/// [`Kinded`] records of what was not used. What `cobalt assess --format json` writes and
/// `POST /v1/assess` answers, so that the two agree.
#[derive(Debug, serde::Serialize)]
pub struct WithSkipped<'a, 'kb> {
    /// The assessment, whose members are written at the top level.
    #[serde(flatten)]
    pub assessment: &'a cobalt_core::Assessment<'kb>,
    /// The resources, or parts of them, that were not used.
    pub skipped_resources: Vec<Kinded<'a>>,
}

impl<'a, 'kb> WithSkipped<'a, 'kb> {
    /// The answer for an assessment and what its mapping skipped ([`Mapped::skipped`]).
    pub fn new(assessment: &'a cobalt_core::Assessment<'kb>, skipped: &'a [Skipped]) -> Self {
        WithSkipped {
            assessment,
            skipped_resources: skipped.iter().map(Kinded).collect(),
        }
    }
}

/// Whether a JSON text is FHIR rather than a case: an array, or an object with a
/// `resourceType` (a case is an object without one). Skims the text without building it.
pub fn is_fhir(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Sniff {
        #[serde(rename = "resourceType", default)]
        resource_type: Option<serde::de::IgnoredAny>,
    }
    if text.trim_start().starts_with('[') {
        return true;
    }
    serde_json::from_str::<Sniff>(text).is_ok_and(|s| s.resource_type.is_some())
}

/// Maps FHIR JSON bytes: a Bundle (collection, searchset, transaction, batch or document), a
/// single resource, or a JSON array of resources. Ages and durations are counted to `as_of`,
/// which the case also carries as its `as_of`.
///
/// The case is about the first Patient (else the patient the first subject reference names);
/// another patient's resources are skipped. A resource without a subject reference is taken to
/// be that patient's while the input holds only one patient (a hand-made Bundle often leaves
/// `subject` out); when it holds another patient too, such a resource could be either's and is
/// not used (`no_patient`).
///
/// # Errors
/// Invalid FHIR (not UTF-8, not JSON, not an object, a missing `resourceType`, a Bundle whose
/// `entry` is not an array, a value of the wrong JSON type, a bad date) and values the case
/// format refuses, each with the JSON path of the problem, such as
/// `entry[3].resource.valueQuantity.value`.
pub fn from_slice(
    bytes: &[u8],
    as_of: time::Date,
    kb: &KnowledgeBase,
) -> Result<Mapped, InputError> {
    let mut g = gather::Gathered::default();
    g.input(bytes)?;
    map::run(g, as_of, kb, None)
}

/// [`from_slice`] for a caller that already holds a JSON tree (tests, tools): the tree is
/// written out and read as bytes, so that there is one mapping.
///
/// # Errors
/// As [`from_slice`].
pub fn to_case(
    input: &serde_json::Value,
    as_of: time::Date,
    kb: &KnowledgeBase,
) -> Result<Mapped, InputError> {
    let bytes = serde_json::to_vec(input).map_err(|e| InputError::new("$", e.to_string()))?;
    from_slice(&bytes, as_of, kb)
}

/// Maps resources gathered elsewhere (CDS Hooks prefetch, a patient's lines of a Bulk Data
/// export), each as its JSON text with the path it came from. An item may itself be a Bundle
/// (a prefetched search), whose entries are read in turn. Whose resources are used is decided
/// as in [`from_slice`].
///
/// # Errors
/// As [`from_slice`], with paths under each item's own path.
pub fn resources_to_case(
    resources: &[(String, &str)],
    as_of: time::Date,
    kb: &KnowledgeBase,
) -> Result<Mapped, InputError> {
    map::run(gather_all(resources)?, as_of, kb, None)
}

/// [`resources_to_case`] for a request about one patient (a CDS Hooks `context.patientId`): a
/// Patient resource with another id, or a resource whose subject is another patient, is refused
/// with its path, so that an answer never rests on another person's data. A resource that
/// belongs to a patient (Observation, Condition, MedicationRequest, MedicationStatement,
/// Procedure) is used only when its subject reference names this patient: one without a
/// subject, or whose subject has only an identifier or a display, is not used and is listed in
/// [`Mapped::skipped`] (`no_patient`).
///
/// # Errors
/// As [`resources_to_case`], and another patient's resource.
pub fn resources_for_patient(
    resources: &[(String, &str)],
    patient_id: &str,
    as_of: time::Date,
    kb: &KnowledgeBase,
) -> Result<Mapped, InputError> {
    map::run(gather_all(resources)?, as_of, kb, Some(patient_id))
}

/// The resources of a list gathered elsewhere, each under its own path.
fn gather_all<'a>(resources: &[(String, &'a str)]) -> Result<gather::Gathered<'a>, InputError> {
    let mut g = gather::Gathered::default();
    for (path, text) in resources {
        g.resource(text, path, None)?;
    }
    g.bundle_id = None;
    Ok(g)
}
