//! Property tests: unit conversion round-trips and preserves order; B12 classification is
//! monotonic and agrees across units; the case parser never panics and names a path on error.

use cobalt_core::case::Comparator;
use cobalt_core::kb::Cutoffs;
use cobalt_core::thresholds::{classify_b12, Class};
use cobalt_core::units::{convert, Dimension, Prefix, Unit};
use proptest::prelude::*;

const B12: f64 = 1355.37;

fn mass_units() -> impl Strategy<Value = Unit> {
    prop_oneof![
        Just(Unit::PgPerMl),
        Just(Unit::NgPerL),
        Just(Unit::NgPerMl),
        Just(Unit::UgPerL),
        Just(Unit::MgPerL)
    ]
}
fn molar_units() -> impl Strategy<Value = Unit> {
    prop_oneof![
        Just(Unit::PmolPerL),
        Just(Unit::NmolPerL),
        Just(Unit::UmolPerL),
        Just(Unit::MmolPerL)
    ]
}
fn conc_units() -> impl Strategy<Value = Unit> {
    prop_oneof![mass_units(), molar_units()]
}

fn prefix() -> impl Strategy<Value = Prefix> {
    prop::sample::select(Prefix::all().collect::<Vec<_>>())
}

/// Any concentration of the rule: a prefixed gram or mole over a prefixed litre or metre cubed.
fn any_concentration() -> impl Strategy<Value = Unit> {
    let dimension = prop_oneof![
        Just(Dimension::MassConcentration),
        Just(Dimension::MolarConcentration)
    ];
    (dimension, prefix(), prefix(), any::<bool>()).prop_map(|(d, amount, volume, litre)| {
        let unit = if litre {
            Unit::per_litre(d, amount, volume)
        } else {
            Unit::per_cubic_metre(d, amount, volume)
        };
        unit.expect("a concentration")
    })
}

fn nice() -> Cutoffs {
    Cutoffs {
        unit: "ng/L".into(),
        deficient_below: Some(180.0),
        indeterminate_up_to: Some(350.0),
        parsed_unit: Some(Unit::NgPerL),
        ..Cutoffs::default()
    }
}

fn classify(v: f64, unit: Unit, cmp: Option<Comparator>) -> Class {
    let ng = convert(v, unit, Unit::NgPerL, Some(B12)).unwrap();
    classify_b12(ng, cmp, &nice()).unwrap()
}

proptest! {
    #[test]
    fn conversion_round_trips(v in 0.0f64..1e6, from in conc_units(), to in conc_units()) {
        let there = convert(v, from, to, Some(B12)).unwrap();
        let back = convert(there, to, from, Some(B12)).unwrap();
        prop_assert!((back - v).abs() <= 1e-6 * v.max(1.0), "{v} {from} -> {there} {to} -> {back}");
    }

    #[test]
    fn conversion_preserves_order(a in 0.0f64..1e5, b in 0.0f64..1e5, from in conc_units(), to in conc_units()) {
        let (ca, cb) = (convert(a, from, to, Some(B12)).unwrap(), convert(b, from, to, Some(B12)).unwrap());
        if a < b { prop_assert!(ca <= cb); }
    }

    #[test]
    fn conversion_is_linear(v in 0.0f64..1e5, k in 0.0f64..100.0, from in conc_units(), to in conc_units()) {
        let one = convert(v, from, to, Some(B12)).unwrap();
        let scaled = convert(v * k, from, to, Some(B12)).unwrap();
        prop_assert!((scaled - one * k).abs() <= 1e-6 * scaled.abs().max(1e-9));
    }

    #[test]
    fn b12_classification_is_monotonic(a in 0.0f64..2000.0, b in 0.0f64..2000.0) {
        if a <= b {
            prop_assert!(classify(a, Unit::NgPerL, None) <= classify(b, Unit::NgPerL, None));
        }
    }

    #[test]
    fn b12_classification_agrees_across_units(v in 0.0f64..2000.0) {
        // The same concentration in pg/mL, ng/L and pmol/L falls in the same class.
        let pmol = convert(v, Unit::NgPerL, Unit::PmolPerL, Some(B12)).unwrap();
        let c = classify(v, Unit::NgPerL, None);
        prop_assert_eq!(classify(v, Unit::PgPerMl, None), c);
        prop_assert_eq!(classify(pmol, Unit::PmolPerL, None), c);
    }

    #[test]
    fn b12_classes_follow_the_nice_bounds(v in 0.0f64..2000.0) {
        let want = if v < 180.0 { Class::Deficient } else if v <= 350.0 { Class::Indeterminate } else { Class::NotDeficient };
        prop_assert_eq!(classify(v, Unit::NgPerL, None), want);
    }

    #[test]
    fn a_censored_value_is_classed_only_when_every_possible_value_agrees(v in 0.0f64..2000.0) {
        let lt = classify(v, Unit::NgPerL, Some(Comparator::Lt));
        // "<v": the true value is in [0, v). Deficient only if all of it is below 180.
        prop_assert_eq!(lt == Class::Deficient, v <= 180.0);
        prop_assert!(lt != Class::NotDeficient);
        let gt = classify(v, Unit::NgPerL, Some(Comparator::Gt));
        prop_assert_eq!(gt == Class::NotDeficient, v >= 350.0);
        prop_assert!(gt != Class::Deficient);
    }

    #[test]
    fn unit_parse_accepts_case_variants(u in conc_units()) {
        prop_assert_eq!(Unit::parse(&u.ucum().to_ascii_uppercase()), Some(u));
        prop_assert_eq!(Unit::parse(&format!("  {}  ", u.ucum())), Some(u));
    }

    #[test]
    fn any_concentration_parses_back_from_its_code(u in any_concentration()) {
        prop_assert_eq!(Unit::parse(u.ucum()), Some(u));
        prop_assert_eq!(Unit::parse(&u.ucum().to_ascii_uppercase()), Some(u));
        prop_assert_eq!(Unit::parse(&u.ucum().replace('u', "µ")), Some(u));
    }

    #[test]
    fn any_concentration_converts_by_its_power_of_ten_and_back(
        v in 1e-3f64..1e6,
        from in any_concentration(),
        to in any_concentration(),
    ) {
        let there = convert(v, from, to, Some(B12)).unwrap();
        let back = convert(there, to, from, Some(B12)).unwrap();
        // Each conversion rounds to 9 significant digits: at most half a unit of the ninth each way.
        prop_assert!((back - v).abs() <= 1.1e-8 * v, "{v} {from} -> {there} {to} -> {back}");
        if from.dimension() == to.dimension() {
            let k = from.power_of_ten() - to.power_of_ten();
            let want = v * 10f64.powi(k);
            prop_assert!((there - want).abs() <= 5.1e-9 * want, "{v} {from} = {there} {to}, not {want}");
        }
    }

    #[test]
    fn unit_parse_never_panics(s in ".{0,40}") {
        let _ = Unit::parse(&s);
    }
}
