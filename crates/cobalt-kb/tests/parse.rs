//! Bad input: every rejection the contract names gives an error that names the JSON path and
//! what was expected. Missing data is never an error.

use cobalt_core::parse_case;
use cobalt_core::units::{Prefix, Unit};

fn parse(json: &str) -> Result<cobalt_core::Case, cobalt_core::InputError> {
    let (kb, _) = cobalt_kb::load_with_problems();
    parse_case(json, &kb.vocab, &kb.analytes)
}

#[track_caller]
fn rejects(json: &str, path: &str, needle: &str) {
    match parse(json) {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => {
            assert_eq!(e.path, path, "wrong path for {json}: {e}");
            assert!(
                e.message.contains(needle),
                "message `{}` lacks `{needle}`",
                e.message
            );
        }
    }
}

const F: &str = r#""format":"cobalt.case/1""#;

#[test]
fn malformed_json() {
    rejects("{", "$", "malformed JSON");
    rejects("[1,2]", "format", "missing");
}

#[test]
fn an_empty_key_still_has_a_path() {
    // Found by the fuzzer: serde reports an empty path for an empty key.
    rejects(&format!("{{{F},\"\":1}}"), "$[\"\"]", "unknown field");
}

#[test]
fn format_missing_or_unknown() {
    rejects("{}", "format", "missing");
    rejects(r#"{"format":"cobalt.case/2"}"#, "format", "unknown format");
    rejects(r#"{"format":7}"#, "format", "unknown format");
}

#[test]
fn unknown_fields_are_errors_at_every_level() {
    rejects(
        &format!("{{{F},\"pateint\":{{}}}}"),
        "pateint",
        "unknown field `pateint`",
    );
    rejects(
        &format!("{{{F},\"patient\":{{\"age\":3}}}}"),
        "patient.age",
        "unknown field `age`",
    );
    rejects(&format!("{{{F},\"labs\":[{{\"test\":\"total_b12\",\"value\":1,\"unit\":\"pg/mL\",\"units\":1}}]}}"), "labs[0].units", "unknown field `units`");
    rejects(
        &format!("{{{F},\"mri\":{{\"lesions\":[{{\"site\":\"spinal_cord\",\"size\":1}}]}}}}"),
        "mri.lesions[0].size",
        "unknown field `size`",
    );
}

#[test]
fn unknown_concepts_and_wrong_kinds() {
    rejects(
        &format!("{{{F},\"medications\":[{{\"concept\":\"aspirin\"}}]}}"),
        "medications[0].concept",
        "unknown concept `aspirin`",
    );
    rejects(
        &format!("{{{F},\"medications\":[{{\"concept\":\"coeliac_disease\"}}]}}"),
        "medications[0].concept",
        "expected kind medication",
    );
    rejects(
        &format!("{{{F},\"findings\":[{{\"concept\":\"tingles\"}}]}}"),
        "findings[0].concept",
        "unknown concept",
    );
    rejects(
        &format!("{{{F},\"labs\":[{{\"test\":\"metformin\",\"result\":\"positive\"}}]}}"),
        "labs[0].test",
        "expected kind lab",
    );
    rejects(
        &format!("{{{F},\"diet\":\"carnivore\"}}"),
        "diet",
        "unknown variant `carnivore`",
    );
    rejects(
        &format!("{{{F},\"findings\":[{{\"concept\":\"numbness\",\"regions\":[\"elbows\"]}}]}}"),
        "findings[0].regions[0]",
        "unknown variant `elbows`",
    );
}

#[test]
fn wrong_types() {
    rejects(
        &format!("{{{F},\"patient\":{{\"age_years\":\"forty\"}}}}"),
        "patient.age_years",
        "expected a number",
    );
    rejects(
        &format!("{{{F},\"patient\":{{\"pregnant\":\"yes\"}}}}"),
        "patient.pregnant",
        "expected true or false",
    );
    rejects(&format!("{{{F},\"labs\":{{}}}}"), "labs", "expected a list");
    rejects(
        &format!("{{{F},\"ms\":{{\"attacks\":1.5}}}}"),
        "ms.attacks",
        "expected a whole number of 0 or more",
    );
}

#[test]
fn impossible_values() {
    rejects(
        &format!("{{{F},\"patient\":{{\"age_years\":131}}}}"),
        "patient.age_years",
        "from 0 to 130",
    );
    rejects(
        &format!("{{{F},\"patient\":{{\"age_years\":-1}}}}"),
        "patient.age_years",
        "from 0 to 130",
    );
    rejects(
        &format!("{{{F},\"labs\":[{{\"test\":\"total_b12\",\"value\":-5,\"unit\":\"pg/mL\"}}]}}"),
        "labs[0].value",
        ">= 0",
    );
    rejects(
        &format!("{{{F},\"medications\":[{{\"concept\":\"metformin\",\"months\":-2}}]}}"),
        "medications[0].months",
        ">= 0",
    );
    rejects(&format!("{{{F},\"mri\":{{\"lesions\":[{{\"site\":\"periventricular\",\"count\":1,\"enhancing\":3}}]}}}}"), "mri.lesions[0].enhancing", "at most");
    rejects(
        &format!("{{{F},\"patient\":{{\"sex\":\"male\",\"pregnant\":true}}}}"),
        "patient.pregnant",
        "male",
    );
    rejects(&format!("{{{F},\"labs\":[{{\"test\":\"total_b12\",\"value\":200,\"unit\":\"pg/mL\",\"reference_low\":900,\"reference_high\":200}}]}}"), "labs[0].reference_low", "above reference_high");
}

#[test]
fn units_a_test_cannot_have() {
    rejects(
        &format!("{{{F},\"labs\":[{{\"test\":\"total_b12\",\"value\":200,\"unit\":\"fL\"}}]}}"),
        "labs[0].unit",
        "`total_b12` is a mass or molar concentration (for example pg/mL, ng/L, pmol/L, ug/L); `fL` is a cell volume",
    );
    rejects(
        &format!("{{{F},\"labs\":[{{\"test\":\"total_b12\",\"value\":0.2,\"unit\":\"mg\"}}]}}"),
        "labs[0].unit",
        "`total_b12` is a mass or molar concentration (for example pg/mL, ng/L, pmol/L, ug/L); `mg` is not one",
    );
    rejects(
        &format!("{{{F},\"labs\":[{{\"test\":\"active_b12\",\"value\":20,\"unit\":\"pg/mL\"}}]}}"),
        "labs[0].unit",
        "`active_b12` is a molar concentration (for example pmol/L); `pg/mL` is a mass concentration, and cobalt knows no molar mass of `active_b12` to convert it",
    );
    rejects(
        &format!("{{{F},\"labs\":[{{\"test\":\"mcv\",\"value\":90,\"unit\":\"parsecs\"}}]}}"),
        "labs[0].unit",
        "`mcv` is a cell volume (for example fL); `parsecs` is not one",
    );
    for unit in ["%", "10*9/L", "g/100mL", "ug", "U/L"] {
        rejects(
            &format!(
                "{{{F},\"labs\":[{{\"test\":\"total_b12\",\"value\":1,\"unit\":\"{unit}\"}}]}}"
            ),
            "labs[0].unit",
            &format!("`{unit}` is not one"),
        );
    }
    rejects(
        &format!("{{{F},\"labs\":[{{\"test\":\"total_b12\",\"value\":200}}]}}"),
        "labs[0].unit",
        "missing",
    );
    rejects(&format!("{{{F},\"labs\":[{{\"test\":\"intrinsic_factor_antibody\",\"value\":1.0,\"unit\":\"pg/mL\"}}]}}"), "labs[0].value", "reported as `result`");
    rejects(
        &format!("{{{F},\"labs\":[{{\"test\":\"total_b12\",\"result\":\"positive\"}}]}}"),
        "labs[0].result",
        "number with a unit",
    );
}

#[test]
fn bad_dates() {
    rejects(
        &format!("{{{F},\"as_of\":\"2026-13-01\"}}"),
        "as_of",
        "YYYY-MM-DD",
    );
    rejects(&format!("{{{F},\"labs\":[{{\"test\":\"mcv\",\"value\":90,\"unit\":\"fL\",\"date\":\"yesterday\"}}]}}"), "labs[0].date", "not a date");
}

#[test]
fn missing_data_is_not_an_error() {
    let c = parse(&format!("{{{F}}}")).expect("a case with only its format is valid");
    assert!(c.labs.is_empty() && c.patient.age_years.is_none());
}

#[test]
fn unknown_codes_are_kept_not_refused() {
    let c = parse(&format!(
        "{{{F},\"conditions\":[{{\"code\":{{\"system\":\"icd10\",\"code\":\"K50.9\"}}}},{{\"code\":{{\"system\":\"icd10\",\"code\":\"J45\"}}}}],\"labs\":[{{\"code\":{{\"system\":\"http://loinc.org\",\"code\":\"2132-9\"}},\"value\":150,\"unit\":\"pg/mL\"}}]}}"
    ))
    .expect("valid");
    assert_eq!(c.conditions.len(), 1);
    assert_eq!(c.conditions[0].concept, "crohns_disease");
    assert_eq!(c.unrecognised.len(), 1);
    assert_eq!(c.unrecognised[0].code, "J45");
    assert_eq!(c.unrecognised[0].path, "conditions[1].code");
    assert_eq!(c.labs[0].test, "total_b12");
}

#[test]
fn units_are_normalised_on_the_way_in() {
    // French laboratories report total B12 in µg/L: it converts exactly (issue 24).
    let c = parse(&format!(
        "{{{F},\"labs\":[{{\"test\":\"total_b12\",\"value\":0.18,\"unit\":\"µg/L\"}}]}}"
    ))
    .unwrap();
    let cobalt_core::case::LabValue::Numeric(q) = c.labs[0].value else {
        panic!("a number: {:?}", c.labs[0].value)
    };
    assert_eq!(q.unit.ucum(), "ug/L");
    assert_eq!(q.to(Unit::NgPerL, None), Ok(180.0));
    let c = parse(&format!(
        "{{{F},\"labs\":[{{\"test\":\"mma\",\"value\":0.3,\"unit\":\"µmol/L\"}}]}}"
    ))
    .unwrap();
    assert_eq!(c.labs[0].test, "mma");
}

#[test]
fn values_above_an_analytes_impossible_bound_are_refused() {
    let (kb, _) = cobalt_kb::load_with_problems();
    let mut checked = 0;
    for a in kb.analytes.iter().filter(|a| !a.qualitative) {
        let bound = a
            .impossible_above
            .expect("every numeric analyte has a bound");
        // The usual units, and the rule's others that a laboratory could use: gram, mole or any
        // prefix down to femto, over L, dL and mL.
        let mut units = a.examples.clone();
        for d in a.dimensions().into_iter().filter(|d| d.is_concentration()) {
            for amount in Prefix::all().filter(|p| (-15..=0).contains(&p.exponent())) {
                for litre in [Prefix::NONE, Prefix::DECI, Prefix::MILLI] {
                    units.extend(Unit::per_litre(d, amount, litre));
                }
            }
        }
        for unit in units {
            assert!(a.accepts(unit), "{} {unit}", a.test);
            let at = a.impossible_above_in(unit).expect("the bound converts");
            // One knowledge base for the hundreds of cases (`parse` loads one each time).
            let parse = |v: f64| {
                let json = format!(
                    "{{{F},\"labs\":[{{\"test\":\"{}\",\"value\":{v},\"unit\":\"{}\"}}]}}",
                    a.test,
                    unit.ucum()
                );
                parse_case(&json, &kb.vocab, &kb.analytes)
            };
            assert!(
                parse(at).is_ok(),
                "{} at its bound {at} {unit} (canonical {bound}) refused",
                a.test
            );
            let e = parse(at * 1.001).expect_err("above the bound");
            assert_eq!(e.path, "labs[0].value");
            assert!(e.message.contains("is impossible"), "{}", e.message);
            checked += 1;
        }
    }
    assert!(checked >= 300, "only {checked} analyte units checked");
    // The probe that found the gap: 1e12 pg/mL was "not deficient".
    rejects(
        &format!("{{{F},\"labs\":[{{\"test\":\"total_b12\",\"value\":1e12,\"unit\":\"pg/mL\"}}]}}"),
        "labs[0].value",
        "is impossible for `total_b12`",
    );
}

#[test]
fn bad_mcdonald_2024_fields_are_refused_with_their_path() {
    rejects(
        &format!("{{{F},\"csf\":{{\"kappa_flc_index\":-1}}}}"),
        "csf.kappa_flc_index",
        ">= 0",
    );
    rejects(
        &format!("{{{F},\"mri\":{{\"central_vein_sign\":{{\"lesions_assessed\":4,\"lesions_positive\":5}}}}}}"),
        "mri.central_vein_sign.lesions_positive",
        "at most `lesions_assessed`",
    );
    rejects(
        &format!("{{{F},\"mri\":{{\"central_vein_sign\":{{\"lesions_assessed\":-4,\"lesions_positive\":0}}}}}}"),
        "mri.central_vein_sign.lesions_assessed",
        "a whole number of 0 or more",
    );
    rejects(
        &format!("{{{F},\"mri\":{{\"central_vein_sign\":{{\"lesions_assessed\":4}}}}}}"),
        "mri.central_vein_sign",
        "lesions_positive",
    );
    rejects(
        &format!("{{{F},\"mri\":{{\"paramagnetic_rim_lesions\":-1}}}}"),
        "mri.paramagnetic_rim_lesions",
        "a whole number of 0 or more",
    );
    rejects(
        &format!("{{{F},\"optic_nerve\":{{\"oct_prnfl_intereye_difference_um\":-2}}}}"),
        "optic_nerve.oct_prnfl_intereye_difference_um",
        ">= 0",
    );
    rejects(
        &format!("{{{F},\"optic_nerve\":{{\"oct_gcipl_intereye_difference_um\":-0.5}}}}"),
        "optic_nerve.oct_gcipl_intereye_difference_um",
        ">= 0",
    );
    rejects(
        &format!("{{{F},\"optic_nerve\":{{\"vep_delayed\":\"yes\"}}}}"),
        "optic_nerve.vep_delayed",
        "expected true or false",
    );
    rejects(
        &format!("{{{F},\"optic_nerve\":{{\"vep\":true}}}}"),
        "optic_nerve.vep",
        "unknown field",
    );
    rejects(
        &format!("{{{F},\"ms\":{{\"status\":\"radiologically_isolated\"}}}}"),
        "ms.status",
        "radiologically_isolated_syndrome",
    );
    assert!(parse(&format!(
        "{{{F},\"ms\":{{\"status\":\"radiologically_isolated_syndrome\"}},\"csf\":{{\"kappa_flc_index\":0}},\"optic_nerve\":{{\"vep_delayed\":false}},\"mri\":{{\"paramagnetic_rim_lesions\":0,\"central_vein_sign\":{{\"lesions_assessed\":0,\"lesions_positive\":0}}}}}}"
    ))
    .is_ok());
}
