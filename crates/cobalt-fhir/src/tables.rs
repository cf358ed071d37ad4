//! The code lists of `knowledge/fhir.toml`, embedded at compile time: pregnancy and
//! breastfeeding codes, qualitative result codes, B12 routes, the FHIR statuses that count and
//! the ICD-10-CM codes that name the course of MS. [`check`] validates the file against a
//! knowledge base (known code systems, resolvable sources).

use cobalt_core::kb::{Cite, Reference};
use cobalt_core::vocab::CodeSystem;
use cobalt_core::KnowledgeBase;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The text of `knowledge/fhir.toml`.
pub const TEXT: &str = include_str!("../../../knowledge/fhir.toml");

/// The FHIR code systems, other than the vocabulary's, that the file may name.
pub const FHIR_SYSTEMS: &[&str] = &[
    "http://hl7.org/fhir/observation-status",
    "http://terminology.hl7.org/CodeSystem/condition-clinical",
    "http://terminology.hl7.org/CodeSystem/condition-ver-status",
    "http://hl7.org/fhir/CodeSystem/medication-statement-status",
    "http://hl7.org/fhir/CodeSystem/medicationrequest-status",
    "http://hl7.org/fhir/event-status",
];

/// The code sets the mapper reads; the file must define each of them.
pub const REQUIRED_SETS: &[&str] = &[
    "pregnancy_status_observation",
    "pregnant",
    "not_pregnant",
    "pregnancy_condition",
    "breastfeeding_status_observation",
    "breastfeeding",
    "not_breastfeeding",
    "result_positive",
    "result_negative",
    "result_equivocal",
    "route_intramuscular",
    "route_oral",
    "b12_intramuscular_when_route_unknown",
    "observation_status_excluded",
    "condition_clinical_counts",
    "condition_verification_excluded",
    "condition_verification_suspected",
    "medication_statement_status_counts",
    "medication_request_status_counts",
    "medication_status_current",
    "procedure_status_counts",
];

/// The `ms.status` values a code may set (the contract's, less `none` and `suspected`).
const MS_STATUSES: &[&str] = &[
    "clinically_isolated_syndrome",
    "relapsing_remitting",
    "primary_progressive",
    "secondary_progressive",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    reference: Vec<Reference>,
    #[serde(default)]
    code_set: BTreeMap<String, RawSet>,
    #[serde(default)]
    ms_status: Vec<RawMsStatus>,
    ethnicity_extensions: RawExtensions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtensions {
    urls: Vec<String>,
    sources: Vec<Cite>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    applies_to: String,
    description: String,
    codes: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    sources: Vec<Cite>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMsStatus {
    code: String,
    status: String,
    sources: Vec<Cite>,
}

/// A code system as the file names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum System {
    /// One of the vocabulary's code systems.
    Vocab(CodeSystem),
    /// Another FHIR code system, by URI.
    Uri(String),
}

impl System {
    /// Parses a vocabulary short name or FHIR URI; anything else is kept as a URI.
    pub fn parse(s: &str) -> System {
        match CodeSystem::parse(s) {
            Some(cs) => System::Vocab(cs),
            None => System::Uri(s.trim().to_string()),
        }
    }
}

/// One code of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// The code system.
    pub system: System,
    /// The code, normalised (ICD-10 without dots; vocabulary codes upper case).
    pub code: String,
}

fn normalise(system: &System, code: &str) -> String {
    match system {
        System::Vocab(CodeSystem::Icd10) => code.trim().to_ascii_uppercase().replace('.', ""),
        System::Vocab(_) => code.trim().to_ascii_uppercase(),
        System::Uri(_) => code.trim().to_string(),
    }
}

impl Code {
    fn parse(s: &str) -> Option<Code> {
        let (sys, code) = s.rsplit_once('|')?;
        if sys.trim().is_empty() || code.trim().is_empty() {
            return None;
        }
        let system = System::parse(sys);
        Some(Code {
            code: normalise(&system, code),
            system,
        })
    }

    /// Whether a coding as read (its system parsed, its code as written) is this code. Compares
    /// in place, as [`normalise`] would have it, without allocating: it runs for every coding
    /// of every resource read.
    fn matches(&self, system: &Read<'_>, code: &str) -> bool {
        let code = code.trim();
        match (&self.system, system) {
            (System::Vocab(CodeSystem::Icd10), Read::Vocab(CodeSystem::Icd10)) => {
                let mut read = code
                    .bytes()
                    .filter(|&b| b != b'.')
                    .map(|b| b.to_ascii_uppercase());
                self.code.bytes().all(|c| read.next() == Some(c))
            }
            (System::Vocab(a), Read::Vocab(b)) => a == b && code.eq_ignore_ascii_case(&self.code),
            (System::Uri(a), Read::Uri(b)) => a == b && code == self.code,
            _ => false,
        }
    }
}

/// A coding's system as read: one the vocabulary knows, or any other URI (trimmed), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read<'a> {
    Vocab(CodeSystem),
    Uri(&'a str),
}

impl<'a> Read<'a> {
    fn parse(s: &'a str) -> Read<'a> {
        match CodeSystem::parse(s) {
            Some(cs) => Read::Vocab(cs),
            None => Read::Uri(s.trim()),
        }
    }
}

/// A set of codes with the FHIR element it applies to.
#[derive(Debug, Clone)]
pub struct CodeSet {
    /// The set's id.
    pub id: String,
    /// The FHIR element it is read from.
    pub applies_to: String,
    /// What the codes mean.
    pub description: String,
    /// Codes (ICD-10 codes match their subcodes).
    pub codes: Vec<Code>,
    /// Codes left out even when `codes` matches.
    pub exclude: Vec<Code>,
    /// Sources.
    pub sources: Vec<Cite>,
}

impl CodeSet {
    /// Whether a coding (system as in FHIR, code) belongs to the set.
    pub fn contains(&self, system: &str, code: &str) -> bool {
        // The system is parsed once, not once for each code of the set.
        let system = Read::parse(system);
        self.codes.iter().any(|c| c.matches(&system, code))
            && !self.exclude.iter().any(|c| c.matches(&system, code))
    }
}

/// An ICD-10 code that names the course of MS.
#[derive(Debug, Clone)]
pub struct MsStatusCode {
    /// The code (matches its subcodes).
    pub code: Code,
    /// The `ms.status` it sets.
    pub status: String,
    /// Sources.
    pub sources: Vec<Cite>,
}

/// The parsed file.
#[derive(Debug, Clone)]
pub struct Tables {
    /// Sources the file defines itself.
    pub references: Vec<Reference>,
    /// Code sets by id.
    pub sets: BTreeMap<String, CodeSet>,
    /// MS course codes.
    pub ms_status: Vec<MsStatusCode>,
    /// Patient extensions (US Core race, ethnicity) read into `patient.ethnicity`, in order.
    pub ethnicity_extensions: Vec<String>,
    /// Sources of the extensions.
    pub ethnicity_sources: Vec<Cite>,
}

impl Tables {
    /// The set `id`.
    ///
    /// # Panics
    /// If `id` is not one of [`REQUIRED_SETS`] (which [`parse`] guarantees are present).
    pub fn set(&self, id: &str) -> &CodeSet {
        self.sets
            .get(id)
            .unwrap_or_else(|| panic!("code set `{id}` is not in fhir.toml"))
    }

    /// Whether any coding of the list is in set `id`.
    pub fn any(&self, id: &str, codings: &[(&str, &str)]) -> bool {
        let set = self.set(id);
        codings.iter().any(|(s, c)| set.contains(s, c))
    }

    /// The MS status an ICD-10 code names, if any.
    pub fn ms_status(&self, system: &str, code: &str) -> Option<&str> {
        let system = Read::parse(system);
        self.ms_status
            .iter()
            .find(|m| m.code.matches(&system, code))
            .map(|m| m.status.as_str())
    }
}

/// Parses the file's text. Every structural problem is returned at once.
pub fn parse(text: &str) -> Result<Tables, Vec<String>> {
    let raw: RawFile = toml::from_str(text).map_err(|e| vec![format!("fhir.toml: {e}")])?;
    let mut problems = Vec::new();
    let mut code = |set: &str, s: &str| match Code::parse(s) {
        Some(c) => Some(c),
        None => {
            problems.push(format!("{set}: `{s}` is not `system|code`"));
            None
        }
    };
    let mut sets = BTreeMap::new();
    for (id, s) in raw.code_set {
        let codes = s.codes.iter().filter_map(|c| code(&id, c)).collect();
        let exclude = s.exclude.iter().filter_map(|c| code(&id, c)).collect();
        sets.insert(
            id.clone(),
            CodeSet {
                id,
                applies_to: s.applies_to,
                description: s.description,
                codes,
                exclude,
                sources: s.sources,
            },
        );
    }
    let mut ms_status = Vec::new();
    for m in raw.ms_status {
        if let Some(c) = code("ms_status", &m.code) {
            ms_status.push(MsStatusCode {
                code: c,
                status: m.status,
                sources: m.sources,
            });
        }
    }
    for id in REQUIRED_SETS {
        if !sets.contains_key(*id) {
            problems.push(format!("code_set.{id}: missing"));
        }
    }
    for m in &ms_status {
        if !MS_STATUSES.contains(&m.status.as_str()) {
            problems.push(format!(
                "ms_status: `{}` is not one of {}",
                m.status,
                MS_STATUSES.join(", ")
            ));
        }
    }
    if problems.is_empty() {
        Ok(Tables {
            references: raw.reference,
            sets,
            ms_status,
            ethnicity_extensions: raw.ethnicity_extensions.urls,
            ethnicity_sources: raw.ethnicity_extensions.sources,
        })
    } else {
        Err(problems)
    }
}

/// The embedded tables, parsed once.
///
/// # Panics
/// If the embedded file is invalid; `tests/tables.rs` keeps it valid.
pub fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| match parse(TEXT) {
        Ok(t) => t,
        Err(problems) => panic!("knowledge/fhir.toml is invalid:\n{}", problems.join("\n")),
    })
}

/// Checks the tables against a knowledge base: every code's system is known (a vocabulary code
/// system or one of [`FHIR_SYSTEMS`]); every source resolves to a reference of the knowledge
/// base or of the file; every reference of the file has a url, a valid `checked`, is not already
/// in the knowledge base and is cited. Returns every problem.
pub fn check(t: &Tables, kb: &KnowledgeBase) -> Vec<String> {
    let mut problems = Vec::new();
    let mut used: Vec<String> = Vec::new();
    let own: Vec<&str> = t.references.iter().map(|r| r.key.as_str()).collect();
    let mut cites = |what: &str, sources: &[Cite], problems: &mut Vec<String>| {
        if sources.is_empty() {
            problems.push(format!("{what}: cites no source"));
        }
        for c in sources {
            if kb.references.contains_key(&c.key) || own.contains(&c.key.as_str()) {
                used.push(c.key.clone());
            } else {
                problems.push(format!("{what}: unresolved source `{}`", c.key));
            }
        }
    };
    let system_ok = |s: &System| match s {
        System::Vocab(_) => true,
        System::Uri(u) => FHIR_SYSTEMS.contains(&u.as_str()),
    };
    for set in t.sets.values() {
        cites(&format!("code_set.{}", set.id), &set.sources, &mut problems);
        for c in set.codes.iter().chain(&set.exclude) {
            if !system_ok(&c.system) {
                problems.push(format!(
                    "code_set.{}: unknown code system {:?}",
                    set.id, c.system
                ));
            }
        }
        if set.codes.is_empty() {
            problems.push(format!("code_set.{}: no codes", set.id));
        }
    }
    for m in &t.ms_status {
        cites(
            &format!("ms_status {}", m.code.code),
            &m.sources,
            &mut problems,
        );
        if m.code.system != System::Vocab(CodeSystem::Icd10) {
            problems.push(format!(
                "ms_status {}: expected an ICD-10 code",
                m.code.code
            ));
        }
    }
    cites("ethnicity_extensions", &t.ethnicity_sources, &mut problems);
    if t.ethnicity_extensions.is_empty() {
        problems.push("ethnicity_extensions: no urls".into());
    }
    for r in &t.references {
        if kb.references.contains_key(&r.key) {
            problems.push(format!(
                "reference `{}`: already in references.toml; cite that one",
                r.key
            ));
        }
        if !matches!(r.checked.as_str(), "primary" | "secondary") {
            problems.push(format!(
                "reference `{}`: `checked` must be primary or secondary",
                r.key
            ));
        }
        if r.url.as_deref().is_none_or(str::is_empty) && r.doi.is_none() {
            problems.push(format!("reference `{}`: has neither url nor doi", r.key));
        }
        if !used.contains(&r.key) {
            problems.push(format!("reference `{}`: cited by nothing", r.key));
        }
        if own.iter().filter(|k| **k == r.key).count() > 1 {
            problems.push(format!("reference `{}`: duplicate key", r.key));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icd10_codes_match_subcodes_and_exclusions_win() {
        let t = parse(TEXT).expect("fhir.toml parses");
        let preg = t.set("pregnancy_condition");
        let icd = "http://hl7.org/fhir/sid/icd-10-cm";
        assert!(preg.contains(icd, "O26.89"));
        assert!(preg.contains(icd, "Z34.01"));
        assert!(!preg.contains(icd, "Z33.2"));
        assert!(!preg.contains(icd, "O90.3"));
        assert!(!preg.contains(icd, "Q90"));
        assert!(preg.contains("http://snomed.info/sct", "77386006"));
        assert_eq!(t.ms_status(icd, "G35.B1"), Some("primary_progressive"));
        assert_eq!(t.ms_status(icd, "G35.D"), None);
        assert_eq!(t.ms_status(icd, "G35"), None);
    }

    proptest::proptest! {
        /// Comparing in place agrees with normalising a copy, as codes were compared before.
        #[test]
        fn matching_in_place_agrees_with_normalising(
            file in "[A-Za-z0-9.]{1,6}",
            read in "[ ]?[A-Za-z0-9.]{0,8}[ ]?",
            sys in proptest::sample::select(vec![
                "http://hl7.org/fhir/sid/icd-10-cm", "http://loinc.org", " HTTP://SNOMED.INFO/SCT",
                "urn:other", " urn:other ",
            ]),
            file_sys in proptest::sample::select(vec![
                "http://hl7.org/fhir/sid/icd-10-cm", "http://loinc.org", "http://snomed.info/sct",
                "urn:other",
            ]),
        ) {
            let Some(code) = Code::parse(&format!("{file_sys}|{file}")) else { return Ok(()) };
            let system = System::parse(sys);
            let normalised = normalise(&system, &read);
            let before = code.system == system
                && match system {
                    System::Vocab(CodeSystem::Icd10) => normalised.starts_with(&code.code),
                    _ => normalised == code.code,
                };
            proptest::prop_assert_eq!(code.matches(&Read::parse(sys), &read), before);
        }
    }
}
