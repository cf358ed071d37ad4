//! The audit store in SQLite (WAL), the default for one machine. Writes go through one writer
//! thread that commits in batches (group commit) and acknowledges each row only after its
//! transaction is on disk, so concurrent requests share one fsync.

use super::{Entry, Pending, Store};
use rusqlite::{params, Connection};
use std::path::Path;
use std::sync::mpsc;
use tokio::sync::oneshot;

struct Job {
    entries: Vec<Entry>,
    ack: oneshot::Sender<Result<(), String>>,
}

/// A handle to the SQLite writer thread.
#[derive(Debug)]
pub struct Sqlite {
    tx: mpsc::Sender<JobMsg>,
}

enum JobMsg {
    Write(Job),
    /// Records a token id; answers whether it was new.
    Claim {
        iss: String,
        jti: String,
        exp: i64,
        ack: oneshot::Sender<Result<bool, String>>,
    },
    /// A write that only shows the database can be written.
    Probe(oneshot::Sender<Result<(), String>>),
    /// Keeps a sealed record.
    Put {
        key: String,
        exp: i64,
        data: Vec<u8>,
        ack: oneshot::Sender<Result<(), String>>,
    },
    /// Reads (and with `take` removes) a sealed record.
    Get {
        key: String,
        take: bool,
        ack: oneshot::Sender<Result<Option<Vec<u8>>, String>>,
    },
}

impl std::fmt::Debug for JobMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobMsg")
    }
}

/// The schema, as migrations: the database records the last one applied in `schema_version`.
const MIGRATIONS: [&str; 4] = [
    "
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    hook TEXT NOT NULL,
    service TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    conclusions TEXT NOT NULL,
    knowledge_version TEXT NOT NULL,
    engine_version TEXT NOT NULL,
    outcome TEXT NOT NULL,
    card TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_request ON audit(request_id);
",
    "
ALTER TABLE audit ADD COLUMN client_request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN client_time TEXT NOT NULL DEFAULT '';
",
    "
CREATE TABLE jti (iss TEXT NOT NULL, jti TEXT NOT NULL, exp INTEGER NOT NULL, PRIMARY KEY (iss, jti));
CREATE INDEX jti_exp ON jti(exp);
CREATE TABLE health (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);
",
    "
ALTER TABLE audit ADD COLUMN actor TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN patient TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN fhir_server TEXT NOT NULL DEFAULT '';
CREATE TABLE sealed (key TEXT PRIMARY KEY, exp INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX sealed_exp ON sealed(exp);
",
];

/// Applies the migrations the database has not had, each in its own transaction.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let have: i64 = conn.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )?;
    for (i, m) in MIGRATIONS.iter().enumerate().skip(have as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(m)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [i as i64 + 1],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// Opens (creating if needed) the database and applies the schema and pragmas.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    migrate(&mut conn)?;
    Ok(conn)
}

impl Sqlite {
    /// Starts the writer thread on the database at `path`.
    pub fn start(path: &Path) -> anyhow::Result<Sqlite> {
        let mut conn = open(path)?;
        let (tx, rx) = mpsc::channel::<JobMsg>();
        std::thread::Builder::new()
            .name("cobalt-audit".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // Take everything that is waiting: one transaction, one fsync.
                    let mut jobs = vec![first];
                    while let Ok(more) = rx.try_recv() {
                        jobs.push(more);
                        if jobs.len() >= 512 {
                            break;
                        }
                    }
                    match write_batch(&mut conn, &jobs) {
                        Ok((claims, reads)) => {
                            let mut claims = claims.into_iter();
                            let mut reads = reads.into_iter();
                            for job in jobs {
                                match job {
                                    JobMsg::Write(job) => {
                                        let _ = job.ack.send(Ok(()));
                                    }
                                    JobMsg::Claim { ack, .. } => {
                                        let _ = ack.send(Ok(claims.next().unwrap_or(false)));
                                    }
                                    JobMsg::Probe(ack) | JobMsg::Put { ack, .. } => {
                                        let _ = ack.send(Ok(()));
                                    }
                                    JobMsg::Get { ack, .. } => {
                                        let _ = ack.send(Ok(reads.next().flatten()));
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            let e = e.to_string();
                            for job in jobs {
                                match job {
                                    JobMsg::Write(job) => {
                                        let _ = job.ack.send(Err(e.clone()));
                                    }
                                    JobMsg::Claim { ack, .. } => {
                                        let _ = ack.send(Err(e.clone()));
                                    }
                                    JobMsg::Probe(ack) | JobMsg::Put { ack, .. } => {
                                        let _ = ack.send(Err(e.clone()));
                                    }
                                    JobMsg::Get { ack, .. } => {
                                        let _ = ack.send(Err(e.clone()));
                                    }
                                }
                            }
                        }
                    }
                }
            })?;
        Ok(Sqlite { tx })
    }

    fn send(&self, msg: JobMsg) -> Result<(), String> {
        self.tx.send(msg).map_err(stopped)
    }
}

fn stopped<T>(_: T) -> String {
    "audit writer stopped".to_string()
}

impl Store for Sqlite {
    fn write(&self, entries: Vec<Entry>) -> Pending<'_, ()> {
        Box::pin(async move {
            let (ack, done) = oneshot::channel();
            self.send(JobMsg::Write(Job { entries, ack }))?;
            done.await.map_err(stopped)?
        })
    }

    fn claim_jti<'a>(&'a self, iss: &'a str, jti: &'a str, exp: i64) -> Pending<'a, bool> {
        Box::pin(async move {
            let (ack, done) = oneshot::channel();
            self.send(JobMsg::Claim {
                iss: iss.to_string(),
                jti: jti.to_string(),
                exp,
                ack,
            })?;
            done.await.map_err(stopped)?
        })
    }

    fn probe(&self) -> Pending<'_, ()> {
        Box::pin(async move {
            let (ack, done) = oneshot::channel();
            self.send(JobMsg::Probe(ack))?;
            done.await.map_err(stopped)?
        })
    }

    fn put_sealed<'a>(&'a self, key: &'a str, exp: i64, data: Vec<u8>) -> Pending<'a, ()> {
        Box::pin(async move {
            let (ack, done) = oneshot::channel();
            self.send(JobMsg::Put {
                key: key.to_string(),
                exp,
                data,
                ack,
            })?;
            done.await.map_err(stopped)?
        })
    }

    fn get_sealed<'a>(&'a self, key: &'a str, take: bool) -> Pending<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let (ack, done) = oneshot::channel();
            self.send(JobMsg::Get {
                key: key.to_string(),
                take,
                ack,
            })?;
            done.await.map_err(stopped)?
        })
    }
}

/// What a batch answers: for each claim in order, whether its token id was new; for each read
/// of a sealed record in order, the record.
type BatchAnswers = (Vec<bool>, Vec<Option<Vec<u8>>>);

/// Writes a batch in one transaction.
fn write_batch(conn: &mut Connection, jobs: &[JobMsg]) -> rusqlite::Result<BatchAnswers> {
    let tx = conn.transaction()?;
    let mut claims = Vec::new();
    let mut reads = Vec::new();
    let now = super::unix_now();
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO audit (request_id, time, kind, hook, service, input_sha256, conclusions, knowledge_version, engine_version, outcome, card, client_request_id, client_time, actor, patient, fhir_server)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        )?;
        let mut claim =
            tx.prepare_cached("INSERT OR IGNORE INTO jti (iss, jti, exp) VALUES (?1, ?2, ?3)")?;
        for job in jobs {
            match job {
                JobMsg::Write(job) => {
                    for e in &job.entries {
                        stmt.execute(params![
                            e.request_id,
                            e.time,
                            e.kind,
                            e.hook,
                            e.service,
                            e.input_sha256,
                            e.conclusions.to_string(),
                            e.knowledge_version,
                            e.engine_version,
                            e.outcome,
                            e.card,
                            e.client_request_id,
                            e.client_time,
                            e.actor,
                            e.patient,
                            e.fhir_server
                        ])?;
                    }
                }
                JobMsg::Claim { iss, jti, exp, .. } => {
                    claims.push(claim.execute(params![iss, jti, exp])? == 1);
                }
                JobMsg::Probe(_) => {
                    tx.execute(
                        "INSERT OR REPLACE INTO health (id, at) VALUES (1, datetime('now'))",
                        [],
                    )?;
                }
                JobMsg::Put { key, exp, data, .. } => {
                    tx.execute("DELETE FROM sealed WHERE exp < ?1", [now])?;
                    tx.execute(
                        "INSERT OR REPLACE INTO sealed (key, exp, data) VALUES (?1, ?2, ?3)",
                        params![key, exp, data],
                    )?;
                }
                JobMsg::Get { key, take, .. } => {
                    let sql = if *take {
                        "DELETE FROM sealed WHERE key = ?1 AND exp >= ?2 RETURNING data"
                    } else {
                        "SELECT data FROM sealed WHERE key = ?1 AND exp >= ?2"
                    };
                    let mut stmt = tx.prepare_cached(sql)?;
                    let mut rows = stmt.query(params![key, now])?;
                    reads.push(match rows.next()? {
                        Some(r) => Some(r.get::<_, Vec<u8>>(0)?),
                        None => None,
                    });
                }
            }
        }
    }
    if !claims.is_empty() {
        // Token ids are kept until their token expires (with a minute's leeway).
        tx.execute("DELETE FROM jti WHERE exp < ?1", [now - 60])?;
    }
    tx.commit()?;
    Ok((claims, reads))
}

/// Writes the whole log as NDJSON, oldest first, one object per row.
pub fn export(path: &Path, out: &mut dyn std::io::Write) -> anyhow::Result<usize> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM audit ORDER BY seq",
        super::EXPORT_COLUMNS.join(", ")
    ))?;
    let mut rows = stmt.query([])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let text = (1..super::EXPORT_COLUMNS.len())
            .map(|i| r.get::<_, String>(i))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        super::export_row(out, r.get(0)?, &text)?;
        n += 1;
    }
    Ok(n)
}
