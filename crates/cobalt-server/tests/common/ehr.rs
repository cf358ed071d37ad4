//! A mock EHR for the SMART App Launch tests: one axum server on 127.0.0.1:0 (a real listener,
//! since cobalt calls it over HTTP with reqwest) that plays the EHR's authorisation server and
//! its FHIR server.
//!
//! - `GET  /fhir/.well-known/smart-configuration`: issuer (the server's origin),
//!   authorization_endpoint (`/authorize`) and token_endpoint (`/token`).
//! - `/authorize` is not served: the test is the browser and the clinician, so it hands the
//!   authorize URL cobalt redirected to to [`Ehr::authorize`], which checks it, records the
//!   grant and returns the redirect back to cobalt (`code`, `state`, `iss`).
//! - `POST /token`: checks the form (grant type, a known code used once, the redirect URI,
//!   the PKCE verifier against the challenge, the client assertion's ES384 signature checked
//!   with jsonwebtoken against cobalt's public key from `tests/keys/ec384-pub.pem`, its
//!   `aud`, `iss`, `sub`) and answers with a Bearer token, the patient and an id token with
//!   `fhirUser`. Every call is recorded with the problems found.
//! - FHIR reads, each checking `Authorization: Bearer <a token it issued>`:
//!   `Patient/{id}`, `Medication/{id}` and searches (`Observation?patient=...` and the other
//!   types cobalt reads) answered with searchset Bundles. The Observation search has two
//!   pages; [`Fhir`] switches the FHIR side to refuse (403), hang, link its next page to
//!   another host, or slip in another patient's Observation.
//!
//! Every request is logged (`METHOD /path?query`), so a test can say what was, or was not,
//! asked.

#![allow(dead_code)]

use crate::common::base64url;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Url;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// The patient every launch is for.
pub const PATIENT: &str = "p1";
/// The user the id token names.
pub const FHIR_USER: &str = "Practitioner/dr-1";
/// The OAuth client-assertion type (RFC 7523), spelled out here rather than taken from cobalt.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the FHIR side answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Fhir {
    /// The record, the Observation search on two pages.
    Normal,
    /// Every FHIR read is refused with 403 and an OperationOutcome.
    Forbidden,
    /// Every FHIR read hangs (never answers).
    Hang,
    /// The Observation search's `next` link is this URL (on another host).
    ForeignNext(String),
    /// The Observation search also returns an Observation about `Patient/other`.
    OtherPatient,
}

/// What cobalt sent to `/authorize` and what the authorisation server answered.
#[derive(Debug, Clone)]
pub struct Authorized {
    /// The authorize URL's query.
    pub params: BTreeMap<String, String>,
    /// The code issued.
    pub code: String,
    /// The redirect back to cobalt: `{redirect_uri}?code=...&state=...&iss=...`.
    pub redirect: String,
}

/// One call of the token endpoint.
#[derive(Debug, Clone)]
pub struct TokenCall {
    /// The form as sent.
    pub form: BTreeMap<String, String>,
    /// The client assertion's header and claims, when its signature verified.
    pub assertion: Option<(jsonwebtoken::Header, Value)>,
    /// Everything wrong with the request; empty: a token was issued.
    pub problems: Vec<String>,
}

/// A grant between `/authorize` and `/token`.
struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: String,
}

struct Mock {
    base: String,
    fhir: Mutex<Fhir>,
    expires_in: AtomicI64,
    grants: Mutex<HashMap<String, Grant>>,
    token_calls: Mutex<Vec<TokenCall>>,
    issued: Mutex<Vec<String>>,
    log: Mutex<Vec<String>>,
}

/// A running mock EHR.
pub struct Ehr {
    /// `http://127.0.0.1:PORT`: the authorisation server's issuer.
    pub base: String,
    /// `{base}/fhir`: the FHIR base URL, cobalt's `iss`.
    pub fhir: String,
    m: Arc<Mock>,
}

impl Ehr {
    /// Starts a mock EHR on a fresh loopback port.
    pub async fn start() -> Ehr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let m = Arc::new(Mock {
            base: base.clone(),
            fhir: Mutex::new(Fhir::Normal),
            expires_in: AtomicI64::new(3600),
            grants: Mutex::default(),
            token_calls: Mutex::default(),
            issued: Mutex::default(),
            log: Mutex::default(),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&m));
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Ehr {
            fhir: format!("{base}/fhir"),
            base,
            m,
        }
    }

    /// The token endpoint the configuration publishes (the assertion's `aud`).
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.base)
    }

    /// Switches how the FHIR side answers from now on.
    pub fn set_fhir(&self, mode: Fhir) {
        *self.m.fhir.lock().unwrap() = mode;
    }

    /// The `expires_in` of the tokens issued from now on.
    pub fn set_expires_in(&self, secs: i64) {
        self.m.expires_in.store(secs, Ordering::SeqCst);
    }

    /// Every request received, `METHOD /path?query`, in order.
    pub fn log(&self) -> Vec<String> {
        self.m.log.lock().unwrap().clone()
    }

    /// How many times the SMART configuration was asked for.
    pub fn discovery_calls(&self) -> usize {
        self.log()
            .iter()
            .filter(|l| l.contains("/.well-known/smart-configuration"))
            .count()
    }

    /// The token endpoint's calls, in order.
    pub fn token_calls(&self) -> Vec<TokenCall> {
        self.m.token_calls.lock().unwrap().clone()
    }

    /// The access tokens issued, in order.
    pub fn issued(&self) -> Vec<String> {
        self.m.issued.lock().unwrap().clone()
    }

    /// Plays the authorisation server and the clinician who consents: checks the authorize
    /// URL cobalt redirected the browser to, records the grant, and returns the redirect back
    /// to cobalt's `redirect_uri` with a fresh code, the `state` and the issuer (RFC 9207).
    pub fn authorize(&self, location: &str) -> Authorized {
        let endpoint = format!("{}/authorize", self.base);
        assert!(
            location.starts_with(&format!("{endpoint}?")),
            "cobalt redirected to {location}, not to {endpoint}"
        );
        let params: BTreeMap<String, String> = Url::parse(location)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        let p = |k: &str| params.get(k).cloned().unwrap_or_default();
        let code = format!("code-{}", uuid::Uuid::new_v4().simple());
        self.m.grants.lock().unwrap().insert(
            code.clone(),
            Grant {
                client_id: p("client_id"),
                redirect_uri: p("redirect_uri"),
                challenge: p("code_challenge"),
                scope: p("scope"),
            },
        );
        let redirect = Url::parse_with_params(
            &p("redirect_uri"),
            &[
                ("code", code.as_str()),
                ("state", p("state").as_str()),
                ("iss", self.base.as_str()),
            ],
        )
        .unwrap()
        .to_string();
        Authorized {
            params,
            code,
            redirect,
        }
    }
}

/// The S256 challenge of a PKCE verifier (RFC 7636 4.2), computed here independently of cobalt.
pub fn s256(verifier: &str) -> String {
    base64url(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref())
}

/// One handler for every path: it logs the request, then dispatches.
async fn handle(
    State(m): State<Arc<Mock>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    m.log.lock().unwrap().push(format!("{method} {uri}"));
    let path = uri.path();
    let query: BTreeMap<String, String> = Url::parse(&format!("http://x{uri}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    match (method, path) {
        (Method::GET, "/fhir/.well-known/smart-configuration") => Json(json!({
            "issuer": m.base,
            "authorization_endpoint": format!("{}/authorize", m.base),
            "token_endpoint": format!("{}/token", m.base),
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES384", "RS384"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "capabilities": ["launch-ehr", "launch-standalone", "client-confidential-asymmetric",
                "context-ehr-patient", "context-standalone-patient", "sso-openid-connect", "permission-v2"],
            "authorization_response_iss_parameter_supported": true,
        }))
        .into_response(),
        (Method::POST, "/token") => token(&m, &body),
        (Method::GET, p) if p.starts_with("/fhir/") => fhir(&m, &p["/fhir/".len()..], &query, &headers).await,
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The token endpoint: every check a real one makes for `private_key_jwt` with PKCE.
fn token(m: &Mock, body: &[u8]) -> Response {
    let form: BTreeMap<String, String> =
        Url::parse(&format!("http://x/?{}", String::from_utf8_lossy(body)))
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
    let f = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let mut problems = Vec::new();
    if f("grant_type") != "authorization_code" {
        problems.push(format!("grant_type `{}`", f("grant_type")));
    }
    // A code is good once.
    let grant = m.grants.lock().unwrap().remove(f("code"));
    let token_endpoint = format!("{}/token", m.base);
    let mut assertion = None;
    match &grant {
        None => problems.push("unknown or used code".into()),
        Some(g) => {
            if f("redirect_uri") != g.redirect_uri {
                problems.push("redirect_uri differs from the authorize request's".into());
            }
            if s256(f("code_verifier")) != g.challenge {
                problems.push("code_verifier does not match the code_challenge".into());
            }
            if f("client_assertion_type") != JWT_BEARER {
                problems.push(format!(
                    "client_assertion_type `{}`",
                    f("client_assertion_type")
                ));
            }
            // The assertion's signature, checked with cobalt's public key as a PEM file (not
            // with anything cobalt computes), and its claims.
            let pem = std::fs::read(crate::common::keys_dir().join("ec384-pub.pem")).unwrap();
            let key = DecodingKey::from_ec_pem(&pem).unwrap();
            let mut v = Validation::new(Algorithm::ES384);
            v.set_audience(&[&token_endpoint]);
            v.set_issuer(&[&g.client_id]);
            v.sub = Some(g.client_id.clone());
            v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
            match jsonwebtoken::decode::<Value>(f("client_assertion"), &key, &v) {
                Ok(d) => {
                    let c = &d.claims;
                    if c["jti"].as_str().is_none_or(str::is_empty) {
                        problems.push("the assertion has no jti".into());
                    }
                    let life = c["exp"].as_i64().unwrap_or(0) - c["iat"].as_i64().unwrap_or(0);
                    if !(1..=300).contains(&life) {
                        problems.push(format!("the assertion lives {life} s, not at most 300"));
                    }
                    assertion = Some((d.header, d.claims));
                }
                Err(e) => problems.push(format!("client_assertion refused: {e}")),
            }
        }
    }
    let ok = problems.is_empty();
    let description = problems.join("; ");
    m.token_calls.lock().unwrap().push(TokenCall {
        form,
        assertion,
        problems,
    });
    if !ok {
        let body = json!({ "error": "invalid_grant", "error_description": description });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let access_token = format!("mock-access-token-{}", uuid::Uuid::new_v4().simple());
    m.issued.lock().unwrap().push(access_token.clone());
    // An id token whose payload names the user; cobalt reads it from the back channel and
    // does not check its signature, so the signature here is a placeholder.
    let enc = |v: Value| base64url(v.to_string().as_bytes());
    let id_token = format!(
        "{}.{}.{}",
        enc(json!({ "alg": "RS256", "typ": "JWT" })),
        enc(
            json!({ "iss": m.base, "sub": "dr-1", "aud": grant.as_ref().map(|g| g.client_id.clone()),
            "fhirUser": FHIR_USER, "iat": 0, "exp": i64::MAX / 2 })
        ),
        base64url(b"not-a-signature"),
    );
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": m.expires_in.load(Ordering::SeqCst),
        "scope": grant.map(|g| g.scope).unwrap_or_default(),
        "patient": PATIENT,
        "id_token": id_token,
        "need_patient_banner": true,
    }))
    .into_response()
}

/// An OperationOutcome answer.
fn outcome(status: StatusCode, code: &str, text: &str) -> Response {
    let body = json!({ "resourceType": "OperationOutcome",
        "issue": [{ "severity": "error", "code": code, "diagnostics": text }] });
    (
        status,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        body.to_string(),
    )
        .into_response()
}

fn fhir_json(v: Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/fhir+json")],
        v.to_string(),
    )
        .into_response()
}

/// A searchset Bundle, with a `next` link when there is another page.
fn searchset(resources: Vec<Value>, next: Option<String>) -> Value {
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| json!({ "resource": r, "search": { "mode": "match" } }))
        .collect();
    let mut b = json!({ "resourceType": "Bundle", "type": "searchset", "entry": entries });
    if let Some(n) = next {
        b["link"] = json!([{ "relation": "next", "url": n }]);
    }
    b
}

fn subject(id: &str) -> Value {
    json!({ "reference": format!("Patient/{id}") })
}

/// The FHIR server: the patient's record, under the mode in force.
async fn fhir(
    m: &Mock,
    rest: &str,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let mode = m.fhir.lock().unwrap().clone();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let issued = m
        .issued
        .lock()
        .unwrap()
        .iter()
        .any(|t| bearer == Some(&format!("Bearer {t}")));
    if !issued {
        return outcome(
            StatusCode::UNAUTHORIZED,
            "login",
            "no token this server issued",
        );
    }
    match mode {
        Fhir::Forbidden => {
            return outcome(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the user may not see this record",
            )
        }
        Fhir::Hang => return std::future::pending::<Response>().await,
        _ => {}
    }
    if let Some(id) = rest.strip_prefix("Patient/") {
        return if id == PATIENT {
            fhir_json(
                json!({ "resourceType": "Patient", "id": PATIENT, "gender": "female",
                "birthDate": "1950-04-02", "name": [{ "family": "Example", "given": ["Pat"] }] }),
            )
        } else {
            outcome(StatusCode::NOT_FOUND, "not-found", "no such patient")
        };
    }
    if rest == "Medication/met-1" {
        return fhir_json(json!({ "resourceType": "Medication", "id": "met-1",
            "code": { "coding": [{ "system": "http://www.whocc.no/atc", "code": "A10BA02", "display": "metformin" }] } }));
    }
    if rest.contains('/') {
        return outcome(StatusCode::NOT_FOUND, "not-found", "no such resource");
    }
    // A search: only for the launched patient.
    if query.get("patient").map(String::as_str) != Some(PATIENT) {
        return outcome(
            StatusCode::BAD_REQUEST,
            "invalid",
            "a search must name the patient",
        );
    }
    let page2 = query.get("_page").map(String::as_str) == Some("2");
    let bundle = match rest {
        // Page 1: a B12 entered in error (so skipped), and a `next` link.
        "Observation" if !page2 => {
            let mut resources = vec![json!({ "resourceType": "Observation", "id": "b12-void",
                "status": "entered-in-error", "subject": subject(PATIENT), "effectiveDateTime": "2025-12-01",
                "code": { "coding": [{ "system": "http://loinc.org", "code": "2132-9" }] },
                "valueQuantity": { "value": 900, "unit": "pg/mL", "system": "http://unitsofmeasure.org", "code": "pg/mL" } })];
            if mode == Fhir::OtherPatient {
                resources.push(json!({ "resourceType": "Observation", "id": "b12-other",
                    "status": "final", "subject": subject("other"), "effectiveDateTime": "2025-12-05",
                    "code": { "coding": [{ "system": "http://loinc.org", "code": "2132-9" }] },
                    "valueQuantity": { "value": 120, "unit": "pg/mL", "system": "http://unitsofmeasure.org", "code": "pg/mL" } }));
            }
            let next = match &mode {
                Fhir::ForeignNext(url) => url.clone(),
                _ => format!("{}/fhir/Observation?patient={PATIENT}&_page=2", m.base),
            };
            searchset(resources, Some(next))
        }
        // Page 2: the low B12 (LOINC 2132-9 in pg/mL) the assessment rests on.
        "Observation" => searchset(
            vec![
                json!({ "resourceType": "Observation", "id": "b12-low", "status": "final",
                "subject": subject(PATIENT), "effectiveDateTime": "2025-12-05",
                "code": { "coding": [{ "system": "http://loinc.org", "code": "2132-9",
                    "display": "Cobalamin (Vitamin B12) [Mass/volume] in Serum or Plasma" }] },
                "valueQuantity": { "value": 150, "unit": "pg/mL", "system": "http://unitsofmeasure.org", "code": "pg/mL" } }),
            ],
            None,
        ),
        // Metformin by reference, so that cobalt reads the Medication too.
        "MedicationRequest" => searchset(
            vec![
                json!({ "resourceType": "MedicationRequest", "id": "mr-1", "status": "active",
                "intent": "order", "subject": subject(PATIENT), "authoredOn": "2015-01-01",
                "medicationReference": { "reference": "Medication/met-1" } }),
            ],
            None,
        ),
        _ => searchset(Vec::new(), None),
    };
    fhir_json(bundle)
}
