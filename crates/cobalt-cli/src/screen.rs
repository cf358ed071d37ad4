//! `cobalt screen`: population screening over a FHIR Bulk Data export, with a progress bar on a
//! terminal.

use anyhow::Result;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum ScreenFormat {
    /// One JSON object per line.
    Ndjson,
    /// One CSV record per patient, with a header.
    Csv,
    /// Apache Parquet, one row per patient, typed columns.
    Parquet,
}

/// How much of each assessment is written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum ScreenDetail {
    /// One compact row per patient: conclusions, flags, rules fired, latest B12, refused lines.
    Compact,
    /// The full assessment, as `cobalt assess --format json` writes it (NDJSON only).
    Full,
}

/// Flags of `cobalt screen`.
#[derive(clap::Args, Debug)]
pub struct ScreenArgs {
    /// The export directory (Patient.ndjson, Observation.ndjson, ...; .ndjson.gz too; manifest.json if present).
    #[arg(required_unless_present = "pull")]
    pub export: Option<PathBuf>,
    /// Pull the export from the EHR first (the flags of `cobalt pull`) into OUT/export, then
    /// screen it; run again to resume an unfinished pull.
    #[arg(long, conflicts_with = "export")]
    pub pull: bool,
    #[command(flatten)]
    pub pull_flags: crate::pull::PullFlags,
    /// The results directory: results.ndjson (or .csv), errors.ndjson, summary.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ScreenFormat::Ndjson)]
    pub format: ScreenFormat,
    /// Compact rows (default) or full assessments.
    #[arg(long, value_enum, default_value_t = ScreenDetail::Compact)]
    pub detail: ScreenDetail,
    /// Parse every line, also those that cannot change an assessment, and report every bad one.
    #[arg(long)]
    pub validate_all: bool,
    /// Exit with status 1 if any line, file or patient became an error record, a file that
    /// should have been read was not, or the export reports errors of its own.
    #[arg(long)]
    pub strict: bool,
    /// Error records written for one file at most (its first ones); the rest are counted in
    /// summary.json, and one record says how many.
    #[arg(long, value_name = "N", default_value_t = cobalt_screen::DEFAULT_MAX_ERRORS_PER_FILE)]
    pub max_errors_per_file: u64,
    /// The assessment date (YYYY-MM-DD); default today.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Worker threads; default one per core.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Threshold profile.
    #[arg(long)]
    pub profile: Option<String>,
}

/// Runs the screening. The results directory is locked for the whole run (the pull too): a
/// second run into it refuses with exit 1, as for any failure that is not the input's fault.
pub fn run(mut args: ScreenArgs, kb: &cobalt_core::KnowledgeBase) -> Result<ExitCode> {
    let lock = match pull_first(&mut args)? {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let export = match export_dir(&args) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let profile_id = args
        .profile
        .clone()
        .unwrap_or_else(|| kb.meta.default_profile.clone());
    let Some(profile) = kb.profiles.get(&profile_id) else {
        eprintln!("cobalt: unknown profile `{profile_id}`");
        return Ok(ExitCode::from(2));
    };
    let (as_of, as_of_source) = match as_of(&args, &export) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    eprintln!(
        "cobalt: assessing as of {} ({as_of_source})",
        cobalt_fhir::dates::format(as_of)
    );
    if args.detail == ScreenDetail::Full && args.format != ScreenFormat::Ndjson {
        eprintln!(
            "cobalt: --detail full writes NDJSON only; leave out --format or use --format ndjson"
        );
        return Ok(ExitCode::from(2));
    }
    let opts = cobalt_screen::Options {
        input: export.clone(),
        out: args.out.clone(),
        format: match args.format {
            ScreenFormat::Ndjson => cobalt_screen::Format::Ndjson,
            ScreenFormat::Csv => cobalt_screen::Format::Csv,
            ScreenFormat::Parquet => cobalt_screen::Format::Parquet,
        },
        detail: match args.detail {
            ScreenDetail::Compact => cobalt_screen::Detail::Compact,
            ScreenDetail::Full => cobalt_screen::Detail::Full,
        },
        validate_all: args.validate_all,
        as_of,
        as_of_source: as_of_source.into(),
        threads: args.threads,
        max_errors_per_file: args.max_errors_per_file,
    };
    let lock = match lock {
        Some(l) => l,
        None => cobalt_screen::OutputLock::acquire(&args.out)?,
    };
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} reading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let progress = |p: cobalt_screen::Progress| {
        if let Some(b) = &bar {
            b.set_length(p.total_bytes);
            b.set_position(p.bytes);
            b.set_message(format!("{} records", p.lines));
        }
    };
    let result = cobalt_screen::screen_locked(kb, profile, &opts, &lock, &progress);
    drop(lock);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let summary = match result {
        Ok(s) => s,
        // The export's fault (no file cobalt reads, a manifest without its output list): 2.
        Err(e) if e.chain().any(|c| c.is::<cobalt_screen::InputProblem>()) => {
            eprintln!("cobalt: {e:#}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e),
    };
    report(&summary, &args);
    if args.strict && summary.fails_strict() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// With `--pull`: takes the output directory's lock, pulls into `OUT/export` (unless a complete
/// export is already there: this run's own, pulled before a stop) and names it as the export.
/// `Err` is the exit status of a pull or flags that failed.
fn pull_first(
    args: &mut ScreenArgs,
) -> Result<Result<Option<cobalt_screen::OutputLock>, ExitCode>> {
    if !args.pull {
        return Ok(Ok(None));
    }
    let dir = args.out.join("export");
    let opts = match crate::pull::options(&args.pull_flags, &dir) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("cobalt: {e}");
            return Ok(Err(ExitCode::from(2)));
        }
    };
    let lock = cobalt_screen::OutputLock::acquire(&args.out)?;
    let complete = dir.join("manifest.json").exists() && !cobalt_pull::state::dir(&dir).exists();
    if !complete {
        let code = crate::pull::pull(&opts)?;
        if code != ExitCode::SUCCESS {
            return Ok(Err(code));
        }
    }
    args.export = Some(dir);
    Ok(Ok(Some(lock)))
}

/// The export directory; a missing one is the input's fault: exit 2, before anything is
/// written.
fn export_dir(args: &ScreenArgs) -> Result<PathBuf, ExitCode> {
    let Some(export) = args.export.clone() else {
        eprintln!("cobalt: name the export directory, or --pull");
        return Err(ExitCode::from(2));
    };
    match std::fs::metadata(&export) {
        Ok(m) if m.is_dir() => Ok(export),
        Ok(_) => {
            eprintln!(
                "cobalt: {}: not a directory; name the export directory",
                export.display()
            );
            Err(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!(
                "cobalt: {}: {e}; name the export directory",
                export.display()
            );
            Err(ExitCode::from(2))
        }
    }
}

/// The day assessed and where it came from: `--as-of`, the manifest's `transactionTime`, or
/// today. A malformed date is exit 2.
fn as_of(args: &ScreenArgs, export: &Path) -> Result<(time::Date, &'static str), ExitCode> {
    let manifest = cobalt_screen::manifest_date(export).map_err(|e| {
        eprintln!("cobalt: {e:#}");
        ExitCode::from(2)
    })?;
    match (&args.as_of, manifest) {
        (Some(s), _) => match cobalt_core::case::parse_date(s) {
            Some(d) => Ok((d, "--as-of")),
            None => {
                eprintln!("cobalt: --as-of: `{s}` is not a date; expected YYYY-MM-DD");
                Err(ExitCode::from(2))
            }
        },
        (None, Some(d)) => Ok((d, "manifest transactionTime")),
        (None, None) => Ok((time::OffsetDateTime::now_utc().date(), "today")),
    }
}

/// The run's summary on standard error: counts, the files not read, the export's own errors,
/// the error records counted but not written.
fn report(summary: &cobalt_screen::Summary, args: &ScreenArgs) {
    eprintln!(
        "cobalt: {} lines ({} skipped: cannot change an assessment), {} patients: {} assessed, {} in error; {} bad lines; {} unreadable files; {} patients flagged; {:.1} s. Summary: {}",
        summary.lines_read,
        summary.lines_skipped,
        summary.patients_read,
        summary.patients_assessed,
        summary.patients_in_error,
        summary.bad_lines,
        summary.files_in_error,
        summary.patients_flagged,
        summary.seconds,
        args.out.join("summary.json").display()
    );
    // The files not read, the first few by name; all are in summary.json.
    for n in summary.files_not_read.iter().take(10) {
        eprintln!("cobalt: not read: {}: {}", n.path, n.message);
    }
    if summary.files_not_read.len() > 10 {
        eprintln!(
            "cobalt: and {} more files not read (summary.json: files_not_read)",
            summary.files_not_read.len() - 10
        );
    }
    if summary.export_issues > 0 {
        let files: Vec<&str> = summary
            .export_errors
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        eprintln!(
            "cobalt: the export reports {} errors of its own ({}): part of it may be missing",
            summary.export_issues,
            files.join(", ")
        );
    }
    if summary.errors_not_recorded > 0 {
        eprintln!(
            "cobalt: {} error records over --max-errors-per-file {} were counted, not written",
            summary.errors_not_recorded, summary.max_errors_per_file
        );
    }
}

/// A stage of `cobalt screen-stage`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Stage {
    /// Medication lines in; the Medications kept, and their error records.
    Medications,
    /// Any other lines in; each filed under its patient, or an error record, out.
    File,
    /// One partition of filed records in; its results and error records written, its counts out.
    Assess,
}

/// Runs one stage of a distributed screening. A problem with the job or its input is exit 2.
pub fn stage(
    stage: Stage,
    dir: &std::path::Path,
    kb: &cobalt_core::KnowledgeBase,
) -> Result<ExitCode> {
    use cobalt_screen::stage;
    let job = match stage::Job::load(dir) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("cobalt: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let input = std::io::BufReader::with_capacity(1 << 20, std::io::stdin().lock());
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let r = match stage {
        Stage::Medications => stage::medications(&job, input, &mut out),
        Stage::File => stage::file(kb, &job, input, &mut out),
        Stage::Assess => {
            let id = job
                .profile
                .clone()
                .unwrap_or_else(|| kb.meta.default_profile.clone());
            let Some(profile) = kb.profiles.get(&id) else {
                eprintln!("cobalt: job.json: unknown profile `{id}`");
                return Ok(ExitCode::from(2));
            };
            stage::assess(kb, profile, &job, input, &mut out)
        }
    };
    match r {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("cobalt: screen-stage: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}
