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
    /// Which of these card ids were issued.
    Cards {
        ids: Vec<String>,
        ack: oneshot::Sender<Result<Vec<bool>, String>>,
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
const MIGRATIONS: [&str; 5] = [
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
    "
ALTER TABLE audit ADD COLUMN caller TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';
CREATE TABLE cards (id TEXT PRIMARY KEY);
CREATE TABLE probe (n INTEGER PRIMARY KEY, pad BLOB NOT NULL);
",
];

/// The bytes a readiness probe writes: about an audit row's size, so that a store that cannot
/// take a row does not pass the probe.
pub(crate) const PROBE_BYTES: i64 = 8192;

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

/// Opens (creating if needed, readable by its owner only) the database and applies the schema
/// and pragmas.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    create_private(path);
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Creates the database file with mode 0600 when it does not exist (SQLite gives its `-wal` and
/// `-shm` files the same mode), so that the audit log is not readable by other users.
fn create_private(path: &Path) {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    // An existing file is left as it is; any other error is SQLite's to report on open.
    let _ = opts.open(path);
}

impl Sqlite {
    /// Starts the writer thread on the database at `path`.
    pub fn start(path: &Path) -> anyhow::Result<Sqlite> {
        let mut conn = open(path)?;
        let (tx, rx) = mpsc::channel::<JobMsg>();
        std::thread::Builder::new()
            .name("cobalt-audit".into())
            .spawn(move || {
                // The hash the chain has reached: read from the last row when unknown (at the
                // start, and after a failed batch, whose rows were rolled back).
                let mut chain: Option<String> = None;
                while let Ok(first) = rx.recv() {
                    // Take everything that is waiting: one transaction, one fsync.
                    let mut jobs = vec![first];
                    while let Ok(more) = rx.try_recv() {
                        jobs.push(more);
                        if jobs.len() >= 512 {
                            break;
                        }
                    }
                    match write_batch(&mut conn, &jobs, &mut chain) {
                        Ok((claims, reads, cards)) => {
                            let mut claims = claims.into_iter();
                            let mut reads = reads.into_iter();
                            let mut cards = cards.into_iter();
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
                                    JobMsg::Cards { ack, .. } => {
                                        let _ = ack.send(Ok(cards.next().unwrap_or_default()));
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            chain = None;
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
                                    JobMsg::Cards { ack, .. } => {
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

    fn cards_issued<'a>(&'a self, ids: &'a [String]) -> Pending<'a, Vec<bool>> {
        Box::pin(async move {
            let (ack, done) = oneshot::channel();
            self.send(JobMsg::Cards {
                ids: ids.to_vec(),
                ack,
            })?;
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
/// of a sealed record in order, the record; for each card question, the answers.
type BatchAnswers = (Vec<bool>, Vec<Option<Vec<u8>>>, Vec<Vec<bool>>);

/// Writes a batch in one transaction; each audit row carries the hash of the row before it.
fn write_batch(
    conn: &mut Connection,
    jobs: &[JobMsg],
    chain: &mut Option<String>,
) -> rusqlite::Result<BatchAnswers> {
    let tx = conn.transaction()?;
    let mut claims = Vec::new();
    let mut reads = Vec::new();
    let mut cards = Vec::new();
    let mut prev = match chain.take() {
        Some(h) => h,
        None => tx
            .query_row(
                "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get::<_, String>(0),
            )
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(String::new()),
                e => Err(e),
            })?,
    };
    let now = super::unix_now();
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO audit (request_id, time, kind, hook, service, input_sha256, conclusions, knowledge_version, engine_version, outcome, card, client_request_id, client_time, actor, patient, fhir_server, caller, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        )?;
        let mut claim =
            tx.prepare_cached("INSERT OR IGNORE INTO jti (iss, jti, exp) VALUES (?1, ?2, ?3)")?;
        let mut issue = tx.prepare_cached("INSERT OR IGNORE INTO cards (id) VALUES (?1)")?;
        for job in jobs {
            match job {
                JobMsg::Write(job) => {
                    for e in &job.entries {
                        let cols = e.columns();
                        let refs: Vec<&str> = cols.iter().map(String::as_str).collect();
                        let hash = super::row_hash(&prev, &refs);
                        let mut values: Vec<&dyn rusqlite::ToSql> =
                            cols.iter().map(|c| c as &dyn rusqlite::ToSql).collect();
                        values.push(&hash);
                        stmt.execute(values.as_slice())?;
                        for card in e.issued_cards() {
                            issue.execute([card])?;
                        }
                        prev = hash;
                    }
                }
                JobMsg::Cards { ids, .. } => {
                    let mut known = tx.prepare_cached("SELECT 1 FROM cards WHERE id = ?1")?;
                    let mut answer = Vec::with_capacity(ids.len());
                    for id in ids {
                        answer.push(known.exists([id])?);
                    }
                    cards.push(answer);
                }
                JobMsg::Claim { iss, jti, exp, .. } => {
                    claims.push(claim.execute(params![iss, jti, exp])? == 1);
                }
                JobMsg::Probe(_) => {
                    tx.execute(
                        "INSERT OR REPLACE INTO health (id, at) VALUES (1, datetime('now'))",
                        [],
                    )?;
                    // A row of an audit row's size, written and removed: on a full disk this
                    // fails as an audit row would.
                    tx.execute(
                        "INSERT INTO probe (pad) VALUES (randomblob(?1))",
                        [PROBE_BYTES],
                    )?;
                    tx.execute("DELETE FROM probe", [])?;
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
    *chain = Some(prev);
    Ok((claims, reads, cards))
}

/// Opens a database to read it: read-only, and a copy in a directory that cannot be written
/// (an archive, an auditor's copy) as immutable (SQLite cannot make its `-shm` file there; rows
/// still in a write-ahead log that was not checkpointed are then not seen, which is said).
fn open_to_read(path: &Path) -> anyhow::Result<Connection> {
    use rusqlite::OpenFlags;
    let ro = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let plain = Connection::open_with_flags(path, ro).and_then(|c| {
        c.query_row("SELECT count(*) FROM audit", [], |_| Ok(()))
            .map(|()| c)
    });
    match plain {
        Ok(c) => Ok(c),
        Err(first) => {
            if !path.exists() {
                anyhow::bail!("{}: no such database", path.display());
            }
            let uri = format!(
                "file:{}?mode=ro&immutable=1",
                path.to_string_lossy()
                    .replace('%', "%25")
                    .replace('?', "%3f")
                    .replace('#', "%23")
            );
            let c = Connection::open_with_flags(uri, ro | OpenFlags::SQLITE_OPEN_URI)
                .map_err(|_| anyhow::anyhow!("{}: {first}", path.display()))?;
            let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
            if wal.metadata().is_ok_and(|m| m.len() > 0) {
                eprintln!(
                    "cobalt: {} is read as an immutable copy ({first}); rows only in its write-ahead log are not read",
                    path.display()
                );
            }
            Ok(c)
        }
    }
}

/// Reads every row in `seq` order: `seq` and the text columns of `EXPORT_COLUMNS` after it.
fn each_row(
    path: &Path,
    mut f: impl FnMut(i64, &[String]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let conn = open_to_read(path)?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM audit ORDER BY seq",
        super::EXPORT_COLUMNS.join(", ")
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let text = (1..super::EXPORT_COLUMNS.len())
            .map(|i| r.get::<_, String>(i))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        f(r.get(0)?, &text)?;
    }
    Ok(())
}

/// Writes the whole log as NDJSON, oldest first, one object per row.
pub fn export(path: &Path, out: &mut dyn std::io::Write) -> anyhow::Result<super::Exported> {
    let mut done = super::Exported::default();
    each_row(path, |seq, text| {
        if !super::export_row(out, seq, text)? {
            done.damaged.push(seq);
        }
        done.rows += 1;
        Ok(())
    })?;
    Ok(done)
}

/// Checks the whole log: each row's hash against its columns and the row before.
pub fn verify(path: &Path) -> anyhow::Result<super::Verified> {
    let mut v = super::Verified::default();
    let mut prev = String::new();
    each_row(path, |seq, text| {
        v.row(&mut prev, seq, text);
        Ok(())
    })?;
    Ok(v)
}
