//! The web page for clinicians: `GET /` and its assets (built into the binary, no CDN),
//! `GET /ui/form.json` (the form's choices, drawn from the case format and the vocabulary) and
//! `POST /ui/assess` (a case or a FHIR Bundle in; the assessment with the clinician report and
//! the patient view, rendered by `cobalt-report` exactly as `cobalt assess --format html`).
//!
//! `POST /ui/assess` carries patient data, so it is authorised like `/v1/assess` (a bearer
//! token, audience `/ui/assess`) unless authentication is off or the deployment declares that a
//! sign-on proxy in front of the service authenticates its users (`ui_trust_proxy`). It accepts
//! only `Content-Type: application/json`, which a cross-site form cannot send without a CORS
//! preflight.

use crate::api::assess_and_audit;
use crate::error::AppError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cobalt_core::vocab::Kind;
use serde_json::{json, Map, Value};

const INDEX_HTML: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const FIELDS_JS: &str = include_str!("../ui/fields.js");
const APP_CSS: &str = include_str!("../ui/app.css");

/// The page's Content-Security-Policy: its own scripts and styles only, nothing inline.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

fn asset(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    let mut r = (StatusCode::OK, body.into()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nosniff and no-referrer come from the router's layer, as for every answer.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    r
}

/// `GET /`: the page.
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /ui/app.js`.
pub async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /ui/fields.js`: the form's fields and their order (data for app.js).
pub async fn fields_js() -> Response {
    asset("text/javascript; charset=utf-8", FIELDS_JS)
}

/// `GET /ui/app.css`: the page's own styles, then the report's (one stylesheet for both).
pub async fn app_css() -> Response {
    asset(
        "text/css; charset=utf-8",
        format!("{APP_CSS}\n{}\n", cobalt_report::REPORT_CSS),
    )
}

/// The form's choices: the closed lists of the case format, the concepts by kind with their
/// labels, and each laboratory test's units (none for a qualitative test).
pub fn form_schema(kb: &cobalt_core::KnowledgeBase) -> Value {
    let choices: Map<String, Value> = cobalt_core::case::CHOICES
        .iter()
        .map(|(field, values)| (field.to_string(), json!(values)))
        .collect();
    let mut concepts: Map<String, Value> = Map::new();
    for (list, kinds) in [
        ("medications", &[Kind::Medication, Kind::B12Product][..]),
        ("conditions", &[Kind::Condition]),
        ("procedures", &[Kind::Procedure]),
        ("exposures", &[Kind::Exposure]),
        ("findings", &[Kind::Finding]),
        ("labs", &[Kind::Lab]),
    ] {
        let items: Vec<Value> = kb
            .vocab
            .concepts()
            .iter()
            .filter(|c| kinds.contains(&c.kind))
            .map(|c| json!({ "id": c.id, "label": c.label }))
            .collect();
        concepts.insert(list.into(), Value::Array(items));
    }
    let analytes: Map<String, Value> = kb
        .analytes
        .iter()
        .map(|a| {
            let units: Vec<&str> = a.examples.iter().map(|u| u.ucum()).collect();
            (a.test.clone(), json!({ "units": units }))
        })
        .collect();
    json!({
        "format": cobalt_core::case::CASE_FORMAT,
        "knowledge_version": kb.meta.version,
        "disclaimer": kb.meta.disclaimer,
        "choices": choices,
        "concepts": concepts,
        "analytes": analytes,
    })
}

/// `GET /ui/form.json`.
pub async fn form(State(state): State<AppState>) -> Json<Value> {
    Json(form_schema(&state.kb))
}

/// `POST /ui/assess`: the assessment, the clinician report and the patient view.
pub async fn assess(
    State(state): State<AppState>,
    axum::Extension(who): axum::Extension<crate::audit::Who>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    // The content type and the caller (a SMART session, a sign-on proxy or a token) were
    // checked before the body was read (`guard`); `who` is for the audit row.
    let out = assess_and_audit(&state, &headers, body, "ui/assess", who, |_, a| {
        serde_json::to_vec(&UiAssessment {
            report_html: cobalt_report::report_fragment(a),
            patient_html: cobalt_report::patient::html(a),
            assessment: a,
        })
        .map_err(|e| AppError::Internal(e.to_string()))
    })
    .await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response())
}

/// The answer of `POST /ui/assess`, serialised straight from the assessment (no JSON tree).
#[derive(serde::Serialize)]
struct UiAssessment<'a> {
    assessment: &'a cobalt_core::Assessment<'a>,
    report_html: String,
    patient_html: String,
}
