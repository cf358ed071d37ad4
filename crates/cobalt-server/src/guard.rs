//! The caller is checked before the body is read: a request without a valid token gets its 401
//! at once, whatever body it is sending, so an unauthenticated client can neither hold a
//! worker while it trickles a body nor make the service buffer one.
//!
//! The guarded routes: a CDS service call and its feedback (after the service id is known: an
//! unknown id is 404), `/v1/assess`, `/v1/rules`, and the page's `/ui/assess` (which a SMART
//! session or a declared sign-on proxy may authorise instead of a token, and which takes only
//! JSON). The audience checked is the path called.

use crate::error::AppError;
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Checks the caller of a guarded route, then lets the request (and its body) through.
pub async fn auth_first(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let path = req.uri().path().to_string();
    if path == "/ui/assess" {
        if let Some(refusal) = not_json(&req) {
            return Ok(refusal);
        }
        let who = ui_caller(&state, req.headers()).await?;
        req.extensions_mut().insert(who);
        return Ok(next.run(req).await);
    }
    if let Some(rest) = path.strip_prefix("/cds-services/") {
        crate::cds::known_service(rest.strip_suffix("/feedback").unwrap_or(rest))?;
    }
    let caller = state.authorise(req.headers(), &path).await?;
    req.extensions_mut().insert(crate::audit::Who {
        caller,
        ..crate::audit::Who::default()
    });
    Ok(next.run(req).await)
}

/// `/ui/assess` takes only `application/json`, which a cross-site form cannot send without a
/// CORS preflight.
fn not_json(req: &Request) -> Option<Response> {
    let json_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    (!json_body).then(|| {
        (
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Json(json!({ "error": "unsupported media type", "message": "send the case as Content-Type: application/json" })),
        )
            .into_response()
    })
}

/// Who is calling the page's assessment: a SMART session (its user, patient and FHIR server
/// go to the audit row), a sign-on proxy the deployment declared, or a bearer token.
async fn ui_caller(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<crate::audit::Who, AppError> {
    if state.config.ui_trust_proxy {
        return Ok(crate::audit::Who::default());
    }
    if state.config.smart.enabled() {
        if let Some(s) = crate::smart::session::current(state, headers).await? {
            return Ok(crate::audit::Who {
                caller: String::new(),
                actor: s.fhir_user.clone(),
                patient: s.patient.clone(),
                fhir_server: s.fhir_server.clone(),
            });
        }
    }
    let caller = state.authorise(headers, "/ui/assess").await?;
    Ok(crate::audit::Who {
        caller,
        ..crate::audit::Who::default()
    })
}
