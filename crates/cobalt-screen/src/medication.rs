//! Medication resources of an export (`Medication.ndjson`). They belong to no patient: a
//! MedicationRequest or MedicationStatement names one by `medicationReference`. They are read
//! first, kept by reference key, and each referenced one is filed with the patient whose request
//! names it, so that the mapping resolves the reference as it does within a Bundle.

use crate::errors::Errors;
use crate::{read, ErrorRecord};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// One Medication line: where it is, and its text.
pub(crate) struct MedLine {
    pub file: u32,
    pub line: u64,
    pub text: String,
}

/// The export's Medication resources by `Medication/{id}`.
#[derive(Default)]
pub(crate) struct Medications {
    by_key: HashMap<String, MedLine>,
}

#[derive(serde::Deserialize)]
struct Probe<'a> {
    #[serde(rename = "resourceType", borrow)]
    resource_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
}

impl Medications {
    /// Reads the Medication files, block by block; a bad line becomes an error record in
    /// `sink`. Returns the lines read per file index.
    pub(crate) fn load(
        files: &[(String, PathBuf)],
        names: &[String],
        bytes_read: &Arc<AtomicU64>,
        sink: &Errors,
    ) -> std::io::Result<(Medications, HashMap<usize, u64>)> {
        let mut meds = Medications::default();
        let mut lines_per_file = HashMap::new();
        let mut failed = None;
        for (fi, (kind, path)) in files.iter().enumerate() {
            if kind != "Medication" {
                continue;
            }
            let mut errors = Vec::new();
            let r = read::read_file(fi as u32, path, bytes_read, &mut |block| {
                for (lineno, bytes) in read::lines(&block) {
                    meds.add(fi as u32, lineno, bytes, &names[fi], &mut errors);
                    if let Err(e) = sink.extend(&mut errors) {
                        failed.get_or_insert(e);
                    }
                }
            });
            lines_per_file.insert(fi, r.lines);
            sink.extend(&mut r.errors(&names[fi]))?;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok((meds, lines_per_file)),
        }
    }

    /// Reads one line of a Medication file (`name`, index `fi`): kept by its reference key, or an
    /// error record. A blank line is passed over.
    pub(crate) fn add(
        &mut self,
        fi: u32,
        lineno: u64,
        bytes: &[u8],
        name: &str,
        errors: &mut Vec<ErrorRecord>,
    ) {
        let mut bad = |kind: &str, message: String| {
            errors.push(ErrorRecord {
                file: name.to_string(),
                line: lineno,
                patient: None,
                kind: kind.into(),
                message,
            })
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            bad("not_utf8", "not UTF-8 (FHIR NDJSON is UTF-8)".into());
            return;
        };
        let text = text.trim_end();
        match serde_json::from_str::<Probe<'_>>(text) {
            Ok(p) if p.resource_type.as_deref() == Some("Medication") => match p.id {
                Some(id) if !id.is_empty() => {
                    self.by_key
                        .entry(format!("Medication/{id}"))
                        .or_insert(MedLine {
                            file: fi,
                            line: lineno,
                            text: text.to_string(),
                        });
                }
                _ => bad(
                    "not_fhir",
                    "a Medication without an id cannot be referred to".into(),
                ),
            },
            Ok(p) => bad(
                "not_fhir",
                format!(
                    "a {} in the Medication file",
                    p.resource_type
                        .as_deref()
                        .unwrap_or("resource without resourceType")
                ),
            ),
            Err(e) => {
                let k = if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
                    "not_fhir"
                } else {
                    "not_json"
                };
                bad(k, e.to_string());
            }
        }
    }

    /// Every Medication kept, in file and line order.
    pub(crate) fn lines(&self) -> Vec<&MedLine> {
        let mut v: Vec<&MedLine> = self.by_key.values().collect();
        v.sort_by_key(|m| (m.file, m.line));
        v
    }

    /// The Medication a `medicationReference` names: `Medication/{id}`, or an absolute URL or a
    /// versioned reference that ends in it.
    pub(crate) fn get(&self, reference: &str) -> Option<&MedLine> {
        let r = reference.split("/_history/").next().unwrap_or(reference);
        let at = r.rfind("Medication/")?;
        let key = &r[at..];
        (at == 0 || r.as_bytes()[at - 1] == b'/')
            .then(|| self.by_key.get(key))
            .flatten()
    }
}
