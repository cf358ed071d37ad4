//! cobalt as an HTTP service: HL7 CDS Hooks 2.0 services over FHIR R4, a JSON API
//! (`/v1/assess`, `/v1/rules`), a web page for clinicians (`/`, `/ui/*`), an OpenAPI document, a
//! health check, JWT authentication of the
//! calling EHR, and an audit log in SQLite or PostgreSQL. A thin layer over `cobalt-core`: handlers parse,
//! call `evaluate`, render, and record.
//!
//! `app(state)` builds the router, so tests call it in-process; `serve(config)` binds, serves
//! and shuts down gracefully on Ctrl-C or SIGTERM.

#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod cards;
pub mod cds;
pub mod error;
pub mod guard;
pub mod hooks;
pub mod listen;
pub mod metrics;
pub mod smart;
pub mod ui;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use error::AppError;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

/// Service configuration (flags and an optional TOML file).
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The public base URL the EHR calls (the JWT audience prefix).
    pub public_url: String,
    /// Audit database: a SQLite file, or a PostgreSQL URL (`postgres://...`) shared by replicas.
    pub db: PathBuf,
    /// PostgreSQL connection pool: size and the wait for a connection or a statement.
    pub db_pool: audit::PoolOptions,
    /// Trusted issuers.
    pub trust: Vec<auth::TrustedIssuer>,
    /// Authentication off (loopback only).
    pub insecure_no_auth: bool,
    /// Origins allowed by CORS; empty: no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Request timeout.
    pub request_timeout: Duration,
    /// Deadline for fetching missing prefetch.
    pub fhir_deadline: Duration,
    /// FHIR servers (base URLs) missing prefetch may be fetched from. Empty: a server with the
    /// origin (scheme, host, port) of a trusted issuer. Any other `fhirServer` is never called.
    pub fhir_servers: Vec<String>,
    /// Largest FHIR answer read when fetching missing prefetch, in bytes.
    pub fhir_body_limit: usize,
    /// Threshold profile id.
    pub profile: String,
    /// Serve `POST /v1/echo` (parses and echoes the body; for benchmarks).
    pub echo: bool,
    /// The web page's `POST /ui/assess` needs no token: a sign-on proxy in front of the service
    /// authenticates its users.
    pub ui_trust_proxy: bool,
    /// SMART App Launch: the EHRs cobalt is registered with, and its sessions.
    pub smart: smart::SmartSettings,
    /// Connection limits: how many at once, the header-read timeout, the shutdown grace.
    pub limits: listen::Limits,
}

impl Config {
    /// Whether missing prefetch may be fetched from this FHIR base URL: it is on the
    /// `fhir_servers` list, or, without a list, it has the origin of a trusted issuer (CDS
    /// Hooks 2.0, security: the service must not call FHIR servers it does not trust).
    pub fn trusts_fhir_server(&self, base: &str) -> bool {
        // A base with a dot segment, a query or a fragment could name another path once
        // normalised: never trusted.
        let lower = base.to_ascii_lowercase();
        if lower.contains("/..")
            || lower.contains("/./")
            || lower.contains("%2e")
            || lower.contains(['?', '#', '\\'])
            || lower.ends_with("/.")
        {
            return false;
        }
        let base = base.trim_end_matches('/');
        if !self.fhir_servers.is_empty() {
            return self.fhir_servers.iter().any(|s| {
                let s = s.trim_end_matches('/');
                base == s || base.strip_prefix(s).is_some_and(|r| r.starts_with('/'))
            });
        }
        let origin = cobalt_smart::origin;
        let Some(o) = origin(base) else {
            return false;
        };
        self.trust
            .iter()
            .any(|t| origin(&t.iss).as_deref() == Some(o.as_str()))
    }

    /// Defaults for a listen address.
    pub fn new(listen: SocketAddr) -> Config {
        Config {
            listen,
            public_url: format!("http://{listen}"),
            db: PathBuf::from("cobalt.sqlite3"),
            db_pool: audit::PoolOptions::default(),
            trust: Vec::new(),
            insecure_no_auth: false,
            cors_origins: Vec::new(),
            body_limit: 2 * 1024 * 1024,
            request_timeout: Duration::from_secs(15),
            fhir_deadline: hooks::DEFAULT_FHIR_DEADLINE,
            fhir_servers: Vec::new(),
            fhir_body_limit: 16 * 1024 * 1024,
            profile: "nice-ng239".into(),
            echo: false,
            ui_trust_proxy: false,
            smart: smart::SmartSettings::default(),
            limits: listen::Limits::default(),
        }
    }

    /// Whether the public URL is plain HTTP on a loopback host (a clinician's own machine, a
    /// test): the only place cookies go without `Secure`.
    pub fn public_on_loopback(&self) -> bool {
        let Some(rest) = self.public_url.strip_prefix("http://") else {
            return false;
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = match host.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// Checks the combination of settings: authentication may be off only on loopback.
    pub fn validate(&self) -> Result<(), String> {
        if self.insecure_no_auth && !self.listen.ip().is_loopback() {
            return Err(format!(
                "--insecure-no-auth is refused on {}: it is allowed only on a loopback address",
                self.listen.ip()
            ));
        }
        if self.smart.enabled()
            && !self.public_url.starts_with("https://")
            && !self.public_on_loopback()
        {
            return Err(format!(
                "SMART App Launch needs an https:// --public-url (cookies are Secure and tokens are exchanged); `{}` is allowed only on a loopback host",
                self.public_url
            ));
        }
        if !self.insecure_no_auth && self.trust.is_empty() {
            return Err("authentication is on but no issuer is trusted: add --trust ISSUER=JWKS_URL (or --insecure-no-auth on loopback)".into());
        }
        Ok(())
    }
}

/// Shared state.
#[derive(Clone)]
pub struct AppState {
    /// Knowledge base.
    pub kb: Arc<cobalt_core::KnowledgeBase>,
    /// The profile in use.
    pub profile: Arc<cobalt_core::Profile>,
    /// Configuration.
    pub config: Arc<Config>,
    /// Token verifier.
    pub verifier: Arc<auth::Verifier>,
    /// Audit log.
    pub audit: audit::AuditLog,
    /// HTTP client for FHIR servers.
    pub http: reqwest::Client,
    /// Slots for assessments running at once, off the async workers (see
    /// [`AppState::blocking`]).
    pub assessments: Arc<tokio::sync::Semaphore>,
    /// The key that seals SMART sessions in the store.
    pub sealer: Arc<smart::session::Sealer>,
    /// The service's metrics (`/metrics`).
    pub metrics: Arc<metrics::Metrics>,
    /// The conclusions of an empty case as the audit stores them, made once: what the audited
    /// echo (a benchmark endpoint) writes, so that its row has the shape of a hook's.
    pub echo_conclusions: Arc<serde_json::Value>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state: loads the knowledge base, opens the audit log.
    pub fn new(config: Config) -> anyhow::Result<AppState> {
        let kb = cobalt_kb::load()
            .map_err(|p| anyhow::anyhow!("invalid knowledge base: {} problem(s)", p.len()))?;
        let profile = kb
            .profiles
            .get(&config.profile)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("unknown profile `{}`", config.profile))?;
        let audit = audit::AuditLog::start_with(&config.db, config.db_pool.clone())?;
        let metrics = Arc::new(metrics::Metrics::new());
        let echo_conclusions = {
            let a = cobalt_core::evaluate(&kb, &profile, &cobalt_core::Case::default(), today());
            Arc::new(serde_json::to_value(&a.conclusions).unwrap_or(serde_json::Value::Null))
        };
        Ok(AppState {
            echo_conclusions,
            metrics: Arc::clone(&metrics),
            kb: Arc::new(kb),
            profile: Arc::new(profile),
            verifier: Arc::new(auth::Verifier::new(config.trust.clone()).with_metrics(metrics)),
            http: reqwest::Client::builder()
                .timeout(config.fhir_deadline)
                .build()?,
            sealer: config
                .smart
                .session_key
                .clone()
                .unwrap_or_else(|| Arc::new(smart::session::Sealer::ephemeral())),
            config: Arc::new(config),
            audit,
            assessments: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()) * 2,
            )),
        })
    }

    /// Commits audit rows, timing the commit; a failure is a 503 (and counted).
    pub async fn commit(&self, entries: Vec<audit::Entry>) -> Result<(), AppError> {
        let assessments = entries.iter().filter(|e| !e.conclusions.is_null()).count() as u64;
        let start = std::time::Instant::now();
        match self.audit.write(entries).await {
            Ok(()) => {
                self.metrics
                    .audit_commit
                    .observe(start.elapsed().as_secs_f64());
                self.metrics.assessments.inc_by(assessments);
                Ok(())
            }
            Err(e) => {
                self.metrics.store_errors.inc();
                Err(AppError::Unavailable(e))
            }
        }
    }

    /// The conclusions the audited echo writes (see the field).
    pub fn echo_conclusions(&self) -> serde_json::Value {
        (*self.echo_conclusions).clone()
    }

    /// The key that seals SMART sessions.
    pub fn smart_sealer(&self) -> &smart::session::Sealer {
        &self.sealer
    }

    /// Whether SMART cookies are `Secure`: always, but on a loopback host over HTTP.
    pub fn smart_secure(&self) -> bool {
        !self.config.public_on_loopback()
    }

    /// The SMART redirect URI: `{public_url}/smart/callback`.
    pub fn redirect_uri(&self) -> String {
        format!(
            "{}/smart/callback",
            self.config.public_url.trim_end_matches('/')
        )
    }

    /// Runs CPU work (mapping, evaluation, rendering) on the blocking pool, at most two per
    /// core at once, so that the async workers stay free for other requests (`/healthz`
    /// among them) and the request timeout can answer on time; a request that waits for a
    /// slot past its timeout is answered by the timeout.
    pub async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&AppState) -> Result<R, AppError> + Send + 'static,
    ) -> Result<R, AppError> {
        let _permit = Arc::clone(&self.assessments)
            .acquire_owned()
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let state = self.clone();
        tokio::task::spawn_blocking(move || f(&state))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
    }

    /// Checks the caller's token for a call to `path`, unless authentication is off. Returns
    /// who called, for the audit row: the token's issuer and subject (`iss sub`; empty when
    /// authentication is off).
    pub async fn authorise(&self, headers: &HeaderMap, path: &str) -> Result<String, AppError> {
        if self.config.insecure_no_auth {
            return Ok(String::new());
        }
        let audience = format!("{}{}", self.config.public_url.trim_end_matches('/'), path);
        let header = headers.get("authorization").and_then(|h| h.to_str().ok());
        match self.verifier.verify(header, &audience).await {
            Ok(claims) => {
                // The in-memory check catches a replay to this process; the store's unique key
                // catches one after a restart (and, on a shared store, on another replica).
                let jti = claims.jti.as_deref().unwrap_or_default();
                match self.audit.claim_jti(&claims.iss, jti, claims.exp).await {
                    Ok(true) => {
                        Ok(
                            format!("{} {}", claims.iss, claims.sub.as_deref().unwrap_or(""))
                                .trim_end()
                                .to_string(),
                        )
                    }
                    Ok(false) => {
                        tracing::debug!("token refused: jti already used");
                        Err(AppError::Unauthorised)
                    }
                    Err(e) => Err(AppError::Unavailable(e)),
                }
            }
            Err(reason) => {
                tracing::debug!(%reason, "token refused");
                Err(AppError::Unauthorised)
            }
        }
    }
}

/// Today's date (UTC): the assessment date of service calls.
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

/// The service's own id for a request: a fresh UUID, never the client's.
fn request_id(_headers: &HeaderMap) -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The client's `x-request-id`, kept beside the service's id when it is printable ASCII of at
/// most 128 characters; anything else is not stored.
fn client_request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|h| h.to_str().ok())
        .filter(|s| s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_default()
}

/// Parses a JSON body, naming the problem's position on failure.
pub fn parse_json(body: &[u8]) -> Result<Value, AppError> {
    serde_json::from_slice(body).map_err(|e| AppError::Invalid {
        path: "$".into(),
        message: format!("malformed JSON: {e}"),
    })
}

/// The router.
pub fn app(state: AppState) -> Router {
    let cors = if state.config.cors_origins.is_empty() {
        None
    } else {
        let origins: Vec<HeaderValue> = state
            .config
            .cors_origins
            .iter()
            .filter_map(|o| o.parse().ok())
            .collect();
        Some(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([
                    axum::http::header::AUTHORIZATION,
                    axum::http::header::CONTENT_TYPE,
                ]),
        )
    };
    // The caller of these is checked before their body is read.
    let guarded = Router::new()
        .route("/cds-services/{id}", post(cds::call_service))
        .route("/cds-services/{id}/feedback", post(cds::feedback))
        .route("/v1/assess", post(api::assess))
        .route("/v1/rules", get(api::rules))
        .route("/ui/assess", post(ui::assess))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::auth_first,
        ));
    let mut router = Router::new()
        .merge(guarded)
        .route("/cds-services", get(cds::discovery))
        .route("/metrics", get(metrics::expose))
        .route("/openapi.json", get(api::openapi))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::healthz))
        .route("/livez", get(api::livez))
        .route("/", get(ui::index))
        .route("/ui/app.js", get(ui::app_js))
        .route("/ui/fields.js", get(ui::fields_js))
        .route("/ui/app.css", get(ui::app_css))
        .route("/ui/form.json", get(ui::form))
        .route("/smart/launch", get(smart::launch::start))
        .route("/smart/callback", get(smart::launch::callback))
        .route("/smart/record", get(smart::launch::read_record))
        .route("/.well-known/jwks.json", get(smart::launch::jwks));
    if state.config.echo {
        router = router
            .route("/v1/echo", post(api::echo))
            .route("/v1/echo-audited", post(api::echo_audited));
    }
    let timeout = state.config.request_timeout;
    let limit = state.config.body_limit;
    let metrics = Arc::clone(&state.metrics);
    let mut router = router
        .layer(axum::middleware::map_response(
            move |r: Response| async move { json_too_large(r, limit) },
        ))
        .layer(axum::middleware::map_response(no_store))
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                // Method and path only: never headers (tokens) or bodies (patient data).
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .with_state(state);
    if let Some(c) = cors {
        router = router.layer(c);
    }
    router
}

/// Answers may carry patient data: none is kept by a cache unless its route says otherwise
/// (the page's assets, the JWK Set), no browser guesses a content type, and no URL of this
/// service (a SMART callback's, say) is sent on as a referrer. Every route gets these here,
/// once.
async fn no_store(mut r: Response) -> Response {
    use axum::http::header;
    let h = r.headers_mut();
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// A body over the limit is answered in JSON like every other refusal, not in axum's text.
fn json_too_large(r: Response, limit: usize) -> Response {
    if r.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return r;
    }
    let message = format!("the request body is larger than {limit} bytes");
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        Json(json!({
            "error": "payload too large",
            "path": "$",
            "message": message,
            "outcome": error::operation_outcome("too-costly", &message, None),
        })),
    )
        .into_response()
}

/// Binds and serves until Ctrl-C or SIGTERM, then drains in-flight requests.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    let listen = config.listen;
    let state = AppState::new(config)?;
    // A store that cannot be reached now is not a reason to stay down: requests get 503 and
    // /healthz says so until it can be written, and the schema is migrated then.
    if let Err(e) = state.audit.prepare().await {
        tracing::warn!(error = %e, "audit store not writable at start");
    }
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, "cobalt serving");
    let limits = state.config.limits;
    let metrics = Arc::clone(&state.metrics);
    listen::run(listener, app(state), limits, metrics, shutdown_signal()).await?;
    tracing::info!("cobalt stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
