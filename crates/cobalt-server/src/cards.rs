//! Assessment to CDS Hooks cards. A card is a summary under 140 characters, an indicator, a
//! source with a label and a link to the rule's source, Markdown detail with the reasoning and
//! citations, suggestions (a ServiceRequest for the next test) with `selectionBehavior`, and
//! links. Cards are drawn from the conclusions and the findings that made them.

use cobalt_core::assessment::{Assessment, B12Status, FindingOut, Picture, Route};
use cobalt_core::KnowledgeBase;
use serde_json::{json, Value};

/// The longest summary the specification allows is 140 characters.
pub const MAX_SUMMARY: usize = 140;

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn clip(s: &str) -> String {
    if s.chars().count() < MAX_SUMMARY {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX_SUMMARY - 2).collect();
        out.push('…');
        out
    }
}

fn source_of(a: &Assessment<'_>, rule: &str) -> Value {
    let f = a.findings.iter().find(|f| f.rule == rule);
    let (label, url) = match f.and_then(|f| f.sources.first()) {
        Some(s) => (format!("cobalt {rule}: {}", s.title), s.url.clone()),
        None => ("cobalt".to_string(), None),
    };
    let mut src = json!({ "label": clip(&label) });
    if let Some(u) = url {
        src["url"] = json!(u);
    }
    src
}

fn detail(a: &Assessment<'_>, rules: &[&str]) -> String {
    let mut out = String::new();
    for f in a.findings.iter().filter(|f| rules.contains(&f.rule)) {
        finding_md(&mut out, f);
    }
    out.push_str(&format!("\n*{}*\n", a.disclaimer));
    out
}

fn finding_md(out: &mut String, f: &FindingOut<'_>) {
    out.push_str(&format!("- **{}** {}\n", f.rule, f.message));
    if let Some(s) = &f.suggestion {
        out.push_str(&format!("  - Consider: {s}\n"));
    }
    let cites: Vec<String> = f
        .sources
        .iter()
        .map(|s| match (&s.url, &s.at) {
            (Some(u), Some(at)) => format!("[{}]({u}), {at}", s.title),
            (Some(u), None) => format!("[{}]({u})", s.title),
            (None, Some(at)) => format!("{}, {at}", s.title),
            (None, None) => s.title.clone(),
        })
        .collect();
    out.push_str(&format!("  - Sources: {}\n", cites.join("; ")));
}

/// A ServiceRequest for a lab concept, coded with its LOINC codes when it has them.
pub fn service_request(kb: &KnowledgeBase, test: &str, patient_id: Option<&str>) -> Value {
    let concept = kb.vocab.get(test);
    let label = concept.map_or(test, |c| c.label.as_str());
    let coding: Vec<Value> = concept
        .map(|c| {
            c.codes
                .iter()
                .filter(|(s, _)| *s == cobalt_core::vocab::CodeSystem::Loinc)
                .map(|(_, code)| json!({ "system": "http://loinc.org", "code": code, "display": label }))
                .collect()
        })
        .unwrap_or_default();
    let mut code = json!({ "text": label });
    if !coding.is_empty() {
        code["coding"] = json!(coding);
    }
    let mut sr = json!({
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": code,
    });
    if let Some(p) = patient_id {
        sr["subject"] = json!({ "reference": format!("Patient/{p}") });
    }
    sr
}

fn test_suggestions(
    kb: &KnowledgeBase,
    a: &Assessment<'_>,
    patient_id: Option<&str>,
) -> Vec<Value> {
    a.conclusions
        .next_tests
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let label = kb.vocab.label(t);
            json!({
                "label": clip(&format!("Order {label}")),
                "uuid": uuid(),
                "isRecommended": i == 0,
                "actions": [{
                    "type": "create",
                    "description": format!("Order {label}"),
                    "resource": service_request(kb, t, patient_id),
                }],
            })
        })
        .collect()
}

fn link_to_rules() -> Value {
    json!({ "label": "How cobalt decides (rules and sources)", "url": "https://www.nice.org.uk/guidance/ng239", "type": "absolute" })
}

/// The cards for a patient-view hook.
pub fn patient_view(
    kb: &KnowledgeBase,
    a: &Assessment<'_>,
    patient_id: Option<&str>,
) -> Vec<Value> {
    let c = &a.conclusions;
    let mut cards = Vec::new();
    let causes: Vec<&str> = c.causes.iter().map(|x| kb.vocab.label(x)).collect();
    let cause_text = if causes.is_empty() {
        String::new()
    } else {
        format!(" ({})", causes.join(", "))
    };

    // 1. B12 status and what to do.
    match c.b12_status {
        B12Status::Deficient | B12Status::FunctionalDeficiency => {
            let urgent = c.treatment.urgent;
            let route = c.treatment.route.as_str();
            let summary = if urgent {
                format!("B12 deficiency with neurological involvement or pregnancy: treat now ({route}){cause_text}")
            } else {
                format!("B12 deficiency: treat ({route}){cause_text}")
            };
            let mut rules: Vec<&str> = vec![
                "LAB-017", "TX-001", "TX-002", "TX-003", "TX-004", "TX-005", "TX-006", "TX-007",
                "TX-012",
            ];
            rules.extend(
                a.findings
                    .iter()
                    .filter(|f| f.category == "cause")
                    .map(|f| f.rule),
            );
            let suggestions = test_suggestions(kb, a, patient_id);
            let mut card = json!({
                "uuid": uuid(),
                "summary": clip(&summary),
                "indicator": if urgent { "critical" } else { "warning" },
                "source": source_of(a, "LAB-017"),
                "detail": detail(a, &rules),
                "links": [link_to_rules()],
            });
            if !suggestions.is_empty() {
                card["suggestions"] = json!(suggestions);
                card["selectionBehavior"] = json!("any");
            }
            cards.push(card);
        }
        B12Status::NotTested | B12Status::Indeterminate if !c.next_tests.is_empty() => {
            let first = kb.vocab.label(c.next_tests[0]);
            let summary = if c.b12_status == B12Status::Indeterminate {
                format!("B12 indeterminate: order {first} to decide{cause_text}")
            } else if a.fired("TEST-002") {
                format!("Exclude B12 deficiency before diagnosing MS: order {first}")
            } else if a.fired("TEST-013") {
                format!("Signs of B12 deficiency, no risk factor recorded: order {first} on clinical judgement")
            } else {
                format!("B12 test indicated{cause_text}: order {first}")
            };
            cards.push(json!({
                "uuid": uuid(),
                "summary": clip(&summary),
                "indicator": if c.test_indicated { "warning" } else { "info" },
                "source": source_of(a, if a.fired("TEST-002") { "TEST-002" } else if a.fired("TEST-001") { "TEST-001" } else if a.fired("TEST-013") { "TEST-013" } else { "TEST-007" }),
                "detail": detail(a, &["TEST-001", "TEST-002", "TEST-013", "TEST-003", "TEST-004", "TEST-005", "TEST-006", "TEST-007", "TEST-011", "LAB-001", "LAB-002", "LAB-017"]),
                "suggestions": test_suggestions(kb, a, patient_id),
                "selectionBehavior": "any",
                "links": [link_to_rules()],
            }));
        }
        _ => {}
    }

    // 2. MS criteria cannot be met while B12 deficiency is present or not excluded: the 2024
    // criteria first, the 2017 ones beside them.
    if a.fired("MCD-018") || a.fired("MCD-008") {
        let rule = if a.fired("MCD-018") {
            "MCD-018"
        } else {
            "MCD-008"
        };
        cards.push(json!({
            "uuid": uuid(),
            "summary": clip("McDonald 2024 (and 2017): MS cannot be diagnosed until B12 deficiency is excluded or treated"),
            "indicator": "info",
            "source": source_of(a, rule),
            "detail": detail(a, &["MCD-018", "MCD-010", "MCD-011", "MCD-012", "MCD-013", "MCD-014", "MCD-015", "MCD-016", "MCD-017", "MCD-019", "MCD-008", "MCD-001", "MCD-002", "MCD-003", "MCD-004", "MCD-005", "MCD-006", "MCD-007"]),
            "links": [link_to_rules()],
        }));
    }

    // 3. The picture, when it is mixed: both need attention.
    if c.picture == Picture::Mixed {
        cards.push(json!({
            "uuid": uuid(),
            "summary": clip("Features of both B12 deficiency and MS: treat the deficiency and continue the MS work-up"),
            "indicator": "warning",
            "source": source_of(a, "PIC-021"),
            "detail": detail(a, &["PIC-021", "EVID-002"]),
            "links": [link_to_rules()],
        }));
    }

    // 4. Folate caution.
    if a.fired("TX-012") && !matches!(c.treatment.route, Route::None) {
        cards.push(json!({
            "uuid": uuid(),
            "summary": clip("Do not give folic acid alone while B12 deficiency is present or not excluded"),
            "indicator": "warning",
            "source": source_of(a, "TX-012"),
            "detail": detail(a, &["TX-012", "LAB-013"]),
        }));
    }
    cards
}

/// Adds a link to every card, after its own.
pub fn add_link(cards: &mut [Value], link: &Value) {
    for card in cards {
        match card.get_mut("links").and_then(Value::as_array_mut) {
            Some(links) => links.push(link.clone()),
            None => card["links"] = json!([link]),
        }
    }
}
