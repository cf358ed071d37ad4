//! The CDS Hooks 2.0 services: discovery, `patient-view`, `order-select` / `order-sign`, and
//! feedback. A service call's prefetch is mapped from FHIR R4 to a case; prefetch the client did
//! not send is fetched from its `fhirServer` with `fhirAuthorization` under a deadline; when the
//! data cannot be had the answer is 412 with an OperationOutcome.

use crate::cards;
use crate::error::AppError;
use crate::smart::record::{encode, is_fhir_id};
use crate::AppState;
use cobalt_core::assessment::B12Status;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::time::Duration;

/// Service ids.
pub const PATIENT_VIEW: &str = "cobalt-b12-patient-view";
/// Order select.
pub const ORDER_SELECT: &str = "cobalt-b12-order-select";
/// Order sign.
pub const ORDER_SIGN: &str = "cobalt-b12-order-sign";

/// The prefetch templates: the resources cobalt reads.
pub fn prefetch_templates() -> Value {
    json!({
        "patient": "Patient/{{context.patientId}}",
        "observations": "Observation?patient={{context.patientId}}",
        "conditions": "Condition?patient={{context.patientId}}",
        "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
        "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
        "procedures": "Procedure?patient={{context.patientId}}",
    })
}

/// The discovery document.
pub fn discovery() -> Value {
    let prefetch = prefetch_templates();
    json!({
        "services": [
            {
                "hook": "patient-view",
                "id": PATIENT_VIEW,
                "title": "cobalt: vitamin B12 deficiency and the MS work-up",
                "description": "Whether B12 testing is indicated, the B12 status, its causes, the B12-versus-MS picture and what to do, each with its rule and sources (NICE NG239, BSH 2014, McDonald 2017 and 2024). Where the service is registered with the EHR for SMART App Launch, every card also carries a SMART app link (type smart) to cobalt's page for the patient.",
                "prefetch": prefetch,
                "usageRequirements": "Decision support for a clinician, not a diagnosis.",
            },
            {
                "hook": "order-select",
                "id": ORDER_SELECT,
                "title": "cobalt: folic acid and B12, B12 testing with long-term acid suppression or metformin",
                "description": "Warns when folic acid is ordered while B12 deficiency is untreated, and suggests a B12 test when metformin, a proton pump inhibitor or an H2-receptor antagonist is ordered without a recent B12 result.",
                "prefetch": prefetch,
            },
            {
                "hook": "order-sign",
                "id": ORDER_SIGN,
                "title": "cobalt: folic acid and B12 at signing",
                "description": "The order-select checks, again at signing.",
                "prefetch": prefetch,
            },
        ]
    })
}

/// A CDS Hooks request (the fields cobalt reads).
#[derive(Debug, Deserialize)]
pub struct HookRequest {
    /// The hook.
    pub hook: String,
    /// Unique id of this call.
    #[serde(rename = "hookInstance")]
    pub hook_instance: String,
    /// The client's FHIR base URL.
    #[serde(rename = "fhirServer", default)]
    pub fhir_server: Option<String>,
    /// OAuth access to the FHIR server.
    #[serde(rename = "fhirAuthorization", default)]
    pub fhir_authorization: Option<FhirAuthorization>,
    /// Hook context.
    pub context: Value,
    /// Prefetched resources, kept as their JSON text: the FHIR mapping reads them from it.
    #[serde(default)]
    pub prefetch: Option<std::collections::BTreeMap<String, Box<RawValue>>>,
}

/// `fhirAuthorization`.
#[derive(Debug, Deserialize)]
pub struct FhirAuthorization {
    /// The bearer token.
    pub access_token: String,
    /// `Bearer`.
    #[serde(default)]
    pub token_type: Option<String>,
}

/// Feedback from the client.
#[derive(Debug, Deserialize)]
pub struct FeedbackRequest {
    /// One item per card.
    pub feedback: Vec<FeedbackItem>,
}

/// One card's feedback.
#[derive(Debug, Deserialize)]
pub struct FeedbackItem {
    /// The card's uuid.
    pub card: String,
    /// `accepted` or `overridden`.
    pub outcome: String,
    /// When.
    #[serde(rename = "outcomeTimestamp", default)]
    pub outcome_timestamp: Option<String>,
}

/// Collects the resources of the prefetch (resources and Bundles), fetching what is missing.
///
/// # Errors
/// A `context.patientId` that is not a FHIR id (400); prefetch that is missing and cannot be
/// fetched (412).
pub async fn gather(
    state: &AppState,
    req: &mut HookRequest,
    patient_id: &str,
) -> Result<Vec<(String, Box<RawValue>)>, AppError> {
    // The patient id goes into the FHIR server's URLs, sent with the EHR's token: only a FHIR
    // id is taken (no `/`, `?`, `&`, `#` or `%`), so that it names a patient and nothing else.
    if !is_fhir_id(patient_id) {
        return Err(AppError::Invalid {
            path: "context.patientId".into(),
            message: "not a FHIR id; expected 1 to 64 letters, digits, '-' or '.'".into(),
        });
    }
    let templates = prefetch_templates();
    let templates = templates.as_object().expect("object");
    let mut out = Vec::new();
    let mut missing = Vec::new();
    let mut prefetch = req.prefetch.take().unwrap_or_default();
    for (key, template) in templates {
        match prefetch.remove(key).filter(|v| v.get() != "null") {
            // Percent-encoded as well: a FHIR id needs none, but nothing reaches a URL raw.
            None => missing.push((
                key.clone(),
                template
                    .as_str()
                    .unwrap_or("")
                    .replace("{{context.patientId}}", &encode(patient_id)),
            )),
            // Bundles are expanded by the mapping; no copy of the resources is made.
            Some(v) => out.push((format!("prefetch.{key}"), v)),
        }
    }
    if !missing.is_empty() {
        let Some(base) = req.fhir_server.as_deref() else {
            if out
                .iter()
                .any(|(_, r)| resource_type(r).as_deref() == Some("Patient"))
            {
                // The patient is there; the rest may simply be empty. Work with what was sent.
                return Ok(out);
            }
            return Err(AppError::Precondition(
                "prefetch is missing and the request has no fhirServer to fetch it from".into(),
            ));
        };
        if !state.config.trusts_fhir_server(base) {
            return Err(AppError::Precondition(
                "prefetch is missing and fhirServer is not a FHIR server this service trusts; nothing was fetched".into(),
            ));
        }
        let limit = state.config.fhir_body_limit;
        let token = req
            .fhir_authorization
            .as_ref()
            .map(|a| a.access_token.clone());
        let fetches = missing.iter().map(|(key, query)| {
            let url = format!("{}/{}", base.trim_end_matches('/'), query);
            let http = state.http.clone();
            let token = token.clone();
            async move {
                let mut rb = http.get(&url).header("Accept", "application/fhir+json");
                if let Some(t) = token {
                    rb = rb.bearer_auth(t);
                }
                let mut resp = rb.send().await.map_err(|e| format!("{key}: {e}"))?;
                if !resp.status().is_success() {
                    return Err(format!("{key}: FHIR server answered {}", resp.status()));
                }
                // Read at most `limit` bytes: a server that streams without end is cut off.
                let too_big =
                    || format!("{key}: the FHIR server's answer is larger than {limit} bytes");
                if resp.content_length().is_some_and(|n| n > limit as u64) {
                    return Err(too_big());
                }
                let mut bytes = Vec::new();
                while let Some(chunk) = resp.chunk().await.map_err(|e| format!("{key}: {e}"))? {
                    if bytes.len() + chunk.len() > limit {
                        return Err(too_big());
                    }
                    bytes.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(bytes)
                    .map_err(|_| format!("{key}: the FHIR server's answer is not UTF-8"))?;
                let v = RawValue::from_string(text)
                    .map_err(|e| format!("{key}: the FHIR server's answer is not JSON: {e}"))?;
                Ok::<_, String>((key.clone(), v))
            }
        });
        let deadline = state.config.fhir_deadline;
        let results = tokio::time::timeout(deadline, futures_join_all(fetches.collect()))
            .await
            .map_err(|_| {
                AppError::Precondition(format!(
                    "the FHIR server did not answer within {} ms",
                    deadline.as_millis()
                ))
            })?;
        for r in results {
            let (key, v) = r.map_err(AppError::Precondition)?;
            out.push((format!("fetched.{key}"), v));
        }
    }
    Ok(out)
}

/// A resource's type, read from its text without building it.
fn resource_type(raw: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct Sniff {
        #[serde(rename = "resourceType", default)]
        resource_type: Option<String>,
    }
    serde_json::from_str::<Sniff>(raw.get())
        .ok()
        .and_then(|s| s.resource_type)
}

async fn futures_join_all<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::with_capacity(fs.len());
    // Poll them together: a small join_all without another dependency.
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = fs.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    for d in done {
        out.extend(d);
    }
    out
}

fn push_resources(out: &mut Vec<(String, Value)>, path: &str, v: &Value) {
    match v.get("resourceType").and_then(Value::as_str) {
        Some("Bundle") => {
            if let Some(entries) = v.get("entry").and_then(Value::as_array) {
                for (i, e) in entries.iter().enumerate() {
                    if let Some(r) = e.get("resource") {
                        out.push((format!("{path}.entry[{i}].resource"), r.clone()));
                    }
                }
            }
        }
        Some(_) => out.push((path.to_string(), v.clone())),
        None => {}
    }
}

/// Draft orders in an order-select / order-sign context.
pub fn draft_orders(context: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(b) = context.get("draftOrders") {
        push_resources_plain(&mut out, b);
    }
    out
}

fn push_resources_plain(out: &mut Vec<Value>, v: &Value) {
    let mut tmp = Vec::new();
    push_resources(&mut tmp, "", v);
    out.extend(tmp.into_iter().map(|(_, r)| r));
}

/// The medication concept a draft MedicationRequest orders, through its ATC codes.
fn ordered_concept<'k>(kb: &'k cobalt_core::KnowledgeBase, order: &Value) -> Option<&'k str> {
    let codings = order
        .pointer("/medicationCodeableConcept/coding")?
        .as_array()?;
    codings.iter().find_map(|c| {
        let system = cobalt_core::vocab::CodeSystem::parse(c.get("system")?.as_str()?)?;
        kb.vocab
            .lookup(system, c.get("code")?.as_str()?)
            .map(|c| c.id.as_str())
    })
}

/// A card source naming a rule and linking to its first source.
fn rule_source(kb: &cobalt_core::KnowledgeBase, id: &str) -> Value {
    let rule = kb.rule(id);
    let title = rule.map_or("cobalt", |r| r.title.as_str());
    let mut label = format!("cobalt {id}: {title}");
    if label.chars().count() >= 100 {
        label = label.chars().take(98).collect::<String>() + "…";
    }
    let mut src = json!({ "label": label });
    if let Some(url) = rule
        .and_then(|r| r.resolved.first())
        .and_then(|c| c.url.clone())
    {
        src["url"] = json!(url);
    }
    src
}

/// Order checks: folic acid while B12 deficiency is untreated; metformin, a PPI or an H2RA
/// without a B12 result in the last 12 months.
pub fn order_cards(
    state: &AppState,
    a: &cobalt_core::Assessment<'_>,
    case: &cobalt_core::Case,
    as_of: time::Date,
    orders: &[Value],
    patient_id: Option<&str>,
) -> Vec<Value> {
    let kb = &state.kb;
    let mut cards = Vec::new();
    let on_replacement = case
        .b12_replacement
        .is_some_and(|r| r.status != cobalt_core::case::ReplacementStatus::None);
    let recent_b12 = case.labs.iter().any(|l| {
        matches!(l.test.as_str(), "total_b12" | "active_b12" | "mma")
            && l.date
                .is_some_and(|d| d <= as_of && (as_of - d).whole_days() <= 365)
    });
    for order in orders
        .iter()
        .filter(|o| o.get("resourceType").and_then(Value::as_str) == Some("MedicationRequest"))
    {
        match ordered_concept(kb, order) {
            Some("folic_acid") => {
                let untreated = !on_replacement
                    && matches!(
                        a.conclusions.b12_status,
                        B12Status::Deficient
                            | B12Status::FunctionalDeficiency
                            | B12Status::Indeterminate
                    );
                if untreated {
                    cards.push(json!({
                        "uuid": uuid::Uuid::new_v4().to_string(),
                        "summary": "Folic acid ordered while B12 deficiency is untreated: start B12 first",
                        "indicator": "warning",
                        "source": rule_source(kb, "TX-012"),
                        "detail": format!(
                            "B12 status is **{}** and no B12 replacement is recorded. Folic acid alone can correct the anaemia of B12 deficiency while the nerve damage progresses (subacute combined degeneration). Start B12 replacement first, or exclude deficiency, then give folic acid.\n\n*{}*",
                            a.conclusions.b12_status.as_str().replace('_', " "),
                            a.disclaimer
                        ),
                        "overrideReasons": [
                            { "code": "b12-started-elsewhere", "system": "https://cobalt.invalid/override-reasons", "display": "B12 replacement has been started (not yet recorded)" },
                            { "code": "deficiency-excluded", "system": "https://cobalt.invalid/override-reasons", "display": "B12 deficiency has been excluded" }
                        ],
                    }));
                }
            }
            Some(c @ ("metformin" | "proton_pump_inhibitor" | "h2_receptor_antagonist"))
                if !recent_b12 && !on_replacement =>
            {
                let label = kb.vocab.label(c);
                let test = if case.patient.pregnant == Some(true) {
                    "active_b12"
                } else {
                    "total_b12"
                };
                let sr = cards::service_request(kb, test, patient_id);
                cards.push(json!({
                    "uuid": uuid::Uuid::new_v4().to_string(),
                    "summary": format!("{label} long term lowers B12; no B12 result in the last 12 months: consider a B12 test"),
                    "indicator": "info",
                    "source": rule_source(kb, "SCR-001"),
                    "detail": format!(
                        "{label} is a common risk factor for B12 deficiency (NICE NG239; AAFP 2017 advises testing with metformin for more than 4 months, or a PPI or H2-receptor antagonist for more than 12 months). No total B12, active B12 or MMA result in the last 12 months is recorded.\n\n*{}*",
                        a.disclaimer
                    ),
                    "suggestions": [{
                        "label": format!("Order {}", kb.vocab.label(test)),
                        "uuid": uuid::Uuid::new_v4().to_string(),
                        "isRecommended": true,
                        "actions": [{ "type": "create", "description": format!("Order {}", kb.vocab.label(test)), "resource": sr }],
                    }],
                    "selectionBehavior": "at-most-one",
                }));
            }
            _ => {}
        }
    }
    cards
}

/// The deadline for fetching missing prefetch from the client's FHIR server.
pub const DEFAULT_FHIR_DEADLINE: Duration = Duration::from_secs(5);
