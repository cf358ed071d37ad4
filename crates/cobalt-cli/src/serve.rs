//! `cobalt serve` and `cobalt audit export`: flags and an optional TOML file for the service.

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Flags of `cobalt serve`. A flag given on the command line wins over the file.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// The audit log and replay cache: a SQLite file (created if missing), or a PostgreSQL URL
    /// (postgres://USER@HOST:PORT/DB) that several replicas share [default: cobalt.sqlite3].
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// PostgreSQL: most connections this replica holds [default: 8].
    #[arg(long)]
    pub db_pool_size: Option<usize>,
    /// PostgreSQL: longest wait for a connection or a statement, in milliseconds, before a
    /// request gets 503 [default: 2000].
    #[arg(long)]
    pub db_timeout_ms: Option<u64>,
    /// PostgreSQL with `?sslmode=require` in the URL: a PEM file of the CA certificates that sign
    /// the database's certificate [default: the public web roots].
    #[arg(long, value_name = "FILE")]
    pub db_ca: Option<PathBuf>,
    /// A trusted EHR: its JWT issuer and the URL of its JWK Set. Repeatable.
    #[arg(long, value_name = "ISSUER=JWKS_URL")]
    pub trust: Vec<String>,
    /// The base URL the EHR calls, used as the JWT audience (default: http:// and the listen address).
    #[arg(long)]
    pub public_url: Option<String>,
    /// Turn authentication off. Refused on any address but loopback.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// An origin allowed by CORS. Repeatable. Without it, no CORS headers are sent.
    #[arg(long, value_name = "ORIGIN")]
    pub cors_origin: Vec<String>,
    /// Largest request body, in bytes.
    #[arg(long)]
    pub body_limit: Option<usize>,
    /// Request timeout, in seconds.
    #[arg(long)]
    pub timeout_secs: Option<u64>,
    /// Deadline for fetching missing prefetch from the EHR's FHIR server, in milliseconds.
    #[arg(long)]
    pub fhir_deadline_ms: Option<u64>,
    /// A FHIR server (base URL) that missing prefetch may be fetched from. Repeatable. Without
    /// it, only servers with the origin of a trusted issuer.
    #[arg(long, value_name = "URL")]
    pub fhir_server: Vec<String>,
    /// Largest FHIR answer read when fetching missing prefetch, in bytes (default 16 MiB).
    #[arg(long)]
    pub fhir_body_limit: Option<usize>,
    /// Threshold profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// Serve POST /v1/echo, which only parses and echoes the body (for benchmarks).
    #[arg(long)]
    pub enable_echo: bool,
    /// The web page's POST /ui/assess accepts calls without a token. Only behind a proxy that
    /// signs users in (the page itself, at /, never needs one).
    #[arg(long)]
    pub ui_trust_proxy: bool,
    /// SMART App Launch: cobalt's client id at an EHR. Repeatable, in the order of
    /// --smart-fhir-server.
    #[arg(long, value_name = "ID")]
    pub smart_client_id: Vec<String>,
    /// SMART App Launch: the PEM private key cobalt authenticates with (EC P-384 for ES384, or
    /// RSA for RS384; `cobalt keys new` makes one). Repeatable, in the order of
    /// --smart-fhir-server, or once for all.
    #[arg(long, value_name = "FILE")]
    pub smart_key: Vec<PathBuf>,
    /// SMART App Launch: an EHR's FHIR base URL, the only `iss` its launches may name.
    /// Repeatable.
    #[arg(long, value_name = "BASE")]
    pub smart_fhir_server: Vec<String>,
    /// SMART App Launch: the scopes asked for after `launch` [default: openid fhirUser and
    /// patient/X.rs for Patient, Observation, Condition, MedicationRequest,
    /// MedicationStatement, Medication and Procedure]. For example "openid fhirUser
    /// patient/*.rs" where the EHR needs a wildcard.
    #[arg(long, value_name = "SCOPES")]
    pub smart_scope: Option<String>,
    /// SMART App Launch: a file holding the key that seals sessions in the audit store (64 hex
    /// digits or base64 of 32 bytes; `openssl rand -hex 32`). Give every replica the same key.
    /// Else the environment variable COBALT_SMART_SESSION_KEY; else a random key for this
    /// process only (sessions end when it restarts).
    #[arg(long, value_name = "FILE")]
    pub smart_session_key: Option<PathBuf>,
    /// SMART App Launch: the deadline for reading one patient's record, in milliseconds
    /// [default: 10000].
    #[arg(long)]
    pub smart_read_deadline_ms: Option<u64>,
    /// Most client connections served at once; keep it below the process's file descriptor
    /// limit (`ulimit -n`; systemd's default is 1024) [default: 512].
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a request's line and headers before its connection is
    /// closed [default: 10].
    #[arg(long)]
    pub header_timeout_secs: Option<u64>,
    /// Seconds shutdown (SIGTERM, Ctrl-C) waits for requests in flight before it drops the rest
    /// [default: 10].
    #[arg(long)]
    pub shutdown_grace_secs: Option<u64>,
    /// A TOML file with the same settings (listen, db, db_pool_size, db_timeout_ms, db_ca, trust = [...], public_url, cors_origins,
    /// body_limit, timeout_secs, fhir_deadline_ms, fhir_servers, fhir_body_limit, profile,
    /// ui_trust_proxy, smart = [{ fhir_server, client_id, key }], smart_scope,
    /// smart_session_key, smart_read_deadline_ms, max_connections, header_timeout_secs,
    /// shutdown_grace_secs).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    db: Option<PathBuf>,
    db_pool_size: Option<usize>,
    db_timeout_ms: Option<u64>,
    db_ca: Option<PathBuf>,
    #[serde(default)]
    trust: Vec<String>,
    public_url: Option<String>,
    #[serde(default)]
    cors_origins: Vec<String>,
    body_limit: Option<usize>,
    timeout_secs: Option<u64>,
    fhir_deadline_ms: Option<u64>,
    #[serde(default)]
    fhir_servers: Vec<String>,
    fhir_body_limit: Option<usize>,
    profile: Option<String>,
    #[serde(default)]
    ui_trust_proxy: bool,
    #[serde(default)]
    smart: Vec<FileSmartClient>,
    smart_scope: Option<String>,
    smart_session_key: Option<PathBuf>,
    smart_read_deadline_ms: Option<u64>,
    max_connections: Option<usize>,
    header_timeout_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
}

/// One EHR cobalt is registered with, in the TOML file (`[[smart]]`).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSmartClient {
    fhir_server: String,
    client_id: String,
    key: PathBuf,
}

/// The SMART settings from flags, else the file.
fn smart(args: &ServeArgs, file: &mut FileConfig) -> Result<cobalt_server::smart::SmartSettings> {
    use std::sync::Arc;
    let mut s = cobalt_server::smart::SmartSettings::default();
    let triples: Vec<(String, String, PathBuf)> = if args.smart_fhir_server.is_empty()
        && args.smart_client_id.is_empty()
        && args.smart_key.is_empty()
    {
        std::mem::take(&mut file.smart)
            .into_iter()
            .map(|c| (c.fhir_server, c.client_id, c.key))
            .collect()
    } else {
        let n = args.smart_fhir_server.len();
        if args.smart_client_id.len() != n
            || !(args.smart_key.len() == n || args.smart_key.len() == 1)
        {
            anyhow::bail!(
                "--smart-fhir-server, --smart-client-id and --smart-key go together: one client id per server, and one key per server or one for all ({n} server(s), {} client id(s), {} key(s))",
                args.smart_client_id.len(),
                args.smart_key.len()
            );
        }
        (0..n)
            .map(|i| {
                let key = args.smart_key.get(i).unwrap_or(&args.smart_key[0]).clone();
                (
                    args.smart_fhir_server[i].clone(),
                    args.smart_client_id[i].clone(),
                    key,
                )
            })
            .collect()
    };
    for (fhir_server, client_id, key) in triples {
        if !(fhir_server.starts_with("https://") || fhir_server.starts_with("http://")) {
            anyhow::bail!("--smart-fhir-server {fhir_server}: not an http(s) URL");
        }
        let key = crate::keys::read_key(&key).context("--smart-key")?;
        s.clients.push(cobalt_server::smart::SmartClient {
            fhir_server: fhir_server.trim_end_matches('/').to_string(),
            client_id,
            key: Arc::new(key),
        });
    }
    s.scope = args.smart_scope.clone().or(file.smart_scope.take());
    let key_text = match args
        .smart_session_key
        .clone()
        .or(file.smart_session_key.take())
    {
        Some(p) => Some(
            std::fs::read_to_string(&p)
                .with_context(|| format!("--smart-session-key {}", p.display()))?,
        ),
        None => std::env::var("COBALT_SMART_SESSION_KEY").ok(),
    };
    if let Some(t) = key_text {
        s.session_key = Some(Arc::new(
            cobalt_server::smart::session::Sealer::from_text(&t)
                .map_err(|e| anyhow::anyhow!("the SMART session key: {e}"))?,
        ));
    } else if s.enabled() {
        tracing::warn!("no SMART session key given: sessions are sealed with a random key and end when this process restarts; give every replica the same --smart-session-key");
    }
    if let Some(ms) = args.smart_read_deadline_ms.or(file.smart_read_deadline_ms) {
        s.read_deadline = Duration::from_millis(ms.max(1));
    }
    Ok(s)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A log line that cannot be written (the log's disk is full) is dropped. tracing's default
    // is to report that on standard error with `eprintln!`, which panics when standard error
    // cannot be written either, and a panic ends the request's connection without an answer.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .json()
        .log_internal_errors(false)
        .try_init();
}

/// Builds the service configuration from flags and the file.
pub fn config(args: &ServeArgs) -> Result<cobalt_server::Config> {
    let mut file: FileConfig = match &args.config {
        Some(p) => toml::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("parsing {}", p.display()))?,
        None => FileConfig::default(),
    };
    let smart_settings = smart(args, &mut file)?;
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let mut c = cobalt_server::Config::new(listen);
    c.db = args
        .db
        .clone()
        .or(file.db)
        .unwrap_or_else(|| PathBuf::from("cobalt.sqlite3"));
    if let Some(n) = args.db_pool_size.or(file.db_pool_size) {
        if n == 0 {
            anyhow::bail!("db_pool_size: at least 1");
        }
        c.db_pool.size = n;
    }
    if let Some(t) = args.db_timeout_ms.or(file.db_timeout_ms) {
        c.db_pool.timeout = Duration::from_millis(t.max(1));
    }
    c.db_pool.ca = args.db_ca.clone().or(file.db_ca);
    let trust: Vec<String> = if args.trust.is_empty() {
        file.trust
    } else {
        args.trust.clone()
    };
    c.trust = trust
        .iter()
        .map(|t| {
            t.parse()
                .map_err(|e: String| anyhow::anyhow!("--trust {t}: {e}"))
        })
        .collect::<Result<_>>()?;
    if let Some(u) = args.public_url.clone().or(file.public_url) {
        c.public_url = u;
    }
    c.insecure_no_auth = args.insecure_no_auth;
    c.cors_origins = if args.cors_origin.is_empty() {
        file.cors_origins
    } else {
        args.cors_origin.clone()
    };
    if let Some(b) = args.body_limit.or(file.body_limit) {
        c.body_limit = b;
    }
    if let Some(t) = args.timeout_secs.or(file.timeout_secs) {
        c.request_timeout = Duration::from_secs(t);
    }
    if let Some(d) = args.fhir_deadline_ms.or(file.fhir_deadline_ms) {
        c.fhir_deadline = Duration::from_millis(d);
    }
    c.fhir_servers = if args.fhir_server.is_empty() {
        file.fhir_servers
    } else {
        args.fhir_server.clone()
    };
    if let Some(b) = args.fhir_body_limit.or(file.fhir_body_limit) {
        c.fhir_body_limit = b;
    }
    if let Some(p) = args.profile.clone().or(file.profile) {
        c.profile = p;
    }
    c.echo = args.enable_echo;
    c.ui_trust_proxy = args.ui_trust_proxy || file.ui_trust_proxy;
    c.smart = smart_settings;
    if let Some(n) = args.max_connections.or(file.max_connections) {
        if n == 0 {
            anyhow::bail!("max_connections: at least 1");
        }
        c.limits.max_connections = n;
    }
    if let Some(t) = args.header_timeout_secs.or(file.header_timeout_secs) {
        c.limits.header_timeout = Duration::from_secs(t.max(1));
    }
    if let Some(t) = args.shutdown_grace_secs.or(file.shutdown_grace_secs) {
        c.limits.shutdown_grace = Duration::from_secs(t);
    }
    Ok(c)
}

/// Runs the service until it is stopped.
pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    init_tracing();
    let config = config(&args)?;
    if let Err(e) = config.validate() {
        eprintln!("cobalt: {e}");
        return Ok(ExitCode::from(2));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(cobalt_server::serve(config))?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the audit log as NDJSON to standard output. A row whose conclusions are damaged is
/// written with the text it holds and reported; the exit status is then 1.
pub fn export(db: &std::path::Path, ca: Option<&std::path::Path>) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let text = db.to_string_lossy();
    let done = if cobalt_server::audit::is_postgres(&text) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(cobalt_server::audit::postgres::export(&text, ca, &mut out))?
    } else {
        cobalt_server::audit::export(db, &mut out)?
    };
    use std::io::Write;
    out.flush()?;
    eprintln!("cobalt: {} audit record(s)", done.rows);
    if !done.damaged.is_empty() {
        eprintln!(
            "cobalt: {} record(s) damaged (conclusions not JSON): seq {}",
            done.damaged.len(),
            list(&done.damaged)
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn list(seqs: &[i64]) -> String {
    let mut s: Vec<String> = seqs.iter().take(20).map(i64::to_string).collect();
    if seqs.len() > 20 {
        s.push("...".into());
    }
    s.join(", ")
}

/// Checks the audit log's hash chain; exit 1 when it is broken or a row is damaged.
pub fn verify(db: &std::path::Path, ca: Option<&std::path::Path>) -> Result<ExitCode> {
    let text = db.to_string_lossy();
    let v = if cobalt_server::audit::is_postgres(&text) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(cobalt_server::audit::postgres::verify(&text, ca))?
    } else {
        cobalt_server::audit::sqlite::verify(db)?
    };
    eprintln!(
        "cobalt: {} audit record(s); {} before the hash chain began",
        v.rows, v.unchained
    );
    if let Some(seq) = v.broken_at {
        eprintln!("cobalt: the chain is broken at seq {seq}: that row, or one before it, was changed, inserted or deleted");
    }
    if !v.damaged.is_empty() {
        eprintln!(
            "cobalt: {} record(s) damaged (conclusions not JSON): seq {}",
            v.damaged.len(),
            list(&v.damaged)
        );
    }
    if v.intact() {
        eprintln!("cobalt: the audit log is whole");
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}
