//! The JSON API beside CDS Hooks: `POST /v1/assess` (a case or a FHIR Bundle, the assessment
//! back, exactly as `cobalt assess --format json` writes it), `GET /v1/rules`,
//! `GET /openapi.json` (generated from these handlers' annotations with utoipa), `GET /healthz`,
//! and, when enabled for benchmarks, `POST /v1/echo`.

use crate::error::AppError;
use crate::{audit, client_request_id, parse_json, request_id, sha256_hex, today, AppState};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

/// The OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "cobalt",
        description = "Decision support for vitamin B12 deficiency in people with, or suspected of, multiple sclerosis. HL7 CDS Hooks 2.0 services over FHIR R4, and a JSON API. Decision support for a clinician, not a diagnosis."
    ),
    paths(
        assess,
        rules,
        healthz,
        livez,
        discovery_doc,
        service_doc,
        feedback_doc
    ),
    components(schemas(
        ServiceId,
        Health,
        RuleSummary,
        Problem,
        CardsResponse,
        Card,
        CardSource,
        Discovery,
        CdsService,
        HookRequestDoc,
        FeedbackDoc,
        FeedbackItemDoc
    ))
)]
pub struct ApiDoc;

/// Health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` (with status 503) when the store cannot be written.
    pub status: String,
    /// `writable` or `not writable`: the audit store (a write was committed just now).
    pub store: String,
    /// Engine version.
    pub version: String,
    /// Knowledge-base version.
    pub knowledge_version: String,
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Live {
    /// `ok`.
    pub status: String,
    /// Engine version.
    pub version: String,
    /// Knowledge-base version.
    pub knowledge_version: String,
}

/// A rule, listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleSummary {
    /// Id such as LAB-001.
    pub id: String,
    /// Title.
    pub title: String,
    /// Category.
    pub category: String,
    /// Reference keys.
    pub sources: Vec<String>,
}

/// A client error: the JSON path of the problem and what was expected.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `invalid input`.
    pub error: String,
    /// JSON path.
    pub path: String,
    /// Message.
    pub message: String,
    /// The same as a FHIR OperationOutcome.
    #[schema(value_type = Object)]
    pub outcome: Value,
}

/// CDS Hooks response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CardsResponse {
    /// Cards.
    pub cards: Vec<Card>,
}

/// A CDS Hooks card.
#[derive(Debug, Serialize, ToSchema)]
pub struct Card {
    /// Card id.
    pub uuid: String,
    /// Under 140 characters.
    pub summary: String,
    /// `info`, `warning` or `critical`.
    pub indicator: String,
    /// Source.
    pub source: CardSource,
    /// Markdown.
    pub detail: Option<String>,
    /// Suggestions.
    #[schema(value_type = Vec<Object>)]
    pub suggestions: Option<Vec<Value>>,
    /// `at-most-one` or `any`, with suggestions.
    #[serde(rename = "selectionBehavior")]
    pub selection_behavior: Option<String>,
    /// Links.
    #[schema(value_type = Vec<Object>)]
    pub links: Option<Vec<Value>>,
}

/// A card's source.
#[derive(Debug, Serialize, ToSchema)]
pub struct CardSource {
    /// Label.
    pub label: String,
    /// Link to the rule's source.
    pub url: Option<String>,
}

/// Discovery response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Discovery {
    /// Services.
    pub services: Vec<CdsService>,
}

/// A CDS service.
#[derive(Debug, Serialize, ToSchema)]
pub struct CdsService {
    /// Hook.
    pub hook: String,
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Prefetch templates.
    #[schema(value_type = Object)]
    pub prefetch: Value,
}

/// A CDS Hooks request.
#[derive(Debug, Serialize, ToSchema)]
pub struct HookRequestDoc {
    /// Hook.
    pub hook: String,
    /// Call id.
    #[serde(rename = "hookInstance")]
    pub hook_instance: String,
    /// FHIR base URL.
    #[serde(rename = "fhirServer")]
    pub fhir_server: Option<String>,
    /// OAuth access to the FHIR server.
    #[serde(rename = "fhirAuthorization")]
    #[schema(value_type = Object)]
    pub fhir_authorization: Option<Value>,
    /// Context with `patientId`.
    #[schema(value_type = Object)]
    pub context: Value,
    /// Prefetched FHIR resources and Bundles.
    #[schema(value_type = Object)]
    pub prefetch: Option<Value>,
}

/// The CDS services cobalt offers.
#[derive(Debug, Serialize, ToSchema)]
#[allow(clippy::enum_variant_names)]
pub enum ServiceId {
    /// patient-view.
    #[serde(rename = "cobalt-b12-patient-view")]
    PatientView,
    /// order-select.
    #[serde(rename = "cobalt-b12-order-select")]
    OrderSelect,
    /// order-sign.
    #[serde(rename = "cobalt-b12-order-sign")]
    OrderSign,
}

/// Feedback.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackDoc {
    /// Items.
    pub feedback: Vec<FeedbackItemDoc>,
}

/// One feedback item.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackItemDoc {
    /// Card id.
    pub card: String,
    /// `accepted` or `overridden`.
    pub outcome: String,
    /// When.
    #[serde(rename = "outcomeTimestamp")]
    pub outcome_timestamp: Option<String>,
}

/// Assess one case (`cobalt.case/1`) or a FHIR R4 Bundle.
#[utoipa::path(post, path = "/v1/assess", request_body(content = Object, description = "a cobalt.case/1 document or a FHIR R4 Bundle"),
    responses((status = 200, description = "the assessment, as `cobalt assess --format json` writes it", body = Object), (status = 400, body = Problem), (status = 401, description = "no or bad token")))]
pub async fn assess(
    State(state): State<AppState>,
    axum::Extension(who): axum::Extension<audit::Who>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    // The caller was checked before the body was read (`guard`).
    let out = assess_and_audit_with(
        &state,
        &headers,
        body,
        "v1/assess",
        who,
        // FHIR input is answered with what was not used, as `cobalt assess --format json`
        // writes it (one shared shape, `cobalt_fhir::WithSkipped`); a case document as is.
        |_, a, skipped| {
            match skipped {
                Some(skipped) => serde_json::to_vec(&cobalt_fhir::WithSkipped::new(a, skipped)),
                None => serde_json::to_vec(a),
            }
            .map_err(|e| AppError::Internal(e.to_string()))
        },
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], out).into_response())
}

/// Parses a request body that is a `cobalt.case/1` document or a FHIR R4 resource or Bundle;
/// for FHIR, with the resources (or parts) the mapping did not use.
pub(crate) fn case_from_body(
    state: &AppState,
    body: &[u8],
) -> Result<(cobalt_core::Case, Option<Vec<cobalt_fhir::Skipped>>), AppError> {
    let text = std::str::from_utf8(body).map_err(|e| AppError::Invalid {
        path: "$".into(),
        message: format!(
            "byte {} is not UTF-8; expected a UTF-8 JSON document",
            e.valid_up_to() + 1
        ),
    })?;
    Ok(if cobalt_fhir::is_fhir(text) {
        let mapped = cobalt_fhir::from_slice(body, today(), &state.kb)?;
        (mapped.parsed, Some(mapped.skipped))
    } else {
        let case = cobalt_core::parse_case(text, &state.kb.vocab, &state.kb.analytes)?;
        (case, None)
    })
}

/// Reads a body (a case or FHIR), evaluates it (as of its `as_of`, else today) and renders the
/// answer with `render`, off the async workers ([`AppState::blocking`]); then commits the audit
/// row before returning the rendered answer.
pub(crate) async fn assess_and_audit<R: Send + 'static>(
    state: &AppState,
    headers: &HeaderMap,
    body: Bytes,
    route: &'static str,
    who: audit::Who,
    render: fn(&AppState, &cobalt_core::Assessment<'_>) -> Result<R, AppError>,
) -> Result<R, AppError> {
    assess_and_audit_with(state, headers, body, route, who, move |state, a, _| {
        render(state, a)
    })
    .await
}

/// [`assess_and_audit`] whose `render` is also given what the FHIR mapping did not use (`None`
/// for a `cobalt.case/1` document).
pub(crate) async fn assess_and_audit_with<R, F>(
    state: &AppState,
    headers: &HeaderMap,
    body: Bytes,
    route: &'static str,
    who: audit::Who,
    render: F,
) -> Result<R, AppError>
where
    R: Send + 'static,
    F: FnOnce(
            &AppState,
            &cobalt_core::Assessment<'_>,
            Option<&[cobalt_fhir::Skipped]>,
        ) -> Result<R, AppError>
        + Send
        + 'static,
{
    let rid = request_id(headers);
    let client_rid = client_request_id(headers);
    let (out, entry) = state
        .blocking(move |state| {
            let (case, skipped) = case_from_body(state, &body)?;
            let as_of = case.as_of.unwrap_or_else(today);
            let assessment = cobalt_core::evaluate(&state.kb, &state.profile, &case, as_of);
            let out = render(state, &assessment, skipped.as_deref())?;
            let mut entry = audit::Entry::assessment(
                rid,
                "assess",
                "",
                route,
                sha256_hex(&body),
                &assessment,
                &[],
            );
            entry.client_request_id = client_rid;
            entry.actor = who.actor;
            entry.patient = who.patient;
            entry.fhir_server = who.fhir_server;
            entry.caller = who.caller;
            Ok((out, entry))
        })
        .await?;
    state.commit(vec![entry]).await?;
    Ok(out)
}

/// The rules of the knowledge base.
#[utoipa::path(get, path = "/v1/rules", responses((status = 200, body = Vec<RuleSummary>), (status = 401, description = "no or bad token")))]
pub async fn rules(State(state): State<AppState>) -> Result<Json<Vec<RuleSummary>>, AppError> {
    // The caller was checked by `guard`.
    Ok(Json(
        state
            .kb
            .rules
            .iter()
            .map(|r| RuleSummary {
                id: r.id.clone(),
                title: r.title.clone(),
                category: r.category.clone(),
                sources: r.sources.iter().map(|c| c.key.clone()).collect(),
            })
            .collect(),
    ))
}

/// Liveness: the process answers. It does not touch the store, so that an orchestrator that
/// restarts on a failed liveness check does not restart every replica while the database is
/// down; take a replica out of the load balancer on `/healthz` (readiness) instead.
#[utoipa::path(get, path = "/livez", responses((status = 200, body = Live)))]
pub async fn livez(State(state): State<AppState>) -> Json<Live> {
    Json(Live {
        status: "ok".into(),
        version: cobalt_core::eval::ENGINE_VERSION.into(),
        knowledge_version: state.kb.meta.version.clone(),
    })
}

/// Readiness and versions: whether this replica can write to its audit store (also at
/// `/readyz`).
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health), (status = 503, body = Health, description = "the audit store cannot be written")))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    // A replica whose store cannot be written answers nothing useful: say so, so that a load
    // balancer takes it out.
    let (code, status, store) = match state.audit.ready().await {
        Ok(()) => (StatusCode::OK, "ok", "writable".to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "audit store not writable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "not writable".to_string(),
            )
        }
    };
    (
        code,
        Json(Health {
            status: status.into(),
            store,
            version: cobalt_core::eval::ENGINE_VERSION.into(),
            knowledge_version: state.kb.meta.version.clone(),
        }),
    )
        .into_response()
}

/// CDS Hooks discovery.
#[utoipa::path(get, path = "/cds-services", responses((status = 200, body = Discovery)))]
pub async fn discovery_doc() {}

/// Call a CDS service.
#[utoipa::path(post, path = "/cds-services/{id}", params(("id" = ServiceId, Path, description = "service id")), request_body = HookRequestDoc,
    responses((status = 200, body = CardsResponse), (status = 400, body = Problem), (status = 401, description = "no or bad token"), (status = 404, description = "no such service"), (status = 412, description = "prefetch missing and not fetchable (OperationOutcome)")))]
pub async fn service_doc() {}

/// Feedback on cards.
#[utoipa::path(post, path = "/cds-services/{id}/feedback", params(("id" = ServiceId, Path, description = "service id")), request_body = FeedbackDoc,
    responses((status = 200, description = "recorded"), (status = 400, body = Problem), (status = 401, description = "no or bad token"), (status = 404, description = "no such service")))]
pub async fn feedback_doc() {}

/// The OpenAPI document, generated from the handlers.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The echo, plus the audit row a hook commits: the body's hash, a request id and time, and
/// conclusions of the same shape, written through the same store and commit. Beside the plain
/// echo it shows how much of a hook's cost is the durable commit; beside the hook, how much is
/// cobalt's own work. For benchmarks only (`--enable-echo`).
pub async fn echo_audited(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let v = parse_json(&body)?;
    let out = serde_json::to_vec(&v).map_err(|e| AppError::Internal(e.to_string()))?;
    let entry = audit::Entry::with_conclusions(
        request_id(&headers),
        "echo",
        "echo",
        "echo",
        sha256_hex(&body),
        state.echo_conclusions(),
        &state.kb.meta.version,
        &[],
    );
    state.commit(vec![entry]).await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response())
}

/// Parses the body as JSON and echoes it: the floor of the service's cost, for benchmarks.
pub async fn echo(body: Bytes) -> Result<Response, AppError> {
    let v = parse_json(&body)?;
    let out = serde_json::to_vec(&v).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response())
}
