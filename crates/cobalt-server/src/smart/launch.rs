//! The SMART routes: `GET /smart/launch`, `GET /smart/callback`, `GET /smart/record` and
//! `GET /.well-known/jwks.json`.

use super::record::{self, Bounds};
use super::session::{self, LaunchState, Session};
use crate::error::AppError;
use crate::{audit, request_id, sha256_hex, today, AppState};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cobalt_smart::discovery::ServerError;
use cobalt_smart::{pkce, unix_now};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A plain-text refusal for the browser: no redirect, nothing from elsewhere rendered. (Every
/// answer gets `no-store`, `nosniff` and `no-referrer` from the router's layer.)
fn refuse(status: StatusCode, message: &str) -> Response {
    let mut r = (status, format!("cobalt: {message}\n")).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn redirect(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A value from a query, bounded and printable (a `launch` id, a `code`, a `state`).
fn plain(v: &Option<String>, max: usize) -> Option<&str> {
    v.as_deref()
        .filter(|s| !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic()))
}

/// `GET /smart/launch` parameters.
#[derive(Debug, Deserialize)]
pub struct LaunchQuery {
    iss: Option<String>,
    launch: Option<String>,
}

/// `GET /smart/launch`: an EHR launch (`iss` and `launch`) or a standalone launch (`iss`, or
/// nothing when one EHR is configured).
pub async fn start(
    State(state): State<AppState>,
    Query(q): Query<LaunchQuery>,
) -> Result<Response, AppError> {
    let smart = &state.config.smart;
    if !smart.enabled() {
        return Err(AppError::NotFound);
    }
    let client = match q.iss.as_deref() {
        Some(iss) => match smart.client_for(iss) {
            Some(c) => c,
            None => {
                return Ok(refuse(
                    StatusCode::BAD_REQUEST,
                    "this FHIR server (iss) is not one cobalt is registered with; nothing was sent to it. Ask your EHR team to register cobalt (--smart-fhir-server).",
                ))
            }
        },
        None if smart.clients.len() == 1 => 0,
        None => {
            return Ok(refuse(
                StatusCode::BAD_REQUEST,
                "name the EHR's FHIR server with ?iss=...: cobalt is registered with several",
            ))
        }
    };
    let launch = match &q.launch {
        None => None,
        Some(_) => Some(plain(&q.launch, 1024).ok_or_else(|| AppError::Invalid {
            path: "launch".into(),
            message: "not a launch id: 1 to 1024 printable characters".into(),
        })?),
    };
    let reg = &smart.clients[client];
    let config = match cobalt_smart::discovery::discover(
        &state.http,
        &reg.fhir_server,
        state.config.fhir_deadline,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return Ok(refuse(StatusCode::BAD_GATEWAY, &e.to_string())),
    };
    let Some(authorize) = config.authorization_endpoint.clone() else {
        return Ok(refuse(
            StatusCode::BAD_GATEWAY,
            "the EHR's SMART configuration has no authorization_endpoint",
        ));
    };
    let state_value = pkce::random(32);
    let verifier = pkce::random(32);
    let browser = pkce::random(32);
    let standalone = launch.is_none();
    session::put_launch(
        &state,
        &state_value,
        &LaunchState {
            fhir_server: reg.fhir_server.clone(),
            client,
            issuer: config.issuer.clone(),
            authorization_endpoint: authorize.clone(),
            token_endpoint: config.token_endpoint.clone(),
            verifier: verifier.clone(),
            browser: sha256_hex(browser.as_bytes()),
            kind: if standalone { "standalone" } else { "ehr" }.into(),
            iss_required: config.authorization_response_iss_parameter_supported,
        },
    )
    .await?;
    let scope = smart.scopes(standalone);
    let redirect_uri = state.redirect_uri();
    let challenge = pkce::challenge(&verifier);
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &reg.client_id),
        ("redirect_uri", &redirect_uri),
        ("scope", &scope),
        ("state", &state_value),
        ("aud", &reg.fhir_server),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    if let Some(l) = launch {
        params.push(("launch", l));
    }
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", record::encode(v)))
        .collect();
    let sep = if authorize.contains('?') { '&' } else { '?' };
    let mut r = StatusCode::FOUND.into_response();
    let location = format!("{authorize}{sep}{}", query.join("&"));
    r.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(|e| AppError::Internal(e.to_string()))?,
    );
    let secure = state.smart_secure();
    r.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(
            session::launch_cookie(secure),
            &browser,
            session::LAUNCH_TTL_SECS,
            secure,
        ),
    );
    Ok(r)
}

/// `GET /smart/callback` parameters.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /smart/callback`: checks the `state` (once, in the browser that started the launch) and
/// the RFC 9207 `iss`, exchanges the code with a signed client assertion and the PKCE verifier,
/// keeps the token in a sealed session and sends the browser to the page.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    let smart = &state.config.smart;
    if !smart.enabled() {
        return Err(AppError::NotFound);
    }
    let again = "open cobalt again from the EHR";
    let Some(state_value) = plain(&q.state, 256) else {
        return Ok(refuse(
            StatusCode::BAD_REQUEST,
            &format!("the callback has no state; {again}"),
        ));
    };
    let Some(launch) = session::take_launch(&state, state_value).await? else {
        return Ok(refuse(
            StatusCode::BAD_REQUEST,
            &format!(
                "this sign-in has expired, was already used, or was not started here; {again}"
            ),
        ));
    };
    let secure = state.smart_secure();
    let browser = session::cookie(&headers, session::launch_cookie(secure));
    if browser.map(|b| sha256_hex(b.as_bytes())).as_deref() != Some(launch.browser.as_str()) {
        return Ok(refuse(
            StatusCode::BAD_REQUEST,
            &format!("this sign-in was started in another browser; {again}"),
        ));
    }
    if let Some(e) = plain(&q.error, 256) {
        let d = q.error_description.as_deref().unwrap_or("");
        let d: String = d.chars().filter(|c| !c.is_control()).take(300).collect();
        return Ok(refuse(
            StatusCode::FORBIDDEN,
            &format!(
                "the EHR did not authorise cobalt ({e}{}{d})",
                if d.is_empty() { "" } else { ": " }
            ),
        ));
    }
    if let Err(m) = check_issuer(&launch, q.iss.as_deref()) {
        return Ok(refuse(StatusCode::BAD_REQUEST, &m));
    }
    let Some(code) = plain(&q.code, 4096) else {
        return Ok(refuse(
            StatusCode::BAD_REQUEST,
            &format!("the callback has no code; {again}"),
        ));
    };
    let reg = smart
        .clients
        .get(launch.client)
        .filter(|c| c.fhir_server == launch.fhir_server)
        .ok_or_else(|| AppError::Internal("the launch names no configured client".into()))?;
    let assertion =
        cobalt_smart::assertion::sign(&reg.key, &reg.client_id, &launch.token_endpoint, unix_now())
            .map_err(|e| AppError::Internal(e.to_string()))?;
    let redirect_uri = state.redirect_uri();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", launch.verifier.as_str()),
        ("client_assertion_type", cobalt_smart::ASSERTION_TYPE),
        ("client_assertion", assertion.as_str()),
    ];
    let token = match cobalt_smart::discovery::token(
        &state.http,
        &launch.token_endpoint,
        &form,
        state.config.fhir_deadline,
    )
    .await
    {
        Ok(t) => t,
        Err(e) => return Ok(refuse(StatusCode::BAD_GATEWAY, &e.to_string())),
    };
    let Some(patient) = token.patient.clone().filter(|p| record::is_fhir_id(p)) else {
        return Ok(refuse(
            StatusCode::BAD_GATEWAY,
            "the EHR's token response names no patient (or not a FHIR id); cobalt opens only for one patient",
        ));
    };
    let now = unix_now();
    let lifetime = token
        .expires_in
        .unwrap_or(super::DEFAULT_TOKEN_SECS)
        .clamp(1, super::MAX_SESSION_SECS);
    let session = Session {
        fhir_server: launch.fhir_server.clone(),
        patient,
        access_token: token.access_token.clone(),
        fhir_user: token.fhir_user().unwrap_or_default(),
        scope: token.scope.clone().unwrap_or_default(),
        exp: now + lifetime,
    };
    let name = pkce::random(32);
    session::put_session(&state, &name, &session).await?;
    let entry = audit::Entry {
        request_id: request_id(&headers),
        time: crate::now_rfc3339(),
        kind: "smart-launch".into(),
        service: launch.kind.clone(),
        knowledge_version: state.kb.meta.version.clone(),
        engine_version: cobalt_core::eval::ENGINE_VERSION.into(),
        conclusions: serde_json::Value::Null,
        actor: session.fhir_user.clone(),
        patient: session.patient.clone(),
        fhir_server: session.fhir_server.clone(),
        ..audit::Entry::default()
    };
    state.commit(vec![entry]).await?;
    let mut r = redirect("/?launch=smart");
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        session::set_cookie(session::session_cookie(secure), &name, lifetime, secure),
    );
    h.append(
        header::SET_COOKIE,
        session::set_cookie(session::launch_cookie(secure), "", 0, secure),
    );
    Ok(r)
}

/// RFC 9207: the `iss` of the authorisation response must be the authorisation server's
/// issuer. Against the `issuer` its configuration names; without one, the issuer must be the
/// origin (and path prefix) of the authorisation endpoint the browser was sent to.
fn check_issuer(launch: &LaunchState, iss: Option<&str>) -> Result<(), String> {
    let refused = "the callback's iss is not the authorisation server cobalt sent you to; open cobalt again from the EHR";
    match (iss, &launch.issuer) {
        (Some(i), Some(expected)) if i != expected => Err(refused.into()),
        (Some(i), None) => {
            let i = i.trim_end_matches('/');
            let inside = launch
                .authorization_endpoint
                .strip_prefix(i)
                .is_some_and(|r| r.starts_with('/'));
            if inside && !i.is_empty() {
                Ok(())
            } else {
                Err(refused.into())
            }
        }
        (None, _) if launch.iss_required => Err(
            "the callback has no iss although the authorisation server says it always sends one"
                .into(),
        ),
        _ => Ok(()),
    }
}

/// What the page shows after a launch.
#[derive(Serialize)]
struct Launched<'a> {
    fhir_server: &'a str,
    patient: &'a str,
    user: &'a str,
    /// The case as read, in the `cobalt.case/1` wire shape: what fills the form.
    case: &'a cobalt_core::case::RawCase,
    /// Every resource read, used or skipped.
    read: &'a [record::Listed],
    /// Everything the mapping did not use, with the reason.
    skipped: Vec<cobalt_fhir::Kinded<'a>>,
    assessment: &'a cobalt_core::Assessment<'a>,
    report_html: String,
    patient_html: String,
}

/// `GET /smart/record`: the launched patient's record, read now with the session's token, and
/// its assessment.
pub async fn read_record(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if !state.config.smart.enabled() {
        return Err(AppError::NotFound);
    }
    let Some(session) = session::current(&state, &headers).await? else {
        return Ok((
            StatusCode::UNAUTHORIZED,
            Json(json!({
                "error": "no session",
                "message": "There is no EHR session, or it has ended. Open cobalt again from the patient's chart.",
            })),
        )
            .into_response());
    };
    let bounds = Bounds {
        deadline: state.config.smart.read_deadline,
        bytes: state.config.fhir_body_limit,
    };
    let read = match record::read(&state.http, &session, bounds).await {
        Ok(r) => r,
        Err(e) => return Ok(server_error(&e)),
    };
    let rid = request_id(&headers);
    let body = state
        .blocking(move |state| {
            let as_of = today();
            let refs: Vec<(String, &str)> = read
                .items
                .iter()
                .map(|(p, r)| (p.clone(), r.get()))
                .collect();
            let mapped =
                cobalt_fhir::resources_for_patient(&refs, &session.patient, as_of, &state.kb)?;
            let assessment =
                cobalt_core::evaluate(&state.kb, &state.profile, &mapped.parsed, as_of);
            let mut listed = read.listed;
            record::mark_skipped(&mut listed, &mapped.skipped);
            let out = Launched {
                fhir_server: &session.fhir_server,
                patient: &session.patient,
                user: &session.fhir_user,
                case: &mapped.case,
                read: &listed,
                skipped: mapped.skipped.iter().map(cobalt_fhir::Kinded).collect(),
                assessment: &assessment,
                report_html: cobalt_report::report_fragment(&assessment),
                patient_html: cobalt_report::patient::html(&assessment),
            };
            let body = serde_json::to_vec(&out).map_err(|e| AppError::Internal(e.to_string()))?;
            let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
            for (_, r) in &read.items {
                hasher.update(r.get().as_bytes());
            }
            let mut entry = audit::Entry::assessment(
                rid,
                "smart-read",
                "",
                "smart/record",
                crate::hex(hasher.finish().as_ref()),
                &assessment,
                &[],
            );
            entry.actor = session.fhir_user.clone();
            entry.patient = session.patient.clone();
            entry.fhir_server = session.fhir_server.clone();
            Ok((body, entry))
        })
        .await;
    let (body, entry) = body?;
    state.commit(vec![entry]).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// A FHIR server's failure as the page shows it: a refusal is a refusal, a timeout a timeout,
/// never "no data".
fn server_error(e: &ServerError) -> Response {
    let (status, kind) = match e {
        ServerError::Status {
            status: 401 | 403, ..
        } => (StatusCode::BAD_GATEWAY, "refused"),
        ServerError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        _ => (StatusCode::BAD_GATEWAY, "fhir server"),
    };
    let upstream = match e {
        ServerError::Status { status, .. } => Some(*status),
        _ => None,
    };
    (
        status,
        Json(json!({
            "error": kind,
            "upstream_status": upstream,
            "message": format!("The record could not be read: {e}. Nothing was assessed."),
        })),
    )
        .into_response()
}

/// `GET /.well-known/jwks.json`: the public keys cobalt signs its client assertions with.
pub async fn jwks(State(state): State<AppState>) -> Result<Response, AppError> {
    if !state.config.smart.enabled() {
        return Err(AppError::NotFound);
    }
    let mut r = Json(state.config.smart.jwks()).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(r)
}
