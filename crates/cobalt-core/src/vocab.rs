//! The concept vocabulary (`knowledge/concepts.tsv`, the contract's `concepts.tsv` extended).
//!
//! A concept has an id that never changes, a kind, a label and the codes that map to it. Codes
//! are matched by system and value; an ICD-10 code also matches its subcodes (`K50` matches
//! `K50.9` and `K509`).

use crate::kb::KeyMap;

/// The kind of a concept, as in the contract's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A symptom or sign.
    Finding,
    /// A laboratory test.
    Lab,
    /// An imaging or CSF investigation.
    Investigation,
    /// A medicine that is not a B12 product.
    Medication,
    /// A vitamin B12 product.
    B12Product,
    /// An exposure such as nitrous oxide.
    Exposure,
    /// A diet.
    Diet,
    /// A condition.
    Condition,
    /// An operation or procedure.
    Procedure,
    /// A specialty to refer to.
    Referral,
}

impl Kind {
    /// Parses the kind column.
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "finding" => Kind::Finding,
            "lab" => Kind::Lab,
            "investigation" => Kind::Investigation,
            "medication" => Kind::Medication,
            "b12_product" => Kind::B12Product,
            "exposure" => Kind::Exposure,
            "diet" => Kind::Diet,
            "condition" => Kind::Condition,
            "procedure" => Kind::Procedure,
            "referral" => Kind::Referral,
            _ => return None,
        })
    }

    /// The kind's name in the vocabulary file.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Finding => "finding",
            Kind::Lab => "lab",
            Kind::Investigation => "investigation",
            Kind::Medication => "medication",
            Kind::B12Product => "b12_product",
            Kind::Exposure => "exposure",
            Kind::Diet => "diet",
            Kind::Condition => "condition",
            Kind::Procedure => "procedure",
            Kind::Referral => "referral",
        }
    }
}

/// A code system that the vocabulary maps from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CodeSystem {
    /// LOINC.
    Loinc,
    /// SNOMED CT.
    Snomed,
    /// ICD-10 (WHO) and its national modifications such as ICD-10-CM.
    Icd10,
    /// WHO ATC.
    Atc,
    /// RxNorm (US National Library of Medicine): ingredients, clinical and branded drugs.
    Rxnorm,
}

impl CodeSystem {
    /// Parses a short name (`loinc`, `snomed`, `icd10`, `atc`, `rxnorm`) or a FHIR system URI,
    /// ignoring ASCII case and surrounding whitespace (without allocating: it runs for every
    /// coding read).
    pub fn parse(s: &str) -> Option<CodeSystem> {
        const NAMES: &[(&str, CodeSystem)] = &[
            ("http://loinc.org", CodeSystem::Loinc),
            ("http://snomed.info/sct", CodeSystem::Snomed),
            ("http://hl7.org/fhir/sid/icd-10", CodeSystem::Icd10),
            ("http://hl7.org/fhir/sid/icd-10-cm", CodeSystem::Icd10),
            ("http://www.whocc.no/atc", CodeSystem::Atc),
            (
                "http://www.nlm.nih.gov/research/umls/rxnorm",
                CodeSystem::Rxnorm,
            ),
            ("http://id.who.int/icd/release/10", CodeSystem::Icd10),
            ("loinc", CodeSystem::Loinc),
            ("snomed", CodeSystem::Snomed),
            ("snomed-ct", CodeSystem::Snomed),
            ("sct", CodeSystem::Snomed),
            ("icd10", CodeSystem::Icd10),
            ("icd-10", CodeSystem::Icd10),
            ("icd10cm", CodeSystem::Icd10),
            ("icd-10-cm", CodeSystem::Icd10),
            ("atc", CodeSystem::Atc),
            ("rxnorm", CodeSystem::Rxnorm),
        ];
        let s = s.trim();
        NAMES
            .iter()
            .find(|(name, _)| name.len() == s.len() && name.eq_ignore_ascii_case(s))
            .map(|(_, cs)| *cs)
    }

    /// The short name used in the vocabulary file.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeSystem::Loinc => "loinc",
            CodeSystem::Snomed => "snomed",
            CodeSystem::Icd10 => "icd10",
            CodeSystem::Atc => "atc",
            CodeSystem::Rxnorm => "rxnorm",
        }
    }
}

/// One concept of the vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct Concept {
    /// The stable id.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// A label for people.
    pub label: String,
    /// The codes that map to it.
    pub codes: Vec<(CodeSystem, String)>,
    /// Whether the codes were checked in an authoritative source (`yes`, `partly`, `no`, empty).
    pub codes_checked: String,
}

/// The concept vocabulary.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    concepts: Vec<Concept>,
    /// Id → concept; hashed (a lookup per concept named by a case, a rule or a label).
    by_id: KeyMap<String, usize>,
    /// Normalised code → the first concept (in file order) that carries it.
    by_code: KeyMap<(CodeSystem, String), usize>,
}

/// A problem found while reading the vocabulary file.
#[derive(Debug, Clone, PartialEq)]
pub struct VocabProblem {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn normalise_code(system: CodeSystem, code: &str) -> String {
    let c = code.trim().to_ascii_uppercase();
    match system {
        CodeSystem::Icd10 => c.replace('.', ""),
        _ => c,
    }
}

impl Vocabulary {
    /// Parses the tab-separated vocabulary (header line first). Returns every problem found.
    pub fn parse_tsv(text: &str) -> (Vocabulary, Vec<VocabProblem>) {
        let mut vocab = Vocabulary::default();
        let mut problems = Vec::new();
        for (i, line) in text.lines().enumerate().skip(1) {
            let lineno = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 3 {
                problems.push(VocabProblem {
                    line: lineno,
                    message: "fewer than 3 columns".into(),
                });
                continue;
            }
            let Some(kind) = Kind::parse(cols[1]) else {
                problems.push(VocabProblem {
                    line: lineno,
                    message: format!("unknown kind `{}`", cols[1]),
                });
                continue;
            };
            let mut codes = Vec::new();
            for item in cols
                .get(3)
                .copied()
                .unwrap_or("")
                .split(';')
                .filter(|s| !s.is_empty())
            {
                match item.split_once('|') {
                    Some((sys, code)) => match CodeSystem::parse(sys) {
                        Some(sys) => codes.push((sys, code.to_string())),
                        None => problems.push(VocabProblem {
                            line: lineno,
                            message: format!("unknown code system `{sys}`"),
                        }),
                    },
                    None => problems.push(VocabProblem {
                        line: lineno,
                        message: format!("code `{item}` is not `system|code`"),
                    }),
                }
            }
            let id = cols[0].to_string();
            if vocab.by_id.contains_key(&id) {
                problems.push(VocabProblem {
                    line: lineno,
                    message: format!("duplicate id `{id}`"),
                });
                continue;
            }
            let index = vocab.concepts.len();
            vocab.by_id.insert(id.clone(), index);
            for (sys, code) in &codes {
                vocab
                    .by_code
                    .entry((*sys, normalise_code(*sys, code)))
                    .or_insert(index);
            }
            vocab.concepts.push(Concept {
                id,
                kind,
                label: cols[2].to_string(),
                codes,
                codes_checked: cols.get(4).copied().unwrap_or("").to_string(),
            });
        }
        (vocab, problems)
    }

    /// Adds a code to a concept (from a code table such as `knowledge/codes/rxnorm.tsv`).
    /// Refused when the concept is unknown or the code already maps to another concept: a code
    /// maps to exactly one concept.
    pub fn add_code(&mut self, id: &str, system: CodeSystem, code: &str) -> Result<(), String> {
        let Some(&index) = self.by_id.get(id) else {
            return Err(format!("unknown concept `{id}`"));
        };
        let key = (system, normalise_code(system, code));
        match self.by_code.get(&key) {
            Some(&other) if other != index => {
                return Err(format!(
                    "{}|{code} already maps to `{}`",
                    system.as_str(),
                    self.concepts[other].id
                ))
            }
            Some(_) => return Ok(()),
            None => {}
        }
        self.by_code.insert(key, index);
        self.concepts[index]
            .codes
            .push((system, code.trim().to_string()));
        Ok(())
    }

    /// The concept with this id.
    pub fn get(&self, id: &str) -> Option<&Concept> {
        self.by_id.get(id).map(|&i| &self.concepts[i])
    }

    /// The label of a concept, or the id itself when unknown.
    pub fn label<'a>(&'a self, id: &'a str) -> &'a str {
        self.get(id).map_or(id, |c| c.label.as_str())
    }

    /// Every concept, in file order.
    pub fn concepts(&self) -> &[Concept] {
        &self.concepts
    }

    /// The concept a code maps to, if any. ICD-10 codes also match their subcodes: the longest
    /// code in the vocabulary that is a prefix of the given one wins (an exact match first), and
    /// between concepts with the same code, the first in the file.
    pub fn lookup(&self, system: CodeSystem, code: &str) -> Option<&Concept> {
        let mut key = (system, normalise_code(system, code));
        if let Some(&i) = self.by_code.get(&key) {
            return Some(&self.concepts[i]);
        }
        if system != CodeSystem::Icd10 {
            return None;
        }
        while key.1.pop().is_some() && !key.1.is_empty() {
            if let Some(&i) = self.by_code.get(&key) {
                return Some(&self.concepts[i]);
            }
        }
        None
    }

    /// The same as [`Vocabulary::lookup`], by a scan of every code: the reference the index is
    /// tested against.
    #[doc(hidden)]
    pub fn lookup_by_scan(&self, system: CodeSystem, code: &str) -> Option<&Concept> {
        let wanted = normalise_code(system, code);
        let mut prefix_match: Option<(&Concept, usize)> = None;
        for c in &self.concepts {
            for (sys, value) in &c.codes {
                if *sys != system {
                    continue;
                }
                let have = normalise_code(system, value);
                if have == wanted {
                    return Some(c);
                }
                if system == CodeSystem::Icd10
                    && wanted.starts_with(&have)
                    && prefix_match.is_none_or(|(_, len)| have.len() > len)
                {
                    prefix_match = Some((c, have.len()));
                }
            }
        }
        prefix_match.map(|(c, _)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TSV: &str = "concept\tkind\tlabel\tcodes\tcodes_checked\n\
        crohns_disease\tcondition\tCrohn's\ticd10|K50;snomed|34000006\tyes\n\
        autoimmune_gastritis\tcondition\tAIG\ticd10|D51.0\tpartly\n\
        b12_deficiency\tcondition\tB12 def\ticd10|D51.1;icd10|D51.9\tpartly\n\
        metformin\tmedication\tMetformin\tatc|A10BA02\tyes\n";

    #[test]
    fn icd10_matches_subcodes_and_not_siblings() {
        let (v, problems) = Vocabulary::parse_tsv(TSV);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            v.lookup(CodeSystem::Icd10, "K50.9").unwrap().id,
            "crohns_disease"
        );
        assert_eq!(
            v.lookup(CodeSystem::Icd10, "k509").unwrap().id,
            "crohns_disease"
        );
        assert_eq!(
            v.lookup(CodeSystem::Icd10, "D51.0").unwrap().id,
            "autoimmune_gastritis"
        );
        assert_eq!(
            v.lookup(CodeSystem::Icd10, "D51.9").unwrap().id,
            "b12_deficiency"
        );
        assert!(v.lookup(CodeSystem::Icd10, "D51.3").is_none());
        assert!(v.lookup(CodeSystem::Icd10, "K5").is_none());
        // Prefix matching is for ICD-10 only.
        assert!(v.lookup(CodeSystem::Atc, "A10BA0").is_none());
        assert_eq!(
            v.lookup(CodeSystem::Snomed, "34000006").unwrap().id,
            "crohns_disease"
        );
    }

    #[test]
    fn reports_every_bad_line() {
        let (_, problems) =
            Vocabulary::parse_tsv("h\nx\tnope\tX\t\t\ny\tlab\tY\tfoo|1;bar\t\ny\tlab\tY2\t\t\n");
        assert_eq!(problems.len(), 4, "{problems:?}");
    }
}
