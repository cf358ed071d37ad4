//! What an export directory holds: the files cobalt reads, the export's own error files (the
//! manifest's `error` list) and every other file, with the reason it is not read.
//!
//! Without a manifest a file is read by its name, compared without regard to case: a type cobalt
//! reads (`Observation`, `observation`, `OBSERVATION`...) followed by anything, then `.ndjson`
//! or `.ndjson.gz` (`.NDJSON`, `.ndjson.GZ`...). With a manifest the manifest names the files.
//! Every other file of the directory (not its subdirectories, nor hidden files such as a pull's
//! `.pull/`) is named in the summary and has an error record, so that nothing in an export is
//! passed over in silence. A symbolic link is followed only to a file inside the export
//! directory.

use crate::errors::Errors;
use crate::read::{self, Block};
use crate::{ErrorRecord, ExportErrorFile, InputProblem, NotRead, TYPES};
use anyhow::{Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// An export directory, surveyed.
#[derive(Debug, Default)]
pub struct Export {
    /// The files cobalt reads: resource type and path, in reading order.
    pub files: Vec<(String, PathBuf)>,
    /// The export's error files (OperationOutcome lines), from the manifest's `error` list.
    pub error_files: Vec<PathBuf>,
    /// Every other file, and why it is not read.
    pub not_read: Vec<NotRead>,
}

/// Why a file is not read: the summary's `reason`, and whether `--strict` fails on it. A type
/// cobalt does not read, or a file the manifest does not name, is expected in a real export; a
/// name cobalt cannot place, a link out of the export or something that is not a file is not.
pub(crate) const REASONS: [(&str, bool); 5] = [
    ("type_not_read", false),
    ("not_in_manifest", false),
    ("unrecognised_name", true),
    ("outside_export", true),
    ("not_a_file", true),
];

/// The resource types of FHIR R4 (4.0.1), to tell a file of a type cobalt does not read
/// (`Encounter.ndjson`) from a name cobalt cannot place (`Observations.ndjson`, `notes.txt`).
const FHIR_R4_TYPES: &str =
    "Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment \
     AppointmentResponse AuditEvent Basic Binary BiologicallyDerivedProduct BodyStructure \
     Bundle CapabilityStatement CarePlan CareTeam CatalogEntry ChargeItem \
     ChargeItemDefinition Claim ClaimResponse ClinicalImpression CodeSystem Communication \
     CommunicationRequest CompartmentDefinition Composition ConceptMap Condition Consent \
     Contract Coverage CoverageEligibilityRequest CoverageEligibilityResponse DetectedIssue \
     Device DeviceDefinition DeviceMetric DeviceRequest DeviceUseStatement DiagnosticReport \
     DocumentManifest DocumentReference EffectEvidenceSynthesis Encounter Endpoint \
     EnrollmentRequest EnrollmentResponse EpisodeOfCare EventDefinition Evidence \
     EvidenceVariable ExampleScenario ExplanationOfBenefit FamilyMemberHistory Flag Goal \
     GraphDefinition Group GuidanceResponse HealthcareService ImagingStudy Immunization \
     ImmunizationEvaluation ImmunizationRecommendation ImplementationGuide InsurancePlan \
     Invoice Library Linkage List Location Measure MeasureReport Media Medication \
     MedicationAdministration MedicationDispense MedicationKnowledge MedicationRequest \
     MedicationStatement MedicinalProduct MedicinalProductAuthorization \
     MedicinalProductContraindication MedicinalProductIndication MedicinalProductIngredient \
     MedicinalProductInteraction MedicinalProductManufactured MedicinalProductPackaged \
     MedicinalProductPharmaceutical MedicinalProductUndesirableEffect MessageDefinition \
     MessageHeader MolecularSequence NamingSystem NutritionOrder Observation \
     ObservationDefinition OperationDefinition OperationOutcome Organization \
     OrganizationAffiliation Parameters Patient PaymentNotice PaymentReconciliation Person \
     PlanDefinition Practitioner PractitionerRole Procedure Provenance Questionnaire \
     QuestionnaireResponse RelatedPerson RequestGroup ResearchDefinition \
     ResearchElementDefinition ResearchStudy ResearchSubject RiskAssessment \
     RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen \
     SpecimenDefinition StructureDefinition StructureMap Subscription Substance \
     SubstanceNucleicAcid SubstancePolymer SubstanceProtein SubstanceReferenceInformation \
     SubstanceSourceMaterial SubstanceSpecification SupplyDelivery SupplyRequest Task \
     TerminologyCapabilities TestReport TestScript ValueSet VerificationResult \
     VisionPrescription";

/// A type cobalt reads, by its name in any case, as FHIR spells it.
fn read_type(word: &str) -> Option<&'static str> {
    TYPES.iter().copied().find(|t| t.eq_ignore_ascii_case(word))
}

/// Whether a name ends in `.ndjson` or `.ndjson.gz`, in any case.
fn ndjson_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".ndjson") || lower.ends_with(".ndjson.gz")
}

/// Whether a file is gzip-compressed, by its name (`.gz` in any case).
pub(crate) fn gzip_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// The day of the export: the date of the Bulk Data manifest's `transactionTime` (the server's
/// time when the export was made), when there is a manifest that gives one. An export is assessed
/// as of that day, so that "in the last 12 months" means the same whenever the job runs.
pub fn manifest_date(dir: &Path) -> Result<Option<time::Date>> {
    let Some(v) = manifest(dir)? else {
        return Ok(None);
    };
    let Some(t) = v.get("transactionTime") else {
        return Ok(None);
    };
    let date = t
        .as_str()
        .filter(|s| s.len() >= 10 && (s.len() == 10 || s.as_bytes()[10] == b'T'))
        .and_then(|s| cobalt_core::case::parse_date(&s[..10]));
    match date {
        Some(d) => Ok(Some(d)),
        None => anyhow::bail!("manifest.json: transactionTime `{t}` is not a FHIR instant"),
    }
}

/// `manifest.json`, when the export has one.
fn manifest(dir: &Path) -> Result<Option<Value>> {
    let path = dir.join("manifest.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| InputProblem(format!("reading {}: {e}", path.display())))?;
    let v = serde_json::from_str(&text)
        .map_err(|e| InputProblem(format!("manifest.json is not JSON: {e}")))?;
    Ok(Some(v))
}

/// The export's files that cobalt reads: the manifest's when there is one (of the types cobalt
/// reads), else every `<Type>*.ndjson` or `<Type>*.ndjson.gz` of such a type, in any case,
/// sorted by name. [`survey`] says also what is not read.
pub fn discover(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    Ok(survey(dir)?.files)
}

/// Surveys an export directory: what is read, the export's error files, what is not read and
/// why. A directory that cannot be listed, or a manifest that is not JSON or lists no output, is
/// an [`InputProblem`].
pub fn survey(dir: &Path) -> Result<Export> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| {
            InputProblem(format!(
                "reading the export directory {}: {e}",
                dir.display()
            ))
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let root = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    // Candidates: (type, path) to read, error files, and what is not read.
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let mut error_files: Vec<PathBuf> = Vec::new();
    let mut not_read: Vec<(PathBuf, &str, String)> = Vec::new();
    let manifest = manifest(dir)?;
    let mut named: Vec<PathBuf> = Vec::new();
    if let Some(v) = &manifest {
        let outputs = v
            .get("output")
            .and_then(Value::as_array)
            .ok_or_else(|| InputProblem("manifest.json has no `output` list".into()))?;
        for (list, is_error) in [(outputs.as_slice(), false), (error_list(v), true)] {
            for o in list {
                let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
                let url = o.get("url").and_then(Value::as_str).unwrap_or("");
                if url.is_empty() {
                    continue;
                }
                // A URL is read by its last path segment, relative to the export directory.
                let path = dir.join(url.rsplit('/').next().unwrap_or(url));
                named.push(path.clone());
                if is_error {
                    error_files.push(path);
                } else if let Some(t) = read_type(kind) {
                    files.push((t.to_string(), path));
                } else {
                    let why =
                        format!("the manifest gives it as {kind}, a type cobalt does not read");
                    not_read.push((path, "type_not_read", why));
                }
            }
        }
    }
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str());
        if name.is_some_and(|n| n.starts_with('.') || n == "manifest.json") || p.is_dir() {
            continue;
        }
        if named.contains(&p) {
            continue;
        }
        if manifest.is_some() {
            let why = "the export's manifest.json does not name it".to_string();
            not_read.push((p, "not_in_manifest", why));
            continue;
        }
        let name = name.unwrap_or("");
        let word: String = name
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let fhir_type = FHIR_R4_TYPES
            .split_ascii_whitespace()
            .find(|t| t.eq_ignore_ascii_case(&word));
        match (read_type(&word), ndjson_name(name), fhir_type) {
            (Some(t), true, _) => files.push((t.to_string(), p)),
            (Some(t), false, _) => {
                let why = format!("a {t} file is read only as .ndjson or .ndjson.gz");
                not_read.push((p, "unrecognised_name", why));
            }
            (None, _, Some(t)) => {
                let why = format!("{t} is a resource type cobalt does not read");
                not_read.push((p, "type_not_read", why));
            }
            (None, _, None) => {
                let why = "not a <Type>.ndjson or <Type>.ndjson.gz file of a FHIR resource type";
                not_read.push((p, "unrecognised_name", why.into()));
            }
        }
    }
    // A file is read only when it is a file inside the export: a symbolic link out of the export
    // directory is not followed.
    let mut out = Export::default();
    for (t, p) in files {
        match inside(&root, &p) {
            Ok(()) => out.files.push((t, p)),
            Err((reason, why)) => not_read.push((p, reason, why)),
        }
    }
    for p in error_files {
        match inside(&root, &p) {
            Ok(()) => out.error_files.push(p),
            Err((reason, why)) => not_read.push((p, reason, why)),
        }
    }
    out.not_read = not_read
        .into_iter()
        .map(|(p, reason, message)| NotRead {
            path: relative(dir, &p),
            reason: reason.into(),
            message,
        })
        .collect();
    out.not_read.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The manifest's `error` list (empty when it has none).
fn error_list(v: &Value) -> &[Value] {
    v.get("error")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

/// Whether a path is a file inside the export directory `root` (canonical), once symbolic links
/// are resolved. A path that does not exist passes: opening it reports it.
fn inside(root: &Path, path: &Path) -> std::result::Result<(), (&'static str, String)> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let resolved = match path.canonicalize() {
        Ok(r) => r,
        Err(_) if meta.file_type().is_symlink() => {
            return Err(("not_a_file", "a symbolic link to nothing".into()))
        }
        Err(_) => return Ok(()),
    };
    if !resolved.starts_with(root) {
        return Err((
            "outside_export",
            "a symbolic link to a file outside the export directory: not followed".into(),
        ));
    }
    if !resolved.is_file() {
        return Err(("not_a_file", "not a regular file".into()));
    }
    Ok(())
}

/// A path as the summary and error records name it: relative to the export.
pub(crate) fn relative(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// An OperationOutcome line of an export's error file: its issues, and nothing else.
#[derive(serde::Deserialize)]
struct Outcome {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    #[serde(default)]
    issue: Vec<Issue>,
}

#[derive(serde::Deserialize)]
struct Issue {
    severity: Option<String>,
    code: Option<String>,
    diagnostics: Option<String>,
    details: Option<Details>,
}

#[derive(serde::Deserialize)]
struct Details {
    text: Option<String>,
}

/// Reads the export's own error files: each issue of each OperationOutcome becomes an
/// `export_error` record (a line that is not one, a bad line), sent to `sink`. Returns what
/// each file held, for the summary.
pub(crate) fn read_outcomes(
    dir: &Path,
    files: &[PathBuf],
    bytes_read: &Arc<AtomicU64>,
    sink: &Errors,
) -> std::io::Result<Vec<ExportErrorFile>> {
    let mut out = Vec::new();
    let mut failed = None;
    for path in files {
        let name = relative(dir, path);
        let mut issues = 0u64;
        let mut send = |block: Block| {
            for (line, bytes) in read::lines(&block) {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let record = |kind: &str, message: String| ErrorRecord {
                    file: name.clone(),
                    line,
                    patient: None,
                    kind: kind.into(),
                    message,
                };
                let mut records = Vec::new();
                match serde_json::from_slice::<Outcome>(bytes) {
                    Ok(o) if o.resource_type.as_deref() == Some("OperationOutcome") => {
                        if o.issue.is_empty() {
                            records.push(record(
                                "export_error",
                                "an OperationOutcome with no issue".into(),
                            ));
                        }
                        for i in o.issue {
                            let text = i.diagnostics.or(i.details.and_then(|d| d.text));
                            records.push(record(
                                "export_error",
                                format!(
                                    "the export reports {} ({}): {}",
                                    i.severity.as_deref().unwrap_or("an issue"),
                                    i.code.as_deref().unwrap_or("no code"),
                                    text.as_deref().unwrap_or("no diagnostics")
                                ),
                            ));
                        }
                    }
                    Ok(_) => records.push(record(
                        "not_fhir",
                        "not an OperationOutcome, in an error file of the export".into(),
                    )),
                    Err(e) if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => {
                        records.push(record("not_fhir", e.to_string()));
                    }
                    Err(e) => records.push(record("not_json", e.to_string())),
                }
                issues += records.iter().filter(|r| r.kind == "export_error").count() as u64;
                if let Err(e) = sink.extend(&mut records) {
                    failed.get_or_insert(e);
                }
            }
        };
        let r = read::read_file(u32::MAX, path, bytes_read, &mut send);
        sink.extend(&mut r.errors(&name))?;
        out.push(ExportErrorFile {
            path: name,
            lines: r.lines,
            issues,
        });
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
