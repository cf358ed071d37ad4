//! The service under hostile or careless clients: the token is checked before the body is read,
//! and `/metrics` counts requests by route template (never a patient's id) in the Prometheus
//! text format. The connection limits (header timeout, connection cap, bounded shutdown) are
//! tested over loopback with real sockets in `scripts/test_limits.py`.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cobalt_server::app;
use common::{state, token};
use http_body_util::BodyExt;
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// A body that sends a few bytes and then never ends.
fn endless_body() -> Body {
    let first = futures_util::stream::iter([Ok::<_, std::io::Error>(
        axum::body::Bytes::from_static(b"{\"format\":"),
    )]);
    let never = futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
    Body::from_stream(futures_util::StreamExt::chain(first, never))
}

#[tokio::test]
async fn a_request_without_a_token_is_refused_before_its_body_is_read() {
    let (state, _) = state().await;
    for path in [
        "/v1/assess",
        "/cds-services/cobalt-b12-patient-view",
        "/ui/assess",
    ] {
        let req = Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/json")
            .body(endless_body())
            .unwrap();
        let start = Instant::now();
        let resp = tokio::time::timeout(Duration::from_secs(5), app(state.clone()).oneshot(req))
            .await
            .unwrap_or_else(|_| panic!("{path}: no answer while the body trickles"))
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{path}: {:?}",
            start.elapsed()
        );
    }
    // An unknown service is still 404 (before any token is asked for).
    let req = Request::builder()
        .method("POST")
        .uri("/cds-services/no-such-service")
        .body(endless_body())
        .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_in_the_prometheus_text_format() {
    let (state, _) = state().await;
    let path = "/cds-services/cobalt-b12-patient-view";
    let body = common::hook_request(
        "patient-view",
        Some(common::patient_bundle()),
        serde_json::json!({}),
    );
    let (status, _) = common::call(&state, "POST", path, Some(&token(path)), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = common::call(
        &state,
        "POST",
        "/v1/assess",
        None,
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let resp = app(state.clone())
        .oneshot(
            Request::builder()
                .uri("/metrics")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains(
            r#"cobalt_http_requests_total{route="/cds-services/{id}",method="POST",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"cobalt_http_requests_total{route="/v1/assess",method="POST",status="401"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("cobalt_assessments_total 1"), "{text}");
    assert!(
        text.contains("cobalt_audit_commit_seconds_count 1"),
        "{text}"
    );
    assert!(
        text.contains("cobalt_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("cobalt_jwks_fetches_total{outcome=\"ok\"} 1"),
        "{text}"
    );
    assert!(
        !text.contains("cobalt-b12-patient-view"),
        "a label holds a path, not its template"
    );
    assert!(text.trim_end().ends_with("# EOF"));
}
