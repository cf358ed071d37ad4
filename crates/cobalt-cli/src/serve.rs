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
    /// A TOML file with the same settings (listen, db, db_pool_size, db_timeout_ms, db_ca, trust = [...], public_url, cors_origins,
    /// body_limit, timeout_secs, fhir_deadline_ms, fhir_servers, fhir_body_limit, profile,
    /// ui_trust_proxy).
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
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .json()
        .try_init();
}

/// Builds the service configuration from flags and the file.
pub fn config(args: &ServeArgs) -> Result<cobalt_server::Config> {
    let file: FileConfig = match &args.config {
        Some(p) => toml::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("parsing {}", p.display()))?,
        None => FileConfig::default(),
    };
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

/// Writes the audit log as NDJSON to standard output.
pub fn export(db: &std::path::Path, ca: Option<&std::path::Path>) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let text = db.to_string_lossy();
    let n = if cobalt_server::audit::is_postgres(&text) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(cobalt_server::audit::postgres::export(&text, ca, &mut out))?
    } else {
        cobalt_server::audit::export(db, &mut out)?
    };
    use std::io::Write;
    out.flush()?;
    eprintln!("cobalt: {n} audit record(s)");
    Ok(ExitCode::SUCCESS)
}
