//! Token checks the RFCs require (nbf, crit, the key's use and algorithm, the scheme's case),
//! and key sets fetched without blocking anyone else: an issuer whose JWK Set hangs delays no
//! other issuer's tokens, a failing one is not fetched again for every token, and an oversized
//! one is refused.

mod common;

use common::*;
use std::time::{Duration, Instant};

const PATH: &str = "/cds-services/cobalt-b12-patient-view";

fn aud() -> String {
    format!("{PUBLIC}{PATH}")
}

fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(&std::fs::read(keys_dir().join("ec384-pkcs8.pem")).unwrap()).unwrap()
}

fn jwks() -> Value {
    serde_json::from_str(&std::fs::read_to_string(keys_dir().join("jwks.json")).unwrap()).unwrap()
}

/// A state trusting `issuers` (iss, JWK Set URL).
fn state_with(issuers: &[(&str, String)]) -> AppState {
    let mut config = Config::new("127.0.0.1:0".parse::<SocketAddr>().unwrap());
    config.public_url = PUBLIC.into();
    config.trust = issuers
        .iter()
        .map(|(iss, url)| format!("{iss}={url}").parse().unwrap())
        .collect();
    let db = std::env::temp_dir().join(format!(
        "cobalt-auth-test-{}-{}.sqlite3",
        std::process::id(),
        DB.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_file(&db);
    config.db = db;
    AppState::new(config).unwrap()
}

/// A JWT with this header (as JSON) and claims, signed with the test EC key.
fn signed(header: Value, claims: &Value) -> String {
    let enc = |v: &Value| base64url(&serde_json::to_vec(v).unwrap());
    let message = format!("{}.{}", enc(&header), enc(claims));
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &ec_key(), Algorithm::ES384).unwrap();
    format!("{message}.{sig}")
}

async fn post(s: &AppState, authorization: Option<String>) -> StatusCode {
    let mut req = Request::builder()
        .method("POST")
        .uri(PATH)
        .header("content-type", "application/json");
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let body = hook_request("patient-view", Some(patient_bundle()), json!({}));
    let req = req.body(Body::from(body.to_string())).unwrap();
    app(s.clone()).oneshot(req).await.unwrap().status()
}

#[tokio::test]
async fn the_rfcs_checks_refuse_what_they_must_and_the_scheme_is_case_insensitive() {
    // The EC key again, once marked for encryption and once for another algorithm.
    let mut set = jwks();
    let ec = set["keys"][0].clone();
    let mut enc = ec.clone();
    enc["kid"] = json!("enc-ec");
    enc["use"] = json!("enc");
    let mut other_alg = ec.clone();
    other_alg["kid"] = json!("rs-ec");
    other_alg["alg"] = json!("RS384");
    set["keys"].as_array_mut().unwrap().extend([enc, other_alg]);
    let base = serve_json(vec![("/jwks.json", set)]).await;
    let s = state_with(&[(ISS, format!("{base}/jwks.json"))]);

    let mut not_yet = claims(&aud());
    not_yet["nbf"] = json!(now() + 600);
    let refused = [
        (
            "nbf in the future (RFC 7519 4.1.5)",
            token_with(Algorithm::ES384, "test-ec", not_yet),
        ),
        (
            "crit (RFC 7515 4.1.11)",
            signed(
                json!({"alg": "ES384", "typ": "JWT", "kid": "test-ec", "crit": ["foo"], "foo": 1}),
                &claims(&aud()),
            ),
        ),
        (
            "a key for encryption (RFC 7517 4.2)",
            token_with(Algorithm::ES384, "enc-ec", claims(&aud())),
        ),
        (
            "a key for another algorithm (RFC 7517 4.4)",
            token_with(Algorithm::ES384, "rs-ec", claims(&aud())),
        ),
    ];
    for (name, t) in refused {
        assert_eq!(
            post(&s, Some(format!("Bearer {t}"))).await,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
    }
    // The same header fields without crit are accepted, so the refusal above is crit's.
    let plain = signed(
        json!({"alg": "ES384", "typ": "JWT", "kid": "test-ec"}),
        &claims(&aud()),
    );
    assert_eq!(
        post(&s, Some(format!("Bearer {plain}"))).await,
        StatusCode::OK
    );
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let t = token(PATH);
        assert_eq!(
            post(&s, Some(format!("{scheme} {t}"))).await,
            StatusCode::OK,
            "{scheme}"
        );
    }
}

#[tokio::test]
async fn a_hanging_key_set_delays_no_other_issuer() {
    // A JWK Set URL that accepts connections and never answers.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = hang.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            if let Ok((sock, _)) = hang.accept().await {
                held.push(sock);
            }
        }
    });
    let good = serve_json(vec![("/jwks.json", jwks())]).await;
    let s = state_with(&[
        (ISS, format!("{good}/jwks.json")),
        ("https://slow.test", format!("http://{hang_addr}/jwks.json")),
    ]);
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut c = claims(&aud());
        c["iss"] = json!("https://slow.test");
        let t = token_with(Algorithm::ES384, "test-ec", c);
        let s = s.clone();
        slow.push(tokio::spawn(async move {
            post(&s, Some(format!("Bearer {t}"))).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let status = post(&s, Some(format!("Bearer {}", token(PATH)))).await;
    let waited = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert!(
        waited < Duration::from_secs(1),
        "a healthy issuer's token waited {waited:?} behind a hanging key set"
    );
    for h in slow {
        assert_eq!(h.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_failing_key_set_is_not_fetched_for_every_token_and_an_oversized_one_is_refused() {
    let hits = std::sync::Arc::new(AtomicU64::new(0));
    let counter = std::sync::Arc::clone(&hits);
    let router = axum::Router::new()
        .route(
            "/broken.json",
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { (StatusCode::INTERNAL_SERVER_ERROR, "no") }
            }),
        )
        .route(
            "/huge.json",
            axum::routing::get(|| async {
                let pad = "x".repeat(1 << 20);
                axum::Json(json!({ "keys": [], "pad": pad }))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let s = state_with(&[
        (ISS, format!("http://{addr}/broken.json")),
        ("https://huge.test", format!("http://{addr}/huge.json")),
    ]);
    for _ in 0..20 {
        assert_eq!(
            post(&s, Some(format!("Bearer {}", token(PATH)))).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "a failed fetch is remembered, not repeated for every token"
    );
    let mut c = claims(&aud());
    c["iss"] = json!("https://huge.test");
    let t = token_with(Algorithm::ES384, "test-ec", c);
    assert_eq!(
        post(&s, Some(format!("Bearer {t}"))).await,
        StatusCode::UNAUTHORIZED
    );
}

/// A token is accepted once, also after the service restarts: its `jti` is kept in the store
/// until the token expires.
#[tokio::test]
async fn a_token_cannot_be_replayed_after_a_restart() {
    let (first, db) = state().await;
    let t = token(PATH);
    assert_eq!(
        post(&first, Some(format!("Bearer {t}"))).await,
        StatusCode::OK
    );
    // A new process on the same store: its memory is empty, the store is not.
    let (mut second, _) = state().await;
    second.audit = cobalt_server::audit::AuditLog::start(&db).unwrap();
    assert_eq!(
        post(&second, Some(format!("Bearer {t}"))).await,
        StatusCode::UNAUTHORIZED
    );
    // A fresh token is accepted by the new process.
    assert_eq!(
        post(&second, Some(format!("Bearer {}", token(PATH)))).await,
        StatusCode::OK
    );
}
