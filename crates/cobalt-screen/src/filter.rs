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
use memchr::arch::all::packedpair;
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

/// Bits in the filter's quick test, a bitmap in front of the code set (8 KiB).
const QUICK_BITS: usize = 1 << 16;

/// How common each byte of `"code"` is in FHIR JSON, for the search's choice of which two
/// bytes to look for. memchr's default ranking is drawn from prose and code, where `"` is fairly
/// rare; in JSON it is the commonest byte, and choosing it makes every four-letter string a
/// candidate. Ranked as common, the search keys on the rarer letters (`d`, then `c`).
struct JsonRank;

impl packedpair::HeuristicFrequencyRank for JsonRank {
    fn rank(&self, byte: u8) -> u8 {
        match byte {
            b'"' | b':' | b',' | b'{' | b'}' | b'[' | b']' => 255,
            b'e' => 240,
            b'o' => 230,
            b'c' => 200,
            b'd' => 170,
            _ => 128,
        }
    }
}

/// What the filter knows: the codes that can make an Observation matter.
pub(crate) struct Filter<'kb> {
    kb: &'kb KnowledgeBase,
    /// Codes in upper case: whole for most systems, the three-character category for ICD-10.
    codes: CodeSet,
    /// One bit for each code's [`quick`] hash: a value whose bit is clear is not in `codes`,
    /// so most values never reach the set.
    quick: Box<[u64]>,
    key: memmem::Finder<'static>,
}

/// A short hash of an upper-cased code (its length, first two and last two bytes) for the
/// quick test.
fn quick(code: &[u8]) -> usize {
    let n = code.len();
    let (a, b) = (code[0] as usize, code[n.min(2) - 1] as usize);
    let (c, d) = (code[n - 1] as usize, code[n.saturating_sub(2)] as usize);
    let h = (n ^ a << 3 ^ b << 7 ^ c << 11 ^ d << 14).wrapping_mul(0x9E37_79B9);
    (h >> 8) & (QUICK_BITS - 1)
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
        let mut bits = vec![0u64; QUICK_BITS / 64].into_boxed_slice();
        for c in &codes {
            let q = quick(c);
            bits[q / 64] |= 1 << (q % 64);
        }
        Filter {
            kb,
            codes,
            quick: bits,
            key: memmem::FinderBuilder::new()
                .build_forward_with_ranker(JsonRank, b"\"code\"")
                .into_owned(),
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
        if memchr::memchr_iter(b'\\', line).any(|i| line.get(i + 1) == Some(&b'u')) {
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
        self.in_set(up) || (up.len() > 3 && self.in_set(&up[..3]))
    }

    /// Whether an upper-cased code is in the set: the quick test first, the set only when its
    /// bit is set.
    fn in_set(&self, code: &[u8]) -> bool {
        let q = quick(code);
        self.quick[q / 64] & (1 << (q % 64)) != 0 && self.codes.contains(code)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(system: &str, code: &str, spaced: bool) -> Vec<u8> {
        let l = format!(
            r#"{{"resourceType":"Observation","category":[{{"coding":[{{"code":"vital-signs"}}]}}],"code":{{"coding":[{{"system":"{system}","code":"{code}"}}]}},"valueQuantity":{{"code":"mm[Hg]"}}}}"#
        );
        if spaced {
            l.replace("\"code\":", "\"code\" :\n \t").into_bytes()
        } else {
            l.into_bytes()
        }
    }

    /// Every code the mapping can read keeps its line, however it is spaced or cased: the
    /// quick test in front of the set never turns one away.
    #[test]
    fn every_code_read_keeps_its_line() {
        let kb = cobalt_kb::load().unwrap();
        let f = Filter::new(&kb);
        let mut n = 0;
        for c in kb.vocab.concepts() {
            for (sys, code) in &c.codes {
                for spaced in [false, true] {
                    for code in [code.to_string(), code.to_ascii_lowercase()] {
                        let l = line(sys.as_str(), &code, spaced);
                        assert!(
                            f.observation_may_matter(&l),
                            "{}",
                            String::from_utf8_lossy(&l)
                        );
                        n += 1;
                    }
                }
            }
        }
        for set in OBSERVATION_SETS {
            for code in &tables().set(set).codes {
                assert!(f.observation_may_matter(&line("x", &code.code, false)));
            }
        }
        assert!(n > 100, "{n}");
    }

    #[test]
    fn unrelated_lines_are_skipped_and_escapes_kept() {
        let kb = cobalt_kb::load().unwrap();
        let f = Filter::new(&kb);
        for code in ["8480-6", "8462-4", "39156-5", "29463-7", "8867-4"] {
            assert!(!f.observation_may_matter(&line("http://loinc.org", code, false)));
            assert!(!f.observation_may_matter(&line("http://loinc.org", code, true)));
        }
        // An escape could spell a code: such a line is always read.
        assert!(f.observation_may_matter(&line("http://loinc.org", "8480\\u002d6", false)));
        // A backslash that starts no `\u` escape decides nothing by itself.
        assert!(!f.observation_may_matter(&line("http:\\/\\/loinc.org", "8480-6", false)));
    }
}
