//! What a CDS Hooks call may use about its patient: only resources whose subject names the
//! context's patient, each once, and a `context.patientId` that is a FHIR id before it goes
//! into any URL of the EHR's FHIR server (checked over loopback with a fake FHIR server that
//! records what it was asked).

mod common;

use common::*;
use std::sync::{Arc, Mutex};

const PATIENT_VIEW: &str = "/cds-services/cobalt-b12-patient-view";

async fn patient_view(s: &AppState, request: Value) -> (StatusCode, Value) {
    call(
        s,
        "POST",
        PATIENT_VIEW,
        Some(&token(PATIENT_VIEW)),
        Some(request),
    )
    .await
}

fn says_deficient(cards: &Value) -> bool {
    cards["cards"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["summary"].to_string().contains("B12 deficiency"))
    })
}

/// An Observation with no subject, or one that names the patient only by an identifier or a
/// display, is not the context's patient's as far as anyone can tell: no card rests on it.
#[tokio::test]
async fn a_result_not_shown_to_be_the_patients_gives_no_deficiency_card() {
    let (s, _) = state().await;
    // The patient's own low B12 gives the deficiency card.
    let (status, v) = patient_view(
        &s,
        hook_request("patient-view", Some(patient_bundle()), json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(says_deficient(&v), "{v}");
    for subject in [
        None,
        Some(json!({ "identifier": { "system": "urn:mrn", "value": "p1" } })),
        Some(json!({ "display": "p1" })),
    ] {
        let mut p = patient_bundle();
        let o = &mut p["observations"]["entry"][0]["resource"];
        match &subject {
            None => {
                o.as_object_mut().unwrap().remove("subject");
            }
            Some(sub) => o["subject"] = sub.clone(),
        }
        let (status, v) = patient_view(&s, hook_request("patient-view", Some(p), json!({}))).await;
        assert_eq!(status, StatusCode::OK, "{subject:?}: {v}");
        assert!(!says_deficient(&v), "{subject:?}: {v}");
    }
}

/// A fake FHIR server under `/fhir` that records every path and query it is asked, and answers a
/// Patient read with that patient and any search with an empty searchset.
async fn recording_fhir_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&asked);
    let router = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let log = Arc::clone(&log);
        async move {
            let pq = uri
                .path_and_query()
                .map_or(uri.path(), |p| p.as_str())
                .to_string();
            log.lock().unwrap().push(pq);
            match uri.path().rsplit_once("/Patient/") {
                Some((_, id)) => {
                    axum::Json(json!({ "resourceType": "Patient", "id": id, "gender": "female" }))
                }
                None => axum::Json(
                    json!({ "resourceType": "Bundle", "type": "searchset", "entry": [] }),
                ),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}/fhir"), asked)
}

/// With a trusted `fhirServer` and no prefetch, the patient id is put into the FHIR server's
/// URLs with the EHR's token: an id that is not a FHIR id is refused before anything is fetched
/// (no path traversal, no added query parameter, nothing cut off), and a FHIR id goes in as is.
#[tokio::test]
async fn a_patient_id_that_is_not_a_fhir_id_is_refused_before_any_fetch() {
    let (base, asked) = recording_fhir_server().await;
    let trusted = base.clone();
    let (s, _) = state_with(|c| c.fhir_servers = vec![trusted]).await;
    let request = |patient: &str| {
        let mut r = hook_request("patient-view", None, json!({ "patientId": patient }));
        r["fhirServer"] = json!(base);
        r["fhirAuthorization"] = json!({ "access_token": "ehr-token", "token_type": "Bearer" });
        r
    };
    let long = "p".repeat(65);
    for bad in [
        "p1/../../admin/secrets",
        "p1&_count=100000",
        "p1#x",
        "p1?_count=1",
        "p 1",
        "p%2F1",
        "",
        long.as_str(),
    ] {
        let (status, v) = patient_view(&s, request(bad)).await;
        let fetched = asked.lock().unwrap().clone();
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{bad:?}: {v}; fetched {fetched:?}"
        );
        assert_eq!(v["path"], "context.patientId", "{bad:?}: {v}");
    }
    assert_eq!(
        *asked.lock().unwrap(),
        Vec::<String>::new(),
        "nothing is fetched for a refused id"
    );
    // A FHIR id (letters, digits, '-' and '.') reaches exactly the prefetch's URLs.
    for id in ["p1", "Pat-1.2"] {
        let (status, v) = patient_view(&s, request(id)).await;
        assert_eq!(status, StatusCode::OK, "{id}: {v}");
        let mut got = std::mem::take(&mut *asked.lock().unwrap());
        got.sort();
        let mut want: Vec<String> = [
            format!("/fhir/Patient/{id}"),
            format!("/fhir/Observation?patient={id}"),
            format!("/fhir/Condition?patient={id}"),
            format!("/fhir/MedicationStatement?patient={id}"),
            format!("/fhir/MedicationRequest?patient={id}"),
            format!("/fhir/Procedure?patient={id}"),
        ]
        .into();
        want.sort();
        assert_eq!(got, want);
    }
}

/// The same Observation sent under two prefetch keys is one result: gathered as the service
/// gathers a call's prefetch and mapped as it maps them, it is used once and its repeat is
/// reported as a duplicate; the call itself is answered.
#[tokio::test]
async fn the_same_observation_in_two_prefetch_keys_is_used_once() {
    let (s, _) = state().await;
    let mut p = patient_bundle();
    p["procedures"]["entry"] = p["observations"]["entry"].clone();
    let body = hook_request("patient-view", Some(p), json!({}));
    let mut req: cobalt_server::hooks::HookRequest =
        serde_json::from_str(&body.to_string()).unwrap();
    let items = cobalt_server::hooks::gather(&s, &mut req, "p1")
        .await
        .unwrap();
    let refs: Vec<(String, &str)> = items.iter().map(|(p, r)| (p.clone(), r.get())).collect();
    let as_of = cobalt_server::today();
    let m = cobalt_fhir::resources_for_patient(&refs, "p1", as_of, &s.kb).unwrap();
    assert_eq!(m.parsed.labs.len(), 1, "{:?}", m.parsed.labs);
    let dups: Vec<(&str, &str)> = m
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.kind()))
        .filter(|(_, k)| *k == "duplicate")
        .collect();
    assert_eq!(
        dups,
        [("prefetch.procedures.entry[0].resource", "duplicate")]
    );
    let (status, v) = patient_view(&s, body).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(says_deficient(&v), "{v}");
}
