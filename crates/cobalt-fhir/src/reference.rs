//! FHIR references (R4, 2.3.0 "Resource References"): one place that reads them, for the
//! mapping, the screening job and the service.
//!
//! A `Reference.reference` is relative (`Patient/123`), absolute
//! (`https://ehr.example/fhir/Patient/123`), either of them versioned
//! (`Patient/123/_history/2`), a `urn:uuid:` or `urn:oid:` that names a Bundle entry by its
//! `fullUrl`, or `#id` for a contained resource.

/// A reference split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The resource type (`Patient`), when the reference is relative or absolute.
    pub kind: Option<&'a str>,
    /// The logical id, when the reference names one.
    pub id: Option<&'a str>,
    /// The reference without a `/_history/{version}` suffix: what a `fullUrl` is compared with.
    pub base: &'a str,
}

/// Splits a reference. A `urn:` reference keeps no type or id (it is resolved by `fullUrl`),
/// and neither does a contained one (`#id`).
pub fn parse(reference: &str) -> Parsed<'_> {
    let reference = reference.trim();
    // Most references have no version: look for the marker only where it can be.
    let base = if reference.as_bytes().contains(&b'_') {
        reference
            .split_once("/_history/")
            .map_or(reference, |(head, _)| head)
    } else {
        reference
    };
    if base.starts_with("urn:") || base.starts_with('#') {
        return Parsed {
            kind: None,
            id: None,
            base,
        };
    }
    let mut parts = base.rsplit('/');
    let id = parts.next().filter(|s| !s.is_empty());
    let kind = parts.next().filter(|s| is_type_name(s));
    match (kind, id) {
        (Some(kind), Some(id)) => Parsed {
            kind: Some(kind),
            id: Some(id),
            base,
        },
        _ => Parsed {
            kind: None,
            id: None,
            base,
        },
    }
}

/// The id of the Patient a reference names, if it names one by type and id.
pub fn patient_id(reference: &str) -> Option<&str> {
    let p = parse(reference);
    (p.kind == Some("Patient")).then_some(p.id).flatten()
}

/// Whether a reference names the resource with this type, id and (optionally) `fullUrl`.
pub fn names(reference: &str, kind: &str, id: Option<&str>, full_url: Option<&str>) -> bool {
    let p = parse(reference);
    if full_url.is_some_and(|u| parse(u).base == p.base) {
        return true;
    }
    p.kind == Some(kind) && p.id.is_some() && p.id == id
}

/// A FHIR resource type name: an upper-case ASCII letter, then letters.
fn is_type_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_uppercase()) && c.all(|x| x.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_form_names_its_patient() {
        for r in [
            "Patient/a",
            "Patient/a/_history/2",
            "https://ehr.example/fhir/Patient/a",
            "https://ehr.example/fhir/Patient/a/_history/7",
            " Patient/a ",
        ] {
            assert_eq!(patient_id(r), Some("a"), "{r}");
        }
        for r in [
            "urn:uuid:5f2c",
            "#p1",
            "Group/a",
            "Patient/",
            "a",
            "patient/a",
        ] {
            assert_eq!(patient_id(r), None, "{r}");
        }
    }

    #[test]
    fn a_full_url_matches_with_or_without_a_version() {
        assert!(names("urn:uuid:1", "Patient", None, Some("urn:uuid:1")));
        assert!(names(
            "https://x/Patient/a/_history/3",
            "Patient",
            Some("b"),
            Some("https://x/Patient/a")
        ));
        assert!(names("Patient/a/_history/3", "Patient", Some("a"), None));
        assert!(!names("Patient/a", "Patient", Some("b"), None));
        assert!(!names("Practitioner/a", "Patient", Some("a"), None));
    }
}
