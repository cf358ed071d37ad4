//! SMART App Launch, in process: cobalt's router driven with `oneshot` (the browser's steps are
//! plain requests) against a mock EHR on a real loopback listener (`common/ehr.rs`), which
//! checks what cobalt sends it (PKCE, the signed client assertion, the bearer token) as a real
//! authorisation and FHIR server would.
//!
//! The launch, step by step: `GET /smart/launch?iss=...&launch=...` answers 302 to the EHR's
//! authorize endpoint with a launch cookie; the mock plays the authorisation server
//! ([`Ehr::authorize`]) and sends the browser back to `/smart/callback?code&state&iss`, which
//! answers 303 to `/?launch=smart` with the session cookie; `GET /smart/record` reads the
//! patient's record with the session's token and assesses it.

mod common;
#[path = "common/ehr.rs"]
mod ehr;

use axum::http::HeaderMap;
use cobalt_server::smart::session::Sealer;
use cobalt_server::smart::SmartClient;
use cobalt_smart::SigningKey;
use common::*;
use ehr::{s256, Authorized, Ehr, Fhir, FHIR_USER, PATIENT};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// cobalt's public URL: plain HTTP on loopback, the one place its cookies go without `Secure`.
/// Nothing listens there; requests go to the router in process.
const PUBLIC_URL: &str = "http://127.0.0.1:8431";
/// cobalt's client id at the mock EHR.
const CLIENT_ID: &str = "cobalt-at-mock-ehr";

/// cobalt's SMART key: the test EC P-384 key (its public half is `keys/ec384-pub.pem`).
fn signing_key() -> Arc<SigningKey> {
    let pem = std::fs::read(keys_dir().join("ec384-pkcs8.pem")).unwrap();
    Arc::new(SigningKey::from_pem(&pem).unwrap())
}

/// A state registered with `ehr` (authentication on, trusting common's issuer; a fresh SQLite
/// audit file), adjusted by `f`.
async fn smart_state(ehr: &Ehr, f: impl FnOnce(&mut Config)) -> (AppState, PathBuf) {
    let client = SmartClient {
        fhir_server: ehr.fhir.clone(),
        client_id: CLIENT_ID.into(),
        key: signing_key(),
    };
    state_with(move |c| {
        c.public_url = PUBLIC_URL.into();
        c.smart.clients = vec![client];
        f(c);
    })
    .await
}

/// An answer of the router.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn location(&self) -> Option<&str> {
        self.headers.get("location").map(|h| h.to_str().unwrap())
    }

    /// The `Set-Cookie` header of the cookie `name`.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|h| h.to_str().unwrap().to_string())
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    /// `name=value` of a cookie set, as the browser sends it back.
    fn cookie(&self, name: &str) -> Option<String> {
        let c = self.set_cookie(name)?;
        Some(c.split(';').next().unwrap().to_string())
    }
}

/// A request through the router, as the browser sends it.
async fn send(
    state: &AppState,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let resp = app(state.clone())
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into(),
    }
}

async fn get(state: &AppState, path: &str, cookie: Option<&str>) -> Reply {
    send(state, "GET", path, cookie, None).await
}

/// `path` with a query, percent-encoded.
fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let url = reqwest::Url::parse_with_params(&format!("http://x{path}"), pairs).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap_or(""))
}

/// The path and query of a URL on cobalt (the redirect back from the authorisation server).
fn path_of(url: &str) -> String {
    let u = reqwest::Url::parse(url).unwrap();
    format!("{}?{}", u.path(), u.query().unwrap_or(""))
}

fn ehr_launch(ehr: &Ehr) -> String {
    with_query("/smart/launch", &[("iss", &ehr.fhir), ("launch", "abc")])
}

/// The browser opens `launch` (a `/smart/launch` path): cobalt redirects it to the EHR's
/// authorize endpoint and sets the launch cookie; the mock authorises. Returns the
/// authorisation and the launch cookie (`name=value`).
async fn start(state: &AppState, ehr: &Ehr, launch: &str) -> (Authorized, String) {
    let r = get(state, launch, None).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    let cookie = r.cookie("cobalt-launch").expect("a launch cookie");
    (ehr.authorize(r.location().expect("a Location")), cookie)
}

/// A whole EHR launch; returns the session cookie (`name=value`).
async fn sign_in(state: &AppState, ehr: &Ehr) -> String {
    let (auth, launch) = start(state, ehr, &ehr_launch(ehr)).await;
    let r = get(state, &path_of(&auth.redirect), Some(&launch)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    r.cookie("cobalt-session").expect("a session cookie")
}

/// The audit log, one JSON object per row.
fn audit_rows(db: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    cobalt_server::audit::export(db, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn kinds(rows: &[Value]) -> Vec<&str> {
    rows.iter().map(|r| r["kind"].as_str().unwrap()).collect()
}

/// The `read` line of a resource on the record page.
fn listed<'a>(record: &'a Value, reference: &str) -> &'a Value {
    record["read"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["reference"] == reference)
        .unwrap_or_else(|| panic!("{reference} is not in the read list: {}", record["read"]))
}

#[tokio::test]
async fn an_ehr_launch_signs_in_with_pkce_and_a_signed_assertion_and_assesses_the_paged_record() {
    let ehr = Ehr::start().await;
    let (s, _) = smart_state(&ehr, |_| {}).await;

    // The redirect to the authorisation server.
    let (auth, launch) = start(&s, &ehr, &ehr_launch(&ehr)).await;
    let p = &auth.params;
    assert_eq!(p["response_type"], "code");
    assert_eq!(p["client_id"], CLIENT_ID);
    assert_eq!(p["redirect_uri"], format!("{PUBLIC_URL}/smart/callback"));
    assert!(p["scope"].starts_with("launch "), "scope {}", p["scope"]);
    for wanted in ["openid", "fhirUser", "patient/Observation.rs"] {
        assert!(
            p["scope"].split(' ').any(|s| s == wanted),
            "scope {} lacks {wanted}",
            p["scope"]
        );
    }
    assert_eq!(p["aud"], ehr.fhir);
    assert_eq!(p["code_challenge_method"], "S256");
    assert_eq!(p["code_challenge"].len(), 43, "base64url of a SHA-256");
    assert_eq!(p["launch"], "abc");
    assert!(p["state"].len() >= 32, "a random state");

    // The callback: the code is exchanged at the token endpoint.
    let r = get(&s, &path_of(&auth.redirect), Some(&launch)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let session = r.cookie("cobalt-session").expect("a session cookie");
    let calls = ehr.token_calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert!(
        call.problems.is_empty(),
        "the token request: {:?}",
        call.problems
    );
    assert_eq!(call.form["code"], auth.code);
    assert_eq!(call.form["redirect_uri"], p["redirect_uri"]);
    assert_eq!(s256(&call.form["code_verifier"]), p["code_challenge"]);
    let (header, claims) = call.assertion.as_ref().expect("a verified assertion");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES384);
    assert_eq!(header.kid.as_deref(), Some(signing_key().kid()));
    assert_eq!(claims["aud"], ehr.token_endpoint());
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);

    // The record, read with the token (the mock answers 401 to anything else).
    let r = get(&s, "/smart/record", Some(&session)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = r.json();
    assert_eq!(v["patient"], PATIENT);
    assert_eq!(v["fhir_server"], ehr.fhir);
    assert_eq!(v["user"], FHIR_USER);
    assert_eq!(v["assessment"]["conclusions"]["b12_status"], "deficient");
    assert!(!v["case"]["labs"].as_array().unwrap().is_empty());
    // The B12 is on page 2 of the Observation search.
    let b12 = listed(&v, "Observation/b12-low");
    assert!(
        b12["path"]
            .as_str()
            .unwrap()
            .starts_with("read.observations[1]."),
        "{b12}"
    );
    assert_eq!(b12["status"], "used");
    assert!(ehr
        .log()
        .contains(&format!("GET /fhir/Observation?patient={PATIENT}&_page=2")));
    // A result entered in error is listed as skipped, with the reason.
    let void = listed(&v, "Observation/b12-void");
    assert_eq!(void["status"], "skipped", "{void}");
    assert!(
        void["reason"]
            .as_str()
            .unwrap()
            .contains("entered-in-error"),
        "{void}"
    );
    assert!(!v["skipped"].as_array().unwrap().is_empty());
    // The Medication a request refers to is read too.
    assert_eq!(listed(&v, "Medication/met-1")["status"], "used");
    assert!(v["report_html"].as_str().is_some_and(|h| !h.is_empty()));
    assert!(v["patient_html"].as_str().is_some_and(|h| !h.is_empty()));
}

#[tokio::test]
async fn a_standalone_launch_asks_for_launch_patient() {
    let ehr = Ehr::start().await;
    let (s, db) = smart_state(&ehr, |_| {}).await;
    // No `iss` either: cobalt is registered with one EHR only.
    for launch in [
        "/smart/launch".to_string(),
        with_query("/smart/launch", &[("iss", &ehr.fhir)]),
    ] {
        let (auth, cookie) = start(&s, &ehr, &launch).await;
        let scope = &auth.params["scope"];
        assert!(scope.starts_with("launch/patient "), "scope {scope}");
        assert!(!auth.params.contains_key("launch"));
        assert_eq!(auth.params["aud"], ehr.fhir);
        let r = get(&s, &path_of(&auth.redirect), Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    let rows = audit_rows(&db);
    assert_eq!(kinds(&rows), ["smart-launch", "smart-launch"]);
    assert!(
        rows.iter().all(|r| r["service"] == "standalone"),
        "{rows:?}"
    );
}

#[tokio::test]
async fn an_iss_that_is_not_registered_is_refused_before_anything_is_sent() {
    let ehr = Ehr::start().await;
    let stranger = Ehr::start().await;
    let (s, _) = smart_state(&ehr, |_| {}).await;
    let lookalike = format!("{}x", ehr.fhir);
    for iss in [stranger.fhir.as_str(), lookalike.as_str()] {
        let r = get(
            &s,
            &with_query("/smart/launch", &[("iss", iss), ("launch", "abc")]),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{iss}: {}", r.body);
        assert!(r.location().is_none(), "no redirect for {iss}");
        assert!(r.set_cookie("cobalt-launch").is_none());
    }
    assert!(
        stranger.log().is_empty(),
        "the stranger was called: {:?}",
        stranger.log()
    );
    assert_eq!(ehr.discovery_calls(), 0);
}

#[tokio::test]
async fn a_callback_with_an_unknown_state_is_refused() {
    let ehr = Ehr::start().await;
    let (s, _) = smart_state(&ehr, |_| {}).await;
    let (auth, cookie) = start(&s, &ehr, &ehr_launch(&ehr)).await;
    let forged = with_query(
        "/smart/callback",
        &[
            ("code", &auth.code),
            ("state", "not-a-state-cobalt-made"),
            ("iss", &ehr.base),
        ],
    );
    let r = get(&s, &forged, Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.set_cookie("cobalt-session").is_none());
    assert!(ehr.token_calls().is_empty());
}

#[tokio::test]
async fn a_state_is_good_once() {
    let ehr = Ehr::start().await;
    let (s, _) = smart_state(&ehr, |_| {}).await;
    let (auth, cookie) = start(&s, &ehr, &ehr_launch(&ehr)).await;
    let callback = path_of(&auth.redirect);
    assert_eq!(
        get(&s, &callback, Some(&cookie)).await.status,
        StatusCode::SEE_OTHER
    );
    let again = get(&s, &callback, Some(&cookie)).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert!(again.set_cookie("cobalt-session").is_none());
    assert_eq!(ehr.token_calls().len(), 1, "the code was exchanged once");
}

#[tokio::test]
async fn a_callback_in_another_browser_is_refused() {
    let ehr = Ehr::start().await;
    let (s, _) = smart_state(&ehr, |_| {}).await;
    let (first, first_cookie) = start(&s, &ehr, &ehr_launch(&ehr)).await;
    let (second, _) = start(&s, &ehr, &ehr_launch(&ehr)).await;
    // No launch cookie at all, and the launch cookie of another launch.
    let r = get(&s, &path_of(&first.redirect), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = get(&s, &path_of(&second.redirect), Some(&first_cookie)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.set_cookie("cobalt-session").is_none());
    assert!(ehr.token_calls().is_empty(), "no code was exchanged");
}

#[tokio::test]
async fn a_callback_whose_iss_is_not_the_issuer_is_refused() {
    let ehr = Ehr::start().await;
    let (s, _) = smart_state(&ehr, |_| {}).await;
    // Another issuer, and none although the configuration says it is always sent (RFC 9207).
    for iss in [Some("http://evil.example"), None] {
        let (auth, cookie) = start(&s, &ehr, &ehr_launch(&ehr)).await;
        let mut q = vec![
            ("code", auth.code.as_str()),
            ("state", auth.params["state"].as_str()),
        ];
        q.extend(iss.map(|i| ("iss", i)));
        let r = get(&s, &with_query("/smart/callback", &q), Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "iss {iss:?}: {}", r.body);
        assert!(r.set_cookie("cobalt-session").is_none());
    }
    assert!(ehr.token_calls().is_empty(), "no code was exchanged");
}

#[tokio::test]
async fn a_denied_authorisation_is_refused_without_a_session() {
    let ehr = Ehr::start().await;
    let (s, _) = smart_state(&ehr, |_| {}).await;
    let (auth, cookie) = start(&s, &ehr, &ehr_launch(&ehr)).await;
    let denied = with_query(
        "/smart/callback",
        &[
            ("error", "access_denied"),
            ("error_description", "The user declined"),
            ("state", &auth.params["state"]),
            ("iss", &ehr.base),
        ],
    );
    let r = get(&s, &denied, Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("access_denied"), "{}", r.body);
    assert!(r.location().is_none());
    assert!(r.set_cookie("cobalt-session").is_none());
    assert!(ehr.token_calls().is_empty());
}

#[tokio::test]
async fn session_cookie_is_httponly_lax_not_secure_on_loopback_and_redirect_has_no_secret() {
    let ehr = Ehr::start().await;
    let (s, _) = smart_state(&ehr, |_| {}).await;
    let launch = get(&s, &ehr_launch(&ehr), None).await;
    let launch_cookie = launch.set_cookie("cobalt-launch").unwrap();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(launch_cookie.contains(attr), "{launch_cookie} lacks {attr}");
    }
    assert!(!launch_cookie.contains("Secure"), "{launch_cookie}");

    let auth = ehr.authorize(launch.location().unwrap());
    let cookie = launch.cookie("cobalt-launch").unwrap();
    let r = get(&s, &path_of(&auth.redirect), Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let set = r.set_cookie("cobalt-session").unwrap();
    let attrs: Vec<&str> = set.split(';').map(str::trim).collect();
    // It lives as long as the token (the mock says expires_in 3600).
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600"] {
        assert!(attrs.contains(&attr), "{set} lacks {attr}");
    }
    assert!(
        !attrs.iter().any(|a| a.eq_ignore_ascii_case("secure")),
        "Secure on loopback http: {set}"
    );
    // The launch cookie is cleared.
    assert!(r.set_cookie("cobalt-launch").unwrap().contains("Max-Age=0"));
    // The page is reached without the code or the token in its URL.
    let location = r.location().unwrap();
    assert_eq!(location, "/?launch=smart");
    let token = &ehr.issued()[0];
    for secret in [auth.code.as_str(), token.as_str()] {
        assert!(!location.contains(secret) && !r.body.contains(secret));
        assert!(!set.contains(secret), "the cookie carries a secret");
    }
}

#[tokio::test]
async fn on_https_the_cookies_are_secure_and_host_prefixed() {
    let ehr = Ehr::start().await;
    let (s, _) = smart_state(&ehr, |c| c.public_url = "https://cobalt.example".into()).await;
    let launch = get(&s, &ehr_launch(&ehr), None).await;
    assert_eq!(launch.status, StatusCode::FOUND, "{}", launch.body);
    assert!(launch
        .set_cookie("__Host-cobalt-launch")
        .unwrap()
        .ends_with("; Secure"));
    let auth = ehr.authorize(launch.location().unwrap());
    assert_eq!(
        auth.params["redirect_uri"],
        "https://cobalt.example/smart/callback"
    );
    let cookie = launch.cookie("__Host-cobalt-launch").unwrap();
    let r = get(&s, &path_of(&auth.redirect), Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let set = r
        .set_cookie("__Host-cobalt-session")
        .expect("a __Host- session cookie");
    for attr in ["; Path=/", "; HttpOnly", "; SameSite=Lax", "; Secure"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    assert!(
        !set.contains("Domain"),
        "a __Host- cookie has no Domain: {set}"
    );
    let session = r.cookie("__Host-cobalt-session").unwrap();
    assert_eq!(
        get(&s, "/smart/record", Some(&session)).await.status,
        StatusCode::OK
    );
}

#[test]
fn smart_needs_an_https_public_url_off_loopback() {
    let client = SmartClient {
        fhir_server: "https://ehr.example/fhir".into(),
        client_id: CLIENT_ID.into(),
        key: signing_key(),
    };
    for (url, ok) in [
        ("http://cobalt.example", false),
        ("http://127.0.0.1.nip.io", false),
        ("https://cobalt.example", true),
        ("http://127.0.0.1:8080", true),
        ("http://localhost:8080", true),
        ("http://[::1]:8080", true),
    ] {
        let mut c = Config::new("127.0.0.1:8080".parse().unwrap());
        c.insecure_no_auth = true;
        c.public_url = url.into();
        c.smart.clients = vec![client.clone()];
        assert_eq!(c.validate().is_ok(), ok, "{url}: {:?}", c.validate());
    }
}

#[tokio::test]
async fn the_record_needs_a_live_session() {
    let ehr = Ehr::start().await;
    let (s, _) = smart_state(&ehr, |_| {}).await;
    for cookie in [None, Some("cobalt-session=no-such-session-0123456789")] {
        let r = get(&s, "/smart/record", cookie).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{cookie:?}");
        let v = r.json();
        assert_eq!(v["error"], "no session");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A token that lives one second: the session ends with it.
    ehr.set_expires_in(1);
    let session = sign_in(&s, &ehr).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = get(&s, "/smart/record", Some(&session)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.json()["error"], "no session");
}

#[tokio::test]
async fn a_refusal_by_the_fhir_server_is_a_refusal_not_an_empty_record() {
    let ehr = Ehr::start().await;
    let (s, db) = smart_state(&ehr, |_| {}).await;
    let session = sign_in(&s, &ehr).await;
    ehr.set_fhir(Fhir::Forbidden);
    let r = get(&s, "/smart/record", Some(&session)).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
    let v = r.json();
    assert_eq!(v["error"], "refused");
    assert_eq!(v["upstream_status"], 403);
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("403"), "{message}");
    assert!(!message.to_lowercase().contains("no data"), "{message}");
    assert!(
        !kinds(&audit_rows(&db)).contains(&"smart-read"),
        "nothing was assessed"
    );
}

#[tokio::test]
async fn a_hanging_fhir_server_is_cut_at_the_read_deadline() {
    let ehr = Ehr::start().await;
    let (s, _) = smart_state(&ehr, |c| c.smart.read_deadline = Duration::from_millis(500)).await;
    let session = sign_in(&s, &ehr).await;
    ehr.set_fhir(Fhir::Hang);
    let t = Instant::now();
    let r = get(&s, "/smart/record", Some(&session)).await;
    let took = t.elapsed();
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{}", r.body);
    assert_eq!(r.json()["error"], "timeout");
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
        "answered after {took:?}, with a 500 ms deadline"
    );
}

/// The read deadline is the one that counts, even when it is longer than `fhir_deadline` (the
/// HTTP client's per-request timeout): a hanging server is a timeout (504), not "could not be
/// reached" (502). Fails at the time of writing: see the report.
#[tokio::test]
async fn a_read_deadline_longer_than_the_fhir_deadline_still_answers_a_timeout() {
    let ehr = Ehr::start().await;
    let (s, _) = smart_state(&ehr, |c| {
        c.fhir_deadline = Duration::from_millis(400);
        c.smart.read_deadline = Duration::from_millis(1200);
    })
    .await;
    let session = sign_in(&s, &ehr).await;
    ehr.set_fhir(Fhir::Hang);
    let t = Instant::now();
    let r = get(&s, "/smart/record", Some(&session)).await;
    let took = t.elapsed();
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (StatusCode::GATEWAY_TIMEOUT, Some("timeout")),
        "after {took:?} (fhir_deadline 400 ms, read_deadline 1200 ms): {}",
        r.body
    );
    assert!(
        took >= Duration::from_millis(1100),
        "cut after {took:?}, before the read deadline"
    );
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let ehr = Ehr::start().await;
    let elsewhere = Ehr::start().await;
    let (s, _) = smart_state(&ehr, |_| {}).await;
    let session = sign_in(&s, &ehr).await;
    ehr.set_fhir(Fhir::ForeignNext(format!(
        "{}/Observation?patient={PATIENT}&_page=2",
        elsewhere.fhir
    )));
    let r = get(&s, "/smart/record", Some(&session)).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
    let v = r.json();
    assert!(
        v["message"].as_str().unwrap().contains("not followed"),
        "{v}"
    );
    assert!(
        elsewhere.log().is_empty(),
        "the other host was called: {:?}",
        elsewhere.log()
    );
}

#[tokio::test]
async fn another_patients_resource_is_refused_and_not_assessed() {
    let ehr = Ehr::start().await;
    let (s, db) = smart_state(&ehr, |_| {}).await;
    let session = sign_in(&s, &ehr).await;
    ehr.set_fhir(Fhir::OtherPatient);
    let r = get(&s, "/smart/record", Some(&session)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let v = r.json();
    let path = v["path"].as_str().unwrap();
    assert!(
        path.starts_with("read.observations[0].entry[1]"),
        "path {path}"
    );
    assert!(
        v["message"].as_str().unwrap().contains("Patient/other"),
        "{v}"
    );
    assert!(v.get("assessment").is_none());
    assert!(
        !kinds(&audit_rows(&db)).contains(&"smart-read"),
        "nothing was assessed"
    );
}

#[tokio::test]
async fn jwks_lists_the_public_key_by_its_thumbprint() {
    let ehr = Ehr::start().await;
    let (s, _) = smart_state(&ehr, |_| {}).await;
    let r = get(&s, "/.well-known/jwks.json", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = r.json();
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{v}");
    let k = &keys[0];
    assert_eq!(
        (k["kty"].as_str(), k["crv"].as_str()),
        (Some("EC"), Some("P-384"))
    );
    assert_eq!(k["alg"], "ES384");
    // The same public key as the test key set's (made independently of cobalt).
    let known: Value =
        serde_json::from_str(&std::fs::read_to_string(keys_dir().join("jwks.json")).unwrap())
            .unwrap();
    let ec = &known["keys"][0];
    assert_eq!((&k["x"], &k["y"]), (&ec["x"], &ec["y"]));
    // RFC 7638: SHA-256 of the required members in order, without whitespace.
    let canonical = format!(
        r#"{{"crv":"P-384","kty":"EC","x":"{}","y":"{}"}}"#,
        ec["x"].as_str().unwrap(),
        ec["y"].as_str().unwrap()
    );
    let thumbprint =
        base64url(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref());
    assert_eq!(k["kid"], thumbprint);
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        assert!(k.get(private).is_none(), "a private member `{private}`");
    }
}

#[tokio::test]
async fn jwks_and_the_smart_routes_are_404_without_smart() {
    let (s, _) = state().await;
    for path in ["/.well-known/jwks.json", "/smart/launch", "/smart/record"] {
        assert_eq!(
            get(&s, path, None).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_store_holds_neither_the_token_nor_the_session_name_in_the_clear() {
    let ehr = Ehr::start().await;
    let (s, db) = smart_state(&ehr, |_| {}).await;
    let session = sign_in(&s, &ehr).await;
    assert_eq!(
        get(&s, "/smart/record", Some(&session)).await.status,
        StatusCode::OK
    );
    let token = ehr.issued()[0].clone();
    let name = session.split_once('=').unwrap().1.to_string();
    // The database file and its write-ahead log, where recent writes are.
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.clone().into_os_string();
        p.push(suffix);
        bytes.extend(std::fs::read(p).unwrap_or_default());
    }
    assert!(bytes.len() > 4096, "the database was read");
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        !contains(&token),
        "the access token is in the store in the clear"
    );
    assert!(
        !contains(&name),
        "the session cookie's value is in the store"
    );
    assert!(
        contains("smart-read"),
        "the audit rows are there, in the clear"
    );
}

#[tokio::test]
async fn a_session_does_not_open_under_another_session_key() {
    let ehr = Ehr::start().await;
    let key = |hex: &str| Some(Arc::new(Sealer::from_text(&hex.repeat(32)).unwrap()));
    let (a, db) = smart_state(&ehr, |c| c.smart.session_key = key("11")).await;
    let session = sign_in(&a, &ehr).await;
    // Two more replicas on the same database: one with another key, one with the same.
    let other_key = {
        let db = db.clone();
        smart_state(&ehr, move |c| {
            c.db = db;
            c.smart.session_key = key("22");
        })
        .await
        .0
    };
    let same_key = smart_state(&ehr, move |c| {
        c.db = db;
        c.smart.session_key = key("11");
    })
    .await
    .0;
    let r = get(&other_key, "/smart/record", Some(&session)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let r = get(&same_key, "/smart/record", Some(&session)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "a replica with the same key opens it: {}",
        r.body
    );
}

#[tokio::test]
async fn patient_view_cards_link_to_the_smart_launch_only_when_smart_is_configured() {
    let ehr = Ehr::start().await;
    let (with, _) = smart_state(&ehr, |c| c.insecure_no_auth = true).await;
    let (without, _) = state_with(|c| c.insecure_no_auth = true).await;
    let path = "/cds-services/cobalt-b12-patient-view";
    let launch_url = format!("{PUBLIC_URL}/smart/launch");
    for (s, smart) in [(&with, true), (&without, false)] {
        let body = hook_request("patient-view", Some(patient_bundle()), json!({}));
        let (status, v) = call(s, "POST", path, None, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let cards = v["cards"].as_array().unwrap();
        assert!(!cards.is_empty(), "a low B12 gives cards");
        for card in cards {
            assert_card_invariants(card);
            let links: Vec<&Value> = card["links"]
                .as_array()
                .map(|l| l.iter().collect())
                .unwrap_or_default();
            let smart_links: Vec<&&Value> = links.iter().filter(|l| l["type"] == "smart").collect();
            if smart {
                assert_eq!(smart_links.len(), 1, "{card}");
                assert_eq!(smart_links[0]["url"], launch_url.as_str());
            } else {
                assert!(smart_links.is_empty(), "{card}");
            }
        }
    }
}

#[tokio::test]
async fn the_page_assesses_under_the_session_and_the_audit_names_patient_and_server() {
    let ehr = Ehr::start().await;
    // Authentication is on (common's trusted issuer): without the session it is 401.
    let (s, db) = smart_state(&ehr, |_| {}).await;
    let case = json!({ "format": "cobalt.case/1", "id": "c1",
        "labs": [{ "test": "total_b12", "value": 150, "unit": "ng/L" }] });
    let r = send(&s, "POST", "/ui/assess", None, Some(&case)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);

    let session = sign_in(&s, &ehr).await;
    assert_eq!(
        get(&s, "/smart/record", Some(&session)).await.status,
        StatusCode::OK
    );
    let r = send(&s, "POST", "/ui/assess", Some(&session), Some(&case)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.json()["assessment"]["conclusions"]["b12_status"],
        "deficient"
    );

    let rows = audit_rows(&db);
    assert_eq!(
        kinds(&rows),
        ["smart-launch", "smart-read", "assess"],
        "{rows:?}"
    );
    assert_eq!(rows[2]["service"], "ui/assess");
    for row in &rows {
        assert_eq!(row["patient"], PATIENT, "{row}");
        assert_eq!(row["fhir_server"], ehr.fhir, "{row}");
        assert_eq!(row["actor"], FHIR_USER, "{row}");
    }
    let token = &ehr.issued()[0];
    assert!(
        rows.iter().all(|r| !r.to_string().contains(token.as_str())),
        "a row holds the token"
    );
}
