//! Shared by the service's in-process tests: a state on a fresh SQLite audit log, tokens from
//! an independent signer (jsonwebtoken), requests through the router, and a patient's prefetch.

#![allow(dead_code)]

pub use axum::body::Body;
pub use axum::http::{Request, StatusCode};
pub use cobalt_server::{app, AppState, Config};
pub use http_body_util::BodyExt;
pub use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
pub use serde_json::{json, Value};
pub use std::net::SocketAddr;
pub use std::path::PathBuf;
pub use std::sync::atomic::{AtomicU64, Ordering};
pub use tower::ServiceExt;

pub const ISS: &str = "https://ehr.test";
pub const PUBLIC: &str = "http://cobalt.test";

pub fn keys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/keys")
}

/// Serves a fixed JSON body at any path on loopback; returns its base URL.
pub async fn serve_json(routes: Vec<(&'static str, Value)>) -> String {
    let mut router = axum::Router::new();
    for (path, body) in routes {
        router = router.route(
            path,
            axum::routing::get(move || {
                let b = body.clone();
                async move { axum::Json(b) }
            }),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

pub static DB: AtomicU64 = AtomicU64::new(0);

pub async fn state() -> (AppState, PathBuf) {
    state_with(|_| {}).await
}

/// A state whose configuration `f` adjusts.
pub async fn state_with(f: impl FnOnce(&mut Config)) -> (AppState, PathBuf) {
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string(keys_dir().join("jwks.json")).unwrap())
            .unwrap();
    let base = serve_json(vec![("/jwks.json", jwks)]).await;
    let mut config = Config::new("127.0.0.1:0".parse::<SocketAddr>().unwrap());
    config.public_url = PUBLIC.into();
    config.trust = vec![format!("{ISS}={base}/jwks.json").parse().unwrap()];
    let db = std::env::temp_dir().join(format!(
        "cobalt-service-test-{}-{}.sqlite3",
        std::process::id(),
        DB.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_file(&db);
    config.db = db.clone();
    config.fhir_deadline = std::time::Duration::from_secs(2);
    f(&mut config);
    (AppState::new(config).unwrap(), db)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub static JTI: AtomicU64 = AtomicU64::new(0);

pub fn token_with(alg: Algorithm, kid: &str, claims: Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    let key = match alg {
        Algorithm::ES384 => {
            EncodingKey::from_ec_pem(&std::fs::read(keys_dir().join("ec384-pkcs8.pem")).unwrap())
                .unwrap()
        }
        Algorithm::RS384 => {
            EncodingKey::from_rsa_pem(&std::fs::read(keys_dir().join("rsa.pem")).unwrap()).unwrap()
        }
        Algorithm::HS256 => EncodingKey::from_secret(b"shared secret"),
        _ => unreachable!(),
    };
    encode(&header, &claims, &key).unwrap()
}

pub fn claims(aud: &str) -> Value {
    json!({ "iss": ISS, "sub": "ehr-client", "aud": aud, "iat": now(), "exp": now() + 120, "jti": format!("jti-{}-{}", std::process::id(), JTI.fetch_add(1, Ordering::SeqCst)) })
}

pub fn token(path: &str) -> String {
    token_with(
        Algorithm::ES384,
        "test-ec",
        claims(&format!("{PUBLIC}{path}")),
    )
}

pub async fn call(
    state: &AppState,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req
        .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
        .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, v)
}

/// A request whose body is the given text as sent (so that it may hold what a JSON tree cannot,
/// such as a key given twice): the status and the body read as JSON.
pub async fn call_text(
    state: &AppState,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app(state.clone())
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v)
}

pub fn patient_bundle() -> Value {
    // An 82-year-old woman on metformin with neuropathy and a low B12 (after dev case B12-06).
    json!({
        "patient": { "resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1943-05-01" },
        "observations": { "resourceType": "Bundle", "type": "searchset", "entry": [
            { "resource": { "resourceType": "Observation", "id": "o1", "status": "final",
                "code": { "coding": [{ "system": "http://loinc.org", "code": "14685-2" }] },
                "subject": { "reference": "Patient/p1" }, "effectiveDateTime": "2025-10-01",
                "valueQuantity": { "value": 97, "unit": "pmol/L", "system": "http://unitsofmeasure.org", "code": "pmol/L" } } }
        ]},
        "conditions": { "resourceType": "Bundle", "type": "searchset", "entry": [] },
        "medicationStatements": { "resourceType": "Bundle", "type": "searchset", "entry": [
            { "resource": { "resourceType": "MedicationStatement", "id": "m1", "status": "active",
                "medicationCodeableConcept": { "coding": [{ "system": "http://www.whocc.no/atc", "code": "A10BA02" }] },
                "subject": { "reference": "Patient/p1" }, "effectivePeriod": { "start": "2015-01-01" } } }
        ]},
        "medicationRequests": { "resourceType": "Bundle", "type": "searchset", "entry": [] },
        "procedures": { "resourceType": "Bundle", "type": "searchset", "entry": [] },
    })
}

pub fn hook_request(hook: &str, prefetch: Option<Value>, context_extra: Value) -> Value {
    let mut context = json!({ "userId": "Practitioner/1", "patientId": "p1" });
    if let (Some(c), Some(extra)) = (context.as_object_mut(), context_extra.as_object()) {
        for (k, v) in extra {
            c.insert(k.clone(), v.clone());
        }
    }
    let mut r = json!({ "hook": hook, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": context });
    if let Some(p) = prefetch {
        r["prefetch"] = p;
    }
    r
}

pub fn assert_card_invariants(card: &Value) {
    let uuid = card["uuid"].as_str().expect("uuid");
    assert_eq!(uuid.len(), 36, "uuid {uuid}");
    let summary = card["summary"].as_str().expect("summary");
    assert!(
        !summary.is_empty() && summary.chars().count() < 140,
        "summary length: {summary}"
    );
    assert!(
        ["info", "warning", "critical"].contains(&card["indicator"].as_str().unwrap()),
        "indicator"
    );
    assert!(
        card["source"]["label"]
            .as_str()
            .is_some_and(|l| !l.is_empty()),
        "source.label"
    );
    if let Some(s) = card.get("suggestions").and_then(Value::as_array) {
        assert!(!s.is_empty());
        assert!(["at-most-one", "any"].contains(
            &card["selectionBehavior"]
                .as_str()
                .expect("selectionBehavior with suggestions")
        ));
        for sug in s {
            assert!(sug["label"].as_str().is_some());
            for a in sug["actions"].as_array().unwrap() {
                assert!(["create", "update", "delete"].contains(&a["type"].as_str().unwrap()));
                assert_eq!(a["resource"]["resourceType"], "ServiceRequest");
            }
        }
    }
    if let Some(links) = card.get("links").and_then(Value::as_array) {
        for l in links {
            assert!(l["label"].is_string() && l["url"].is_string());
            assert!(["absolute", "smart"].contains(&l["type"].as_str().unwrap()));
        }
    }
}

/// Base64url without padding (RFC 4648 5), for hand-made tokens.
pub fn base64url(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &x)| acc | (x as u32) << (16 - 8 * i));
        for i in 0..chunk.len() + 1 {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
