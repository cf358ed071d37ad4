//! The audit log and the replay cache: every assessment and every feedback, and the `jti` of
//! every accepted token until it expires. Two stores with the same schema (a `schema_version`
//! table and the same numbered migrations) and the same guarantees:
//!
//! - a request is answered only after its audit row is committed (an error here is a 503 to the
//!   caller, never an answer without its row);
//! - a `jti` is accepted once, by a unique key, across restarts and, with PostgreSQL, across
//!   every replica on the database;
//! - `probe` commits a small write, so `/healthz` says whether this replica can write.
//!
//! [`sqlite`] is the embedded default for one machine (a path); [`postgres`] is for several
//! replicas behind a load balancer (`postgres://...`), with a bounded connection pool.

pub mod postgres;
pub mod sqlite;

use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use sqlite::{export, open};

/// The columns an export reads, in order: `seq`, then text columns.
pub(crate) const EXPORT_COLUMNS: [&str; 19] = [
    "seq",
    "request_id",
    "time",
    "kind",
    "hook",
    "service",
    "input_sha256",
    "conclusions",
    "knowledge_version",
    "engine_version",
    "outcome",
    "card",
    "client_request_id",
    "client_time",
    "actor",
    "patient",
    "fhir_server",
    "caller",
    "hash",
];

/// A row's hash: SHA-256 (hex) of the previous row's hash and this row's columns, each
/// separated by a control character no column holds unescaped. Rows made before the chain
/// began have an empty hash; the first row after them chains from the empty string.
pub fn row_hash(prev: &str, columns: &[&str]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(prev.as_bytes());
    for c in columns {
        ctx.update(b"\x1f");
        ctx.update(c.as_bytes());
    }
    crate::hex(ctx.finish().as_ref())
}

/// What `cobalt audit verify` found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Rows read.
    pub rows: u64,
    /// Rows before the chain began (no hash).
    pub unchained: u64,
    /// The first row whose hash is not the hash of its columns and the row before: changed,
    /// inserted, or after a deleted row.
    pub broken_at: Option<i64>,
    /// Rows whose conclusions are not JSON.
    pub damaged: Vec<i64>,
}

impl Verified {
    /// Checks the next row (in `seq` order): its text columns in [`EXPORT_COLUMNS`] order after
    /// `seq`, the hash last. `prev` is the hash the chain has reached.
    pub(crate) fn row(&mut self, prev: &mut String, seq: i64, text: &[String]) {
        self.rows += 1;
        let hash = text.last().map(String::as_str).unwrap_or("");
        let conclusions = &text[EXPORT_COLUMNS
            .iter()
            .position(|c| *c == "conclusions")
            .unwrap_or(7)
            - 1];
        if serde_json::from_str::<serde_json::Value>(conclusions).is_err() {
            self.damaged.push(seq);
        }
        if hash.is_empty() && prev.is_empty() {
            self.unchained += 1;
            return;
        }
        let cols: Vec<&str> = text[..text.len() - 1].iter().map(String::as_str).collect();
        let expected = row_hash(prev, &cols);
        if expected != hash && self.broken_at.is_none() {
            self.broken_at = Some(seq);
        }
        *prev = hash.to_string();
    }

    /// Whether the log is whole.
    pub fn intact(&self) -> bool {
        self.broken_at.is_none() && self.damaged.is_empty()
    }
}

/// Writes one exported row as a JSON line: `seq` and the text columns of [`EXPORT_COLUMNS`] in
/// order, the conclusions parsed back to JSON. Returns false when the conclusions are not JSON
/// (a damaged row: exported as the text it holds, under `conclusions_damaged`).
pub(crate) fn export_row(
    out: &mut dyn std::io::Write,
    seq: i64,
    text: &[String],
) -> anyhow::Result<bool> {
    let mut v = serde_json::Map::new();
    let mut whole = true;
    v.insert("seq".into(), seq.into());
    for (name, value) in EXPORT_COLUMNS[1..].iter().zip(text) {
        let value = if *name == "conclusions" {
            match serde_json::from_str(value) {
                Ok(c) => c,
                Err(_) => {
                    whole = false;
                    v.insert(
                        "conclusions_damaged".into(),
                        serde_json::Value::String(value.clone()),
                    );
                    serde_json::Value::Null
                }
            }
        } else {
            serde_json::Value::String(value.clone())
        };
        v.insert((*name).into(), value);
    }
    serde_json::to_writer(&mut *out, &v)?;
    out.write_all(b"\n")?;
    Ok(whole)
}

/// What an export wrote.
#[derive(Debug, Default, Clone)]
pub struct Exported {
    /// Rows written.
    pub rows: usize,
    /// Rows whose conclusions are not JSON.
    pub damaged: Vec<i64>,
}

/// A store operation under way.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// What an audit store does.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Writes entries; resolves once they are committed.
    fn write(&self, entries: Vec<Entry>) -> Pending<'_, ()>;
    /// Records a token id until `exp` (Unix seconds); `Ok(false)` if it was already recorded
    /// (a replay).
    fn claim_jti<'a>(&'a self, iss: &'a str, jti: &'a str, exp: i64) -> Pending<'a, bool>;
    /// Commits a write of about an audit row's size: whether a row can be committed now.
    fn probe(&self) -> Pending<'_, ()>;
    /// For each card id, whether the service issued it (feedback is taken only for those).
    fn cards_issued<'a>(&'a self, ids: &'a [String]) -> Pending<'a, Vec<bool>>;
    /// Keeps a sealed record (a SMART launch's state or session) under `key` until `exp`
    /// (Unix seconds), replacing any record under that key; expired records are removed.
    fn put_sealed<'a>(&'a self, key: &'a str, exp: i64, data: Vec<u8>) -> Pending<'a, ()>;
    /// The record under `key`, unless it has expired; with `take`, it is also removed in the
    /// same statement, so that it is used once across every replica.
    fn get_sealed<'a>(&'a self, key: &'a str, take: bool) -> Pending<'a, Option<Vec<u8>>>;
}

/// Where the audit log lives: a PostgreSQL URL (`postgres://` or `postgresql://`), else a path
/// to a SQLite file.
pub fn is_postgres(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// Connection settings (PostgreSQL).
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections this replica holds.
    pub size: usize,
    /// Longest wait for a connection, and for each statement, before the caller gets a 503.
    pub timeout: std::time::Duration,
    /// With `sslmode=require`: a PEM file of the CA certificates that sign the database's
    /// certificate (a hospital's own CA). Without it, the public web roots.
    pub ca: Option<std::path::PathBuf>,
}

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions {
            size: 8,
            timeout: std::time::Duration::from_secs(2),
            ca: None,
        }
    }
}

/// A handle to the store.
#[derive(Clone, Debug)]
pub struct AuditLog {
    store: Arc<dyn Store>,
    last_failure: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl AuditLog {
    /// Opens the store `db` names. For SQLite the file is opened and migrated now; for
    /// PostgreSQL the pool is made here and [`AuditLog::prepare`] connects and migrates.
    pub fn start(db: &std::path::Path) -> anyhow::Result<AuditLog> {
        AuditLog::start_with(db, PoolOptions::default())
    }

    /// [`AuditLog::start`] with pool settings.
    pub fn start_with(db: &std::path::Path, pool: PoolOptions) -> anyhow::Result<AuditLog> {
        let text = db.to_string_lossy();
        let store: Arc<dyn Store> = if is_postgres(&text) {
            Arc::new(postgres::Postgres::new(&text, pool)?)
        } else {
            Arc::new(sqlite::Sqlite::start(db)?)
        };
        Ok(AuditLog {
            store,
            last_failure: Arc::default(),
        })
    }

    /// Readies the store before the first request: a PostgreSQL store connects and applies
    /// the migrations (under a lock, so that replicas starting together apply each once).
    pub async fn prepare(&self) -> Result<(), String> {
        self.store.probe().await
    }

    /// Writes entries and waits until they are committed. A failure is remembered for
    /// [`AuditLog::ready`].
    pub async fn write(&self, entries: Vec<Entry>) -> Result<(), String> {
        let r = self.store.write(entries).await;
        let mut last = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        *last = r.as_ref().err().map(|_| std::time::Instant::now());
        r
    }

    /// Whether an audit row can be committed now: the last write did not fail in the last
    /// few seconds, and a write of a row's size commits.
    pub async fn ready(&self) -> Result<(), String> {
        let recent = self
            .last_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(5));
        self.store.probe().await?;
        if recent {
            return Err("the last audit write failed".into());
        }
        Ok(())
    }

    /// For each card id, whether the service issued it.
    pub async fn cards_issued(&self, ids: &[String]) -> Result<Vec<bool>, String> {
        self.store.cards_issued(ids).await
    }

    /// Records a token id until `exp`; `Ok(false)` if it was already recorded (a replay).
    pub async fn claim_jti(&self, iss: &str, jti: &str, exp: i64) -> Result<bool, String> {
        self.store.claim_jti(iss, jti, exp).await
    }

    /// Commits a small write: whether the store can be written now.
    pub async fn probe(&self) -> Result<(), String> {
        self.store.probe().await
    }

    /// Keeps a sealed record until `exp` (Unix seconds).
    pub async fn put_sealed(&self, key: &str, exp: i64, data: Vec<u8>) -> Result<(), String> {
        self.store.put_sealed(key, exp, data).await
    }

    /// The sealed record under `key` unless expired; `take` removes it as it is read.
    pub async fn get_sealed(&self, key: &str, take: bool) -> Result<Option<Vec<u8>>, String> {
        self.store.get_sealed(key, take).await
    }
}

/// Seconds since the Unix epoch, now (the store's clock for expiry).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Who acted and for whom: the authenticated caller, and a SMART session's user, patient and
/// FHIR server.
#[derive(Debug, Clone, Default)]
pub struct Who {
    /// The token's issuer and subject (`iss sub`), when a token was checked.
    pub caller: String,
    /// The user (`fhirUser`).
    pub actor: String,
    /// The launch context's patient id.
    pub patient: String,
    /// The FHIR server.
    pub fhir_server: String,
}

/// One audit row.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Entry {
    /// The service's own id for the request (a fresh UUID: unique, whatever clients send).
    pub request_id: String,
    /// The client's `x-request-id`, when it is printable ASCII of at most 128 characters;
    /// else empty.
    pub client_request_id: String,
    /// RFC 3339 time, the service's clock: when the row was made.
    pub time: String,
    /// The time the client gave (a feedback's `outcomeTimestamp`, checked as RFC 3339), or
    /// empty.
    pub client_time: String,
    /// `assess`, `hook`, `feedback`, `ui/assess`, `smart-launch` or `smart-read`.
    pub kind: String,
    /// CDS Hooks hook (`patient-view`, ...), or empty.
    pub hook: String,
    /// Service id, or empty.
    pub service: String,
    /// SHA-256 of the request body (the input), hex.
    pub input_sha256: String,
    /// The conclusions block (JSON), or null.
    pub conclusions: serde_json::Value,
    /// Knowledge-base version.
    pub knowledge_version: String,
    /// Engine version.
    pub engine_version: String,
    /// Feedback outcome (`accepted`, `overridden`), or empty.
    pub outcome: String,
    /// Card id the feedback is about, or empty.
    pub card: String,
    /// Who acted, when known: the SMART launch's `fhirUser` (such as
    /// `Practitioner/123`), or empty.
    pub actor: String,
    /// The patient the row is about when it came from a SMART launch (the launch context's
    /// patient id), or empty.
    pub patient: String,
    /// The FHIR server read (a SMART launch's `iss`), or empty.
    pub fhir_server: String,
    /// The authenticated caller: the token's issuer and subject (`iss sub`), or empty.
    pub caller: String,
}

impl Entry {
    /// The row's text columns as stored, in [`EXPORT_COLUMNS`] order (no `seq`, no `hash`).
    pub(crate) fn columns(&self) -> [String; 17] {
        [
            self.request_id.clone(),
            self.time.clone(),
            self.kind.clone(),
            self.hook.clone(),
            self.service.clone(),
            self.input_sha256.clone(),
            self.conclusions.to_string(),
            self.knowledge_version.clone(),
            self.engine_version.clone(),
            self.outcome.clone(),
            self.card.clone(),
            self.client_request_id.clone(),
            self.client_time.clone(),
            self.actor.clone(),
            self.patient.clone(),
            self.fhir_server.clone(),
            self.caller.clone(),
        ]
    }

    /// The card ids a hook row issued.
    pub(crate) fn issued_cards(&self) -> impl Iterator<Item = &str> {
        let issued = self.kind == "hook";
        self.card
            .split(',')
            .filter(move |c| issued && !c.is_empty())
    }
}

impl Entry {
    /// An entry, stamped now, for an assessment (`kind` `assess` or `hook`) of a request whose
    /// body hashes to `input_sha256`.
    pub fn assessment(
        request_id: String,
        kind: &str,
        hook: &str,
        service: &str,
        input_sha256: String,
        assessment: &cobalt_core::Assessment<'_>,
        cards: &[String],
    ) -> Entry {
        Entry::with_conclusions(
            request_id,
            kind,
            hook,
            service,
            input_sha256,
            serde_json::to_value(&assessment.conclusions).unwrap_or(serde_json::Value::Null),
            assessment.engine.knowledge_version,
            cards,
        )
    }

    /// An entry, stamped now, with conclusions already in their stored form.
    #[allow(clippy::too_many_arguments)]
    pub fn with_conclusions(
        request_id: String,
        kind: &str,
        hook: &str,
        service: &str,
        input_sha256: String,
        conclusions: serde_json::Value,
        knowledge_version: &str,
        cards: &[String],
    ) -> Entry {
        let time = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Entry {
            request_id,
            client_request_id: String::new(),
            time,
            client_time: String::new(),
            kind: kind.into(),
            hook: hook.into(),
            service: service.into(),
            input_sha256,
            conclusions,
            knowledge_version: knowledge_version.into(),
            engine_version: cobalt_core::eval::ENGINE_VERSION.into(),
            outcome: String::new(),
            card: cards.join(","),
            ..Entry::default()
        }
    }
}
