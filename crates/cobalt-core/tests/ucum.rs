//! Units are read by a rule, checked against tables that `scripts/ucum-check.mjs` (run by
//! `.ci/run`) checks against an independent UCUM implementation: `tests/data/ucum-prefixes.tsv`
//! (the prefixes cobalt reads and their powers of ten) and `tests/data/ucum-equivalence.tsv`
//! (spellings, the unit cobalt reads each as, and its power of ten; or why it is refused).

use cobalt_core::units::{convert, Prefix, Unit};

fn rows(table: &str) -> impl Iterator<Item = Vec<&str>> {
    table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|l| l.split('\t').collect())
}

#[test]
fn cobalts_prefixes_are_the_tables() {
    let table: Vec<(String, i32)> = rows(include_str!("../../../tests/data/ucum-prefixes.tsv"))
        .map(|r| (r[0].to_string(), r[1].parse().unwrap()))
        .collect();
    let cobalt: Vec<(String, i32)> = Prefix::all()
        .map(|p| (p.symbol().to_string(), p.exponent()))
        .collect();
    assert_eq!(cobalt, table);
}

#[test]
fn spellings_parse_as_the_table_says() {
    let mut accepted = 0;
    let mut refused = 0;
    for row in rows(include_str!("../../../tests/data/ucum-equivalence.tsv")) {
        let [spelling, unit, base, power] = row[..] else {
            panic!("four columns: {row:?}");
        };
        let got = Unit::parse(spelling);
        if unit == "-" {
            assert!(
                matches!(base, "invalid" | "dimension" | "factor"),
                "{row:?}"
            );
            assert_eq!(got, None, "{spelling} is refused");
            refused += 1;
            continue;
        }
        let got = got.unwrap_or_else(|| panic!("{spelling} is accepted"));
        assert_eq!(got.ucum(), unit, "{spelling}");
        let power: i32 = power.parse().unwrap();
        assert_eq!(got.power_of_ten(), power, "{spelling}");
        let base = Unit::parse(base).unwrap();
        assert_eq!(got.dimension(), base.dimension(), "{spelling}");
        // The conversion factor is the table's power of ten (to the last bit or so: the result
        // is rounded to 9 significant digits in binary floating point).
        let factor = convert(1.0, got, base, None).unwrap();
        let want = 10f64.powi(power);
        assert!(
            (factor - want).abs() <= 1e-15 * want,
            "{spelling}: {factor}"
        );
        accepted += 1;
    }
    assert!(
        accepted >= 40 && refused >= 15,
        "{accepted} accepted, {refused} refused"
    );
}
