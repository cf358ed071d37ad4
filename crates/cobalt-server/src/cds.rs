//! The CDS Hooks routes: discovery, a service call (patient-view, order-select, order-sign) and
//! feedback. The caller's token is checked before the body is read (`guard`); a service call's
//! resources are mapped for `context.patientId` only, evaluated off the async workers, and the
//! audit row is committed before the cards are answered.

use crate::error::AppError;
use crate::{
    audit, cards, client_request_id, hooks, now_rfc3339, request_id, sha256_hex, today, AppState,
};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub async fn discovery() -> Json<Value> {
    Json(hooks::discovery())
}

/// The services this server offers; any other id is 404.
pub fn known_service(id: &str) -> Result<(), AppError> {
    if [hooks::PATIENT_VIEW, hooks::ORDER_SELECT, hooks::ORDER_SIGN].contains(&id) {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

pub async fn call_service(
    State(state): State<AppState>,
    axum::Extension(who): axum::Extension<audit::Who>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    // The service id and the caller were checked before the body was read (`guard`).
    known_service(&id)?;
    // Straight from the bytes into the typed request: the prefetch stays JSON text. Plain
    // serde first (fast); only a failure is parsed again to name the path of the problem.
    let mut req: hooks::HookRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => {
            let mut de = serde_json::Deserializer::from_slice(&body);
            let e = match serde_path_to_error::deserialize::<_, hooks::HookRequest>(&mut de) {
                Err(e) => e,
                Ok(_) => {
                    return Err(AppError::Invalid {
                        path: "$".into(),
                        message: "malformed JSON".into(),
                    })
                }
            };
            let message = e.inner().to_string();
            return Err(if e.inner().is_syntax() || e.inner().is_eof() {
                AppError::Invalid {
                    path: "$".into(),
                    message: format!("malformed JSON: {message}"),
                }
            } else {
                AppError::Invalid {
                    path: e.path().to_string(),
                    message,
                }
            });
        }
    };
    let expected_hook = match id.as_str() {
        hooks::PATIENT_VIEW => "patient-view",
        hooks::ORDER_SELECT => "order-select",
        _ => "order-sign",
    };
    if req.hook != expected_hook {
        return Err(AppError::Invalid {
            path: "hook".into(),
            message: format!("`{}` sent to the {expected_hook} service", req.hook),
        });
    }
    let patient_id = req
        .context
        .get("patientId")
        .and_then(Value::as_str)
        .ok_or_else(|| AppError::Invalid {
            path: "context.patientId".into(),
            message: "missing; expected the patient's id".into(),
        })?
        .to_string();
    let resources = hooks::gather(&state, &mut req, &patient_id).await?;
    let rid = request_id(&headers);
    let client_rid = client_request_id(&headers);
    let hook = req.hook.clone();
    let fhir_server = req.fhir_server.clone();
    let context = std::mem::take(&mut req.context);
    // The hook's user (`context.userId`, such as `Practitioner/123`), printable and bounded.
    let user_id: String = context
        .get("userId")
        .and_then(Value::as_str)
        .filter(|u| u.len() <= 256 && u.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_default()
        .to_string();
    let (cards, entry) = state
        .blocking(move |state| {
            let as_of = today();
            let refs: Vec<(String, &str)> = resources
                .iter()
                .map(|(p, r)| (p.clone(), r.get()))
                .collect();
            // Every resource must be the context's patient's: another patient's data is
            // refused.
            let case =
                cobalt_fhir::resources_for_patient(&refs, &patient_id, as_of, &state.kb)?.parsed;
            let assessment = cobalt_core::evaluate(&state.kb, &state.profile, &case, as_of);
            let cards = if id == hooks::PATIENT_VIEW {
                let mut cards = cards::patient_view(&state.kb, &assessment, Some(&patient_id));
                if let Some(link) = smart_link(state, fhir_server.as_deref()) {
                    cards::add_link(&mut cards, &link);
                }
                cards
            } else {
                let orders = hooks::draft_orders(&context);
                hooks::order_cards(state, &assessment, &case, as_of, &orders, Some(&patient_id))
            };
            let card_ids: Vec<String> = cards
                .iter()
                .filter_map(|c| c.get("uuid").and_then(Value::as_str).map(str::to_string))
                .collect();
            let mut entry = audit::Entry::assessment(
                rid,
                "hook",
                &hook,
                &id,
                sha256_hex(&body),
                &assessment,
                &card_ids,
            );
            entry.client_request_id = client_rid;
            // Who called: the token's issuer and subject, and the hook's user.
            entry.caller = who.caller;
            entry.actor = user_id;
            Ok((cards, entry))
        })
        .await?;
    state.commit(vec![entry]).await?;
    Ok(Json(json!({ "cards": cards })).into_response())
}

/// The SMART app link of patient-view cards (CDS Hooks 2.0, Link `type: smart`): the EHR
/// launches cobalt's page for the patient. Given when SMART is configured and the call's
/// `fhirServer`, if it names one, is a server cobalt is registered with.
fn smart_link(state: &AppState, fhir_server: Option<&str>) -> Option<Value> {
    let smart = &state.config.smart;
    if !smart.enabled() || fhir_server.is_some_and(|f| smart.client_for(f).is_none()) {
        return None;
    }
    Some(json!({
        "label": "Open cobalt for this patient",
        "url": format!("{}/smart/launch", state.config.public_url.trim_end_matches('/')),
        "type": "smart",
    }))
}

fn serde_path_to_value<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, AppError> {
    serde_path_to_error::deserialize(v).map_err(|e| AppError::Invalid {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// Most feedback items taken in one request.
pub const MAX_FEEDBACK_ITEMS: usize = 100;
/// The longest card id taken (cobalt issues UUIDs).
pub const MAX_CARD_ID: usize = 64;

pub async fn feedback(
    State(state): State<AppState>,
    axum::Extension(who): axum::Extension<audit::Who>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    known_service(&id)?;
    let fb: hooks::FeedbackRequest = serde_path_to_value(crate::parse_json(&body)?)?;
    if fb.feedback.is_empty() || fb.feedback.len() > MAX_FEEDBACK_ITEMS {
        return Err(AppError::Invalid {
            path: "feedback".into(),
            message: format!(
                "{} item(s); expected 1 to {MAX_FEEDBACK_ITEMS}",
                fb.feedback.len()
            ),
        });
    }
    // Feedback is about a card this service issued: an unknown or overlong id is refused,
    // with its path, and nothing of the request is recorded.
    if let Some(i) = fb.feedback.iter().position(|f| f.card.len() > MAX_CARD_ID) {
        return Err(AppError::Invalid {
            path: format!("feedback[{i}].card"),
            message: format!(
                "longer than {MAX_CARD_ID} characters; not a card this service issued"
            ),
        });
    }
    let ids: Vec<String> = fb.feedback.iter().map(|f| f.card.clone()).collect();
    let issued = state
        .audit
        .cards_issued(&ids)
        .await
        .map_err(AppError::Unavailable)?;
    if let Some(i) = issued.iter().position(|known| !known) {
        return Err(AppError::Invalid {
            path: format!("feedback[{i}].card"),
            message: format!(
                "`{}` is not a card this service issued",
                fb.feedback[i].card
            ),
        });
    }
    let rid = request_id(&headers);
    let client_rid = client_request_id(&headers);
    let hash = sha256_hex(&body);
    let server_time = now_rfc3339();
    let entries = fb
        .feedback
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if !matches!(f.outcome.as_str(), "accepted" | "overridden") {
                return Err(AppError::Invalid {
                    path: format!("feedback[{i}].outcome"),
                    message: format!("`{}`; expected accepted or overridden", f.outcome),
                });
            }
            let client_time = match &f.outcome_timestamp {
                None => String::new(),
                Some(t) => {
                    let rfc3339 = &time::format_description::well_known::Rfc3339;
                    if time::OffsetDateTime::parse(t, rfc3339).is_err() {
                        return Err(AppError::Invalid {
                            path: format!("feedback[{i}].outcomeTimestamp"),
                            message: format!("`{t}` is not a time; expected RFC 3339, such as 2026-01-01T12:00:00Z"),
                        });
                    }
                    t.clone()
                }
            };
            Ok(audit::Entry {
                request_id: rid.clone(),
                client_request_id: client_rid.clone(),
                time: server_time.clone(),
                client_time,
                kind: "feedback".into(),
                hook: String::new(),
                service: id.clone(),
                input_sha256: hash.clone(),
                conclusions: Value::Null,
                knowledge_version: state.kb.meta.version.clone(),
                engine_version: cobalt_core::eval::ENGINE_VERSION.into(),
                outcome: f.outcome.clone(),
                card: f.card.clone(),
                caller: who.caller.clone(),
                ..audit::Entry::default()
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    state.commit(entries).await?;
    Ok(StatusCode::OK.into_response())
}
