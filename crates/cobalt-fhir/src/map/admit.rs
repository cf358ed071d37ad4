//! Which resources are used for the patient: whose they are (the subject reference) and whether
//! they were read already (the same type and id).

use super::Mapper;
use crate::model::{self, Reference};
use cobalt_core::InputError;
use std::collections::hash_map::Entry;

/// The patient the case is about, as references name it.
#[derive(Default)]
pub(super) struct PatientKey {
    pub id: Option<String>,
    pub full_url: Option<String>,
}

impl PatientKey {
    /// Whether a reference names this patient: its fullUrl, `Patient/{id}`, or an absolute URL
    /// ending in `/Patient/{id}`, with or without a `/_history/{version}` suffix.
    fn matches(&self, reference: &str) -> bool {
        crate::reference::names(
            reference,
            "Patient",
            self.id.as_deref(),
            self.full_url.as_deref(),
        )
    }

    /// Whether references can name the patient at all.
    pub fn known(&self) -> bool {
        self.id.is_some() || self.full_url.is_some()
    }
}

/// How a resource whose subject does not name the patient is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Attribution {
    /// The caller named the patient (`resources_for_patient`): a resource about another patient
    /// is refused, and one without a subject reference is not used.
    Named,
    /// No patient named, and one patient in the input so far: a resource without a subject
    /// reference is taken to be theirs; one about another patient is skipped.
    Assumed,
    /// No patient named, and the input holds more than one patient: a resource without a
    /// subject reference could be anyone's and is not used.
    Strict,
}

impl Mapper<'_, '_> {
    /// Whether a resource that belongs to a patient (Observation, Condition, a medicine's
    /// statement or request, Procedure) is used: its subject is the patient, and it is not a
    /// repeat of one already read. If not, it is skipped with the reason, or, when the caller
    /// named the patient and it is another patient's, refused.
    pub(super) fn admit(
        &mut self,
        kind: &str,
        id: Option<&str>,
        subject: Option<&Reference<'_>>,
        path: &str,
    ) -> Result<bool, InputError> {
        Ok(self.for_patient(subject, path)? && self.first_copy(kind, id, path))
    }

    /// Whether the subject is the patient.
    fn for_patient(
        &mut self,
        subject: Option<&Reference<'_>>,
        path: &str,
    ) -> Result<bool, InputError> {
        let known = self.key.known();
        let Some(r) = subject.and_then(|s| s.reference.as_deref()) else {
            if self.mode == Attribution::Assumed || !known {
                // Taken to be the patient's; noted, in case the input holds another patient.
                self.assumed = true;
                return Ok(true);
            }
            // An identifier or a display alone does not say which patient of this server it
            // is: only a reference does.
            let what = if subject.is_some() {
                "the subject has no reference"
            } else {
                "none given"
            };
            let more = if self.mode == Attribution::Strict {
                "; the input holds more than one patient"
            } else {
                ""
            };
            let reason = format!("no subject naming {} ({what}{more}): not used", self.who());
            self.skip(path, reason);
            return Ok(false);
        };
        if !known || self.key.matches(r) {
            return Ok(true);
        }
        let who = self.who();
        if self.mode == Attribution::Named {
            return Err(InputError::new(
                model::join(path, "subject.reference"),
                format!("`{r}` is another patient; this request is about {who}"),
            ));
        }
        self.others = true;
        self.skip(
            path,
            format!("about another subject ({r}); the case is about {who}"),
        );
        Ok(false)
    }

    /// Notes a second patient in the input (a Patient resource with another id).
    pub(super) fn another_patient(&mut self) {
        if self.key.known() {
            self.others = true;
        }
    }

    /// The patient as a reason names them.
    fn who(&self) -> String {
        match (&self.key.id, &self.key.full_url) {
            (Some(id), _) => format!("Patient/{id}"),
            (None, Some(u)) => u.clone(),
            (None, None) => "the patient".into(),
        }
    }

    /// Whether this is the first resource read with this type and id; a repeat is skipped as a
    /// duplicate, naming the first. A resource without an id is never a repeat.
    pub(super) fn first_copy(&mut self, kind: &str, id: Option<&str>, path: &str) -> bool {
        match self.first_seen(kind, id, path) {
            None => true,
            Some(reason) => {
                self.skip(path, reason);
                false
            }
        }
    }

    /// Records the first resource with this type and id (by its path); for a repeat, returns the
    /// reason it is not used again. One hash lookup per resource.
    pub(super) fn first_seen(
        &mut self,
        kind: &str,
        id: Option<&str>,
        path: &str,
    ) -> Option<String> {
        let id = id.filter(|id| !id.is_empty())?;
        let mut key = String::with_capacity(kind.len() + id.len() + 1);
        key.push_str(kind);
        key.push('/');
        key.push_str(id);
        match self.seen.entry(key) {
            Entry::Vacant(e) => {
                e.insert(super::shown(path).to_string());
                None
            }
            Entry::Occupied(e) => Some(format!(
                "a repeat of {} (first read at {}): used once",
                e.key(),
                e.get()
            )),
        }
    }
}
