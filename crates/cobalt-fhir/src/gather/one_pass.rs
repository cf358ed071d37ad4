//! The one pass over a Bundle: its entries and their resources read typed as they are met
//! (the `model` struct each resource type is read as), so that a resource's text is scanned
//! once. A Bundle this pass cannot take as it is is left to the step-by-step reading.

use super::{shown, Body, Gathered, Item, Request, Resource, BUNDLE_TYPES};
use crate::model::{self, join};
use cobalt_core::InputError;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A resource read in the one pass over its Bundle: the model type its kind is read as (see
/// `map`), with the `subject` of a kind whose model has none, kept as text and read only when
/// the patient is looked for by subject.
#[derive(Debug)]
pub(crate) enum Typed<'a> {
    Patient(model::Patient<'a>),
    Observation(model::Observation<'a>),
    Condition(model::Condition<'a>),
    /// A MedicationStatement or a MedicationRequest.
    MedicationUse(model::MedicationUse<'a>),
    Procedure(model::Procedure<'a>),
    Medication(model::Medication<'a>, Option<&'a RawValue>),
    /// A resource type cobalt does not read.
    Other(Option<&'a RawValue>),
}

/// A model type an [`Item`] is read as.
pub(crate) trait Model<'a>: Deserialize<'a> + Clone {
    /// The value when a resource was read typed as this model.
    fn of<'t>(t: &'t Typed<'a>) -> Option<&'t Self>;
}

macro_rules! model_of {
    ($t:ident, $v:ident) => {
        impl<'a> Model<'a> for model::$t<'a> {
            fn of<'t>(t: &'t Typed<'a>) -> Option<&'t Self> {
                match t {
                    Typed::$v(v, ..) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
model_of!(Patient, Patient);
model_of!(Observation, Observation);
model_of!(Condition, Condition);
model_of!(MedicationUse, MedicationUse);
model_of!(Procedure, Procedure);
model_of!(Medication, Medication);

/// The one field every resource is looked at for when the input has no Patient.
#[derive(Deserialize)]
struct Subject<'a> {
    #[serde(borrow, default)]
    subject: Option<model::Reference<'a>>,
}

impl<'a> Item<'a> {
    /// The resource read as `T`, the model its kind is read as: borrowed when its Bundle was
    /// read in one pass, else read from its text now (an error names the path of the problem).
    pub(crate) fn read<T: Model<'a>>(&self) -> Result<Cow<'_, T>, InputError> {
        match &self.body {
            Body::Raw(raw) => model::read(raw, &self.path).map(Cow::Owned),
            Body::Typed(t) => T::of(t).map(Cow::Borrowed).ok_or_else(|| {
                // Not reached: each kind is read as one model, the one it was typed as.
                InputError::new(
                    shown(&self.path),
                    format!("a {} read as another resource type", self.kind),
                )
            }),
        }
    }

    /// The resource's `subject`, whatever its type.
    pub(crate) fn subject(&self) -> Result<Option<model::Reference<'a>>, InputError> {
        let raw = match &self.body {
            Body::Raw(raw) => return Ok(model::read::<Subject<'a>>(raw, &self.path)?.subject),
            Body::Typed(t) => match &**t {
                Typed::Observation(o) => return Ok(o.subject.clone()),
                Typed::Condition(c) => return Ok(c.subject.clone()),
                Typed::MedicationUse(u) => return Ok(u.subject.clone()),
                Typed::Procedure(p) => return Ok(p.subject.clone()),
                // Not asked: the subject is looked for only when the input has no Patient.
                Typed::Patient(_) => return Ok(None),
                Typed::Medication(_, s) | Typed::Other(s) => *s,
            },
        };
        match raw {
            Some(r) => model::read(r.get(), &join(&self.path, "subject")),
            None => Ok(None),
        }
    }
}

/// A Bundle as [`Gathered::bundle_at_once`] reads it: every field it uses typed, in one pass.
#[derive(Deserialize)]
struct OnePass<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    entry: Option<Vec<OnePassEntry<'a>>>,
}

/// An entry: read only from a JSON object (a derived struct would take an array too, which the
/// step-by-step reading refuses), each field at most once.
struct OnePassEntry<'a> {
    full_url: Option<Cow<'a, str>>,
    resource: Option<OnePassResource<'a>>,
    request: Option<Request<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for OnePassEntry<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Fields<'a> {
            type Value = OnePassEntry<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a Bundle entry (a JSON object)")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Self::Value, M::Error> {
                use serde::de::Error;
                let mut e = OnePassEntry {
                    full_url: None,
                    resource: None,
                    request: None,
                };
                let (mut url, mut resource, mut request) = (false, false, false);
                let twice = |seen: &mut bool, key: &'static str| {
                    if std::mem::replace(seen, true) {
                        Err(M::Error::duplicate_field(key))
                    } else {
                        Ok(())
                    }
                };
                while let Some(Text(key)) = m.next_key::<Text<'de>>()? {
                    match key.as_ref() {
                        "fullUrl" => {
                            twice(&mut url, "fullUrl")?;
                            e.full_url = m.next_value::<Option<Text<'de>>>()?.map(|t| t.0);
                        }
                        "resource" => {
                            twice(&mut resource, "resource")?;
                            e.resource = m.next_value()?;
                        }
                        "request" => {
                            twice(&mut request, "request")?;
                            e.request = m.next_value()?;
                        }
                        _ => {
                            m.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(e)
            }
        }
        d.deserialize_map(Fields(std::marker::PhantomData))
    }
}

/// A JSON string borrowed from the input, or copied when it has escapes (serde's own `Cow`
/// always copies).
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// An entry's resource read typed in the one pass: its `resourceType` must come first (as
/// most writers put it), so that the rest of the object is read straight into the model its
/// type is read as. Any other resource (`resourceType` later or not a non-empty string, a
/// Bundle inside the Bundle, a field of the wrong type) is an error here, and the Bundle is then
/// read step by step.
pub(super) struct OnePassResource<'a> {
    pub kind: Cow<'a, str>,
    pub typed: Box<Typed<'a>>,
}

/// A Medication, with the `subject` every resource is looked at for.
#[derive(Deserialize, Default)]
#[serde(default)]
struct MedicationPass<'a> {
    #[serde(borrow)]
    id: Option<model::Str<'a>>,
    #[serde(borrow)]
    code: Option<model::CodeableConcept<'a>>,
    #[serde(borrow)]
    subject: Option<&'a RawValue>,
}

/// A resource type cobalt does not read: only its `subject`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct OtherPass<'a> {
    #[serde(borrow)]
    subject: Option<&'a RawValue>,
}

impl<'de: 'a, 'a> Deserialize<'de> for OnePassResource<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Fields<'a> {
            type Value = OnePassResource<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a FHIR resource (a JSON object) with resourceType first")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Self::Value, M::Error> {
                use serde::de::Error;
                // Taken only as the step-by-step reading takes it straight from the bytes: the
                // first key, unescaped, with an unescaped string value. Written any other way,
                // the step-by-step reading looks at the whole object (which refuses a second
                // `resourceType`, say).
                let first = m.next_key::<Text<'de>>()?;
                if !matches!(first, Some(Text(Cow::Borrowed("resourceType")))) {
                    return Err(M::Error::custom("resourceType is not the first key"));
                }
                let Text(kind) = m.next_value()?;
                if matches!(kind, Cow::Owned(_)) {
                    return Err(M::Error::custom("an escaped resourceType"));
                }
                let rest = serde::de::value::MapAccessDeserializer::new(m);
                let typed = match kind.as_ref() {
                    "" | "Bundle" => {
                        return Err(M::Error::custom("not a resource read in one pass"))
                    }
                    "Patient" => Typed::Patient(Deserialize::deserialize(rest)?),
                    "Observation" => Typed::Observation(Deserialize::deserialize(rest)?),
                    "Condition" => Typed::Condition(Deserialize::deserialize(rest)?),
                    "MedicationStatement" | "MedicationRequest" => {
                        Typed::MedicationUse(Deserialize::deserialize(rest)?)
                    }
                    "Procedure" => Typed::Procedure(Deserialize::deserialize(rest)?),
                    "Medication" => {
                        let p = MedicationPass::deserialize(rest)?;
                        let med = model::Medication {
                            id: p.id,
                            code: p.code,
                        };
                        Typed::Medication(med, p.subject)
                    }
                    _ => Typed::Other(OtherPass::deserialize(rest)?.subject),
                };
                Ok(OnePassResource {
                    kind,
                    typed: Box::new(typed),
                })
            }
        }
        d.deserialize_map(Fields(std::marker::PhantomData))
    }
}

impl<'a> Gathered<'a> {
    /// A Bundle read in one pass: its entries typed, each resource read into its model. `None`
    /// when the Bundle is not one it can take as it is (an unknown or missing type, an entry
    /// of the wrong shape, a value of the wrong type): [`Gathered::bundle_step_by_step`] then
    /// names the problem. An error from a resource inside it is that resource's own.
    pub(super) fn bundle_at_once(
        &mut self,
        raw: &'a str,
        path: &str,
    ) -> Option<Result<(), InputError>> {
        let b: OnePass<'a> = serde_json::from_str(raw).ok()?;
        if !b.kind.as_deref().is_some_and(|t| BUNDLE_TYPES.contains(&t)) {
            return None;
        }
        if self.bundle_id.is_none() && self.items.is_empty() {
            self.bundle_id = b.id.map(Cow::into_owned);
        }
        for (i, entry) in b.entry.into_iter().flatten().enumerate() {
            let epath = join(path, &format!("entry[{i}]"));
            let resource = entry.resource.map(Resource::Typed);
            if let Err(e) = self.entry(epath, entry.request, resource, entry.full_url) {
                return Some(Err(e));
            }
        }
        Some(Ok(()))
    }
}
