//! `cobalt pull`: a FHIR Bulk Data Access 2.0 client with SMART Backend Services. It kicks off
//! `Patient/$export` (or `Group/{id}/$export`) with `_type` and `_since`, polls the status URL
//! honouring `Retry-After` (capped) and `X-Progress`, downloads every output and error file
//! (with the token when the manifest requires it, only to the server's own origin), each
//! streamed to disk under a temporary name and renamed when whole and its line count checked.
//! The result is an export directory `cobalt screen` reads: `manifest.json` is written last,
//! so a directory with one is complete.
//!
//! A pull is resumable: `DIR/.pull/state.json` keeps the status URL, the scopes that worked and
//! the files already whole, so a pull run again after an interruption polls the same export and
//! downloads only what it lacks. When done, the export is deleted on the server (`DELETE` of
//! the status URL; a refusal there is reported, not fatal).

#![forbid(unsafe_code)]

pub mod auth;
pub mod download;
mod export;
pub mod state;

pub use export::pull;

use cobalt_smart::discovery::ServerError;
use std::path::PathBuf;
use std::time::Duration;

/// What to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The FHIR server's base URL.
    pub fhir_server: String,
    /// cobalt's client id there.
    pub client_id: String,
    /// The PEM private key file (ES384 or RS384).
    pub key: PathBuf,
    /// The export directory.
    pub out: PathBuf,
    /// `Group/{id}/$export` instead of `Patient/$export`.
    pub group: Option<String>,
    /// `_since`: only resources changed after this FHIR instant.
    pub since: Option<String>,
    /// `_type`: the resource types.
    pub types: Vec<String>,
    /// Scopes to ask for instead of the narrowest-first candidates.
    pub scope: Option<String>,
    /// Longest wait between two polls, whatever `Retry-After` says.
    pub poll_cap: Duration,
    /// Longest wait for the export to complete, from the kick-off.
    pub max_wait: Duration,
}

/// The resource types screening reads: the default `_type`.
pub const DEFAULT_TYPES: [&str; 7] = [
    "Patient",
    "Observation",
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
    "Medication",
    "Procedure",
];

/// A failed pull, said as what it is.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The options or the key (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The authorisation server refused cobalt or could not be reached.
    #[error("authentication failed: {0}")]
    Auth(ServerError),
    /// The FHIR server answered an error, timed out or answered something else than Bulk Data.
    #[error("{0}")]
    Server(ServerError),
    /// The export did not complete within the wait allowed.
    #[error(
        "the export did not complete within {0} s; run the same command again to keep polling it"
    )]
    NotDone(u64),
    /// A file cut short or whose line count is not the manifest's.
    #[error("{0}")]
    Truncated(String),
    /// The disk.
    #[error("{0}")]
    Io(String),
}

impl PullError {
    /// The exit status: 2 for the options, 1 for the rest.
    pub fn exit_code(&self) -> u8 {
        match self {
            PullError::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// What a pull gives, for its summary.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The manifest's `transactionTime`.
    pub transaction_time: String,
    /// Output files and their lines.
    pub files: Vec<(String, u64)>,
    /// The export's own error files (OperationOutcome lines) and their lines.
    pub errors: Vec<(String, u64)>,
    /// Bytes downloaded by this run.
    pub bytes: u64,
    /// Files this run did not download because a run before it had.
    pub resumed: usize,
    /// What the server said to the DELETE of the status URL, when it was not a success.
    pub delete_problem: Option<String>,
    /// The scopes that worked.
    pub scope: String,
}

/// What the pull tells a progress display.
pub trait Progress: Send {
    /// Waiting for the server; `progress` is its `X-Progress`, if any.
    fn waiting(&mut self, progress: Option<&str>, waited: Duration);
    /// The manifest is here: this many files to download.
    fn files(&mut self, total: usize);
    /// Bytes arrived.
    fn bytes(&mut self, n: u64);
    /// One file is whole.
    fn file_done(&mut self, name: &str);
}

/// A progress display that shows nothing.
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn waiting(&mut self, _: Option<&str>, _: Duration) {}
    fn files(&mut self, _: usize) {}
    fn bytes(&mut self, _: u64) {}
    fn file_done(&mut self, _: &str) {}
}

/// Whether a text is a FHIR instant (`YYYY-MM-DDThh:mm:ss[.f+](Z|±hh:mm)`).
pub fn is_instant(s: &str) -> bool {
    let fmt = &time::format_description::well_known::Rfc3339;
    s.len() >= 20 && s.as_bytes()[10] == b'T' && time::OffsetDateTime::parse(s, fmt).is_ok()
}
