//! The JSON API, the page and the server's limits, in process (see `service.rs` for CDS Hooks).

mod common;

use common::*;

#[tokio::test]
async fn v1_assess_takes_a_case_or_a_bundle_and_names_bad_input() {
    let (s, _) = state().await;
    let path = "/v1/assess";
    let case = json!({ "format": "cobalt.case/1", "id": "c1", "as_of": "2026-01-01", "labs": [{ "test": "total_b12", "value": 150, "unit": "ng/L" }] });
    let (status, v) = call(&s, "POST", path, Some(&token(path)), Some(case)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["conclusions"]["b12_status"], "deficient");
    assert_eq!(v["id"], "c1");
    let p = patient_bundle();
    let mut entries = vec![json!({ "resource": p["patient"] })];
    entries.extend(
        p["observations"]["entry"]
            .as_array()
            .unwrap()
            .iter()
            .cloned(),
    );
    let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": entries });
    let (status, v) = call(&s, "POST", path, Some(&token(path)), Some(bundle)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["conclusions"]["b12_status"], "deficient");
    let bad = json!({ "format": "cobalt.case/1", "labs": [{ "test": "total_b12", "value": -1, "unit": "ng/L" }] });
    let (status, v) = call(&s, "POST", path, Some(&token(path)), Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["path"], "labs[0].value");
    let (status, _) = call(&s, "POST", path, None, Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rules_openapi_health_and_limits() {
    let (s, _) = state().await;
    let (status, v) = call(&s, "GET", "/v1/rules", Some(&token("/v1/rules")), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(v.as_array().unwrap().len() > 100);
    let (status, v) = call(&s, "GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(v["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/v1/assess",
        "/v1/rules",
        "/healthz",
        "/cds-services",
        "/cds-services/{id}",
        "/cds-services/{id}/feedback",
    ] {
        assert!(v["paths"].get(p).is_some(), "openapi lacks {p}");
    }
    let (status, v) = call(&s, "GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["status"], "ok");
    let (status, _) = call(
        &s,
        "POST",
        "/cds-services/nope",
        Some(&token("/cds-services/nope")),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let big = json!({ "format": "cobalt.case/1", "id": "x".repeat(3 * 1024 * 1024) });
    let (status, v) = call(
        &s,
        "POST",
        "/v1/assess",
        Some(&token("/v1/assess")),
        Some(big),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(v["error"], "payload too large", "a JSON body: {v}");
    assert_eq!(v["outcome"]["resourceType"], "OperationOutcome");
}

#[test]
fn no_auth_is_refused_off_loopback() {
    let mut c = Config::new("0.0.0.0:8080".parse().unwrap());
    c.insecure_no_auth = true;
    assert!(c.validate().unwrap_err().contains("loopback"));
    let mut c = Config::new("127.0.0.1:8080".parse().unwrap());
    c.insecure_no_auth = true;
    assert!(c.validate().is_ok());
    let c = Config::new("127.0.0.1:8080".parse().unwrap());
    assert!(
        c.validate().unwrap_err().contains("--trust"),
        "auth on with nobody trusted is a configuration error"
    );
}

/// A raw request: status, headers and body text.
async fn raw(
    state: &AppState,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = app(state.clone())
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&bytes).into())
}

#[tokio::test]
async fn the_page_and_its_assets_are_built_in_and_locked_down() {
    let (s, _) = state().await;
    let (status, h, body) = raw(&s, "GET", "/", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert!(!csp.contains("unsafe-inline"));
    // No inline script or style, nothing fetched from elsewhere.
    assert!(!body.contains("<script>") && !body.contains("<style") && !body.contains("style="));
    assert!(!body.contains("http://") && !body.contains("https://"));
    assert!(body.contains("src=\"/ui/app.js\"") && body.contains("href=\"/ui/app.css\""));
    assert!(body.contains("class=\"disclaimer\""));
    let (status, h, js) = raw(&s, "GET", "/ui/app.js", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(js.contains("/ui/assess"));
    let (status, _, css) = raw(&s, "GET", "/ui/app.css", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        css.contains(cobalt_report::REPORT_CSS),
        "the page styles the report with the report's own stylesheet"
    );
}

#[tokio::test]
async fn the_form_offers_the_case_formats_choices_and_the_vocabulary() {
    let (s, _) = state().await;
    let (status, v) = call(&s, "GET", "/ui/form.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["format"], "cobalt.case/1");
    assert_eq!(
        v["choices"]["mri.lesions.site"].as_array().unwrap().len(),
        6
    );
    let labs = v["concepts"]["labs"].as_array().unwrap();
    assert!(labs.iter().any(|c| c["id"] == "total_b12"));
    assert!(v["concepts"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["label"].as_str().is_some_and(|l| !l.is_empty())));
    let b12_units: Vec<&str> = v["analytes"]["total_b12"]["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(b12_units.contains(&"pg/mL") && b12_units.contains(&"pmol/L"));
    assert_eq!(
        v["analytes"]["intrinsic_factor_antibody"]["units"],
        json!([]),
        "a qualitative test has no unit"
    );
}

#[tokio::test]
async fn ui_assess_renders_both_views_and_is_authorised_like_the_api() {
    let (s, db) = state().await;
    let case = json!({ "format": "cobalt.case/1", "id": "ui-1", "as_of": "2026-01-01", "labs": [{ "test": "total_b12", "value": 150, "unit": "ng/L" }] });
    // Authentication on and no proxy declared: a token for /ui/assess is needed.
    let (status, _) = call(&s, "POST", "/ui/assess", None, Some(case.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, v) = call(
        &s,
        "POST",
        "/ui/assess",
        Some(&token("/ui/assess")),
        Some(case.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["assessment"]["conclusions"]["b12_status"], "deficient");
    let report = v["report_html"].as_str().unwrap();
    assert!(report.starts_with("<article class=\"report\""));
    assert!(report.contains("ui-1") && report.contains("class=\"disclaimer\""));
    let patient = v["patient_html"].as_str().unwrap();
    assert!(patient.contains("id=\"patient-view\""));
    assert!(!report.contains("<script") && !patient.contains("<script"));
    // A form post from another site cannot send JSON without a preflight: refused.
    let (status, _, _) = raw(
        &s,
        "POST",
        "/ui/assess",
        Some("text/plain"),
        &case.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Bad input names the field.
    let bad = json!({ "format": "cobalt.case/1", "patient": { "age_years": 200 } });
    let (status, v) = call(
        &s,
        "POST",
        "/ui/assess",
        Some(&token("/ui/assess")),
        Some(bad),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["path"], "patient.age_years");
    // The call is audited like any assessment.
    let mut out = Vec::new();
    cobalt_server::audit::export(&db, &mut out).unwrap();
    let rows = String::from_utf8(out).unwrap();
    assert!(rows.contains("\"service\":\"ui/assess\""), "{rows}");
    // Behind a sign-on proxy the deployment may let the page call without a token.
    let mut config = (*s.config).clone();
    config.ui_trust_proxy = true;
    let proxied = AppState {
        config: std::sync::Arc::new(config),
        ..s.clone()
    };
    let (status, _) = call(&proxied, "POST", "/ui/assess", None, Some(case.clone())).await;
    assert_eq!(status, StatusCode::OK);
    // ... but the JSON API still needs its token.
    let (status, _) = call(&proxied, "POST", "/v1/assess", None, Some(case)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// `/healthz` commits a write: a replica whose store is locked by another writer says it is
/// unavailable (503), so that a load balancer takes it out, and recovers when the lock goes.
#[tokio::test]
async fn healthz_says_whether_the_store_can_be_written() {
    let (s, db) = state().await;
    let (status, v) = call(&s, "GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["store"], "writable");
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        std::thread::sleep(std::time::Duration::from_secs(7));
        conn.execute_batch("COMMIT").unwrap();
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, v) = call(&s, "GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["store"], "not writable");
    holder.join().unwrap();
    let (status, _) = call(&s, "GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

/// The benchmark endpoints exist only when enabled: `/v1/echo` echoes the body; `/v1/echo-audited`
/// echoes it and commits one audit row of a hook's shape (the body's hash, conclusions, the
/// knowledge version), so that the benchmark can tell the commit's cost from cobalt's work.
#[tokio::test]
async fn the_echoes_exist_only_when_enabled_and_the_audited_one_commits_a_row() {
    let (off, _) = state().await;
    let body = json!({"hook": "patient-view", "context": {"patientId": "p1"}});
    let (status, _) = call(&off, "POST", "/v1/echo-audited", None, Some(body.clone())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (s, db) = state_with(|c| {
        c.echo = true;
        c.insecure_no_auth = true;
    })
    .await;
    let (status, v) = call(&s, "POST", "/v1/echo", None, Some(body.clone())).await;
    assert_eq!((status, &v), (StatusCode::OK, &body));
    let (status, v) = call(&s, "POST", "/v1/echo-audited", None, Some(body.clone())).await;
    assert_eq!((status, &v), (StatusCode::OK, &body));
    let (status, _) = call(
        &s,
        "POST",
        "/v1/echo-audited",
        None,
        Some(json!("not an object")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let mut out = Vec::new();
    let done = cobalt_server::audit::sqlite::export(&db, &mut out).unwrap();
    let rows: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &Value| r["kind"] == "echo")
        .collect();
    assert_eq!(rows.len(), 2, "{done:?}");
    let sha = ring::digest::digest(&ring::digest::SHA256, body.to_string().as_bytes());
    let hex: String = sha.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(rows[0]["input_sha256"], hex.as_str());
    assert!(
        rows[0]["conclusions"]["b12_status"].is_string(),
        "{}",
        rows[0]
    );
    assert_eq!(rows[0]["knowledge_version"], s.kb.meta.version.as_str());
}
