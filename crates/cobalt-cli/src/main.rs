//! The `cobalt` command line. A thin layer: it reads files and the clock, calls the core, and
//! prints. Exit status: 0 success; 1 a failure that is not the input's fault (an invalid
//! knowledge base, lint problems); 2 invalid input or usage.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use cobalt_core::{KnowledgeBase, Profile};
use input::{read_input, InvalidInput};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod input;
mod keys;
mod pull;
mod screen;
mod serve;

/// mimalloc: the service and the screening job allocate many small, short-lived values on
/// several threads, where glibc's allocator spent a fifth of the time (perf, patient-view).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "cobalt",
    version,
    about = "Decision support for vitamin B12 deficiency in people with, or suspected of, multiple sclerosis. Not a diagnosis."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Assess one case (cobalt.case/1 JSON, or FHIR R4: a Bundle, a resource or an array of resources; "-" reads standard input).
    Assess(AssessArgs),
    /// Print the cobalt.case/1 document that FHIR R4 input (a Bundle, a resource or an array of resources) maps to.
    FhirToCase {
        /// The FHIR JSON file, or "-" for standard input.
        bundle: PathBuf,
        /// The date ages and durations are counted to (YYYY-MM-DD); default today.
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
    },
    /// List the rules of the knowledge base.
    Rules {
        /// Only this category (testing, interpretation, cause, picture, mcdonald, management, diet, evidence).
        #[arg(long)]
        category: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Print a rule's documentation: what it checks, why, inputs, thresholds, limitations, sources.
    Explain {
        /// The rule id, such as LAB-001.
        rule: String,
    },
    /// Knowledge-base tools.
    Kb {
        #[command(subcommand)]
        command: KbCommand,
    },
    /// Write a synthetic FHIR Bulk Data export (deterministic for a seed), for tests and benchmarks.
    Synth {
        /// Number of patients.
        #[arg(long)]
        patients: u64,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Share of malformed lines, per mille.
        #[arg(long, default_value_t = 2)]
        malformed_per_mille: u32,
        /// The export's date (YYYY-MM-DD); results fall in the three years before it.
        #[arg(long, default_value = "2026-01-01")]
        as_of: String,
        /// Write .ndjson.gz files.
        #[arg(long)]
        gzip: bool,
        /// Unrelated Observations (vital signs) for each Observation cobalt reads, as real
        /// exports are padded.
        #[arg(long, default_value_t = 0)]
        pad_observations: u32,
    },
    /// Screen a population: a FHIR Bulk Data export in, one result per patient out.
    Screen(screen::ScreenArgs),
    /// Pull a FHIR Bulk Data export from the EHR (SMART Backend Services) into a directory
    /// that `cobalt screen` reads; run again to resume.
    Pull {
        #[command(flatten)]
        flags: pull::PullFlags,
        /// The export directory (made if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// One stage of a screening, on standard input and output, for a job that distributes the
    /// stages over a cluster (spark/screen_job.py). JOB_DIR/job.json names the export's files.
    ScreenStage {
        /// `medications`, `file` or `assess`.
        #[arg(value_enum)]
        stage: screen::Stage,
        /// The job directory (job.json; results/ and errors/ are written under it).
        job: PathBuf,
    },
    /// Run the HTTP service: CDS Hooks 2.0 over FHIR R4, the JSON API, an audit log.
    Serve(Box<serve::ServeArgs>),
    /// SMART keys: make the key cobalt signs client assertions with, print its public JWK Set.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Audit-log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Write the audit log as NDJSON to standard output.
    Export {
        /// The audit database: a SQLite file or a PostgreSQL URL.
        #[arg(long, default_value = "cobalt.sqlite3")]
        db: PathBuf,
        /// PostgreSQL with sslmode=require: the CA certificates (PEM) that sign the database's.
        #[arg(long)]
        db_ca: Option<PathBuf>,
    },
    /// Check that the audit log is whole: every row's hash against its columns and the row
    /// before it (a changed, inserted or deleted row breaks the chain). Exit 1 if not.
    Verify {
        /// The audit database: a SQLite file or a PostgreSQL URL.
        #[arg(long, default_value = "cobalt.sqlite3")]
        db: PathBuf,
        /// PostgreSQL with sslmode=require: the CA certificates (PEM) that sign the database's.
        #[arg(long)]
        db_ca: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum KbCommand {
    /// Check the knowledge base and report every problem at once.
    Lint {
        /// Lint the knowledge files in this directory instead of the built-in ones.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Run the tests kept with each rule (works while the knowledge base still has lint problems).
    Test {
        /// Only these rules (ids or prefixes such as LAB).
        rules: Vec<String>,
    },
    /// Print the codes that can make an Observation matter, one a line (upper case; an ICD-10
    /// code as its category), for filters outside cobalt (a SQL prefilter, say).
    FilterCodes,
}

#[derive(clap::Args, Debug)]
struct AssessArgs {
    /// The case file, or "-" for standard input.
    case: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Threshold profile.
    #[arg(long)]
    profile: Option<String>,
    /// A laboratory's own thresholds (TOML with [tests.<lab>] tables and a [csf] table) applied
    /// over the profile.
    #[arg(long, value_name = "FILE")]
    thresholds: Option<PathBuf>,
    /// The assessment date (YYYY-MM-DD) when the case has no as_of; default today.
    #[arg(long, value_name = "DATE")]
    as_of: Option<String>,
    /// Colour in the text report: auto (only on a terminal), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
enum Format {
    Text,
    Json,
    Markdown,
    /// One standalone HTML file: the clinician report, then the view for the patient.
    Html,
    /// The view for the patient, in plain language, as text.
    Patient,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
enum ListFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            // The reader went away (`cobalt rules | head`): not an error.
            ExitCode::SUCCESS
        }
        Err(e) => {
            let invalid = e.downcast_ref::<InvalidInput>().is_some();
            eprintln!("cobalt: {e:#}");
            if invalid {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn load_kb() -> Result<KnowledgeBase> {
    cobalt_kb::load().map_err(|problems| {
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        anyhow::anyhow!(
            "the built-in knowledge base is invalid:\n{}",
            text.join("\n")
        )
    })
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::serve(*args),
        Command::Keys { command } => keys::run(command),
        Command::Synth {
            patients,
            seed,
            out,
            malformed_per_mille,
            as_of,
            gzip,
            pad_observations,
        } => {
            let as_of = cobalt_core::case::parse_date(&as_of).ok_or_else(|| {
                InvalidInput(format!(
                    "--as-of: `{as_of}` is not a date; expected YYYY-MM-DD"
                ))
            })?;
            let opts = cobalt_synth::SynthOptions {
                patients,
                seed,
                malformed_per_mille,
                as_of,
                gzip,
                pad_observations,
            };
            let stats = cobalt_synth::synth(&opts, &out)
                .with_context(|| format!("writing {}", out.display()))?;
            eprintln!(
                "cobalt: {} patients, {} lines ({} malformed), {} bytes in {}",
                stats.patients,
                stats.lines,
                stats.malformed,
                stats.bytes,
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Screen(args) => {
            let kb = load_kb()?;
            screen::run(args, &kb)
        }
        Command::Pull { flags, out } => match pull::options(&flags, &out) {
            Ok(opts) => pull::pull(&opts),
            Err(e) => {
                eprintln!("cobalt: {e}");
                Ok(ExitCode::from(2))
            }
        },
        Command::ScreenStage { stage, job } => {
            let kb = load_kb()?;
            screen::stage(stage, &job, &kb)
        }
        Command::Audit {
            command: AuditCommand::Export { db, db_ca },
        } => serve::export(&db, db_ca.as_deref()),
        Command::Audit {
            command: AuditCommand::Verify { db, db_ca },
        } => serve::verify(&db, db_ca.as_deref()),
        Command::Assess(args) => assess(args),
        Command::FhirToCase { bundle, as_of } => {
            let kb = load_kb()?;
            let text = read_input(&bundle)?;
            let case = fhir_case(&kb, &text, as_of.as_deref())?.case;
            writeln!(
                std::io::stdout().lock(),
                "{}",
                serde_json::to_string_pretty(&case)?
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules { category, format } => {
            let kb = load_kb()?;
            let mut out = std::io::stdout().lock();
            let rules: Vec<_> = kb
                .rules
                .iter()
                .filter(|r| category.as_deref().is_none_or(|c| r.category == c))
                .collect();
            match format {
                ListFormat::Text => {
                    for r in rules {
                        writeln!(out, "{:<10} {:<15} {}", r.id, r.category, r.title)?;
                    }
                }
                ListFormat::Json => {
                    let v: Vec<_> = rules
                        .iter()
                        .map(|r| {
                            serde_json::json!({
                                "id": r.id, "title": r.title, "category": r.category,
                                "sources": r.sources.iter().map(|c| &c.key).collect::<Vec<_>>(),
                            })
                        })
                        .collect();
                    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { rule } => {
            let kb = load_kb()?;
            let Some(r) = kb.rule(&rule.to_ascii_uppercase()) else {
                return Err(
                    InvalidInput(format!("no rule `{rule}`; `cobalt rules` lists them")).into(),
                );
            };
            write!(
                std::io::stdout().lock(),
                "{}",
                cobalt_report::explain(&kb, r)
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Kb {
            command: KbCommand::FilterCodes,
        } => {
            let kb = load_kb()?;
            let mut out = std::io::stdout().lock();
            for c in cobalt_screen::observation_filter_codes(&kb) {
                writeln!(out, "{c}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Kb {
            command: KbCommand::Test { rules },
        } => {
            let (kb, problems) = cobalt_kb::load_with_problems();
            if !problems.is_empty() {
                eprintln!("cobalt: note: the knowledge base has {} lint problem(s); `cobalt kb lint` lists them", problems.len());
            }
            let mut failures = 0;
            let mut run = 0;
            for r in &kb.rules {
                if !rules.is_empty()
                    && !rules
                        .iter()
                        .any(|p| r.id.starts_with(&p.to_ascii_uppercase()))
                {
                    continue;
                }
                run += r.tests.len();
                let fails = cobalt_kb::check::run_rule_tests(&kb, r);
                let mut failed_tests: Vec<&str> = Vec::new();
                for f in &fails {
                    writeln!(std::io::stdout().lock(), "FAIL {f}")?;
                    if let Some(name) = f.split(" / ").nth(1).and_then(|x| x.split(':').next()) {
                        if !failed_tests.contains(&name) {
                            failed_tests.push(name);
                        }
                    }
                }
                failures += failed_tests.len();
            }
            writeln!(
                std::io::stdout().lock(),
                "{} passed, {failures} failed",
                run.saturating_sub(failures)
            )?;
            Ok(if failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Kb {
            command: KbCommand::Lint { dir },
        } => {
            let result = match dir {
                None => cobalt_kb::load(),
                Some(dir) => {
                    let texts = read_kb_dir(&dir)?;
                    let files: Vec<cobalt_core::SourceFile<'_>> = texts
                        .iter()
                        .map(|(p, t)| cobalt_core::SourceFile { path: p, text: t })
                        .collect();
                    cobalt_kb::load_from(&files)
                }
            };
            // The patient view must account for every rule (knowledge/plain.toml [coverage]).
            let result = result.and_then(|kb| {
                let problems = cobalt_report::patient::coverage_problems(
                    kb.rules.iter().map(|r| r.id.as_str()),
                );
                if problems.is_empty() {
                    Ok(kb)
                } else {
                    Err(problems
                        .into_iter()
                        .map(|message| cobalt_core::kb::Problem {
                            file: "plain.toml".into(),
                            item: String::new(),
                            message,
                        })
                        .collect())
                }
            });
            match result {
                Ok(kb) => {
                    writeln!(
                        std::io::stdout().lock(),
                        "knowledge base {} is clean: {} rules, {} references, {} profiles, {} concepts",
                        kb.meta.version,
                        kb.rules.len(),
                        kb.references.len(),
                        kb.profiles.len(),
                        kb.vocab.concepts().len()
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(problems) => {
                    let mut out = std::io::stdout().lock();
                    for p in &problems {
                        writeln!(out, "{p}")?;
                    }
                    eprintln!(
                        "cobalt: {} problem(s) in the knowledge base",
                        problems.len()
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

fn read_kb_dir(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for f in cobalt_kb::FILES {
        let path = dir.join(f.path);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        out.push((f.path.to_string(), text));
    }
    Ok(out)
}

fn choose_profile(kb: &KnowledgeBase, args: &AssessArgs) -> Result<Profile> {
    let id = args
        .profile
        .clone()
        .unwrap_or_else(|| kb.meta.default_profile.clone());
    if !kb.profiles.contains_key(&id) {
        let known: Vec<&str> = kb.profiles.keys().map(String::as_str).collect();
        return Err(InvalidInput(format!(
            "unknown profile `{id}`; expected one of {}",
            known.join(", ")
        ))
        .into());
    }
    match &args.thresholds {
        None => Ok(kb.profiles[&id].clone()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| InvalidInput(format!("cannot read {}: {e}", path.display())))?;
            let name = path
                .file_name()
                .map_or("thresholds".into(), |n| n.to_string_lossy().into_owned());
            kb.profile_with_override(&id, &text, &name)
                .map_err(|problems| {
                    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
                    InvalidInput(format!("invalid thresholds file:\n{}", text.join("\n"))).into()
                })
        }
    }
}

/// Maps FHIR input to a case counted to `as_of` (default today); what was not used is noted on
/// standard error.
fn fhir_case(kb: &KnowledgeBase, text: &str, as_of: Option<&str>) -> Result<cobalt_fhir::Mapped> {
    let as_of = match as_of {
        Some(s) => cobalt_core::case::parse_date(s).ok_or_else(|| {
            InvalidInput(format!("--as-of: `{s}` is not a date; expected YYYY-MM-DD"))
        })?,
        None => time::OffsetDateTime::now_utc().date(),
    };
    let mapped = cobalt_fhir::from_slice(text.as_bytes(), as_of, kb)
        .map_err(|e| InvalidInput(e.to_string()))?;
    for s in &mapped.skipped {
        eprintln!("cobalt: note: not used: {}: {}", s.path, s.reason);
    }
    Ok(mapped)
}

fn assess(args: AssessArgs) -> Result<ExitCode> {
    let kb = load_kb()?;
    let profile = choose_profile(&kb, &args)?;
    let text = read_input(&args.case)?;
    // FHIR input: what was not used goes to standard error and into the JSON output.
    let (case, skipped) = if cobalt_fhir::is_fhir(&text) {
        let m = fhir_case(&kb, &text, args.as_of.as_deref())?;
        (m.parsed, Some(m.skipped))
    } else {
        let case = cobalt_core::parse_case(&text, &kb.vocab, &kb.analytes)
            .map_err(|e| InvalidInput(e.to_string()))?;
        (case, None)
    };
    // --as-of is checked whether or not it is used, and a case's own as_of is never overridden
    // silently.
    let given = match &args.as_of {
        Some(s) => Some(cobalt_core::case::parse_date(s).ok_or_else(|| {
            InvalidInput(format!("--as-of: `{s}` is not a date; expected YYYY-MM-DD"))
        })?),
        None => None,
    };
    let as_of = match (case.as_of, given) {
        (Some(d), Some(g)) if d != g => {
            eprintln!(
                "cobalt: the case's as_of {} is used; --as-of {} applies only to cases without one",
                cobalt_fhir::dates::format(d),
                cobalt_fhir::dates::format(g)
            );
            d
        }
        (Some(d), _) => d,
        (None, Some(g)) => g,
        (None, None) => time::OffsetDateTime::now_utc().date(),
    };
    let assessment = cobalt_core::evaluate(&kb, &profile, &case, as_of);
    let rendered = match args.format {
        Format::Json => {
            (match &skipped {
                None => serde_json::to_string_pretty(&assessment)?,
                // The one shape the service's /v1/assess answers too.
                Some(skipped) => serde_json::to_string_pretty(&cobalt_fhir::WithSkipped::new(
                    &assessment,
                    skipped,
                ))?,
            }) + "\n"
        }
        Format::Markdown => cobalt_report::markdown(&assessment),
        Format::Html => cobalt_report::html(&assessment),
        Format::Patient => cobalt_report::patient::text(&assessment),
        Format::Text => {
            let color = match args.color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            cobalt_report::text(&assessment, color)
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(rendered.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
