//! The service in-process, through the router (`oneshot`): CDS Hooks discovery and card
//! invariants from the specification, the order checks, prefetch fetching and 412, feedback and
//! the audit log, another patient's data refused, and every authentication refusal (the JSON API
//! and the page: `api.rs`). Tokens are signed here with
//! test keys (tests/keys) whose JWK Set a loopback server publishes.

mod common;

use common::*;

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
    assert_eq!(cobalt_server::audit::export(&db, &mut out).unwrap().rows, 0);
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
    assert_eq!(n.rows, 1);
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
    let trusted = fhir.clone();
    let (s, _) = state_with(|c| c.fhir_servers = vec![trusted, "http://127.0.0.1:9".into()]).await;
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
    let mut req = hook_request("patient-view", None, json!({}));
    req["fhirServer"] = json!(fhir);
    req["fhirAuthorization"] = json!({ "access_token": "abc", "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read", "subject": "cobalt" });
    let (status, v) = call(&s, "POST", path, Some(&token(path)), Some(req)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["cards"][0]["summary"]
        .as_str()
        .unwrap()
        .contains("B12 deficiency"));
    // A trusted FHIR server that is not there: 412.
    let mut req = hook_request("patient-view", None, json!({}));
    req["fhirServer"] = json!("http://127.0.0.1:9");
    let (status, v) = call(&s, "POST", path, Some(&token(path)), Some(req)).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(v["resourceType"], "OperationOutcome");
}

/// Only FHIR servers the deployment trusts are called, and their answers are bounded: a server
/// that is not trusted is never contacted, and one that answers without end is cut off.
#[tokio::test]
async fn fhir_fetches_go_only_to_trusted_servers_and_are_bounded() {
    let hits = std::sync::Arc::new(AtomicU64::new(0));
    let counter = std::sync::Arc::clone(&hits);
    let router = axum::Router::new()
        .route(
            "/untrusted/{*rest}",
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { axum::Json(json!({"resourceType": "Bundle", "type": "searchset"})) }
            }),
        )
        .route(
            "/huge/{*rest}",
            axum::routing::get(|| async {
                let chunk = bytes_chunk();
                let stream = futures_stream(chunk);
                axum::body::Body::from_stream(stream)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let huge = format!("http://{addr}/huge");
    let (s, _) = state_with(|c| {
        c.fhir_servers = vec![huge.clone()];
        c.fhir_body_limit = 1 << 20;
    })
    .await;
    let path = "/cds-services/cobalt-b12-patient-view";
    let mut req = hook_request("patient-view", None, json!({}));
    req["fhirServer"] = json!(format!("http://{addr}/untrusted"));
    let (status, v) = call(&s, "POST", path, Some(&token(path)), Some(req)).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{v}");
    assert!(
        v.to_string()
            .contains("not a FHIR server this service trusts"),
        "{v}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "an untrusted server is never called"
    );
    let mut req = hook_request("patient-view", None, json!({}));
    req["fhirServer"] = json!(huge);
    let started = std::time::Instant::now();
    let (status, v) = call(&s, "POST", path, Some(&token(path)), Some(req)).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{v}");
    assert!(v.to_string().contains("larger than"), "{v}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // Without a list, the origin of a trusted issuer is trusted, and nothing else.
    let mut c = Config::new("127.0.0.1:0".parse::<SocketAddr>().unwrap());
    c.trust = vec!["https://ehr.example.org=https://ehr.example.org/jwks.json"
        .parse()
        .unwrap()];
    assert!(c.trusts_fhir_server("https://ehr.example.org/fhir/r4"));
    assert!(c.trusts_fhir_server("https://EHR.example.org/"));
    assert!(!c.trusts_fhir_server("https://ehr.example.org.evil.test/fhir"));
    assert!(!c.trusts_fhir_server("https://evil.test@ehr.example.org/fhir"));
    assert!(!c.trusts_fhir_server("http://ehr.example.org/fhir"));
}

/// 64 KiB of a JSON array's filler.
fn bytes_chunk() -> axum::body::Bytes {
    axum::body::Bytes::from(vec![b' '; 64 * 1024])
}

/// An answer that never ends: `[` and then filler for ever.
fn futures_stream(
    chunk: axum::body::Bytes,
) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> {
    futures_util::stream::unfold(true, move |first| {
        let c = if first {
            axum::body::Bytes::from_static(b"[")
        } else {
            chunk.clone()
        };
        async move { Some((Ok(c), false)) }
    })
}

/// A patient-view call; the id of the first card it issued.
async fn issue_card(s: &cobalt_server::AppState) -> String {
    let path = "/cds-services/cobalt-b12-patient-view";
    let body = hook_request("patient-view", Some(patient_bundle()), json!({}));
    let (status, v) = call(s, "POST", path, Some(&token(path)), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    v["cards"][0]["uuid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn feedback_is_recorded() {
    let (s, db) = state().await;
    let card = issue_card(&s).await;
    let path = "/cds-services/cobalt-b12-patient-view/feedback";
    // A card this service never issued is refused, with its path, and nothing is recorded.
    let unknown = json!({ "feedback": [{ "card": card, "outcome": "accepted" }, { "card": "9368d37b-283f-44a0-93ea-547cebab93ed", "outcome": "accepted" }] });
    let (status, v) = call(&s, "POST", path, Some(&token(path)), Some(unknown)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["path"], "feedback[1].card");
    let long = json!({ "feedback": [{ "card": "x".repeat(60_000), "outcome": "accepted" }] });
    let (status, v) = call(&s, "POST", path, Some(&token(path)), Some(long)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["path"], "feedback[0].card");
    let many: Vec<Value> = (0..101)
        .map(|_| json!({ "card": card, "outcome": "accepted" }))
        .collect();
    let (status, v) = call(
        &s,
        "POST",
        path,
        Some(&token(path)),
        Some(json!({ "feedback": many })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["path"], "feedback");
    let body = json!({ "feedback": [{ "card": card, "outcome": "accepted", "outcomeTimestamp": "2026-01-01T10:00:00Z" }] });
    let (status, _) = call(&s, "POST", path, Some(&token(path)), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    let bad = json!({ "feedback": [{ "card": card, "outcome": "maybe" }] });
    let (status, v) = call(&s, "POST", path, Some(&token(path)), Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["path"], "feedback[0].outcome");
    // An empty list and a time that is not a time are refused with their paths.
    let (status, v) = call(
        &s,
        "POST",
        path,
        Some(&token(path)),
        Some(json!({ "feedback": [] })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["path"], "feedback");
    let bad_time = json!({ "feedback": [{ "card": card, "outcome": "accepted", "outcomeTimestamp": "not a time" }] });
    let (status, v) = call(&s, "POST", path, Some(&token(path)), Some(bad_time)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["path"], "feedback[0].outcomeTimestamp");
    let mut out = Vec::new();
    assert_eq!(
        cobalt_server::audit::export(&db, &mut out).unwrap().rows,
        2,
        "the hook and one feedback"
    );
    let last = String::from_utf8(out)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    let row: Value = serde_json::from_str(&last).unwrap();
    assert_eq!(row["outcome"], "accepted");
    assert_eq!(row["card"], card);
    assert_eq!(
        row["caller"],
        format!("{ISS} ehr-client"),
        "who called: the token's issuer and subject"
    );
    // The row's time is the service's; the client's is kept beside it.
    assert_eq!(row["client_time"], "2026-01-01T10:00:00Z");
    assert_ne!(row["time"], "2026-01-01T10:00:00Z");
    assert!(row["time"].as_str().unwrap().starts_with("20"));
}

/// The service's request id is its own; the client's `x-request-id` is kept beside it only
/// when it is short printable text.
#[tokio::test]
async fn request_ids_are_the_services_and_the_clients_is_bounded() {
    let (s, db) = state().await;
    let card = issue_card(&s).await;
    let path = "/cds-services/cobalt-b12-patient-view/feedback";
    let body = json!({ "feedback": [{ "card": card, "outcome": "accepted" }] });
    for client_id in ["same".to_string(), "same".to_string(), "x".repeat(60_000)] {
        let req = Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", token(path)))
            .header("x-request-id", client_id)
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = app(s.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let mut out = Vec::new();
    assert_eq!(cobalt_server::audit::export(&db, &mut out).unwrap().rows, 4);
    let rows: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .skip(1) // the hook call that issued the card
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "each request has its own id");
    assert_eq!(rows[0]["client_request_id"], "same");
    assert_eq!(rows[1]["client_request_id"], "same");
    assert_eq!(rows[2]["client_request_id"], "", "a 60 KB id is not stored");
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
