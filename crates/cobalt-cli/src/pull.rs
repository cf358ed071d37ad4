//! `cobalt pull` (and `cobalt screen --pull`): a FHIR Bulk Data export pulled from the EHR with
//! SMART Backend Services into an export directory. A progress display on a terminal (waiting
//! for the server, files and bytes), quiet otherwise.

use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The flags of a pull, shared by `cobalt pull` and `cobalt screen --pull`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PullFlags {
    /// The EHR's FHIR base URL (its .well-known/smart-configuration names the token endpoint).
    #[arg(long, value_name = "BASE")]
    pub fhir_server: Option<String>,
    /// cobalt's client id as a backend service at the EHR.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// The PEM private key cobalt signs its client assertions with (ES384 or RS384; `cobalt
    /// keys new` makes one).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Export one Group (`Group/{id}/$export`) rather than every patient (`Patient/$export`).
    #[arg(long, value_name = "ID")]
    pub group: Option<String>,
    /// Only resources changed after this FHIR instant (`_since`), such as 2026-11-01T00:00:00Z.
    #[arg(long, value_name = "INSTANT", conflicts_with = "since_export")]
    pub since: Option<String>,
    /// Only what changed since an earlier pulled export: its manifest's transactionTime.
    #[arg(long, value_name = "DIR")]
    pub since_export: Option<PathBuf>,
    /// The resource types (`_type`), comma-separated [default: the types screening reads:
    /// Patient,Observation,Condition,MedicationRequest,MedicationStatement,Medication,Procedure].
    #[arg(long = "type", value_name = "TYPES", value_delimiter = ',')]
    pub types: Vec<String>,
    /// The scopes to ask for [default: system/TYPE.rs for each type, then system/*.rs, then
    /// system/*.read, as far as the server needs].
    #[arg(long, value_name = "SCOPES")]
    pub scope: Option<String>,
    /// Longest wait between two polls, whatever the server's Retry-After says, in seconds.
    #[arg(long, default_value_t = 30)]
    pub poll_cap_secs: u64,
    /// Longest wait for the server to finish the export, in seconds; a pull run again resumes.
    #[arg(long, default_value_t = 6 * 3600)]
    pub max_wait_secs: u64,
}

/// The options of a pull into `out`, or the problem with the flags.
pub fn options(f: &PullFlags, out: &Path) -> std::result::Result<cobalt_pull::PullOptions, String> {
    let need =
        |v: &Option<String>, flag: &str| v.clone().ok_or_else(|| format!("{flag} is required"));
    let since = match (&f.since, &f.since_export) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(dir)) => Some(transaction_time(dir)?),
        (None, None) => None,
    };
    Ok(cobalt_pull::PullOptions {
        fhir_server: need(&f.fhir_server, "--fhir-server")?,
        client_id: need(&f.client_id, "--client-id")?,
        key: f.key.clone().ok_or("--key is required")?,
        out: out.to_path_buf(),
        group: f.group.clone(),
        since,
        types: if f.types.is_empty() {
            cobalt_pull::DEFAULT_TYPES
                .iter()
                .map(|t| t.to_string())
                .collect()
        } else {
            f.types.iter().map(|t| t.trim().to_string()).collect()
        },
        scope: f.scope.clone(),
        poll_cap: Duration::from_secs(f.poll_cap_secs.max(1)),
        max_wait: Duration::from_secs(f.max_wait_secs),
    })
}

/// The `transactionTime` of an earlier export's manifest.
fn transaction_time(dir: &Path) -> std::result::Result<String, String> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("--since-export: {}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("--since-export: {}: not JSON: {e}", path.display()))?;
    match v.get("transactionTime").and_then(serde_json::Value::as_str) {
        Some(t) if cobalt_pull::is_instant(t) => Ok(t.to_string()),
        Some(t) => Err(format!(
            "--since-export: {}: transactionTime `{t}` is not a FHIR instant with a time zone",
            path.display()
        )),
        None => Err(format!(
            "--since-export: {}: no transactionTime",
            path.display()
        )),
    }
}

/// A progress display on a terminal.
struct Bar {
    bar: indicatif::ProgressBar,
    files: usize,
    done: usize,
}

impl cobalt_pull::Progress for Bar {
    fn waiting(&mut self, progress: Option<&str>, waited: Duration) {
        self.bar.set_message(format!(
            "waiting for the server ({} s){}",
            waited.as_secs(),
            progress.map(|p| format!(": {p}")).unwrap_or_default()
        ));
        self.bar.tick();
    }
    fn files(&mut self, total: usize) {
        self.files = total;
        self.bar.set_message(format!("0 of {total} files"));
    }
    fn bytes(&mut self, n: u64) {
        self.bar.inc(n);
    }
    fn file_done(&mut self, _: &str) {
        self.done += 1;
        self.bar
            .set_message(format!("{} of {} files", self.done, self.files));
    }
}

/// Pulls; prints a summary. Exit 0, 1 (the server or the disk) or 2 (the flags, the key).
pub fn pull(opts: &cobalt_pull::PullOptions) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut quiet = cobalt_pull::Quiet;
    let mut bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(Duration::from_millis(200));
        Bar {
            bar: b,
            files: 0,
            done: 0,
        }
    });
    let progress: &mut dyn cobalt_pull::Progress = match &mut bar {
        Some(b) => b,
        None => &mut quiet,
    };
    let result = rt.block_on(cobalt_pull::pull(opts, progress));
    if let Some(b) = &bar {
        b.bar.finish_and_clear();
    }
    match result {
        Ok(o) => {
            let lines: u64 = o.files.iter().map(|f| f.1).sum();
            eprintln!(
                "cobalt: pulled {} file(s), {lines} resource(s), as of {} into {} ({} byte(s) this run, {} file(s) already whole; scopes {})",
                o.files.len(),
                o.transaction_time,
                opts.out.display(),
                o.bytes,
                o.resumed,
                o.scope
            );
            if !o.errors.is_empty() {
                let n: u64 = o.errors.iter().map(|f| f.1).sum();
                let names: Vec<&str> = o.errors.iter().map(|f| f.0.as_str()).collect();
                eprintln!(
                    "cobalt: the server reported {n} problem(s) with the export, kept in {}",
                    names.join(", ")
                );
            }
            if let Some(p) = o.delete_problem {
                eprintln!("cobalt: the export was not deleted on the server: {p}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("cobalt: pull: {e}");
            if e.exit_code() == 1 {
                eprintln!(
                    "cobalt: {} holds no complete export (no manifest.json); run the same command again to resume",
                    opts.out.display()
                );
            }
            Ok(ExitCode::from(e.exit_code()))
        }
    }
}
