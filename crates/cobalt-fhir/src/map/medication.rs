//! MedicationStatement and MedicationRequest: medicines taken (with how long), B12 replacement
//! with its route, exposures coded as medicines; Medication resources they refer to.

use super::{at, raw_code, Mapper};
use crate::dates;
use crate::gather::Item;
use crate::model::{self, CodeableConcept, Reference};
use cobalt_core::case::{RawCode, RawExposure, RawMedication, ReplacementStatus};
use cobalt_core::vocab::Kind;
use cobalt_core::InputError;
use time::Date;

impl<'k, 'a> Mapper<'k, 'a> {
    pub(super) fn medication_use(&mut self, i: &Item<'a>, request: bool) -> Result<(), InputError> {
        let u = i.read::<model::MedicationUse>()?;
        let (status_set, status_system) = if request {
            (
                "medication_request_status_counts",
                "http://hl7.org/fhir/CodeSystem/medicationrequest-status",
            )
        } else {
            (
                "medication_statement_status_counts",
                "http://hl7.org/fhir/CodeSystem/medication-statement-status",
            )
        };
        let status = u.status.as_deref().unwrap_or_default().to_string();
        if !self.t.set(status_set).contains(status_system, &status) {
            self.skip(
                &i.path,
                if status.is_empty() {
                    "no status".to_string()
                } else {
                    format!("status {status}: not taken")
                },
            );
            return Ok(());
        }
        if !self.admit(&i.kind, u.id.as_deref(), u.subject.as_ref(), &i.path)? {
            return Ok(());
        }
        // The medicine's codes.
        let code: CodeableConcept<'a> = match (&u.medicationCodeableConcept, &u.medicationReference)
        {
            (Some(cc), _) => cc.clone(),
            (None, Some(r)) => match self.medication_ref(&u, r, &at(i, "medicationReference"))? {
                Some(cc) => cc,
                None => {
                    self.skip(
                        &i.path,
                        format!(
                            "medicationReference {} names no Medication in the input",
                            r.reference.as_deref().unwrap_or("(empty)")
                        ),
                    );
                    return Ok(());
                }
            },
            (None, None) => {
                self.skip(&i.path, "no medication");
                return Ok(());
            }
        };
        // When: start, end, months.
        let (start, start_path) = self.course_start(i, &u, request)?;
        let (end, end_rel) = self.course_end(i, &u, request)?;
        let current_status = self
            .t
            .set("medication_status_current")
            .contains(status_system, &status);
        let current = current_status && end.is_none_or(|e| e >= self.as_of);
        // How long it was taken: to today while it is taken, to its end once stopped. A stopped
        // medicine with no end has no known duration (not the time since it was started).
        let until = match end {
            Some(e) => Some(e.min(self.as_of)),
            None if current => Some(self.as_of),
            None => None,
        };
        let months = start
            .zip(until)
            .filter(|(s, u)| s <= u)
            .map(|(s, u)| dates::months_between(s, u));
        let ended = if current {
            None
        } else {
            end.filter(|e| *e <= self.as_of)
        };

        // By code, else by name (the medicine's text or a coding's display).
        let (found, by_name) = match self.concept(&code) {
            Some(c) => (Some(c), None),
            None => match self.concept_by_name(&code) {
                Some((c, name)) => (Some(c), Some(name)),
                None => (None, None),
            },
        };
        let medication =
            |m: &mut Mapper<'_, 'a>, concept: Option<String>, code: Option<RawCode>| {
                let n = m.case.medications.len();
                m.case.medications.push(RawMedication {
                    concept,
                    code,
                    months,
                    daily_dose_mg: None,
                    current: Some(current),
                    ended: ended.map(crate::dates::format),
                    matched_by_name: by_name.clone(),
                });
                let cp = m.entry("medications", n, &i.path);
                if months.is_some() {
                    m.origin(crate::model::join(&cp, "months"), start_path.clone());
                }
                if ended.is_some() {
                    m.origin(crate::model::join(&cp, "ended"), at(i, end_rel));
                }
            };
        match found {
            Some(c) if c.kind == Kind::B12Product => {
                let route = self.b12_route(&u, c);
                match route {
                    Some(r) if current => {
                        let better = match &self.b12 {
                            None => true,
                            Some((have, since, _, _)) => {
                                (r == ReplacementStatus::Intramuscular
                                    && *have != ReplacementStatus::Intramuscular)
                                    || (r == *have
                                        && start.is_some()
                                        && (since.is_none() || start < *since))
                            }
                        };
                        if better {
                            let sp = start.map(|_| start_path.clone());
                            self.b12 = Some((r, start, i.path.clone(), sp));
                        } else {
                            medication(self, Some(c.id.clone()), None);
                        }
                    }
                    _ => medication(self, Some(c.id.clone()), None),
                }
            }
            Some(c) if c.kind == Kind::Medication => medication(self, Some(c.id.clone()), None),
            Some(c) if c.kind == Kind::Exposure => {
                let n = self.case.exposures.len();
                self.case.exposures.push(RawExposure {
                    concept: c.id.clone(),
                    frequency: None,
                    last: end.or(start).map(dates::format),
                });
                self.entry("exposures", n, &i.path);
            }
            Some(c) => self.skip(
                &i.path,
                format!(
                    "the medicine maps to `{}`, a {} concept",
                    c.id,
                    c.kind.as_str()
                ),
            ),
            None => match code.pairs().first() {
                Some((s, c)) => medication(self, None, Some(raw_code(s, c))),
                None => self.skip(
                    &i.path,
                    format!(
                        "medicine named only in text (\"{}\"), matching no medicine cobalt reads",
                        clip(code.text.as_deref().unwrap_or(""))
                    ),
                ),
            },
        }
        Ok(())
    }

    /// When a course started, with the path of the date used: a request's authoredOn, else its
    /// validity period's start; a statement's effective period's start, else its effective
    /// date. Every date given is checked.
    fn course_start(
        &self,
        i: &Item<'_>,
        u: &model::MedicationUse<'_>,
        request: bool,
    ) -> Result<(Option<Date>, String), InputError> {
        let candidates: [(Option<&str>, &str); 2] = if request {
            [
                (u.authoredOn.as_deref(), "authoredOn"),
                (
                    u.dispenseRequest
                        .as_ref()
                        .and_then(|d| d.validityPeriod.as_ref())
                        .and_then(|v| v.start.as_deref()),
                    "dispenseRequest.validityPeriod.start",
                ),
            ]
        } else {
            [
                (
                    u.effectivePeriod.as_ref().and_then(|x| x.start.as_deref()),
                    "effectivePeriod.start",
                ),
                (u.effectiveDateTime.as_deref(), "effectiveDateTime"),
            ]
        };
        let mut found = (None, String::new());
        for (v, rel) in candidates {
            let Some(v) = v else { continue };
            let path = at(i, rel);
            if let Some(d) = self.date(&path, Some(v))? {
                if found.0.is_none() {
                    found = (Some(d), path);
                }
            }
        }
        Ok(found)
    }

    /// When a course ended, with the relative path of that date: a request's validity period
    /// ends it, a statement's effective period.
    fn course_end(
        &self,
        i: &Item<'_>,
        u: &model::MedicationUse<'_>,
        request: bool,
    ) -> Result<(Option<Date>, &'static str), InputError> {
        let (end, rel) = if request {
            (
                u.dispenseRequest
                    .as_ref()
                    .and_then(|d| d.validityPeriod.as_ref())
                    .and_then(|v| v.end.as_deref()),
                "dispenseRequest.validityPeriod.end",
            )
        } else {
            (
                u.effectivePeriod.as_ref().and_then(|x| x.end.as_deref()),
                "effectivePeriod.end",
            )
        };
        Ok((self.date(&at(i, rel), end)?, rel))
    }

    /// The route of a B12 product: from the dosages' routes, else intramuscular for a product
    /// given only by injection when no route is recorded.
    fn b12_route(
        &self,
        u: &model::MedicationUse<'_>,
        c: &cobalt_core::vocab::Concept,
    ) -> Option<ReplacementStatus> {
        let routes: Vec<(&str, &str)> = u
            .dosage
            .iter()
            .chain(&u.dosageInstruction)
            .filter_map(|d| d.route.as_ref())
            .flat_map(|r| r.pairs())
            .collect();
        if self.t.any("route_intramuscular", &routes) {
            Some(ReplacementStatus::Intramuscular)
        } else if self.t.any("route_oral", &routes) {
            Some(ReplacementStatus::Oral)
        } else if routes.is_empty()
            && c.codes.iter().any(|(s, code)| {
                self.t
                    .set("b12_intramuscular_when_route_unknown")
                    .contains(s.as_str(), code)
            })
        {
            Some(ReplacementStatus::Intramuscular)
        } else {
            None
        }
    }

    /// The concept a medicine's text or coding display names, with the name as given (clipped).
    fn concept_by_name(
        &self,
        cc: &CodeableConcept<'_>,
    ) -> Option<(&'k cobalt_core::vocab::Concept, String)> {
        let names = cc
            .text
            .as_deref()
            .into_iter()
            .chain(cc.coding.iter().filter_map(|c| c.display.as_deref()));
        for n in names {
            if let Some(c) = self.kb.medicine_by_name(n) {
                return Some((c, clip(n)));
            }
        }
        None
    }

    /// The code of a referenced Medication: contained (`#id`) or in the input.
    fn medication_ref(
        &mut self,
        u: &model::MedicationUse<'a>,
        r: &Reference<'_>,
        path: &str,
    ) -> Result<Option<CodeableConcept<'a>>, InputError> {
        let Some(reference) = r.reference.as_deref() else {
            return Ok(None);
        };
        if let Some(local) = reference.strip_prefix('#') {
            for (n, v) in u.contained.iter().enumerate() {
                let cpath = model::join(
                    path.trim_end_matches(".medicationReference"),
                    &format!("contained[{n}]"),
                );
                let kind: ContainedKind<'_> = model::read(v.get(), &cpath)?;
                if kind.resource_type.as_deref() != Some("Medication") {
                    continue;
                }
                let med: model::Medication<'a> = model::read(v.get(), &cpath)?;
                if med.id.as_deref() == Some(local) {
                    return Ok(Some(med.code.unwrap_or_default()));
                }
            }
            return Ok(None);
        }
        let key = self
            .medications
            .keys()
            .find(|k| {
                k.as_str() == reference
                    || (k.starts_with("Medication/")
                        && reference
                            .strip_suffix(k.as_str())
                            .is_some_and(|h| h.is_empty() || h.ends_with('/')))
            })
            .cloned();
        Ok(key.map(|k| {
            let (mpath, cc) = self.medications[&k].clone();
            self.used_medications.push(mpath);
            cc
        }))
    }
}

#[derive(serde::Deserialize)]
struct ContainedKind<'a> {
    #[serde(rename = "resourceType", borrow, default)]
    resource_type: Option<model::Str<'a>>,
}

/// A name from a record, at most `MAX_NAME_CHARS` characters, trimmed.
fn clip(s: &str) -> String {
    s.trim()
        .chars()
        .take(cobalt_core::case::MAX_NAME_CHARS)
        .collect()
}
