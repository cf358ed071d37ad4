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
//! 3. spill their text to partition files by patient hash, each about 48 MB of input divided
//!    by the number of threads.
//! 4. [`assess`]: each thread takes the next partition and assesses its patients in patient-id
//!    order, with the same mapping and evaluator as `cobalt assess`.
//! 5. [`write`]: the partitions' sorted results are merged into one file: the compact
//!    [`row::Row`] per patient (NDJSON, CSV or Parquet), or the full assessment.
//!
//! [`stage`] runs these stages one at a time on streams, for a job that distributes them (the
//! Spark job).
//!
//! Memory is bounded by one partition per thread (together about 48 MB of input), whatever the
//! size of the export. A bad line (not UTF-8, not JSON, not a FHIR resource, a value the case
//! format refuses) becomes an error record naming its file and line; the patient is assessed
//! without it, and the summary reconciles patients read, assessed and in error. Error records
//! are streamed to disk, at most [`Options::max_errors_per_file`] of them for one file
//! ([`errors`]).
//!
//! A run owns its output directory ([`output`]): it holds a lock on it from start to end, writes
//! under names of its own, and commits results, errors and summary together or not at all.

#![forbid(unsafe_code)]

mod assess;
mod errors;
mod export;
mod filter;
mod medication;
pub mod output;
pub mod parquet;
mod partition;
mod read;
pub mod row;
mod row_json;
pub mod stage;
mod write;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

pub use export::{discover, manifest_date, survey, Export};
pub use output::{OutputLock, LOCK_FILE};

/// Error records kept for one file unless told otherwise (`--max-errors-per-file`).
pub const DEFAULT_MAX_ERRORS_PER_FILE: u64 = 1000;

/// A problem that is the input's fault, not the machine's: an export directory that does not
/// exist or cannot be listed, a manifest that is not JSON or lists no output, an export with no
/// file cobalt reads. The command line exits 2 on it.
#[derive(Debug)]
pub struct InputProblem(pub String);

impl std::fmt::Display for InputProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputProblem {}

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
    /// Error records written for one file at most (its first ones); the rest are counted, and
    /// one `not_recorded` record says how many.
    pub max_errors_per_file: u64,
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
    /// `unreadable` (the file could not be read from this line on), `too_long` (a line over
    /// 64 MiB, not read), `not_utf8`, `not_json`, `not_fhir`, `no_patient`, `invalid_value`,
    /// `conflicting_patient` (a second, different Patient with the same id), `patient_absent`
    /// (resources name a Patient the export does not hold; line 0), `patient` (the patient could
    /// not be assessed; line 0), `file_not_read` (a file of the export directory that is not
    /// read; line 0), `export_error` (an issue of the export's own error files) or
    /// `not_recorded` (how many more records of the file were counted but not written).
    pub kind: String,
    /// What is wrong.
    pub message: String,
}

/// A file of the export directory that is not read.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NotRead {
    /// Path, relative to the export.
    pub path: String,
    /// `type_not_read` (a resource type cobalt does not read), `not_in_manifest` (the export
    /// has a manifest that does not name it), `unrecognised_name` (not `<Type>*.ndjson` or
    /// `.ndjson.gz`), `outside_export` (a symbolic link out of the export directory) or
    /// `not_a_file`.
    pub reason: String,
    /// Why, in words.
    pub message: String,
}

impl NotRead {
    /// Whether `--strict` fails on it: a name cobalt cannot place, a link out of the export or
    /// something that is not a file, not a type cobalt does not read.
    pub fn fails_strict(&self) -> bool {
        export::REASONS
            .iter()
            .any(|(r, strict)| *strict && *r == self.reason)
    }
}

/// One of the export's own error files (the manifest's `error` list).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExportErrorFile {
    /// Path, relative to the export.
    pub path: String,
    /// Lines read.
    pub lines: u64,
    /// OperationOutcome issues in it (each an `export_error` record).
    pub issues: u64,
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
    /// Files of the export directory that are not read, and why (each has a `file_not_read`
    /// error record).
    pub files_not_read: Vec<NotRead>,
    /// The export's own error files, from the manifest's `error` list: the export says that
    /// part of it failed.
    pub export_errors: Vec<ExportErrorFile>,
    /// Their OperationOutcome issues (each an `export_error` record).
    pub export_issues: u64,
    /// The most error records written for one file.
    pub max_errors_per_file: u64,
    /// Error records counted but not written, over that maximum.
    pub errors_not_recorded: u64,
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
    /// its end, an issue of the export's error files.
    pub(crate) fn count_errors(&mut self, errors: &[ErrorRecord]) {
        let mut t = errors::Tally::default();
        for e in errors {
            t.count(e);
        }
        self.add(&t);
    }

    /// Adds the patient counts of another summary (an assessment thread's): everything
    /// [`assess::patients`] counts.
    pub(crate) fn add_assessed(&mut self, o: &Summary) {
        let Summary {
            patients_read,
            patients_assessed,
            patients_in_error,
            by_b12_status,
            by_picture,
            by_cause,
            by_flag,
            patients_flagged,
            by_mcdonald_2017,
            by_mcdonald_2024,
            skipped_resources_by_kind,
            // Not counted per patient: the run's own, or the error records' (`add`).
            as_of: _,
            as_of_source: _,
            knowledge_version: _,
            files: _,
            lines_read: _,
            lines_skipped: _,
            bad_lines: _,
            files_in_error: _,
            files_not_read: _,
            export_errors: _,
            export_issues: _,
            max_errors_per_file: _,
            errors_not_recorded: _,
            bad_lines_by_kind: _,
            seconds: _,
            read_seconds: _,
        } = o;
        self.patients_read += patients_read;
        self.patients_assessed += patients_assessed;
        self.patients_in_error += patients_in_error;
        self.patients_flagged += patients_flagged;
        for (mine, theirs) in [
            (&mut self.by_b12_status, by_b12_status),
            (&mut self.by_picture, by_picture),
            (&mut self.by_cause, by_cause),
            (&mut self.by_flag, by_flag),
            (&mut self.by_mcdonald_2017, by_mcdonald_2017),
            (&mut self.by_mcdonald_2024, by_mcdonald_2024),
            (
                &mut self.skipped_resources_by_kind,
                skipped_resources_by_kind,
            ),
        ] {
            for (k, n) in theirs {
                *mine.entry(k.clone()).or_default() += n;
            }
        }
    }

    fn add(&mut self, t: &errors::Tally) {
        self.bad_lines += t.bad_lines;
        for (k, n) in &t.bad_lines_by_kind {
            *self.bad_lines_by_kind.entry(k.clone()).or_default() += n;
        }
        self.files_in_error += t.files_in_error;
        self.export_issues += t.export_issues;
        self.errors_not_recorded += t.not_recorded;
    }

    /// Whether `--strict` fails: a bad line, a patient in error, a file that could not be read
    /// or that should have been, an issue the export itself reports.
    pub fn fails_strict(&self) -> bool {
        self.bad_lines > 0
            || self.patients_in_error > 0
            || self.files_in_error > 0
            || self.export_issues > 0
            || self.files_not_read.iter().any(NotRead::fails_strict)
    }
}

/// Runs the screening: takes the output directory's lock (or fails at once when another run
/// holds it), then [`screen_locked`]. `progress` is called now and then while reading.
pub fn screen(
    kb: &cobalt_core::KnowledgeBase,
    profile: &cobalt_core::Profile,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Summary> {
    let lock = OutputLock::acquire(&opts.out)?;
    screen_locked(kb, profile, opts, &lock, progress)
}

/// Runs the screening into the directory `lock` holds (`opts.out`), for a caller that took the
/// lock earlier (`cobalt screen --pull`, to hold it over the pull too). The outputs are
/// committed together or not at all; an error names the file and what failed.
pub fn screen_locked(
    kb: &cobalt_core::KnowledgeBase,
    profile: &cobalt_core::Profile,
    opts: &Options,
    lock: &OutputLock,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Summary> {
    let started = std::time::Instant::now();
    if lock.dir() != opts.out {
        bail!(
            "the lock held is on {}, not on {}",
            lock.dir().display(),
            opts.out.display()
        );
    }
    if opts.detail == Detail::Full && opts.format != Format::Ndjson {
        bail!("full assessments are written as NDJSON only");
    }
    let export = survey(&opts.input)?;
    if export.files.is_empty() && export.error_files.is_empty() {
        let mut message = format!(
            "{}: no FHIR Bulk Data files cobalt reads (Patient.ndjson, Observation.ndjson, ...)",
            opts.input.display()
        );
        for n in export.not_read.iter().take(5) {
            message.push_str(&format!("; {}: {}", n.path, n.message));
        }
        return Err(InputProblem(message).into());
    }
    run(kb, profile, opts, lock, &export, started, progress).with_context(|| {
        format!(
            "{}: nothing written (no results, errors or summary)",
            opts.out.display()
        )
    })
}

/// The run itself, once the lock is held and the export surveyed.
fn run(
    kb: &cobalt_core::KnowledgeBase,
    profile: &cobalt_core::Profile,
    opts: &Options,
    lock: &OutputLock,
    export: &Export,
    started: std::time::Instant,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Summary> {
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.threads
    };
    let out = &opts.out;
    lock.clear_leftovers()?;
    write::clear(out)?;
    let files = &export.files;
    let names: Vec<String> = files
        .iter()
        .map(|(_, p)| export::relative(&opts.input, p))
        .collect();
    let size = |p: &PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    let total_bytes: u64 = files.iter().map(|(_, p)| size(p)).sum::<u64>()
        + export.error_files.iter().map(size).sum::<u64>();
    // Lines are spilled to partition files by patient hash, so that memory holds one partition
    // per thread at a time: together about 48 MB of input. At least two partitions a thread,
    // so that every thread has one to assess; at most 512 (all are open while filing).
    let per_partition = ((48u64 << 20) / threads as u64).max(1 << 20);
    let nparts = ((total_bytes / per_partition) as usize + 1).clamp(2 * threads.min(256), 512);
    let spill = partition::Spill::create(out, lock.run(), nparts)?;
    let sink = errors::Errors::new(spill.dir.clone(), opts.max_errors_per_file);
    let recording = "writing error records";
    for n in &export.not_read {
        sink.push(ErrorRecord {
            file: n.path.clone(),
            line: 0,
            patient: None,
            kind: "file_not_read".into(),
            message: format!("not read: {}", n.message),
        })
        .context(recording)?;
    }
    let bytes_read = Arc::new(AtomicU64::new(0));
    let export_errors = export::read_outcomes(&opts.input, &export.error_files, &bytes_read, &sink)
        .context(recording)?;
    let filed = partition::file_lines(
        kb,
        opts,
        files,
        &names,
        &spill,
        &sink,
        threads,
        &bytes_read,
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
        files_not_read: export.not_read.clone(),
        export_errors,
        max_errors_per_file: opts.max_errors_per_file,
        ..Summary::default()
    };
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
    assess::partitions(&ctx, &spill, &mut summary, &sink)?;

    // --- The outputs, each under a temporary name, then committed together ------------
    let results = write::Atomic::new(out.join(format!("results.{}", opts.format.extension())));
    write::merge(opts, &spill, &results)?;
    spill.remove_results();
    let errors = write::Atomic::new(out.join("errors.ndjson"));
    let mut w = BufWriter::with_capacity(1 << 20, errors.create()?);
    let tally = sink.finish(&mut w).with_context(|| errors.writing())?;
    w.flush().with_context(|| errors.writing())?;
    drop(w);
    summary.add(&tally);
    summary.files = files
        .iter()
        .enumerate()
        .map(|(i, (k, p))| InputFile {
            kind: k.clone(),
            path: names[i].clone(),
            lines: filed.file_lines[i],
            bytes: size(p),
        })
        .collect();
    summary.seconds = started.elapsed().as_secs_f64();
    summary.read_seconds = read_seconds;
    let summary_file = write::Atomic::new(out.join("summary.json"));
    summary_file
        .create()?
        .write_all(&serde_json::to_vec_pretty(&summary)?)
        .with_context(|| summary_file.writing())?;
    output::commit(out, vec![results, errors, summary_file])?;
    drop(spill);
    Ok(summary)
}
