//! Deciding what a line is before any of it is parsed.
//!
//! Observation files are mostly vital signs and laboratory results that cobalt never reads. An
//! Observation is used only when its `code` holds a code of the vocabulary or one of the
//! Observation codes of `knowledge/fhir.toml` (pregnancy and breastfeeding status). So a line
//! of the Observation file in which no such code appears as text cannot change any patient's
//! assessment, and is skipped unparsed: one multi-pattern scan (Aho-Corasick, ASCII case
//! folded, as the vocabulary compares codes) decides it. A line with a `\u` escape could spell
//! a code in escapes, so it is always parsed. Lines that pass are read by a small typed probe
//! (resource type, patient reference, code), never a JSON tree, and the probe decides again
//! with the vocabulary's own lookup.
//!
//! Patient lines and the other resource types are always read.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use cobalt_core::vocab::CodeSystem;
use cobalt_core::KnowledgeBase;
use cobalt_fhir::tables::{tables, System};
use std::borrow::Cow;

/// The Observation code sets of `knowledge/fhir.toml` that the mapping reads.
const OBSERVATION_SETS: [&str; 2] = [
    "pregnancy_status_observation",
    "breastfeeding_status_observation",
];

/// What the filter knows: the codes that can make an Observation matter.
pub(crate) struct Filter<'kb> {
    kb: &'kb KnowledgeBase,
    scan: AhoCorasick,
}

impl<'kb> Filter<'kb> {
    pub(crate) fn new(kb: &'kb KnowledgeBase) -> Filter<'kb> {
        let mut patterns: Vec<String> = Vec::new();
        for c in kb.vocab.concepts() {
            // Every kind: a code of another kind is refused by the mapping with a reason, as it
            // would be without the filter.
            for (sys, code) in &c.codes {
                patterns.push(pattern(*sys == CodeSystem::Icd10, code));
            }
        }
        let t = tables();
        for set in OBSERVATION_SETS {
            for code in &t.set(set).codes {
                let icd = code.system == System::Vocab(CodeSystem::Icd10);
                patterns.push(pattern(icd, &code.code));
            }
        }
        patterns.retain(|p| !p.is_empty());
        patterns.sort();
        patterns.dedup();
        let scan = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            .build(&patterns)
            .expect("the vocabulary's codes build a scanner");
        Filter { kb, scan }
    }

    /// Whether an Observation line may hold a code cobalt reads. `false` means it cannot:
    /// no such code appears in its text and it has no escape that could spell one.
    pub(crate) fn observation_may_matter(&self, line: &[u8]) -> bool {
        self.scan.is_match(line) || memchr::memmem::find(line, b"\\u").is_some()
    }

    /// Whether a probed Observation is one the mapping reads: a coding that the vocabulary
    /// maps to a concept, or a pregnancy or breastfeeding status code.
    pub(crate) fn observation_used(&self, code: Option<&ProbeCode<'_>>) -> bool {
        let t = tables();
        code.is_some_and(|c| {
            c.coding.iter().any(|c| {
                let (Some(sys), Some(code)) = (c.system.as_deref(), c.code.as_deref()) else {
                    return false;
                };
                CodeSystem::parse(sys).is_some_and(|s| self.kb.vocab.lookup(s, code).is_some())
                    || OBSERVATION_SETS
                        .iter()
                        .any(|set| t.set(set).contains(sys, code))
            })
        })
    }
}

/// The text searched for a code: ICD-10 codes by their three-character category (so that
/// `D51.0`, `D510` and `D51` all match), other codes whole.
fn pattern(icd10: bool, code: &str) -> String {
    let code = code.trim();
    if icd10 {
        code.chars().take(3).collect()
    } else {
        code.to_string()
    }
}

/// The few fields needed to file a line: serde skips everything else without building it.
#[derive(serde::Deserialize)]
pub(crate) struct Probe<'a> {
    #[serde(rename = "resourceType", borrow)]
    pub resource_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    pub subject: Option<ProbeRef<'a>>,
    pub patient: Option<ProbeRef<'a>>,
    pub code: Option<ProbeCode<'a>>,
}

#[derive(serde::Deserialize)]
pub(crate) struct ProbeRef<'a> {
    #[serde(borrow)]
    pub reference: Option<Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
pub(crate) struct ProbeCode<'a> {
    #[serde(borrow, default)]
    pub coding: Vec<ProbeCoding<'a>>,
}

#[derive(serde::Deserialize)]
pub(crate) struct ProbeCoding<'a> {
    #[serde(borrow)]
    pub system: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub code: Option<Cow<'a, str>>,
}

/// The patient a probed resource belongs to: a Patient's own id, else the Patient its
/// `subject` (or `patient`) names, read as FHIR defines references.
pub(crate) fn patient_of(kind: &str, p: &Probe<'_>) -> Option<String> {
    if kind == "Patient" {
        return p.id.as_deref().map(str::to_string);
    }
    let reference = p
        .subject
        .as_ref()
        .and_then(|r| r.reference.as_deref())
        .or_else(|| p.patient.as_ref().and_then(|r| r.reference.as_deref()))?;
    cobalt_fhir::reference::patient_id(reference).map(str::to_string)
}

/// FNV-1a of a patient id: the partition it is filed in, stable across runs.
pub(crate) fn shard_of(id: &str, n: usize) -> usize {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in id.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    (h % n as u64) as usize
}
