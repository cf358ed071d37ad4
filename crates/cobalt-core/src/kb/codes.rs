//! The code tables beside the vocabulary (`knowledge/codes/*.tsv`): codes of a code system that
//! map to the vocabulary's concepts, each row citing the published list it was read from, and the
//! medicine names matched when a medicine carries no code cobalt knows.

use super::lint::Linter;
use super::{KnowledgeBase, SourceFile};
use crate::vocab::{CodeSystem, Kind};
use std::collections::BTreeSet;

/// The code tables: (file, code system, the concept kinds its codes may map to).
pub const CODE_TABLES: &[(&str, CodeSystem, &[Kind])] = &[
    (
        "codes/rxnorm.tsv",
        CodeSystem::Rxnorm,
        &[Kind::Medication, Kind::B12Product, Kind::Exposure],
    ),
    (
        "codes/icd10cm.tsv",
        CodeSystem::Icd10,
        &[Kind::Finding, Kind::Condition, Kind::Procedure],
    ),
];

/// A medicine name of `knowledge/codes/medicine-names.tsv`, normalised as [`normalise_name`]
/// does, with the concept it names.
#[derive(Debug, Clone, PartialEq)]
pub struct MedicineName {
    /// The name, normalised.
    pub name: String,
    /// The concept.
    pub concept: String,
}

/// A name as matching compares it: lower case, every run of characters other than letters and
/// digits a single space, a space between letters and digits (`B12` → `b 12`), padded with a
/// space at each end so that a name matches whole words only.
pub fn normalise_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(' ');
    let mut prev: Option<char> = None;
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if let Some(p) = prev {
                if p.is_alphanumeric() && (p.is_ascii_digit() != c.is_ascii_digit()) {
                    out.push(' ');
                }
            }
            out.push(c);
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
        prev = Some(c);
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

impl KnowledgeBase {
    /// The concept a medicine's name or description names, if any: `metFORMIN hydrochloride 500
    /// MG Oral Tablet` → metformin. A B12 product wins over another medicine named in the same
    /// text (a combination with folic acid is B12 replacement), then the earliest name.
    pub fn medicine_by_name(&self, text: &str) -> Option<&crate::vocab::Concept> {
        let t = normalise_name(text);
        let names = match &self.index.medicine_names {
            Some(ac) if ac.patterns_len() == self.medicine_names.len() => ac,
            // Names changed after load: read them one by one.
            _ => return self.medicine_by_name_scan(&t),
        };
        // The least (not a B12 product, position, name's order) over every occurrence of every
        // name: each name's first occurrence is its least position.
        let mut best: Option<(bool, usize, usize)> = None;
        for m in names.find_overlapping_iter(t.as_str()) {
            let n = &self.medicine_names[m.pattern().as_usize()];
            let key = (
                !self.is_b12_product(&n.concept),
                m.start(),
                m.pattern().as_usize(),
            );
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
        best.and_then(|(_, _, i)| self.vocab.get(&self.medicine_names[i].concept))
    }

    fn is_b12_product(&self, concept: &str) -> bool {
        self.vocab
            .get(concept)
            .is_some_and(|c| c.kind == Kind::B12Product)
    }

    /// [`KnowledgeBase::medicine_by_name`] name by name, on a normalised text.
    fn medicine_by_name_scan(&self, t: &str) -> Option<&crate::vocab::Concept> {
        let mut best: Option<(bool, usize, &str)> = None;
        for n in &self.medicine_names {
            if let Some(at) = t.find(&n.name) {
                let b12 = self.is_b12_product(&n.concept);
                let better = match best {
                    None => true,
                    Some((bb, bat, _)) => (b12 && !bb) || (b12 == bb && at < bat),
                };
                if better {
                    best = Some((b12, at, &n.concept));
                }
            }
        }
        best.and_then(|(_, _, c)| self.vocab.get(c))
    }
}

impl Linter {
    /// Reads the code tables and the medicine names into the vocabulary. Every row names a
    /// concept of an allowed kind and cites a reference; a code maps to one concept.
    pub(super) fn code_tables(
        &mut self,
        files: &[SourceFile<'_>],
        kb: &mut KnowledgeBase,
        used_refs: &mut BTreeSet<String>,
    ) {
        for (path, system, kinds) in CODE_TABLES {
            let Some(f) = files.iter().find(|f| f.path == *path) else {
                self.problem(path, "", "missing file");
                continue;
            };
            // Columns: code, then the concept and the source by header name.
            let mut lines = f
                .text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.starts_with('#'));
            let Some((_, header)) = lines.next() else {
                self.problem(path, "", "no header");
                continue;
            };
            let cols: Vec<&str> = header.split('\t').collect();
            let col = |name: &str| cols.iter().position(|c| *c == name);
            let (Some(ci), Some(si)) = (col("concept"), col("source")) else {
                self.problem(path, "header", "needs `concept` and `source` columns");
                continue;
            };
            for (i, line) in lines {
                if line.trim().is_empty() {
                    continue;
                }
                let item = format!("line {}", i + 1);
                let v: Vec<&str> = line.split('\t').collect();
                let (code, concept, source) = (
                    v[0].trim(),
                    v.get(ci).copied().unwrap_or(""),
                    v.get(si).copied().unwrap_or(""),
                );
                if code.is_empty() {
                    self.problem(path, &item, "no code");
                    continue;
                }
                match kb.vocab.get(concept).map(|c| c.kind) {
                    None => {
                        self.problem(path, &item, format!("unknown concept `{concept}`"));
                        continue;
                    }
                    Some(k) if !kinds.contains(&k) => {
                        self.problem(
                            path,
                            &item,
                            format!("`{concept}` is a {} concept", k.as_str()),
                        );
                        continue;
                    }
                    Some(_) => {}
                }
                if kb.references.contains_key(source) {
                    used_refs.insert(source.to_string());
                } else {
                    self.problem(path, &item, format!("unresolved source `{source}`"));
                }
                if let Err(e) = kb.vocab.add_code(concept, *system, code) {
                    self.problem(path, &item, e);
                }
            }
        }
        self.medicine_names(files, kb, used_refs);
    }

    fn medicine_names(
        &mut self,
        files: &[SourceFile<'_>],
        kb: &mut KnowledgeBase,
        used_refs: &mut BTreeSet<String>,
    ) {
        let path = "codes/medicine-names.tsv";
        let Some(f) = files.iter().find(|f| f.path == path) else {
            self.problem(path, "", "missing file");
            return;
        };
        let mut seen = BTreeSet::new();
        for (i, line) in f
            .text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.starts_with('#'))
            .skip(1)
        {
            if line.trim().is_empty() {
                continue;
            }
            let item = format!("line {}", i + 1);
            let v: Vec<&str> = line.split('\t').collect();
            let (name, concept, source) = (
                v[0],
                v.get(1).copied().unwrap_or(""),
                v.get(2).copied().unwrap_or(""),
            );
            let norm = normalise_name(name);
            if norm.trim().len() < 4 {
                self.problem(
                    path,
                    &item,
                    "a name of fewer than 4 characters would match too much",
                );
                continue;
            }
            match kb.vocab.get(concept).map(|c| c.kind) {
                Some(Kind::Medication | Kind::B12Product | Kind::Exposure) => {}
                Some(k) => {
                    self.problem(
                        path,
                        &item,
                        format!("`{concept}` is a {} concept", k.as_str()),
                    );
                    continue;
                }
                None => {
                    self.problem(path, &item, format!("unknown concept `{concept}`"));
                    continue;
                }
            }
            if !seen.insert(norm.clone()) {
                self.problem(path, &item, format!("`{name}` is listed twice"));
            }
            if kb.references.contains_key(source) {
                used_refs.insert(source.to_string());
            } else {
                self.problem(path, &item, format!("unresolved source `{source}`"));
            }
            kb.medicine_names.push(super::MedicineName {
                name: norm,
                concept: concept.to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_name;

    #[test]
    fn names_compare_as_whole_words() {
        assert_eq!(
            normalise_name("metFORMIN hydrochloride 500MG"),
            " metformin hydrochloride 500 mg "
        );
        assert_eq!(normalise_name("Vitamin B-12"), " vitamin b 12 ");
        assert_eq!(normalise_name("Vitamin B12"), " vitamin b 12 ");
        assert_eq!(
            normalise_name("sitagliptin/metformin"),
            " sitagliptin metformin "
        );
        assert!(!normalise_name("methylcobalamin").contains(" cobalamin "));
    }
}
