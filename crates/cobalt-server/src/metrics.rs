//! `GET /metrics`: the service's own figures in the Prometheus text format (OpenMetrics), with
//! the `prometheus-client` crate. Requests and their latency by route, method and status; the
//! assessments made; the time to commit an audit row and the store's errors; the open
//! connections; the JWK Set fetches by outcome. No label holds patient data or a token: routes
//! are the router's templates (`/cds-services/{id}`), never the path asked for.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

/// A request's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route template, or `other` for a path no route matches.
    pub route: String,
    /// The method.
    pub method: String,
    /// The status answered.
    pub status: u16,
}

/// A JWK Set fetch's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FetchLabels {
    /// `ok` or `failed`.
    pub outcome: String,
}

type Latency = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_buckets() -> Histogram {
    // 0.25 ms to about 4 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    /// Requests answered.
    pub requests: Family<RouteLabels, Counter>,
    /// Seconds from a request's arrival to its answer.
    pub latency: Latency,
    /// Assessments made (CDS Hooks, `/v1/assess`, the page, SMART reads).
    pub assessments: Counter,
    /// Seconds to commit an audit write.
    pub audit_commit: Histogram,
    /// Audit writes that failed.
    pub store_errors: Counter,
    /// Connections open now.
    pub open_connections: Gauge,
    /// JWK Set fetches.
    pub jwks_fetches: Family<FetchLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("cobalt");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency: Latency = Family::new_with_constructor(latency_buckets);
        let assessments = Counter::default();
        let audit_commit = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        let store_errors = Counter::default();
        let open_connections = Gauge::default();
        let jwks_fetches = Family::<FetchLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer",
            latency.clone(),
        );
        registry.register("assessments", "Assessments made", assessments.clone());
        registry.register(
            "audit_commit_seconds",
            "Time to commit an audit write",
            audit_commit.clone(),
        );
        registry.register(
            "audit_store_errors",
            "Audit writes that failed (each answered 503)",
            store_errors.clone(),
        );
        registry.register(
            "open_connections",
            "Client connections open now",
            open_connections.clone(),
        );
        registry.register(
            "jwks_fetches",
            "Fetches of trusted issuers' JWK Sets",
            jwks_fetches.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            assessments,
            audit_commit,
            store_errors,
            open_connections,
            jwks_fetches,
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Counts a JWK Set fetch.
    pub fn jwks_fetch(&self, ok: bool) {
        self.jwks_fetches
            .get_or_create(&FetchLabels {
                outcome: if ok { "ok" } else { "failed" }.into(),
            })
            .inc();
    }
}

/// Counts every request and its latency, by its route's template.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_string(), |m| m.as_str().to_string());
    let method = req.method().as_str().to_string();
    let resp = next.run(req).await;
    let labels = RouteLabels {
        route,
        method,
        status: resp.status().as_u16(),
    };
    metrics.requests.get_or_create(&labels).inc();
    metrics
        .latency
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    resp
}

/// `GET /metrics`.
pub async fn expose(State(state): State<crate::AppState>) -> Response {
    let mut r = (StatusCode::OK, state.metrics.encode()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}
