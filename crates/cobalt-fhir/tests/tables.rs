//! `knowledge/fhir.toml`: every code names a known code system, every source resolves (to
//! `knowledge/references.toml` or to a reference of the file itself), every reference of the
//! file is cited, and the file defines every code set the mapper reads.

mod common;

use cobalt_fhir::tables;

#[test]
fn fhir_toml_is_valid_against_the_knowledge_base() {
    let t = tables::parse(tables::TEXT).unwrap_or_else(|p| panic!("{}", p.join("\n")));
    let problems = tables::check(&t, common::kb());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for id in tables::REQUIRED_SETS {
        assert!(t.sets.contains_key(*id), "{id}");
    }
}

#[test]
fn the_check_catches_unknown_systems_sources_and_uncited_references() {
    let broken = format!(
        "{}\n[[reference]]\nkey = \"never-cited\"\ntitle = \"x\"\nissuer = \"x\"\nkind = \"terminology\"\nchecked = \"maybe\"\n\n[code_set.extra]\napplies_to = \"x\"\ndescription = \"x\"\ncodes = [\"http://example.org/cs|x\"]\nsources = [{{ ref = \"no-such-source\" }}]\n",
        tables::TEXT
    );
    let t = tables::parse(&broken).unwrap();
    let all = tables::check(&t, common::kb()).join("\n");
    for needle in [
        "code_set.extra: unknown code system",
        "code_set.extra: unresolved source `no-such-source`",
        "reference `never-cited`: cited by nothing",
        "reference `never-cited`: `checked` must be primary or secondary",
        "reference `never-cited`: has neither url nor doi",
    ] {
        assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
    }
    let missing = tables::TEXT.replace("[code_set.route_oral]", "[code_set.route_oral_x]");
    let problems = tables::parse(&missing).unwrap_err();
    assert!(
        problems.iter().any(|p| p == "code_set.route_oral: missing"),
        "{problems:?}"
    );
}
