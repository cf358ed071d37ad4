//! Which FHIR servers missing prefetch may be fetched from: a configured base and what lies
//! under it, never a URL that normalises to another path (dot segments, encoded dots, a query
//! or a fragment).

use cobalt_server::Config;

#[test]
fn a_base_that_could_name_another_path_is_never_trusted() {
    let mut c = Config::new("127.0.0.1:0".parse().unwrap());
    c.fhir_servers = vec!["https://ehr.example.org/fhir".into()];
    assert!(c.trusts_fhir_server("https://ehr.example.org/fhir"));
    assert!(c.trusts_fhir_server("https://ehr.example.org/fhir/"));
    assert!(c.trusts_fhir_server("https://ehr.example.org/fhir/r4"));
    for bad in [
        "https://ehr.example.org/fhir/../admin",
        "https://ehr.example.org/fhir/%2e%2e/admin",
        "https://ehr.example.org/fhir/%2E%2E/admin",
        "https://ehr.example.org/fhir/./x",
        "https://ehr.example.org/fhir/.",
        "https://ehr.example.org/fhir/#",
        "https://ehr.example.org/fhir?x=1",
        "https://ehr.example.org/fhirx",
        "https://ehr.example.org/fhir\\..\\admin",
    ] {
        assert!(!c.trusts_fhir_server(bad), "{bad}");
    }
}
