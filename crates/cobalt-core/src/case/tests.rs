//! The case parser on documents whose problem is in the JSON text itself.

use super::parse_case;
use crate::kb::Analytes;
use crate::vocab::Vocabulary;

fn parse(json: &str) -> Result<super::Case, crate::InputError> {
    parse_case(json, &Vocabulary::default(), &Analytes::default())
}

/// A key given twice in one object is refused with the path of the repeat, as FHIR input is:
/// neither value is silently chosen, even when another problem comes first.
#[test]
fn a_key_given_twice_is_refused_with_its_path() {
    for (json, path) in [
        (
            r#"{"format": "cobalt.case/1", "patient": {"age_years": 40, "age_years": 9}}"#,
            "patient.age_years",
        ),
        (
            r#"{"format": "cobalt.case/1", "patient": {"age_years": "forty", "age_years": 40}}"#,
            "patient.age_years",
        ),
        (
            r#"{"format": "cobalt.case/1", "patient": {"sex": "female"}, "patient": {"age_years": 9}}"#,
            "patient",
        ),
        (
            r#"{"format": "cobalt.case/1", "labs": [{"value": 1}, {"unit": "ng/L", "unit": "pmol/L"}]}"#,
            "labs[1].unit",
        ),
        (
            r#"{"format": "cobalt.case/1", "format": "cobalt.case/1"}"#,
            "format",
        ),
    ] {
        let e = parse(json).expect_err(json);
        assert_eq!(e.path, path, "{json}: {e}");
        assert!(e.message.contains("duplicate"), "{json}: {e}");
    }
    // The same keys in different objects are no repeat.
    let c = parse(
        r#"{"format": "cobalt.case/1", "patient": {"age_years": 40}, "ms": {"status": "none"}}"#,
    )
    .unwrap();
    assert_eq!(c.patient.age_years, Some(40.0));
    // Malformed JSON is still said to be so.
    let e = parse(r#"{"format": "cobalt.case/1", "patient": {"age_years": 40,}}"#).unwrap_err();
    assert_eq!(e.path, "$");
    assert!(e.message.starts_with("malformed JSON"), "{e}");
}
