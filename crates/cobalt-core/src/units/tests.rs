//! Unit tests of units: parsing, the rule for concentrations, conversion and display.

use super::*;

const B12: f64 = 1355.37;

#[test]
fn b12_mass_to_molar_matches_contract_factor() {
    // 1 pmol/L = 1.3554 pg/mL (contract); 180 ng/L = 132.8 pmol/L (ucum-lhc oracle).
    let pmol = convert(180.0, Unit::NgPerL, Unit::PmolPerL, Some(B12)).unwrap();
    assert!((pmol - 132.80).abs() < 0.01, "{pmol}");
    let pg = convert(1.0, Unit::PmolPerL, Unit::PgPerMl, Some(B12)).unwrap();
    assert!((pg - 1.3554).abs() < 0.0001, "{pg}");
}

#[test]
fn same_dimension_needs_no_molar_mass() {
    assert_eq!(
        convert(3.3, Unit::UmolPerL, Unit::NmolPerL, None).unwrap(),
        3300.0
    );
    assert_eq!(
        convert(10.3, Unit::GPerDl, Unit::GPerL, None).unwrap(),
        103.0
    );
    assert_eq!(
        convert(180.0, Unit::PgPerMl, Unit::NgPerL, None).unwrap(),
        180.0
    );
}

#[test]
fn refuses_incompatible_and_missing_molar_mass() {
    assert!(matches!(
        convert(1.0, Unit::Fl, Unit::GPerL, None),
        Err(ConversionError::Incompatible { .. })
    ));
    assert!(matches!(
        convert(1.0, Unit::PgPerMl, Unit::PmolPerL, None),
        Err(ConversionError::NoMolarMass { .. })
    ));
}

#[test]
fn display_number_rounds_and_trims() {
    assert_eq!(display_number(180.0, 2), "180");
    assert_eq!(display_number(132.8, 2), "132.8");
    assert_eq!(display_number(0.05, 2), "0.05");
    assert_eq!(display_number(0.005, 2), "0.01");
    assert_eq!(display_number(-1.23456, 3), "-1.235");
    assert_eq!(display_number(2.4, 1), "2.4");
    assert_eq!(display_number(99.999, 1), "100");
    assert_eq!(display_number(1e20, 2), "100000000000000000000");
}

#[test]
fn parses_ucum_and_common_spellings() {
    assert_eq!(Unit::parse("pg/mL"), Some(Unit::PgPerMl));
    assert_eq!(Unit::parse("µmol/L"), Some(Unit::UmolPerL));
    assert_eq!(Unit::parse("umol/l"), Some(Unit::UmolPerL));
    assert_eq!(
        Unit::parse("mL/min/{1.73_m2}"),
        Some(Unit::MlPerMinPer173M2)
    );
    assert_eq!(Unit::parse("mL/min/1.73m2"), Some(Unit::MlPerMinPer173M2));
    assert_eq!(Unit::parse("mg"), None);
    assert_eq!(Unit::parse(" UMOL / L "), Some(Unit::UmolPerL));
}

/// The units the code names, with their UCUM codes: these print in reports and snapshots.
const NAMED: [(Unit, &str); 15] = [
    (Unit::PgPerMl, "pg/mL"),
    (Unit::NgPerL, "ng/L"),
    (Unit::NgPerMl, "ng/mL"),
    (Unit::UgPerL, "ug/L"),
    (Unit::MgPerL, "mg/L"),
    (Unit::MgPerDl, "mg/dL"),
    (Unit::GPerL, "g/L"),
    (Unit::GPerDl, "g/dL"),
    (Unit::PmolPerL, "pmol/L"),
    (Unit::NmolPerL, "nmol/L"),
    (Unit::UmolPerL, "umol/L"),
    (Unit::MmolPerL, "mmol/L"),
    (Unit::MolPerL, "mol/L"),
    (Unit::Fl, "fL"),
    (Unit::MlPerMinPer173M2, "mL/min/{1.73_m2}"),
];

#[test]
fn named_units_print_as_before_and_parse_back() {
    for (u, code) in NAMED {
        assert_eq!(u.ucum(), code);
        assert_eq!(u.to_string(), code);
        assert_eq!(Unit::parse(code), Some(u), "{code}");
    }
}

#[test]
fn any_prefixed_gram_or_mole_per_prefixed_litre_is_a_concentration() {
    let b12 = |s: &str| Unit::parse(s).map(|u| (u.ucum(), u.dimension(), u.power_of_ten()));
    let mass = Dimension::MassConcentration;
    let molar = Dimension::MolarConcentration;
    assert_eq!(b12("µg/L"), Some(("ug/L", mass, -6)));
    assert_eq!(b12("μg/L"), Some(("ug/L", mass, -6)));
    assert_eq!(b12("ng/mL"), Some(("ng/mL", mass, -6)));
    assert_eq!(b12("ng/dL"), Some(("ng/dL", mass, -8)));
    assert_eq!(b12("ug/dL"), Some(("ug/dL", mass, -5)));
    assert_eq!(b12("pg/dL"), Some(("pg/dL", mass, -11)));
    assert_eq!(b12("ng.mL-1"), Some(("ng/mL", mass, -6)));
    assert_eq!(b12("kg/L"), Some(("kg/L", mass, 3)));
    assert_eq!(b12("dag/hL"), Some(("dag/hL", mass, -1)));
    assert_eq!(b12("pmol/mL"), Some(("pmol/mL", molar, -9)));
    assert_eq!(b12("mmol/m3"), Some(("mmol/m3", molar, -6)));
    assert_eq!(b12("ng/cm3"), Some(("ng/cm3", mass, -6)));
    assert_eq!(b12("amol/uL"), Some(("amol/uL", molar, -12)));
    assert_eq!(b12("fL"), Some(("fL", Dimension::CellVolume, 0)));
    assert_eq!(b12("um3"), Some(("fL", Dimension::CellVolume, 0)));
}

#[test]
fn refuses_what_has_no_exact_conversion_into_a_dimension_of_cobalts() {
    for s in [
        "",
        "mg",
        "ug",
        "mol",
        "L",
        "/L",
        "g/",
        "%",
        "10*3/uL",
        "10*9/L",
        "[iU]/L",
        "U/L",
        "mEq/L",
        "g/100mL",
        "g/(100.mL)",
        "10.ug/L",
        "mcg/L",
        "Mg/L/h",
        "mg/dL/min",
        "g/g",
        "mg/kg",
        "g/Ki L",
        "nm3",
        "pL",
        "mL",
        "mL/min",
        "parsecs",
        "ng/mL2",
    ] {
        // `Mg/L/h` is refused for its second `/`, not for the prefix.
        assert_eq!(Unit::parse(s), None, "{s}");
    }
}

#[test]
fn pg_per_ml_and_ng_per_l_are_distinct_units_of_one_size() {
    assert_ne!(Unit::PgPerMl, Unit::NgPerL);
    assert!(Unit::PgPerMl.same_size(Unit::NgPerL));
    assert!(Unit::parse("pmol/mL").unwrap().same_size(Unit::NmolPerL));
    assert!(!Unit::NgPerMl.same_size(Unit::NgPerL));
    assert!(!Unit::Fl.same_size(Unit::MlPerMinPer173M2));
    assert!(!Unit::GPerL.same_size(Unit::MolPerL));
}

#[test]
fn converts_by_powers_of_ten_within_a_dimension() {
    let u = |s: &str| Unit::parse(s).unwrap();
    // 11.63 ug/L of total B12 is 11 630 ng/L, 8580.7 pmol/L.
    assert_eq!(convert(11.63, u("ug/L"), Unit::NgPerL, None), Ok(11630.0));
    assert_eq!(convert(0.15, u("ug/L"), Unit::PgPerMl, None), Ok(150.0));
    let pmol = convert(0.15, u("µg/L"), Unit::PmolPerL, Some(B12)).unwrap();
    assert!((pmol - 110.67).abs() < 0.01, "{pmol}");
    assert_eq!(convert(15.0, u("ng/dL"), Unit::NgPerL, None), Ok(150.0));
    assert_eq!(convert(2.0, u("pmol/mL"), Unit::NmolPerL, None), Ok(2.0));
    assert_eq!(convert(3.0, u("mmol/m3"), Unit::UmolPerL, None), Ok(3.0));
    assert_eq!(convert(1.0, u("kg/L"), u("yg/L"), None), Ok(1e27));
    assert_eq!(convert(1e27, u("yg/L"), u("kg/L"), None), Ok(1.0));
    assert_eq!(
        convert(0.1, Unit::GPerDl, Unit::GPerL, None),
        Ok(1.0),
        "0.1 x 10 is 1 exactly, not 1.0000000000000002"
    );
}
