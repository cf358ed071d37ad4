//! Deciding what a line is before any of it is parsed.
//!
//! Observation files are mostly vital signs and laboratory results that cobalt never reads. An
//! Observation is used only when its `code` holds a code of the vocabulary or one of the
//! Observation codes of `knowledge/fhir.toml` (pregnancy and breastfeeding status). Every such
//! code is the value of a `"code"` member (a Coding), so a line of the Observation file is
//! skipped unparsed when none of its `"code"` values is one of those codes: a `memmem` search
//! for the key and a set lookup for each value decide it. The lookup compares as the
//! vocabulary does (trimmed, ASCII case folded, an ICD-10 code by its three-character category
//! so that subcodes match). A line with a `\u` escape could spell a key or a code in escapes, and
//! a code value with a backslash cannot be read without decoding, so such lines are always
//! parsed. Lines that pass are read by a small typed probe (resource type, patient reference,
//! code), never a JSON tree, and the probe decides again with the vocabulary's own lookup.
//!
//! Patient lines and the other resource types are always read.

use cobalt_core::vocab::CodeSystem;
use cobalt_core::KnowledgeBase;
use cobalt_fhir::tables::{tables, System};
use memchr::memmem;
use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::BuildHasherDefault;

/// The filter's code set: hashed with the knowledge base's short-key hasher (its keys are the
/// knowledge base's codes, fixed when the run starts; each Observation line looks up its codes).
type CodeSet = HashSet<Vec<u8>, BuildHasherDefault<cobalt_core::kb::KeyHasher>>;

/// The Observation code sets of `knowledge/fhir.toml` that the mapping reads.
const OBSERVATION_SETS: [&str; 4] = [
    "pregnancy_status_observation",
    "breastfeeding_status_observation",
    "oct_rnfl_right",
    "oct_rnfl_left",
];

/// The longest code value compared; a longer one is kept for the probe to judge.
const MAX_CODE: usize = 64;

/// What the filter knows: the codes that can make an Observation matter.
pub(crate) struct Filter<'kb> {
    kb: &'kb KnowledgeBase,
    /// Codes in upper case: whole for most systems, the three-character category for ICD-10.
    codes: CodeSet,
    key: memmem::Finder<'static>,
}

impl<'kb> Filter<'kb> {
    pub(crate) fn new(kb: &'kb KnowledgeBase) -> Filter<'kb> {
        let mut codes = CodeSet::default();
        let mut add = |icd10: bool, code: &str| {
            let code = code.trim().to_ascii_uppercase();
            let code = if icd10 {
                code.chars().take(3).collect()
            } else {
                code
            };
            if !code.is_empty() {
                codes.insert(code.into_bytes());
            }
        };
        // Every kind: a code of another kind is refused by the mapping with a reason, as it
        // would be without the filter.
        for c in kb.vocab.concepts() {
            for (sys, code) in &c.codes {
                add(*sys == CodeSystem::Icd10, code);
            }
        }
        let t = tables();
        for set in OBSERVATION_SETS {
            for code in &t.set(set).codes {
                add(code.system == System::Vocab(CodeSystem::Icd10), &code.code);
            }
        }
        Filter {
            kb,
            codes,
            key: memmem::Finder::new(b"\"code\"").into_owned(),
        }
    }

    /// The codes, sorted: what `cobalt kb filter-codes` prints for filters outside cobalt.
    pub(crate) fn codes(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .codes
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        v.sort();
        v
    }

    /// Whether an Observation line may hold a code cobalt reads. `false` means it cannot: no
    /// `"code"` value in it is such a code, and it has no escape that could hide one.
    pub(crate) fn observation_may_matter(&self, line: &[u8]) -> bool {
        if memmem::find(line, b"\\u").is_some() {
            return true;
        }
        let mut at = 0;
        while let Some(i) = self.key.find(&line[at..]) {
            at += i + 6;
            if let Some(v) = string_value(&line[at..]) {
                match v {
                    Value::Text(v) if self.known(v) => return true,
                    Value::Text(_) => {}
                    Value::Undecided => return true,
                }
            }
        }
        false
    }

    fn known(&self, v: &[u8]) -> bool {
        let v = v.trim_ascii();
        if v.is_empty() || v.len() > MAX_CODE {
            return v.len() > MAX_CODE;
        }
        let mut buf = [0u8; MAX_CODE];
        let up = &mut buf[..v.len()];
        up.copy_from_slice(v);
        up.make_ascii_uppercase();
        self.codes.contains(&up[..]) || (up.len() > 3 && self.codes.contains(&up[..3]))
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

/// A member's value after its key.
enum Value<'a> {
    /// A string without escapes.
    Text(&'a [u8]),
    /// A string with an escape: it cannot be compared undecoded.
    Undecided,
}

/// The string value after a key (`: "..."`, JSON whitespace allowed), if the value is a
/// string; `None` for any other value.
fn string_value(rest: &[u8]) -> Option<Value<'_>> {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let mut i = rest.iter().position(|b| !ws(b))?;
    if rest[i] != b':' {
        return None;
    }
    i += 1;
    i += rest[i..].iter().position(|b| !ws(b))?;
    if rest[i] != b'"' {
        return None;
    }
    let body = &rest[i + 1..];
    let end = memchr::memchr2(b'"', b'\\', body)?;
    if body[end] == b'\\' {
        return Some(Value::Undecided);
    }
    Some(Value::Text(&body[..end]))
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
    /// A MedicationRequest's or MedicationStatement's Medication.
    #[serde(rename = "medicationReference")]
    pub medication_reference: Option<ProbeRef<'a>>,
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
