//! Population screening over a FHIR Bulk Data export.
//!
//! The export is one NDJSON file per resource type (optionally gzip-compressed, optionally with
//! a Bulk Data `manifest.json`), one resource per line, not sorted by patient. The stages, one
//! module each:
//!
//! 1. [`read`]: the reader thread reads each file in blocks of whole lines, as bytes.
//! 2. [`filter`]: worker threads (one per core) skip the lines that cannot matter before
//!    parsing them (an Observation holding no code cobalt reads), read the rest with a small
//!    typed probe (resource type, patient, code), and
//! 3. spill their text to partition files by patient hash, about 48 MB of input each.
//! 4. [`assess`]: one partition at a time, the patients are assessed in parallel, in patient-id
//!    order, with the same mapping and evaluator as `cobalt assess`.
//! 5. [`write`]: the partitions' sorted results are merged into one file: the compact
//!    [`row::Row`] per patient (NDJSON, CSV or Parquet), or the full assessment.
//!
//! [`stage`] runs these stages one at a time on streams, for a job that distributes them (the
//! Spark job).
//!
//! Memory is bounded by one partition, whatever the size of the export. A bad line (not UTF-8,
//! not JSON, not a FHIR resource, a value the case format refuses) becomes an error record
//! naming its file and line; the patient is assessed without it, and the summary reconciles
//! patients read, assessed and in error.

#![forbid(unsafe_code)]

mod assess;
mod filter;
mod medication;
pub mod parquet;
mod partition;
mod read;
pub mod row;
pub mod stage;
mod write;

use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub use read::{discover, manifest_date};

/// The codes that can make an Observation matter, upper case, an ICD-10 code by its
/// three-character category: a line of the Observation file none of whose `"code"` values is one
/// of these (or, for a longer value, starts with an ICD-10 category among them) is skipped
/// unparsed; `cobalt kb filter-codes` prints the set.
pub fn observation_filter_codes(kb: &cobalt_core::KnowledgeBase) -> Vec<String> {
    filter::Filter::new(kb).codes()
}

/// Resource types the screening reads: those of a patient, and the Medication resources their
/// requests refer to.
pub const TYPES: &[&str] = &[
    "Patient",
    "Observation",
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
    "Procedure",
    "Medication",
];

/// Output format of the per-patient results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Ndjson,
    /// One CSV record per patient, with a header.
    Csv,
    /// An Apache Parquet file with the columns of [`row::Row`].
    Parquet,
}

impl Format {
    /// The file extension of results in this format.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

/// How much of each assessment is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    /// One [`row::Row`] per patient: conclusions, flags, rules, latest B12, refused lines.
    #[default]
    Compact,
    /// The whole assessment, as `cobalt assess --format json` writes it (NDJSON only).
    Full,
}

/// Options.
#[derive(Debug, Clone)]
pub struct Options {
    /// The export directory.
    pub input: PathBuf,
    /// The results directory (created).
    pub out: PathBuf,
    /// Output format.
    pub format: Format,
    /// Compact rows or full assessments.
    pub detail: Detail,
    /// Parse every line, also those the filter would skip, and report every bad one.
    pub validate_all: bool,
    /// The assessment date.
    pub as_of: time::Date,
    /// Where the date comes from: `--as-of`, `manifest transactionTime` or `today`.
    pub as_of_source: String,
    /// Worker threads (0: one per core).
    pub threads: usize,
}

/// Progress, reported as the input is read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Bytes read (compressed bytes for .gz files).
    pub bytes: u64,
    /// Total bytes.
    pub total_bytes: u64,
    /// Lines read.
    pub lines: u64,
}

/// One input file.
#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    /// Resource type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Path relative to the export.
    pub path: String,
    /// Lines read.
    pub lines: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

/// An error record: a line (or a patient) that could not be used.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ErrorRecord {
    /// File, relative to the export.
    pub file: String,
    /// 1-based line, or 0 for a patient-level error.
    pub line: u64,
    /// The patient, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// `unreadable` (the file could not be read from this line on), `not_utf8`, `not_json`,
    /// `not_fhir`, `no_patient`, `invalid_value`, `conflicting_patient` (a second, different
    /// Patient with the same id), `patient_absent` (resources name a Patient the export does not
    /// hold; line 0) or `patient` (the patient could not be assessed; line 0).
    pub kind: String,
    /// What is wrong.
    pub message: String,
}

/// The summary.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    /// Assessment date.
    pub as_of: String,
    /// Where the date comes from: `--as-of`, `manifest transactionTime` or `today`.
    pub as_of_source: String,
    /// Knowledge-base version.
    pub knowledge_version: String,
    /// Files read.
    pub files: Vec<InputFile>,
    /// Lines read.
    pub lines_read: u64,
    /// Lines skipped unparsed, or after the probe, because they cannot change any assessment
    /// (Observations with no code cobalt reads). Zero with `validate_all`, except for those
    /// the probe skips.
    pub lines_skipped: u64,
    /// Lines that became error records.
    pub bad_lines: u64,
    /// Files that could not be opened or read to their end (each has an error record).
    pub files_in_error: u64,
    /// Bad lines by kind.
    pub bad_lines_by_kind: BTreeMap<String, u64>,
    /// Patients with at least one resource.
    pub patients_read: u64,
    /// Patients assessed.
    pub patients_assessed: u64,
    /// Patients that could not be assessed at all.
    pub patients_in_error: u64,
    /// Counts by B12 status.
    pub by_b12_status: BTreeMap<String, u64>,
    /// Counts by picture.
    pub by_picture: BTreeMap<String, u64>,
    /// Counts by cause.
    pub by_cause: BTreeMap<String, u64>,
    /// Counts by screening flag.
    pub by_flag: BTreeMap<String, u64>,
    /// Patients with at least one flag.
    pub patients_flagged: u64,
    /// Counts by McDonald 2017 result: `met`, `not_met`, `undecided` (not enough data) or
    /// `not_assessed`.
    pub by_mcdonald_2017: BTreeMap<String, u64>,
    /// Counts by McDonald 2024 result, with the same keys.
    pub by_mcdonald_2024: BTreeMap<String, u64>,
    /// Resources of assessed patients that were read but not used, by kind
    /// (`cobalt_fhir::SKIP_KINDS`: `type_not_read`, `status`, `no_code`, ...).
    pub skipped_resources_by_kind: BTreeMap<String, u64>,
    /// Seconds taken.
    pub seconds: f64,
    /// Of which reading and filing the input.
    pub read_seconds: f64,
}

impl Summary {
    /// Counts error records: a bad line (line > 0) by kind, a file that could not be read to
    /// its end.
    pub(crate) fn count_errors(&mut self, errors: &[ErrorRecord]) {
        for e in errors {
            if e.kind == "unreadable" {
                self.files_in_error += 1;
            } else if e.line > 0 {
                self.bad_lines += 1;
                *self.bad_lines_by_kind.entry(e.kind.clone()).or_default() += 1;
            }
        }
    }
}

/// Runs the screening. `progress` is called now and then while reading.
pub fn screen(
    kb: &cobalt_core::KnowledgeBase,
    profile: &cobalt_core::Profile,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Summary> {
    let started = std::time::Instant::now();
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.threads
    };
    if opts.detail == Detail::Full && opts.format != Format::Ndjson {
        anyhow::bail!("full assessments are written as NDJSON only");
    }
    let files = discover(&opts.input)?;
    if files.is_empty() {
        anyhow::bail!(
            "{}: no FHIR Bulk Data files (Patient.ndjson, Observation.ndjson, ...)",
            opts.input.display()
        );
    }
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    write::clear(&opts.out)?;
    let names: Vec<String> = files
        .iter()
        .map(|(_, p)| {
            p.strip_prefix(&opts.input)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let total_bytes: u64 = files
        .iter()
        .map(|(_, p)| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    // Lines are spilled to partition files by patient hash, so that memory holds one
    // partition at a time: about 48 MB of input per partition.
    let nparts = ((total_bytes / (48 << 20)) as usize + 1).clamp(1, 512);
    let spill = partition::Spill::create(&opts.out, nparts)?;
    let filed = partition::file_lines(
        kb,
        opts,
        &files,
        &names,
        &spill,
        threads,
        total_bytes,
        progress,
    )?;
    let read_seconds = started.elapsed().as_secs_f64();

    let mut summary = Summary {
        as_of: cobalt_fhir::dates::format(opts.as_of),
        as_of_source: opts.as_of_source.clone(),
        knowledge_version: kb.meta.version.clone(),
        lines_read: filed.lines_read,
        lines_skipped: filed.lines_skipped,
        ..Summary::default()
    };
    let mut errors = filed.errors;
    let ctx = assess::Context {
        kb,
        profile,
        opts,
        names: &names,
        patient_files: &files
            .iter()
            .map(|(k, _)| k == "Patient")
            .collect::<Vec<_>>(),
        threads,
    };
    assess::partitions(&ctx, &spill, &mut summary, &mut errors)?;
    write::merge(opts, &spill)?;
    spill.remove();

    // --- Errors and summary -----------------------------------------------------------
    errors.sort();
    summary.count_errors(&errors);
    write::errors(&opts.out, &errors)?;
    summary.files = files
        .iter()
        .enumerate()
        .map(|(i, (k, p))| InputFile {
            kind: k.clone(),
            path: names[i].clone(),
            lines: filed.file_lines[i],
            bytes: std::fs::metadata(p).map_or(0, |m| m.len()),
        })
        .collect();
    summary.seconds = started.elapsed().as_secs_f64();
    summary.read_seconds = read_seconds;
    write::file(
        opts.out.join("summary.json"),
        &serde_json::to_vec_pretty(&summary)?,
    )?;
    Ok(summary)
}
