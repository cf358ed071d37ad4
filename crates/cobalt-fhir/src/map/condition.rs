//! Condition: diagnoses that hold now (clinical status active, recurrence or relapse; not
//! refuted), MS with its course, suspected MS, pregnancy, and findings coded as conditions.

use super::{at, codes_text, raw_code, Mapper};
use crate::dates;
use crate::gather::Item;
use crate::model;
use cobalt_core::case::{MsStatus, RawCondition, RawFinding, RawProcedure};
use cobalt_core::vocab::Kind;
use cobalt_core::InputError;

/// The MS course a code of `knowledge/fhir.toml` names.
fn ms_course(s: &str) -> Option<MsStatus> {
    match s {
        "clinically_isolated_syndrome" => Some(MsStatus::ClinicallyIsolatedSyndrome),
        "relapsing_remitting" => Some(MsStatus::RelapsingRemitting),
        "primary_progressive" => Some(MsStatus::PrimaryProgressive),
        "secondary_progressive" => Some(MsStatus::SecondaryProgressive),
        _ => None,
    }
}

impl Mapper<'_, '_> {
    pub(super) fn condition(&mut self, i: &Item<'_>) -> Result<(), InputError> {
        let c = i.read::<model::Condition>()?;
        let verification = c.verificationStatus.clone().unwrap_or_default();
        let vpairs = verification.pairs();
        if self.t.any("condition_verification_excluded", &vpairs) {
            self.skip(
                &i.path,
                format!("verification status {}", codes_text(&vpairs)),
            );
            return Ok(());
        }
        if let Some(cs) = &c.clinicalStatus {
            let cpairs = cs.pairs();
            if !self.t.any("condition_clinical_counts", &cpairs) {
                self.skip(
                    &i.path,
                    format!("clinical status {}: not present now", codes_text(&cpairs)),
                );
                return Ok(());
            }
        }
        if !self.admit(&i.kind, c.id.as_deref(), c.subject.as_ref(), &i.path)? {
            return Ok(());
        }
        let onset_start = c.onsetPeriod.as_ref().and_then(|x| x.start.as_deref());
        let (since, since_path) = match (c.onsetDateTime.as_deref(), onset_start) {
            (Some(s), _) => (
                Some(dates::parse(&at(i, "onsetDateTime"), s)?),
                at(i, "onsetDateTime"),
            ),
            (None, Some(s)) => (
                Some(dates::parse(&at(i, "onsetPeriod.start"), s)?),
                at(i, "onsetPeriod.start"),
            ),
            (None, None) => (None, String::new()),
        };
        let Some(code) = &c.code else {
            self.skip(&i.path, "no code");
            return Ok(());
        };
        let pairs = code.pairs();
        if self.t.any("pregnancy_condition", &pairs) {
            if self.pregnancy_cond.is_none() {
                self.pregnancy_cond = Some(at(i, "code"));
            }
            return Ok(());
        }
        let suspected = self.t.any("condition_verification_suspected", &vpairs);
        let since_text = since.map(dates::format);
        match self.concept(code).map(|c| (c.id.clone(), c.kind)) {
            Some((id, Kind::Condition)) => {
                if id == "multiple_sclerosis" && suspected {
                    if self.ms_status.is_none() {
                        self.ms_status =
                            Some((MsStatus::Suspected, at(i, "verificationStatus"), false));
                    }
                    return Ok(());
                }
                if id == "multiple_sclerosis" {
                    let course = pairs
                        .iter()
                        .find_map(|(s, c)| self.t.ms_status(s, c))
                        .and_then(ms_course);
                    if let Some(status) = course {
                        if self
                            .ms_status
                            .as_ref()
                            .is_none_or(|(_, _, by_code)| !by_code)
                        {
                            self.ms_status = Some((status, at(i, "code"), true));
                        }
                    }
                }
                self.push_condition(
                    i,
                    RawCondition {
                        concept: Some(id),
                        code: None,
                        since: since_text,
                    },
                    since_path,
                );
            }
            Some((id, Kind::Finding)) => self.finding(id, &i.path),
            Some((id, Kind::Procedure)) => {
                let n = self.case.procedures.len();
                self.case.procedures.push(RawProcedure {
                    concept: Some(id),
                    code: None,
                    date: since_text,
                });
                let cp = self.entry("procedures", n, &i.path);
                if since.is_some() {
                    self.origin(crate::model::join(&cp, "date"), since_path);
                }
            }
            Some((id, kind)) => self.skip(
                &i.path,
                format!(
                    "the code maps to `{id}`, a {} concept, which a Condition does not carry",
                    kind.as_str()
                ),
            ),
            None => match pairs.first() {
                Some((s, c)) => self.push_condition(
                    i,
                    RawCondition {
                        concept: None,
                        code: Some(raw_code(s, c)),
                        since: since_text,
                    },
                    since_path,
                ),
                None => self.skip(&i.path, "no coded diagnosis (text only)"),
            },
        }
        Ok(())
    }

    fn push_condition(&mut self, i: &Item<'_>, e: RawCondition, since_path: String) {
        let dated = e.since.is_some();
        let n = self.case.conditions.len();
        self.case.conditions.push(e);
        let cp = self.entry("conditions", n, &i.path);
        if dated {
            self.origin(crate::model::join(&cp, "since"), since_path);
        }
    }

    /// A symptom or sign, once.
    pub(super) fn finding(&mut self, id: String, path: &str) {
        if self.case.findings.iter().any(|f| f.concept == id) {
            self.skip(path, format!("finding `{id}` already recorded"));
            return;
        }
        let n = self.case.findings.len();
        self.case.findings.push(RawFinding {
            concept: id,
            laterality: None,
            regions: Vec::new(),
            onset: None,
            course: None,
            weeks: None,
        });
        self.entry("findings", n, path);
    }
}
