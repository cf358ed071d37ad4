//! The two readings of a Bundle (one pass, typed; step by step, as text) gather and map alike.

use super::*;

/// What a reading gathered, to compare two readings: a resource kept as text is shown as
/// the model its type is read as.
fn shown(g: &Gathered<'_>, r: &Result<(), InputError>) -> String {
    let items: Vec<String> = g
        .items
        .iter()
        .map(|i| {
            let body = match &i.body {
                Body::Typed(t) => format!("{t:?}"),
                Body::Raw(raw) => match serde_json::from_str::<OnePassResource>(raw) {
                    Ok(r) => format!("{:?}", r.typed),
                    Err(_) => format!("text {raw}"),
                },
            };
            format!("{} {:?} {} {body}", i.path, i.full_url, i.kind)
        })
        .collect();
    format!("{items:?} {:?} {:?} {r:?}", g.skipped, g.bundle_id)
}

/// Every fixture maps to the same case whether its Bundle was read in one pass (resources
/// typed as they are read) or step by step (resources kept as text, read when mapped).
#[test]
fn typed_and_text_resources_map_alike() {
    let kb = cobalt_kb::load().unwrap();
    let as_of = time::macros::date!(2026 - 01 - 01);
    let (mut typed, mut mapped) = (0, 0);
    for text in texts() {
        let mut fast = Gathered::default();
        let Some(Ok(())) = fast.bundle_at_once(&text, "") else {
            continue;
        };
        typed += fast
            .items
            .iter()
            .filter(|i| matches!(i.body, Body::Typed(_)))
            .count();
        let mut careful = Gathered::default();
        careful.bundle_step_by_step(&text, "").unwrap();
        assert!(careful.items.iter().all(|i| matches!(i.body, Body::Raw(_))));
        let first = crate::map::run(fast_copy(&text), as_of, &kb, None);
        let id = first.as_ref().ok().and_then(|m| m.patient_id.clone());
        for patient in [None, Some("no-such-patient"), id.as_deref()] {
            let a = crate::map::run(fast_copy(&text), as_of, &kb, patient);
            let b = crate::map::run(careful_copy(&text), as_of, &kb, patient);
            mapped += usize::from(a.is_ok());
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{text}");
        }
    }
    assert!(typed >= 50 && mapped >= 40, "{typed} {mapped}");
}

fn fast_copy(text: &str) -> Gathered<'_> {
    let mut g = Gathered::default();
    g.bundle_at_once(text, "").unwrap().unwrap();
    g
}

fn careful_copy(text: &str) -> Gathered<'_> {
    let mut g = Gathered::default();
    g.bundle_step_by_step(text, "").unwrap();
    g
}

/// The one-pass reading of a Bundle gathers exactly what the step-by-step reading does,
/// whenever it takes the Bundle at all; every other Bundle is left to the careful reading.
/// The fixtures and crafted Bundles: entries of every shape, resources without a Patient
/// (the patient then comes from a subject, of any resource type), `resourceType` not first.
fn texts() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut texts: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let entry = r#"{"resource":{"resourceType":"Observation","id":"o"}}"#;
    let b12 = r#"{"resource":{"resourceType":"Observation","id":"b","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2132-9"}]},"subject":{"reference":"Patient/p2"},"effectiveDateTime":"2025-01-01","valueQuantity":{"value":150,"unit":"pg/mL","system":"http://unitsofmeasure.org","code":"pg/mL"}}}"#;
    let med = r#"{"resource":{"resourceType":"Medication","id":"m","subject":{"reference":"Patient/p1"},"code":{"text":"x"}}}"#;
    let enc = r#"{"resource":{"resourceType":"Encounter","subject":{"reference":"Patient/p3"}}}"#;
    let late = r#"{"resource":{"id":"l","resourceType":"Observation","subject":{"reference":"Patient/p2"}}}"#;
    let bad_subject = r#"{"resource":{"resourceType":"Encounter","subject":{"reference":5}}}"#;
    let twice =
        r#"{"resource":{"resourceType":"Obs\u0065rvation","id":"t","resourceType":"Observation"}}"#;
    let escaped = r#"{"resource":{"resourceType":"Obs\u0065rvation","id":"e","status":"final"}}"#;
    for entries in [
        format!("[{entry},{{\"request\":{{\"method\":\"DELETE\"}}}},{{\"resource\":null}}]"),
        format!("[{entry},[\"x\",{{\"resourceType\":\"Patient\"}}]]"),
        format!("[{{\"resource\":{{}},\"resource\":{{}}}},{entry}]"),
        format!("[{entry},{{\"fullUrl\":7,\"resource\":{{\"resourceType\":\"Patient\"}}}}]"),
        format!("[{{\"resource\":{{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{entry}]}}}}]"),
        format!("[{{\"resource\":[1]}},{entry}]"),
        format!("[{med},{b12}]"),
        format!("[{enc},{b12},{med}]"),
        format!("[{entry},{b12}]"),
        format!("[{late},{b12}]"),
        format!("[{bad_subject},{b12}]"),
        format!("[{b12},{bad_subject}]"),
        format!("[{b12},{twice}]"),
        format!("[{escaped},{b12}]"),
        "null".to_string(),
        "{}".to_string(),
    ] {
        for kind in ["\"collection\"", "\"history\"", "null", "3"] {
            texts.push(format!(
                r#"{{"resourceType":"Bundle","id":"b","type":{kind},"entry":{entries}}}"#
            ));
        }
    }
    texts
}

#[test]
fn one_pass_agrees_with_step_by_step() {
    let texts = texts();
    let mut taken = 0;
    for text in &texts {
        if resource_type(text, "").ok().as_deref() != Some("Bundle") {
            continue;
        }
        let mut fast = Gathered::default();
        let Some(r) = fast.bundle_at_once(text, "") else {
            continue;
        };
        taken += 1;
        let mut careful = Gathered::default();
        let c = careful.bundle_step_by_step(text, "");
        assert_eq!(shown(&fast, &r), shown(&careful, &c), "{text}");
    }
    assert!(taken >= 10, "{taken}");
}
