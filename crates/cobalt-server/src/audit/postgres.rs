//! The audit store in PostgreSQL, shared by every replica of the service: a bounded pool of
//! connections (deadpool), each statement under the pool's timeout. A lost database gives an
//! error, so callers get a 503, and the pool makes new connections when the database is back.
//! The migrations run once, on the first operation that reaches the database, in one
//! transaction under an advisory lock, so replicas starting together apply each once.

use super::{Entry, Pending, PoolOptions, Store};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::OnceCell;

/// The schema, as migrations numbered as SQLite's (`schema_version` holds the last applied).
const MIGRATIONS: [&str; 5] = [
    "
CREATE TABLE IF NOT EXISTS audit (
    seq BIGSERIAL PRIMARY KEY,
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
CREATE TABLE jti (iss TEXT NOT NULL, jti TEXT NOT NULL, exp BIGINT NOT NULL, PRIMARY KEY (iss, jti));
CREATE INDEX jti_exp ON jti(exp);
CREATE TABLE health (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);
",
    "
ALTER TABLE audit ADD COLUMN actor TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN patient TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN fhir_server TEXT NOT NULL DEFAULT '';
CREATE TABLE sealed (key TEXT PRIMARY KEY, exp BIGINT NOT NULL, data BYTEA NOT NULL);
CREATE INDEX sealed_exp ON sealed(exp);
",
    "
ALTER TABLE audit ADD COLUMN caller TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';
CREATE TABLE cards (id TEXT PRIMARY KEY);
CREATE TABLE probe (n BIGSERIAL PRIMARY KEY, pad BYTEA NOT NULL);
",
];

/// The advisory lock that orders audit rows into one hash chain across replicas.
const CHAIN_LOCK: i64 = 0x636f_6261_6c75;

/// The advisory lock the migrations hold (any constant of cobalt's own).
const MIGRATION_LOCK: i64 = 0x636f_6261_6c74;

const INSERT: &str = "INSERT INTO audit (request_id, time, kind, hook, service, input_sha256, conclusions, knowledge_version, engine_version, outcome, card, client_request_id, client_time, actor, patient, fhir_server, caller, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";

/// The PostgreSQL store.
pub struct Postgres {
    pool: Pool,
    timeout: std::time::Duration,
    migrated: OnceCell<()>,
    claims: AtomicU64,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

fn text<E: std::fmt::Display>(e: E) -> String {
    format!("audit database: {e}")
}

impl Postgres {
    /// A pool for the database at `url`; nothing is connected yet.
    pub fn new(url: &str, opts: PoolOptions) -> anyhow::Result<Postgres> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| anyhow::anyhow!("--db: not a PostgreSQL URL: {e}"))?;
        let mc = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match tls(&config, opts.ca.as_deref())? {
            Some(tls) => Manager::from_config(config, tls, mc),
            None => Manager::from_config(config, tokio_postgres::NoTls, mc),
        };
        let t = Some(opts.timeout);
        let pool = Pool::builder(manager)
            .max_size(opts.size.max(1))
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: t,
                create: t,
                recycle: t,
            })
            .build()
            .map_err(|e| anyhow::anyhow!("the PostgreSQL pool: {e}"))?;
        Ok(Postgres {
            pool,
            timeout: opts.timeout,
            migrated: OnceCell::new(),
            claims: AtomicU64::new(0),
        })
    }

    /// A connection, the schema migrated.
    async fn client(&self) -> Result<deadpool_postgres::Object, String> {
        let mut client = self.pool.get().await.map_err(text)?;
        if self.migrated.get().is_none() {
            let c = &mut client;
            self.migrated
                .get_or_try_init(|| async move { migrate(c).await.map_err(text) })
                .await?;
        }
        Ok(client)
    }

    /// Runs `op` under the statement timeout.
    async fn timed<T>(
        &self,
        op: impl std::future::Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "audit database: no answer within {} ms",
                self.timeout.as_millis()
            )),
        }
    }
}

/// The TLS connector `sslmode=require` asks for: the server's certificate checked against `ca`
/// (PEM), else the public web roots. `None`: no TLS (`disable`, or `prefer`, the default, which
/// here means no TLS rather than TLS without a check).
fn tls(
    config: &tokio_postgres::Config,
    ca: Option<&std::path::Path>,
) -> anyhow::Result<Option<tokio_postgres_rustls::MakeRustlsConnect>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    if config.get_ssl_mode() != tokio_postgres::config::SslMode::Require {
        return Ok(None);
    }
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| anyhow::anyhow!("--db-ca {}: {e}", path.display()))?
            {
                let cert = cert.map_err(|e| anyhow::anyhow!("--db-ca {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| anyhow::anyhow!("--db-ca {}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                anyhow::bail!("--db-ca {}: no certificate in the file", path.display());
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
}

/// Applies the migrations the database has not had, in one transaction, under the lock.
async fn migrate(client: &mut deadpool_postgres::Object) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .await?;
    let have: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .await?
        .get(0);
    for (i, m) in MIGRATIONS.iter().enumerate().skip(have as usize) {
        tx.batch_execute(m).await?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .await?;
    }
    tx.commit().await
}

/// Inserts one audit row with its hash, and the cards it issued.
async fn insert(
    client: &impl deadpool_postgres::GenericClient,
    stmt: &tokio_postgres::Statement,
    e: &Entry,
    hash: &str,
) -> Result<(), String> {
    let cols = e.columns();
    let mut values: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = cols
        .iter()
        .map(|c| c as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    let hash = hash.to_string();
    values.push(&hash);
    client.execute(stmt, &values).await.map_err(text)?;
    for card in e.issued_cards() {
        client
            .execute(
                "INSERT INTO cards (id) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&card],
            )
            .await
            .map_err(text)?;
    }
    Ok(())
}

impl Store for Postgres {
    fn write(&self, entries: Vec<Entry>) -> Pending<'_, ()> {
        Box::pin(self.timed(async move {
            let mut client = self.client().await?;
            // One transaction: under the chain's lock, the last row's hash is read and each new
            // row chains from it, so every replica's rows form one chain.
            let tx = client.transaction().await.map_err(text)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHAIN_LOCK])
                .await
                .map_err(text)?;
            let mut prev: String = tx
                .query_opt("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1", &[])
                .await
                .map_err(text)?
                .map(|r| r.get(0))
                .unwrap_or_default();
            let stmt = tx.prepare_cached(INSERT).await.map_err(text)?;
            for e in &entries {
                let cols = e.columns();
                let refs: Vec<&str> = cols.iter().map(String::as_str).collect();
                let hash = super::row_hash(&prev, &refs);
                insert(&tx, &stmt, e, &hash).await?;
                prev = hash;
            }
            tx.commit().await.map_err(text)
        }))
    }

    fn cards_issued<'a>(&'a self, ids: &'a [String]) -> Pending<'a, Vec<bool>> {
        Box::pin(self.timed(async move {
            let client = self.client().await?;
            let found: Vec<String> = client
                .query("SELECT id FROM cards WHERE id = ANY($1)", &[&ids])
                .await
                .map_err(text)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            Ok(ids.iter().map(|i| found.contains(i)).collect())
        }))
    }

    fn claim_jti<'a>(&'a self, iss: &'a str, jti: &'a str, exp: i64) -> Pending<'a, bool> {
        Box::pin(self.timed(async move {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "INSERT INTO jti (iss, jti, exp) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .await
                .map_err(text)?;
            let new = client
                .execute(&stmt, &[&iss, &jti, &exp])
                .await
                .map_err(text)?
                == 1;
            // Token ids are kept until their token expires (with a minute's leeway); expired
            // ones are removed now and then.
            if self
                .claims
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(256)
            {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                client
                    .execute("DELETE FROM jti WHERE exp < $1", &[&(now - 60)])
                    .await
                    .map_err(text)?;
            }
            Ok(new)
        }))
    }

    fn probe(&self) -> Pending<'_, ()> {
        Box::pin(self.timed(async move {
            let mut client = self.client().await?;
            // A row of an audit row's size, written and removed in one transaction: on a full
            // disk this fails as an audit row would.
            let tx = client.transaction().await.map_err(text)?;
            tx.execute(
                "INSERT INTO health (id, at) VALUES (1, now()::text) ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at",
                &[],
            )
            .await
            .map_err(text)?;
            tx.execute(
                "INSERT INTO probe (pad) SELECT gen_random_uuid()::text::bytea || decode(repeat('00', $1::int), 'hex')",
                &[&(super::sqlite::PROBE_BYTES as i32)],
            )
            .await
            .map_err(text)?;
            tx.execute("DELETE FROM probe", &[]).await.map_err(text)?;
            tx.commit().await.map_err(text)
        }))
    }

    fn put_sealed<'a>(&'a self, key: &'a str, exp: i64, data: Vec<u8>) -> Pending<'a, ()> {
        Box::pin(self.timed(async move {
            let client = self.client().await?;
            let now = super::unix_now();
            client
                .execute("DELETE FROM sealed WHERE exp < $1", &[&now])
                .await
                .map_err(text)?;
            client
                .execute(
                    "INSERT INTO sealed (key, exp, data) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET exp = EXCLUDED.exp, data = EXCLUDED.data",
                    &[&key, &exp, &data],
                )
                .await
                .map_err(text)?;
            Ok(())
        }))
    }

    fn get_sealed<'a>(&'a self, key: &'a str, take: bool) -> Pending<'a, Option<Vec<u8>>> {
        Box::pin(self.timed(async move {
            let client = self.client().await?;
            let sql = if take {
                "DELETE FROM sealed WHERE key = $1 AND exp >= $2 RETURNING data"
            } else {
                "SELECT data FROM sealed WHERE key = $1 AND exp >= $2"
            };
            let row = client
                .query_opt(sql, &[&key, &super::unix_now()])
                .await
                .map_err(text)?;
            Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
        }))
    }
}

/// Writes the whole log as NDJSON, oldest first, as the SQLite export does.
pub async fn export(
    url: &str,
    ca: Option<&std::path::Path>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<super::Exported> {
    let mut done = super::Exported::default();
    each_row(url, ca, |seq, text| {
        if !super::export_row(out, seq, text)? {
            done.damaged.push(seq);
        }
        done.rows += 1;
        Ok(())
    })
    .await?;
    Ok(done)
}

/// Checks the whole log's hash chain, as the SQLite store's `verify` does.
pub async fn verify(url: &str, ca: Option<&std::path::Path>) -> anyhow::Result<super::Verified> {
    let mut v = super::Verified::default();
    let mut prev = String::new();
    each_row(url, ca, |seq, text| {
        v.row(&mut prev, seq, text);
        Ok(())
    })
    .await?;
    Ok(v)
}

/// Reads every row in `seq` order, in pages, so that memory does not grow with the log.
async fn each_row(
    url: &str,
    ca: Option<&std::path::Path>,
    mut f: impl FnMut(i64, &[String]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| anyhow::anyhow!("--db: not a PostgreSQL URL: {e}"))?;
    let client = match tls(&config, ca)? {
        Some(tls) => {
            let (client, connection) = config.connect(tls).await?;
            tokio::spawn(connection);
            client
        }
        None => {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            client
        }
    };
    // In pages by seq, so that memory does not grow with the log.
    let page = client
        .prepare(&format!(
            "SELECT {} FROM audit WHERE seq > $1 ORDER BY seq LIMIT 10000",
            super::EXPORT_COLUMNS.join(", ")
        ))
        .await?;
    let mut after = 0i64;
    loop {
        let rows = client.query(&page, &[&after]).await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.get(0);
        for r in &rows {
            let text: Vec<String> = (1..super::EXPORT_COLUMNS.len()).map(|i| r.get(i)).collect();
            f(r.get(0), &text)?;
        }
    }
    Ok(())
}
