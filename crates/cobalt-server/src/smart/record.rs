//! Reading a launched patient's record from the EHR's FHIR server with the session's token:
//! their Patient, Observation, Condition, MedicationRequest, MedicationStatement (with the
//! Medications they reference) and Procedure resources, following `next` links, within bounds
//! on time, bytes, pages and resources. What is read goes through the one FHIR mapping
//! (`cobalt_fhir::resources_for_patient`), so another patient's resource is refused as in a
//! CDS Hooks call.

use crate::smart::session::Session;
use cobalt_smart::discovery::{exchange, ServerError};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::time::Duration;

/// Most resources read for one patient.
pub const MAX_RESOURCES: usize = 10_000;
/// Most pages read for one patient (all searches together).
pub const MAX_PAGES: usize = 200;
/// Most referenced Medication resources fetched one by one.
pub const MAX_MEDICATIONS: usize = 100;
/// Page size asked for.
const PAGE: usize = 200;

/// The searches made, with the key that names them in paths.
pub const SEARCHES: [(&str, &str); 5] = [
    ("observations", "Observation"),
    ("conditions", "Condition"),
    ("medicationRequests", "MedicationRequest"),
    ("medicationStatements", "MedicationStatement"),
    ("procedures", "Procedure"),
];

/// Bounds of one read.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The whole read's deadline.
    pub deadline: Duration,
    /// Most bytes read, all answers together.
    pub bytes: usize,
}

/// What was read: the resources (pages of searches and single resources, each with the path
/// the mapping names it by) and, for the page, a line per resource.
#[derive(Debug, Default)]
pub struct Read {
    /// JSON texts with their paths.
    pub items: Vec<(String, Box<RawValue>)>,
    /// A line per resource read.
    pub listed: Vec<Listed>,
}

/// One resource read, for "what cobalt read from the record".
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// The path the mapping names it by (skipped items use the same).
    pub path: String,
    /// `Observation/123`.
    pub reference: String,
    /// Its code's text or first display, when it has one.
    pub label: String,
    /// Its date, when it has one (effective, authored, onset, performed, recorded).
    pub date: String,
    /// `used`, or `skipped` with the reason (filled in after mapping).
    pub status: String,
    /// Why it was not used, or what part of it was not.
    pub reason: String,
}

/// A FHIR id (FHIR R4 `id`: 1 to 64 of `A-Z a-z 0-9 - .`); anything else never reaches a URL.
pub fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(default, borrow)]
    entry: Vec<Entry<'a>>,
    #[serde(default, borrow)]
    link: Vec<Link<'a>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(default, borrow)]
    resource: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Link<'a> {
    #[serde(borrow)]
    relation: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    url: std::borrow::Cow<'a, str>,
}

/// The fields of a resource the list shows.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Summary {
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    code: Option<Concept>,
    #[serde(default)]
    medication_codeable_concept: Option<Concept>,
    #[serde(default)]
    medication_reference: Option<Reference>,
    #[serde(default)]
    effective_date_time: Option<String>,
    #[serde(default)]
    authored_on: Option<String>,
    #[serde(default)]
    onset_date_time: Option<String>,
    #[serde(default)]
    performed_date_time: Option<String>,
    #[serde(default)]
    recorded_date: Option<String>,
    #[serde(default)]
    birth_date: Option<String>,
}

#[derive(Deserialize, Default)]
struct Concept {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    coding: Vec<Coding>,
}

#[derive(Deserialize, Default)]
struct Coding {
    #[serde(default)]
    display: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize, Default)]
struct Reference {
    #[serde(default)]
    reference: Option<String>,
}

impl Concept {
    fn label(&self) -> Option<String> {
        self.text.clone().or_else(|| {
            self.coding
                .iter()
                .find_map(|c| c.display.clone().or_else(|| c.code.clone()))
        })
    }
}

fn listed(path: String, raw: &RawValue) -> (Listed, Option<String>) {
    let s: Summary = serde_json::from_str(raw.get()).unwrap_or_default();
    let label = s
        .code
        .as_ref()
        .and_then(Concept::label)
        .or_else(|| {
            s.medication_codeable_concept
                .as_ref()
                .and_then(Concept::label)
        })
        .unwrap_or_default();
    let date = [
        &s.effective_date_time,
        &s.authored_on,
        &s.onset_date_time,
        &s.performed_date_time,
        &s.recorded_date,
        &s.birth_date,
    ]
    .into_iter()
    .find_map(|d| d.clone())
    .unwrap_or_default();
    let medication = s
        .medication_reference
        .and_then(|r| r.reference)
        .and_then(|r| r.strip_prefix("Medication/").map(str::to_string))
        .filter(|id| is_fhir_id(id));
    (
        Listed {
            path,
            reference: format!("{}/{}", s.resource_type, s.id),
            label,
            date,
            status: "used".into(),
            reason: String::new(),
        },
        medication,
    )
}

/// A reader over one session's FHIR server.
struct Reader<'a> {
    http: &'a reqwest::Client,
    session: &'a Session,
    base: String,
    bytes_left: usize,
    pages: usize,
    resources: usize,
    /// When the whole read must be done.
    until: std::time::Instant,
}

impl Reader<'_> {
    async fn get(&mut self, url: &str, what: &str) -> Result<Box<RawValue>, ServerError> {
        if self.pages >= MAX_PAGES {
            return Err(ServerError::Invalid {
                what: what.to_string(),
                reason: format!("more than {MAX_PAGES} pages; the record was not read whole"),
            });
        }
        self.pages += 1;
        // Each request may take what is left of the read's deadline (the client's own timeout,
        // made for CDS Hooks prefetch, does not apply here).
        let left = self
            .until
            .saturating_duration_since(std::time::Instant::now())
            .max(Duration::from_millis(1));
        let rb = self
            .http
            .get(url)
            .timeout(left)
            .header("Accept", "application/fhir+json")
            .bearer_auth(&self.session.access_token);
        let body = exchange(rb, what, left, self.bytes_left).await?;
        self.bytes_left = self.bytes_left.saturating_sub(body.len());
        let text = String::from_utf8(body).map_err(|_| ServerError::Invalid {
            what: what.to_string(),
            reason: "the answer is not UTF-8".into(),
        })?;
        RawValue::from_string(text).map_err(|e| ServerError::Invalid {
            what: what.to_string(),
            reason: format!("the answer is not JSON: {e}"),
        })
    }

    /// A `next` link is followed only on the session's own FHIR server: the token is never
    /// sent elsewhere.
    fn next_url(&self, page: &Page<'_>, what: &str) -> Result<Option<String>, ServerError> {
        let Some(next) = page.link.iter().find(|l| l.relation == "next") else {
            return Ok(None);
        };
        let url = next.url.as_ref();
        let inside = url
            .strip_prefix(self.base.as_str())
            .is_some_and(|r| r.starts_with('/') || r.starts_with('?'));
        if !inside {
            return Err(ServerError::Invalid {
                what: what.to_string(),
                reason: "a next link points outside the FHIR server; it was not followed".into(),
            });
        }
        Ok(Some(url.to_string()))
    }

    async fn search(&mut self, key: &str, kind: &str, out: &mut Read) -> Result<(), ServerError> {
        let what = format!("the FHIR server ({kind} search)");
        let mut url = Some(format!(
            "{}/{kind}?patient={}&_count={PAGE}",
            self.base,
            encode(&self.session.patient)
        ));
        let mut n = 0;
        while let Some(u) = url.take() {
            let raw = self.get(&u, &what).await?;
            let path = format!("read.{key}[{n}]");
            let page: Page<'_> =
                serde_json::from_str(raw.get()).map_err(|e| ServerError::Invalid {
                    what: what.clone(),
                    reason: format!("not a Bundle: {e}"),
                })?;
            for (i, e) in page.entry.iter().enumerate() {
                if let Some(r) = e.resource {
                    self.resources += 1;
                    if self.resources > MAX_RESOURCES {
                        return Err(ServerError::Invalid {
                            what,
                            reason: format!(
                                "more than {MAX_RESOURCES} resources; the record was not read whole"
                            ),
                        });
                    }
                    out.listed
                        .push(listed(format!("{path}.entry[{i}].resource"), r).0);
                }
            }
            url = self.next_url(&page, &what)?;
            drop(page);
            out.items.push((path, raw));
            n += 1;
        }
        Ok(())
    }
}

/// Percent-encodes a value for a URL query (everything but unreserved characters).
pub fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads the session's patient's record.
///
/// # Errors
/// The server's refusal (401/403) or another error status, a timeout, an answer that is not
/// FHIR JSON, a `next` link to another server, or a record beyond the bounds: each said as
/// what it is.
pub async fn read(
    http: &reqwest::Client,
    session: &Session,
    bounds: Bounds,
) -> Result<Read, ServerError> {
    let work = async {
        let mut reader = Reader {
            http,
            session,
            base: session.fhir_server.trim_end_matches('/').to_string(),
            bytes_left: bounds.bytes,
            pages: 0,
            resources: 0,
            until: std::time::Instant::now() + bounds.deadline,
        };
        let mut out = Read::default();
        let url = format!("{}/Patient/{}", reader.base, encode(&session.patient));
        let patient = reader.get(&url, "the FHIR server (Patient read)").await?;
        out.listed.push(listed("read.patient".into(), &patient).0);
        out.items.push(("read.patient".into(), patient));
        for (key, kind) in SEARCHES {
            reader.search(key, kind, &mut out).await?;
        }
        // Medications that requests and statements name by reference, fetched once each.
        let mut wanted: Vec<String> = Vec::new();
        for item in &out.items {
            let Ok(page) = serde_json::from_str::<Page<'_>>(item.1.get()) else {
                continue;
            };
            for e in page.entry.iter().filter_map(|e| e.resource) {
                if let (_, Some(id)) = listed(String::new(), e) {
                    if !wanted.contains(&id) && wanted.len() < MAX_MEDICATIONS {
                        wanted.push(id);
                    }
                }
            }
        }
        for (i, id) in wanted.iter().enumerate() {
            let url = format!("{}/Medication/{}", reader.base, encode(id));
            match reader.get(&url, "the FHIR server (Medication read)").await {
                Ok(raw) => {
                    let path = format!("read.medications[{i}]");
                    out.listed.push(listed(path.clone(), &raw).0);
                    out.items.push((path, raw));
                }
                // A Medication that is gone or not shown leaves its request unresolved, which
                // the mapping reports; a refusal or an outage is an error like any other.
                Err(ServerError::Status {
                    status: 404 | 410, ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    };
    tokio::time::timeout(bounds.deadline, work)
        .await
        .map_err(|_| ServerError::Timeout {
            what: "the FHIR server".into(),
            ms: bounds.deadline.as_millis(),
        })?
}

/// Marks each listed resource with what the mapping skipped: the whole resource (its own path)
/// or parts of it (paths under it). Sorted once, each resource finds its own in a range, so the
/// work is n log n however many resources and skipped parts there are.
pub fn mark_skipped(listed: &mut [Listed], skipped: &[cobalt_fhir::Skipped]) {
    let mut sorted: Vec<&cobalt_fhir::Skipped> = skipped.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    for item in listed.iter_mut() {
        let start = sorted.partition_point(|s| s.path.as_str() < item.path.as_str());
        let mut parts = Vec::new();
        for s in sorted[start..]
            .iter()
            .take_while(|s| s.path.starts_with(item.path.as_str()))
        {
            match s.path[item.path.len()..].strip_prefix('.') {
                None if s.path.len() == item.path.len() => {
                    item.status = "skipped".into();
                    item.reason = s.reason.clone();
                }
                Some(part) => parts.push(format!("{part}: {}", s.reason)),
                None => {}
            }
        }
        if item.status == "used" && !parts.is_empty() {
            item.reason = parts.join("; ");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(path: &str) -> Listed {
        Listed {
            path: path.into(),
            reference: String::new(),
            label: String::new(),
            date: String::new(),
            status: "used".into(),
            reason: String::new(),
        }
    }

    fn skip(path: &str, reason: &str) -> cobalt_fhir::Skipped {
        cobalt_fhir::Skipped {
            path: path.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn a_whole_resource_and_parts_of_one_are_marked_on_their_own_item() {
        let mut listed = vec![
            item("read.observations[0].entry[3].resource"),
            item("read.observations[0].entry[30].resource"),
            item("read.patient"),
        ];
        let skipped = [
            skip(
                "read.observations[0].entry[30].resource",
                "status cancelled",
            ),
            skip("read.patient.extension[0]", "an extension not read"),
            skip(
                "read.observations[0].entry[3].resource.interpretation",
                "not read",
            ),
        ];
        mark_skipped(&mut listed, &skipped);
        assert_eq!(listed[0].status, "used");
        assert_eq!(listed[0].reason, "interpretation: not read");
        assert_eq!(listed[1].status, "skipped");
        assert_eq!(listed[1].reason, "status cancelled");
        assert_eq!(listed[2].status, "used");
        assert_eq!(listed[2].reason, "extension[0]: an extension not read");
    }

    #[test]
    fn only_fhir_ids_reach_a_url_and_query_values_are_encoded() {
        assert!(is_fhir_id("pat-b12.14"));
        for bad in [
            "",
            "p1/../../admin",
            "p1&_count=1",
            "p1#x",
            "p 1",
            &"x".repeat(65),
        ] {
            assert!(!is_fhir_id(bad), "{bad}");
        }
        assert_eq!(encode("a b&c/d"), "a%20b%26c%2Fd");
        assert_eq!(encode("Az09-._~"), "Az09-._~");
    }
}
