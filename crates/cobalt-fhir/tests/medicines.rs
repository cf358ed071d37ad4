//! Medicines as US EHRs send them: RxNorm ingredients, clinical drugs and branded drugs, or a
//! name only. Each gives the same concept (and so the same cause) as its ATC-coded twin.

mod common;

use cobalt_core::vocab::CodeSystem;
use common::{kb, AS_OF};
use serde_json::{json, Value};

const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
const ATC: &str = "http://www.whocc.no/atc";

/// A Bundle with a patient and one MedicationRequest for `medication` (a CodeableConcept),
/// authored four years before the assessment.
fn bundle(medication: Value) -> Value {
    json!({
        "resourceType": "Bundle", "type": "collection",
        "entry": [
            { "resource": { "resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1958-04-02" } },
            { "resource": {
                "resourceType": "MedicationRequest", "id": "mr", "status": "active", "intent": "order",
                "subject": { "reference": "Patient/p" }, "authoredOn": "2022-01-10",
                "medicationCodeableConcept": medication,
                "dosageInstruction": [{ "text": "one tablet twice a day" }]
            } }
        ]
    })
}

/// The medicines of the mapped case: (concept, matched by name).
fn medicines(medication: Value) -> Vec<(String, Option<String>)> {
    let m = cobalt_fhir::to_case(&bundle(medication), AS_OF, kb()).expect("maps");
    m.parsed
        .medications
        .iter()
        .map(|x| (x.concept.clone(), x.matched_by_name.clone()))
        .collect()
}

fn coded(system: &str, code: &str, display: &str) -> Value {
    json!({ "coding": [{ "system": system, "code": code, "display": display }] })
}

#[test]
fn rxnorm_ingredient_clinical_and_branded_drugs_map_as_their_atc_twin() {
    for (twin, forms) in [
        (
            ("A10BA02", "metformin"),
            vec![
                ("6809", "Metformin"),
                ("861007", "metformin hydrochloride 500 MG Oral Tablet"),
                (
                    "861819",
                    "metformin hydrochloride 500 MG / sitagliptin 50 MG Oral Tablet",
                ),
            ],
        ),
        (
            ("A02BC01", "proton_pump_inhibitor"),
            vec![
                ("7646", "Omeprazole"),
                (
                    "211691",
                    "omeprazole 10 MG Delayed Release Oral Capsule [Prilosec]",
                ),
            ],
        ),
    ] {
        let want = medicines(coded(ATC, twin.0, twin.1));
        assert_eq!(want, [(twin.1.to_string(), None)], "ATC {}", twin.0);
        for (code, display) in forms {
            assert_eq!(
                medicines(coded(RXNORM, code, display)),
                want,
                "RxNorm {code} {display}"
            );
        }
    }
}

#[test]
fn a_medicine_named_only_in_text_is_matched_by_name_and_says_so() {
    for (text, concept) in [
        ("metFORMIN hydrochloride 500 MG Oral Tablet", "metformin"),
        ("Pantoprazole 40mg EC tablets", "proton_pump_inhibitor"),
        ("Famotidine", "h2_receptor_antagonist"),
        ("Folic acid 5 mg", "folic_acid"),
        ("Vitamin B-12 1000 mcg", "cyanocobalamin"),
    ] {
        let got = medicines(json!({ "text": text }));
        assert_eq!(
            got,
            [(concept.to_string(), Some(text.to_string()))],
            "{text}"
        );
    }
    // An unknown code with a display that names the medicine: matched by the display.
    let got = medicines(coded(
        RXNORM,
        "999999999",
        "esomeprazole 20 MG Delayed Release Oral Capsule",
    ));
    assert_eq!(got[0].0, "proton_pump_inhibitor");
    // A name that is part of another word does not match.
    let m = cobalt_fhir::to_case(
        &bundle(json!({ "text": "Metforminum-like placebo" })),
        AS_OF,
        kb(),
    )
    .unwrap();
    assert!(m.parsed.medications.is_empty());
    assert!(
        m.skipped
            .iter()
            .any(|s| s.reason.contains("named only in text")),
        "{:?}",
        m.skipped
    );
}

#[test]
fn a_medicine_matched_by_name_gives_the_same_cause_and_the_report_says_so() {
    let profile = &kb().profiles[&kb().meta.default_profile];
    let assess = |med: Value| {
        let m = cobalt_fhir::to_case(&bundle(med), AS_OF, kb()).unwrap();
        let a = cobalt_core::evaluate(kb(), profile, &m.parsed, AS_OF);
        let message = a
            .findings
            .iter()
            .find(|f| f.rule == "CAUSE-004")
            .map(|f| f.message.clone());
        (a.conclusions.causes.clone(), a.screening.clone(), message)
    };
    let (atc, atc_flags, atc_msg) = assess(coded(ATC, "A10BA02", "metformin"));
    let (named, named_flags, named_msg) = assess(json!({ "text": "metformin 500 mg tablets" }));
    assert_eq!(atc, ["metformin"]);
    assert_eq!(named, atc);
    assert_eq!(named_flags, atc_flags);
    assert!(!atc_msg.unwrap().contains("Matched by name"));
    assert!(named_msg
        .unwrap()
        .contains("Matched by name (\"metformin 500 mg tablets\")"));
    // Folic acid matched by name keeps the folic-acid caution.
    let m = cobalt_fhir::to_case(
        &bundle(json!({ "text": "Folic acid 400 microgram tablets" })),
        AS_OF,
        kb(),
    )
    .unwrap();
    let a = cobalt_core::evaluate(kb(), profile, &m.parsed, AS_OF);
    assert!(a.fired("TX-012"), "folic-acid caution");
}

#[test]
fn every_rxnorm_code_maps_to_exactly_one_concept() {
    let table = include_str!("../../../knowledge/codes/rxnorm.tsv");
    let mut rows = 0;
    let mut seen = std::collections::BTreeMap::new();
    for line in table.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (code, concept) = (cols[0], cols[3]);
        let c = kb().vocab.lookup(CodeSystem::Rxnorm, code).expect(code);
        assert_eq!(c.id, concept, "{code}");
        assert!(
            seen.insert(code, concept)
                .is_none_or(|prev| prev == concept),
            "{code} twice"
        );
        rows += 1;
    }
    assert!(rows > 250, "{rows} rows");
    // The linter refuses a code given to a second concept.
    let mut files = cobalt_kb::FILES.to_vec();
    let bad = format!("{table}6809\tIN\tMetformin\tcolchicine\tus-core-311-allergy-substance\t\n");
    let i = files
        .iter()
        .position(|f| f.path == "codes/rxnorm.tsv")
        .unwrap();
    files[i] = cobalt_core::SourceFile {
        path: "codes/rxnorm.tsv",
        text: &bad,
    };
    let problems = cobalt_kb::load_from(&files).expect_err("a code with two concepts is refused");
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("already maps to `metformin`")),
        "{problems:?}"
    );
}
