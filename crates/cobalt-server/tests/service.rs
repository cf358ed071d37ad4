//! The service in-process, through the router (`oneshot`): CDS Hooks discovery and card
//! invariants from the specification, the order checks, prefetch fetching and 412, feedback and
//! the audit log, the JSON API, and every authentication refusal. Tokens are signed here with
//! test keys (tests/keys) whose JWK Set a loopback server publishes.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cobalt_server::{app, AppState, Config};
use http_body_util::BodyExt;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use tower::ServiceExt;

const ISS: &str = "https://ehr.test";
const PUBLIC: &str = "http://cobalt.test";

fn keys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/keys")
}

/// Serves a fixed JSON body at any path on loopback; returns its base URL.
async fn serve_json(routes: Vec<(&'static str, Value)>) -> String {
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

static DB: AtomicU64 = AtomicU64::new(0);

async fn state() -> (AppState, PathBuf) {
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
    (AppState::new(config).unwrap(), db)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

static JTI: AtomicU64 = AtomicU64::new(0);

fn token_with(alg: Algorithm, kid: &str, claims: Value) -> String {
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

fn claims(aud: &str) -> Value {
    json!({ "iss": ISS, "sub": "ehr-client", "aud": aud, "iat": now(), "exp": now() + 120, "jti": format!("jti-{}-{}", std::process::id(), JTI.fetch_add(1, Ordering::SeqCst)) })
}

fn token(path: &str) -> String {
    token_with(
        Algorithm::ES384,
        "test-ec",
        claims(&format!("{PUBLIC}{path}")),
    )
}

async fn call(
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

fn patient_bundle() -> Value {
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

fn hook_request(hook: &str, prefetch: Option<Value>, context_extra: Value) -> Value {
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

fn assert_card_invariants(card: &Value) {
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

#[tokio::test]
async fn discovery_lists_the_services_with_prefetch() {
    let (s, _) = state().await;
    let (status, v) = call(&s, "GET", "/cds-services", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let services = v["services"].as_array().unwrap();
    let hooks: Vec<&str> = services
        .iter()
        .map(|s| s["hook"].as_str().unwrap())
        .collect();
    assert_eq!(hooks, ["patient-view", "order-select", "order-sign"]);
    for svc in services {
        assert!(svc["id"].as_str().is_some_and(|i| !i.is_empty()));
        assert!(svc["description"].as_str().is_some());
        let p = svc["prefetch"].as_object().unwrap();
        for key in [
            "patient",
            "observations",
            "conditions",
            "medicationStatements",
            "medicationRequests",
            "procedures",
        ] {
            assert!(
                p[key].as_str().unwrap().contains("{{context.patientId}}"),
                "{key}"
            );
        }
    }
}

/// The card never rests on another person's data: a prefetch whose Patient, or one of whose
/// resources, is another patient than the context's is refused with its path, and not audited
/// as an answer.
#[tokio::test]
async fn another_patients_prefetch_is_refused() {
    let (s, db) = state().await;
    let path = "/cds-services/cobalt-b12-patient-view";
    let mut other = patient_bundle();
    other["patient"]["id"] = json!("p2");
    other["observations"]["entry"][0]["resource"]["subject"]["reference"] = json!("Patient/p2");
    let (status, v) = call(
        &s,
        "POST",
        path,
        Some(&token(path)),
        Some(hook_request("patient-view", Some(other), json!({}))),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("prefetch.patient.id"), "{v}");
    let mut mixed = patient_bundle();
    mixed["observations"]["entry"][0]["resource"]["subject"]["reference"] =
        json!("https://ehr.example/fhir/Patient/p2/_history/3");
    let (status, v) = call(
        &s,
        "POST",
        path,
        Some(&token(path)),
        Some(hook_request("patient-view", Some(mixed), json!({}))),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v.to_string()
            .contains("prefetch.observations.entry[0].resource.subject.reference"),
        "{v}"
    );
    let mut out = Vec::new();
    assert_eq!(cobalt_server::audit::export(&db, &mut out).unwrap(), 0);
    // A versioned reference to the right patient is the right patient.
    let mut versioned = patient_bundle();
    versioned["observations"]["entry"][0]["resource"]["subject"]["reference"] =
        json!("Patient/p1/_history/2");
    let (status, v) = call(
        &s,
        "POST",
        path,
        Some(&token(path)),
        Some(hook_request("patient-view", Some(versioned), json!({}))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["cards"][0]["summary"]
        .as_str()
        .unwrap()
        .contains("B12 deficiency"));
}

#[tokio::test]
async fn patient_view_returns_cards_for_a_deficient_patient_and_audits_the_call() {
    let (s, db) = state().await;
    let path = "/cds-services/cobalt-b12-patient-view";
    let (status, v) = call(
        &s,
        "POST",
        path,
        Some(&token(path)),
        Some(hook_request(
            "patient-view",
            Some(patient_bundle()),
            json!({}),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let cards = v["cards"].as_array().unwrap();
    assert!(!cards.is_empty());
    for c in cards {
        assert_card_invariants(c);
    }
    assert!(
        cards[0]["summary"]
            .as_str()
            .unwrap()
            .contains("B12 deficiency"),
        "{}",
        cards[0]["summary"]
    );
    assert!(cards[0]["detail"].as_str().unwrap().contains("LAB-017"));
    // The call is in the audit log.
    let mut out = Vec::new();
    let n = cobalt_server::audit::export(&db, &mut out).unwrap();
    assert_eq!(n, 1);
    let row: Value =
        serde_json::from_slice(&out[..out.iter().position(|b| *b == b'\n').unwrap()]).unwrap();
    assert_eq!(row["hook"], "patient-view");
    assert_eq!(row["conclusions"]["b12_status"], "deficient");
    assert_eq!(row["input_sha256"].as_str().unwrap().len(), 64);
    assert!(
        !String::from_utf8_lossy(&out).contains("1943-05-01"),
        "patient data in the audit log"
    );
}

#[tokio::test]
async fn order_select_warns_on_folic_acid_with_untreated_deficiency() {
    let (s, _) = state().await;
    let path = "/cds-services/cobalt-b12-order-select";
    let draft = json!({ "draftOrders": { "resourceType": "Bundle", "type": "collection", "entry": [
        { "resource": { "resourceType": "MedicationRequest", "id": "draft1", "status": "draft", "intent": "order",
            "medicationCodeableConcept": { "coding": [{ "system": "http://www.whocc.no/atc", "code": "B03BB01" }] },
            "subject": { "reference": "Patient/p1" } } }
    ]}, "selections": ["MedicationRequest/draft1"] });
    let (status, v) = call(
        &s,
        "POST",
        path,
        Some(&token(path)),
        Some(hook_request("order-select", Some(patient_bundle()), draft)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let cards = v["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 1, "{v}");
    assert_card_invariants(&cards[0]);
    assert_eq!(cards[0]["indicator"], "warning");
    assert!(cards[0]["summary"].as_str().unwrap().contains("Folic acid"));
}

#[tokio::test]
async fn order_sign_suggests_a_b12_test_for_metformin_without_a_recent_result() {
    let (s, _) = state().await;
    let path = "/cds-services/cobalt-b12-order-sign";
    let mut prefetch = patient_bundle();
    prefetch["observations"]["entry"] = json!([]);
    let draft = json!({ "draftOrders": { "resourceType": "Bundle", "type": "collection", "entry": [
        { "resource": { "resourceType": "MedicationRequest", "id": "draft2", "status": "draft", "intent": "order",
            "medicationCodeableConcept": { "coding": [{ "system": "http://www.whocc.no/atc", "code": "A02BC01" }] },
            "subject": { "reference": "Patient/p1" } } }
    ]}});
    let (status, v) = call(
        &s,
        "POST",
        path,
        Some(&token(path)),
        Some(hook_request("order-sign", Some(prefetch), draft)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let cards = v["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 1, "{v}");
    assert_card_invariants(&cards[0]);
    assert_eq!(
        cards[0]["suggestions"][0]["actions"][0]["resource"]["code"]["coding"][0]["system"],
        "http://loinc.org"
    );
    // A recent B12 result: no card.
    let draft2 = json!({ "draftOrders": { "resourceType": "Bundle", "type": "collection", "entry": [
        { "resource": { "resourceType": "MedicationRequest", "id": "draft2", "status": "draft", "intent": "order",
            "medicationCodeableConcept": { "coding": [{ "system": "http://www.whocc.no/atc", "code": "A02BC01" }] } } } ]}});
    let mut recent = patient_bundle();
    let today = cobalt_server::today();
    recent["observations"]["entry"][0]["resource"]["effectiveDateTime"] = json!(format!(
        "{:04}-{:02}-{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    ));
    recent["observations"]["entry"][0]["resource"]["valueQuantity"]["value"] = json!(400);
    let (_, v) = call(
        &s,
        "POST",
        path,
        Some(&token(path)),
        Some(hook_request("order-sign", Some(recent), draft2)),
    )
    .await;
    assert_eq!(v["cards"].as_array().unwrap().len(), 0, "{v}");
}

#[tokio::test]
async fn missing_prefetch_is_fetched_from_the_fhir_server_or_412() {
    let (s, _) = state().await;
    let path = "/cds-services/cobalt-b12-patient-view";
    // No prefetch and no fhirServer: 412 with an OperationOutcome.
    let (status, v) = call(
        &s,
        "POST",
        path,
        Some(&token(path)),
        Some(hook_request("patient-view", None, json!({}))),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(v["resourceType"], "OperationOutcome");
    // A FHIR server that has the data.
    let p = patient_bundle();
    let fhir = serve_json(vec![
        ("/Patient/p1", p["patient"].clone()),
        ("/Observation", p["observations"].clone()),
        ("/Condition", p["conditions"].clone()),
        ("/MedicationStatement", p["medicationStatements"].clone()),
        ("/MedicationRequest", p["medicationRequests"].clone()),
        ("/Procedure", p["procedures"].clone()),
    ])
    .await;
    let mut req = hook_request("patient-view", None, json!({}));
    req["fhirServer"] = json!(fhir);
    req["fhirAuthorization"] = json!({ "access_token": "abc", "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read", "subject": "cobalt" });
    let (status, v) = call(&s, "POST", path, Some(&token(path)), Some(req)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["cards"][0]["summary"]
        .as_str()
        .unwrap()
        .contains("B12 deficiency"));
    // A FHIR server that is not there: 412.
    let mut req = hook_request("patient-view", None, json!({}));
    req["fhirServer"] = json!("http://127.0.0.1:9");
    let (status, v) = call(&s, "POST", path, Some(&token(path)), Some(req)).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(v["resourceType"], "OperationOutcome");
}

#[tokio::test]
async fn feedback_is_recorded() {
    let (s, db) = state().await;
    let path = "/cds-services/cobalt-b12-patient-view/feedback";
    let body = json!({ "feedback": [{ "card": "9368d37b-283f-44a0-93ea-547cebab93ed", "outcome": "accepted", "outcomeTimestamp": "2026-01-01T10:00:00Z" }] });
    let (status, _) = call(&s, "POST", path, Some(&token(path)), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    let bad = json!({ "feedback": [{ "card": "x", "outcome": "maybe" }] });
    let (status, v) = call(&s, "POST", path, Some(&token(path)), Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["path"], "feedback[0].outcome");
    let mut out = Vec::new();
    assert_eq!(cobalt_server::audit::export(&db, &mut out).unwrap(), 1);
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("\"outcome\":\"accepted\""));
}

#[tokio::test]
async fn every_authentication_refusal_is_a_bare_401() {
    let (s, _) = state().await;
    let path = "/cds-services/cobalt-b12-patient-view";
    let body = hook_request("patient-view", Some(patient_bundle()), json!({}));
    let aud = format!("{PUBLIC}{path}");
    let none_token = {
        // alg none: header {"alg":"none"}, no signature.
        let h = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        let c = serde_json::to_vec(&claims(&aud)).unwrap();
        let c = base64url(&c);
        format!("{h}.{c}.")
    };
    let mut expired = claims(&aud);
    expired["exp"] = json!(now() - 600);
    expired["iat"] = json!(now() - 900);
    let mut untrusted = claims(&aud);
    untrusted["iss"] = json!("https://evil.test");
    let mut no_jti = claims(&aud);
    no_jti.as_object_mut().unwrap().remove("jti");
    let mut too_long = claims(&aud);
    too_long["exp"] = json!(now() + 3600);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("alg none", Some(none_token)),
        (
            "HS256",
            Some(token_with(Algorithm::HS256, "test-ec", claims(&aud))),
        ),
        (
            "wrong audience",
            Some(token_with(
                Algorithm::ES384,
                "test-ec",
                claims(&format!("{PUBLIC}/cds-services/other")),
            )),
        ),
        (
            "expired",
            Some(token_with(Algorithm::ES384, "test-ec", expired)),
        ),
        (
            "untrusted issuer",
            Some(token_with(Algorithm::ES384, "test-ec", untrusted)),
        ),
        (
            "unknown kid",
            Some(token_with(Algorithm::ES384, "nope", claims(&aud))),
        ),
        (
            "no jti",
            Some(token_with(Algorithm::ES384, "test-ec", no_jti)),
        ),
        (
            "exp over five minutes ahead",
            Some(token_with(Algorithm::ES384, "test-ec", too_long)),
        ),
        ("garbage", Some("not.a.jwt".into())),
    ];
    for (name, t) in cases {
        let (status, v) = call(&s, "POST", path, t.as_deref(), Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(v, Value::Null, "{name}: a 401 must carry no detail");
    }
    // A jku that is not the issuer's configured key set.
    let mut header = Header::new(Algorithm::ES384);
    header.kid = Some("test-ec".into());
    header.jku = Some("http://127.0.0.1:9/jwks.json".into());
    let key = EncodingKey::from_ec_pem(&std::fs::read(keys_dir().join("ec384-pkcs8.pem")).unwrap())
        .unwrap();
    let t = encode(&header, &claims(&aud), &key).unwrap();
    let (status, _) = call(&s, "POST", path, Some(&t), Some(body.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "untrusted jku");
    // RS384 is accepted; the same token a second time is a replay.
    let t = token_with(Algorithm::RS384, "test-rsa", claims(&aud));
    let (status, _) = call(&s, "POST", path, Some(&t), Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "RS384");
    let (status, _) = call(&s, "POST", path, Some(&t), Some(body.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "replayed jti");
}

fn base64url(b: &[u8]) -> String {
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
    let (status, _) = call(
        &s,
        "POST",
        "/v1/assess",
        Some(&token("/v1/assess")),
        Some(big),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
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
