//! Procedure: operations done (status completed or in progress), with their date.

use super::{at, raw_code, Mapper};
use crate::dates;
use crate::gather::Item;
use crate::model;
use cobalt_core::case::RawProcedure;
use cobalt_core::vocab::Kind;
use cobalt_core::InputError;

impl Mapper<'_, '_> {
    pub(super) fn procedure(&mut self, i: &Item<'_>) -> Result<(), InputError> {
        let pr = i.read::<model::Procedure>()?;
        let status = pr.status.as_deref().unwrap_or_default();
        if !self
            .t
            .set("procedure_status_counts")
            .contains("http://hl7.org/fhir/event-status", status)
        {
            self.skip(
                &i.path,
                if status.is_empty() {
                    "no status".to_string()
                } else {
                    format!("status {status}: not done")
                },
            );
            return Ok(());
        }
        if !self.admit(&i.kind, pr.id.as_deref(), pr.subject.as_ref(), &i.path)? {
            return Ok(());
        }
        let start = pr.performedPeriod.as_ref().and_then(|x| x.start.as_deref());
        let (date, date_path) = match (pr.performedDateTime.as_deref(), start) {
            (Some(s), _) => (
                Some(dates::parse(&at(i, "performedDateTime"), s)?),
                at(i, "performedDateTime"),
            ),
            (None, Some(s)) => (
                Some(dates::parse(&at(i, "performedPeriod.start"), s)?),
                at(i, "performedPeriod.start"),
            ),
            (None, None) => (None, String::new()),
        };
        let Some(code) = &pr.code else {
            self.skip(&i.path, "no code");
            return Ok(());
        };
        let mut e = RawProcedure {
            date: date.map(dates::format),
            ..RawProcedure::default()
        };
        match self.concept(code).map(|c| (c.id.clone(), c.kind)) {
            Some((id, Kind::Procedure)) => e.concept = Some(id),
            Some((id, kind)) => {
                self.skip(
                    &i.path,
                    format!(
                        "the code maps to `{id}`, a {} concept, which a Procedure does not carry",
                        kind.as_str()
                    ),
                );
                return Ok(());
            }
            None => match code.pairs().first() {
                Some((s, c)) => e.code = Some(raw_code(s, c)),
                None => {
                    self.skip(&i.path, "no coded procedure (text only)");
                    return Ok(());
                }
            },
        }
        let n = self.case.procedures.len();
        self.case.procedures.push(e);
        let cp = self.entry("procedures", n, &i.path);
        if date.is_some() {
            self.origin(crate::model::join(&cp, "date"), date_path);
        }
        Ok(())
    }
}
