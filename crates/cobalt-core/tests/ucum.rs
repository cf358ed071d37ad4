//! Units UCUM defines as equal to cobalt's are accepted as those units, and no others: the table
//! `tests/data/ucum-equivalence.tsv` is checked against an independent UCUM implementation by
//! `scripts/ucum-check.mjs` (run by `.ci/run`).

use cobalt_core::units::Unit;

#[test]
fn units_equal_by_ucum_definition_parse_as_cobalts_unit() {
    let table = include_str!("../../../tests/data/ucum-equivalence.tsv");
    let mut rows = 0;
    for line in table.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let (spelling, want) = line.split_once('\t').unwrap();
        let got = Unit::parse(spelling).map(|u| u.ucum());
        let want = (want != "-").then_some(want);
        assert_eq!(got, want, "{spelling}");
        rows += 1;
    }
    assert!(rows >= 20);
}
