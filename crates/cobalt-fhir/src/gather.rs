//! Finding the resources in the input bytes: a Bundle's entries, an array's items, or one
//! resource, each with the JSON path it came from and its resource type. A resource is kept as
//! its raw JSON text (borrowed from the input, never a tree), or, when its Bundle was read in
//! one pass, as the typed fields cobalt reads from it ([`Typed`]), so that its text is not
//! scanned twice.

use crate::model::{self, join, message_of};
use crate::Skipped;
use cobalt_core::InputError;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The Bundle types whose entries are resources to read.
const BUNDLE_TYPES: &[&str] = &[
    "collection",
    "searchset",
    "transaction",
    "batch",
    "document",
];

/// One resource found in the input.
#[derive(Debug)]
pub(crate) struct Item<'a> {
    pub path: String,
    pub full_url: Option<Cow<'a, str>>,
    pub kind: Cow<'a, str>,
    pub body: Body<'a>,
}

/// A resource's content: its text, read when it is used, or the fields cobalt reads, already
/// typed.
#[derive(Debug)]
pub(crate) enum Body<'a> {
    Raw(&'a str),
    /// Boxed: a resource moves as a pointer, and a text item stays small.
    Typed(Box<Typed<'a>>),
}

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

#[derive(Default)]
pub(crate) struct Gathered<'a> {
    pub items: Vec<Item<'a>>,
    pub skipped: Vec<Skipped>,
    pub bundle_id: Option<String>,
}

/// The path of the whole input, for messages about it.
pub(crate) fn shown(path: &str) -> &str {
    if path.is_empty() {
        "$"
    } else {
        path
    }
}

/// The JSON type of a value's text, by its first byte, for messages.
fn type_name(raw: &str) -> &'static str {
    match raw.trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

#[derive(Deserialize)]
struct Kind<'a> {
    #[serde(rename = "resourceType", borrow, default)]
    resource_type: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Bundle<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    entry: Option<&'a RawValue>,
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
struct OnePassResource<'a> {
    kind: Cow<'a, str>,
    typed: Box<Typed<'a>>,
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

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(rename = "fullUrl", borrow, default)]
    full_url: Option<&'a RawValue>,
    #[serde(borrow, default)]
    resource: Option<&'a RawValue>,
    #[serde(borrow, default)]
    request: Option<Request<'a>>,
}

/// An entry's resource, as its Bundle was read.
enum Resource<'a> {
    Raw(&'a str),
    Typed(OnePassResource<'a>),
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
}

/// A JSON string value, or an error naming its path.
fn string<'a>(raw: Option<&'a RawValue>, path: &str) -> Result<Option<Cow<'a, str>>, InputError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    match serde_json::from_str::<Cow<'a, str>>(raw.get()) {
        Ok(s) => Ok(Some(s)),
        Err(_) if raw.get() == "null" => Ok(None),
        Err(_) => Err(InputError::new(
            path,
            format!("expected a string; found {}", type_name(raw.get())),
        )),
    }
}

impl<'a> Gathered<'a> {
    /// Reads the whole input: a Bundle, a resource, or an array of resources.
    pub(crate) fn input(&mut self, bytes: &'a [u8]) -> Result<(), InputError> {
        // The common inputs, a Bundle or an array of resources, are read in one pass, without
        // first checking the whole text: each part read is checked as it is read. Anything
        // that fails is read again the careful way below, which names the problem.
        if let Ok(text) = std::str::from_utf8(bytes) {
            let body = text.trim_start();
            let fast = if body.starts_with('[') {
                serde_json::from_str::<Vec<&'a RawValue>>(text)
                    .ok()
                    .and_then(|items| {
                        items.into_iter().enumerate().try_for_each(|(i, v)| {
                            self.resource(v.get(), &format!("[{i}]"), None).ok()
                        })
                    })
            } else if body.starts_with('{')
                && resource_type(text, "").ok().as_deref() == Some("Bundle")
            {
                self.resource(text, "", None).ok()
            } else {
                None
            };
            if fast.is_some() {
                return Ok(());
            }
            *self = Gathered::default();
        }
        self.careful(bytes)
    }

    /// [`Gathered::input`] step by step: the whole text checked first, so that a problem is
    /// named at its place.
    fn careful(&mut self, bytes: &'a [u8]) -> Result<(), InputError> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            InputError::new(
                "$",
                format!(
                    "byte {} is not UTF-8 (FHIR JSON is UTF-8)",
                    e.valid_up_to() + 1
                ),
            )
        })?;
        let raw: &'a RawValue = serde_json::from_str(text)
            .map_err(|e| InputError::new("$", format!("malformed JSON: {e}")))?;
        match raw.get().as_bytes().first() {
            Some(b'[') => {
                let items: Vec<&'a RawValue> = serde_json::from_str(raw.get())
                    .map_err(|e| InputError::new("$", message_of(&e)))?;
                for (i, v) in items.into_iter().enumerate() {
                    self.resource(v.get(), &format!("[{i}]"), None)?;
                }
                Ok(())
            }
            Some(b'{') => self.resource(raw.get(), "", None),
            _ => Err(InputError::new(
                "$",
                format!(
                    "expected a FHIR resource, a Bundle or an array of resources; found {}",
                    type_name(raw.get())
                ),
            )),
        }
    }

    /// One resource (a Bundle is expanded) at `path`.
    pub(crate) fn resource(
        &mut self,
        raw: &'a str,
        path: &str,
        full_url: Option<Cow<'a, str>>,
    ) -> Result<(), InputError> {
        if !raw.trim_start().starts_with('{') {
            return Err(InputError::new(
                shown(path),
                format!(
                    "expected a FHIR resource (a JSON object); found {}",
                    type_name(raw)
                ),
            ));
        }
        let kind = resource_type(raw, path)?;
        if kind == "Bundle" {
            return self.bundle(raw, path);
        }
        self.items.push(Item {
            path: path.to_string(),
            full_url,
            kind,
            body: Body::Raw(raw),
        });
        Ok(())
    }

    fn bundle(&mut self, raw: &'a str, path: &str) -> Result<(), InputError> {
        // One pass over the Bundle and its entries first; a Bundle it cannot take as it is is
        // read again step by step, which names the problem. What it has already gathered is
        // put back first.
        let (items, skipped) = (self.items.len(), self.skipped.len());
        let bundle_id = self.bundle_id.clone();
        match self.bundle_at_once(raw, path) {
            Some(Ok(())) => return Ok(()),
            Some(Err(e)) => return Err(e),
            None => {
                self.items.truncate(items);
                self.skipped.truncate(skipped);
                self.bundle_id = bundle_id;
            }
        }
        self.bundle_step_by_step(raw, path)
    }

    /// A Bundle read in one pass: its entries typed, each resource kept as its text. `None`
    /// when the Bundle is not one it can take as it is (an unknown or missing type, an entry
    /// of the wrong shape, a value of the wrong type): [`Gathered::bundle_step_by_step`] then
    /// names the problem. An error from a resource inside it is that resource's own.
    fn bundle_at_once(&mut self, raw: &'a str, path: &str) -> Option<Result<(), InputError>> {
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

    fn bundle_step_by_step(&mut self, raw: &'a str, path: &str) -> Result<(), InputError> {
        let b: Bundle<'a> =
            serde_json::from_str(raw).map_err(|e| InputError::new(shown(path), message_of(&e)))?;
        match string(b.kind, &join(path, "type"))? {
            Some(t) if BUNDLE_TYPES.contains(&t.as_ref()) => {}
            Some(t) => {
                return Err(InputError::new(
                    join(path, "type"),
                    format!(
                        "Bundle type `{t}` is not read; expected one of {}",
                        BUNDLE_TYPES.join(", ")
                    ),
                ))
            }
            None => {
                return Err(InputError::new(
                    join(path, "type"),
                    format!("missing; expected one of {}", BUNDLE_TYPES.join(", ")),
                ))
            }
        }
        let id = string(b.id, &join(path, "id"))?;
        if self.bundle_id.is_none() && self.items.is_empty() {
            self.bundle_id = id.map(Cow::into_owned);
        }
        let Some(entries) = b.entry else {
            return Ok(());
        };
        if entries.get() == "null" {
            return Ok(());
        }
        let entries: Vec<&'a RawValue> = serde_json::from_str(entries.get()).map_err(|_| {
            InputError::new(
                join(path, "entry"),
                format!(
                    "expected an array of entries; found {}",
                    type_name(entries.get())
                ),
            )
        })?;
        for (i, e) in entries.into_iter().enumerate() {
            let epath = join(path, &format!("entry[{i}]"));
            if !e.get().starts_with('{') {
                return Err(InputError::new(
                    epath,
                    format!(
                        "expected a Bundle entry (a JSON object); found {}",
                        type_name(e.get())
                    ),
                ));
            }
            let entry: Entry<'a> = crate::model::read(e.get(), &epath)?;
            let full_url = string(entry.full_url, &join(&epath, "fullUrl"))?;
            let resource = entry
                .resource
                .filter(|r| r.get() != "null")
                .map(|r| Resource::Raw(r.get()));
            self.entry(epath, entry.request, resource, full_url)?;
        }
        Ok(())
    }

    /// One Bundle entry, however it was read: a DELETE or an entry without a resource is
    /// skipped with its reason; otherwise its resource is gathered under `<entry>.resource`.
    fn entry(
        &mut self,
        epath: String,
        request: Option<Request<'a>>,
        resource: Option<Resource<'a>>,
        full_url: Option<Cow<'a, str>>,
    ) -> Result<(), InputError> {
        if request.as_ref().and_then(|r| r.method.as_deref()) == Some("DELETE") {
            self.skipped.push(Skipped {
                path: epath,
                reason: "a DELETE request: no resource to read".into(),
            });
            return Ok(());
        }
        match resource {
            Some(Resource::Raw(r)) => self.resource(r, &join(&epath, "resource"), full_url),
            Some(Resource::Typed(r)) => {
                self.items.push(Item {
                    path: join(&epath, "resource"),
                    full_url,
                    kind: r.kind,
                    body: Body::Typed(r.typed),
                });
                Ok(())
            }
            None => {
                self.skipped.push(Skipped {
                    path: epath,
                    reason: "the entry has no resource".into(),
                });
                Ok(())
            }
        }
    }
}

/// The resource type of a resource's text. Most writers put `resourceType` first, so that is
/// read straight from the bytes; otherwise a probe skims the object for it.
fn resource_type<'a>(raw: &'a str, path: &str) -> Result<Cow<'a, str>, InputError> {
    const KEY: &str = "\"resourceType\"";
    let body = raw.trim_start().trim_start_matches('{').trim_start();
    if let Some(rest) = body.strip_prefix(KEY) {
        let rest = rest.trim_start();
        if let Some(rest) = rest.strip_prefix(':') {
            let rest = rest.trim_start();
            if let Some(v) = rest.strip_prefix('"') {
                if let Some(end) = v.find(['"', '\\']) {
                    if v.as_bytes()[end] == b'"' && end > 0 {
                        return Ok(Cow::Borrowed(&v[..end]));
                    }
                }
            }
        }
    }
    let k: Kind<'a> =
        serde_json::from_str(raw).map_err(|e| InputError::new(shown(path), message_of(&e)))?;
    match k.resource_type {
        None => Err(InputError::new(
            join(path, "resourceType"),
            "missing; expected a FHIR resource type such as \"Bundle\" or \"Observation\"",
        )),
        Some(v) => match serde_json::from_str::<Cow<'a, str>>(v.get()) {
            Ok(s) if !s.is_empty() => Ok(s),
            _ => Err(InputError::new(
                join(path, "resourceType"),
                format!(
                    "expected a resource type (a string); found {}",
                    type_name(v.get())
                ),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a reading gathered, to compare two readings: a resource kept as text is shown as
    /// the model its type is read as.
    fn shown(g: &Gathered<'_>, r: &Result<(), InputError>) -> String {
        let items: Vec<String> = g
            .items
            .iter()
            .map(|i| {
                let body = match &i.body {
                    Body::Typed(t) => format!("{t:?}"),
                    Body::Raw(raw) => match serde_json::from_str::<OnePassResource>(raw) {
                        Ok(r) => format!("{:?}", r.typed),
                        Err(_) => format!("text {raw}"),
                    },
                };
                format!("{} {:?} {} {body}", i.path, i.full_url, i.kind)
            })
            .collect();
        format!("{items:?} {:?} {:?} {r:?}", g.skipped, g.bundle_id)
    }

    /// Every fixture maps to the same case whether its Bundle was read in one pass (resources
    /// typed as they are read) or step by step (resources kept as text, read when mapped).
    #[test]
    fn typed_and_text_resources_map_alike() {
        let kb = cobalt_kb::load().unwrap();
        let as_of = time::macros::date!(2026 - 01 - 01);
        let (mut typed, mut mapped) = (0, 0);
        for text in texts() {
            let mut fast = Gathered::default();
            let Some(Ok(())) = fast.bundle_at_once(&text, "") else {
                continue;
            };
            typed += fast
                .items
                .iter()
                .filter(|i| matches!(i.body, Body::Typed(_)))
                .count();
            let mut careful = Gathered::default();
            careful.bundle_step_by_step(&text, "").unwrap();
            assert!(careful.items.iter().all(|i| matches!(i.body, Body::Raw(_))));
            let first = crate::map::run(fast_copy(&text), as_of, &kb, None);
            let id = first.as_ref().ok().and_then(|m| m.patient_id.clone());
            for patient in [None, Some("no-such-patient"), id.as_deref()] {
                let a = crate::map::run(fast_copy(&text), as_of, &kb, patient);
                let b = crate::map::run(careful_copy(&text), as_of, &kb, patient);
                mapped += usize::from(a.is_ok());
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{text}");
            }
        }
        assert!(typed >= 50 && mapped >= 40, "{typed} {mapped}");
    }

    fn fast_copy(text: &str) -> Gathered<'_> {
        let mut g = Gathered::default();
        g.bundle_at_once(text, "").unwrap().unwrap();
        g
    }

    fn careful_copy(text: &str) -> Gathered<'_> {
        let mut g = Gathered::default();
        g.bundle_step_by_step(text, "").unwrap();
        g
    }

    /// The one-pass reading of a Bundle gathers exactly what the step-by-step reading does,
    /// whenever it takes the Bundle at all; every other Bundle is left to the careful reading.
    /// The fixtures and crafted Bundles: entries of every shape, resources without a Patient
    /// (the patient then comes from a subject, of any resource type), `resourceType` not first.
    fn texts() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut texts: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        let entry = r#"{"resource":{"resourceType":"Observation","id":"o"}}"#;
        let b12 = r#"{"resource":{"resourceType":"Observation","id":"b","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2132-9"}]},"subject":{"reference":"Patient/p2"},"effectiveDateTime":"2025-01-01","valueQuantity":{"value":150,"unit":"pg/mL","system":"http://unitsofmeasure.org","code":"pg/mL"}}}"#;
        let med = r#"{"resource":{"resourceType":"Medication","id":"m","subject":{"reference":"Patient/p1"},"code":{"text":"x"}}}"#;
        let enc =
            r#"{"resource":{"resourceType":"Encounter","subject":{"reference":"Patient/p3"}}}"#;
        let late = r#"{"resource":{"id":"l","resourceType":"Observation","subject":{"reference":"Patient/p2"}}}"#;
        let bad_subject = r#"{"resource":{"resourceType":"Encounter","subject":{"reference":5}}}"#;
        let twice = r#"{"resource":{"resourceType":"Obs\u0065rvation","id":"t","resourceType":"Observation"}}"#;
        let escaped =
            r#"{"resource":{"resourceType":"Obs\u0065rvation","id":"e","status":"final"}}"#;
        for entries in [
            format!("[{entry},{{\"request\":{{\"method\":\"DELETE\"}}}},{{\"resource\":null}}]"),
            format!("[{entry},[\"x\",{{\"resourceType\":\"Patient\"}}]]"),
            format!("[{{\"resource\":{{}},\"resource\":{{}}}},{entry}]"),
            format!("[{entry},{{\"fullUrl\":7,\"resource\":{{\"resourceType\":\"Patient\"}}}}]"),
            format!("[{{\"resource\":{{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{entry}]}}}}]"),
            format!("[{{\"resource\":[1]}},{entry}]"),
            format!("[{med},{b12}]"),
            format!("[{enc},{b12},{med}]"),
            format!("[{entry},{b12}]"),
            format!("[{late},{b12}]"),
            format!("[{bad_subject},{b12}]"),
            format!("[{b12},{bad_subject}]"),
            format!("[{b12},{twice}]"),
            format!("[{escaped},{b12}]"),
            "null".to_string(),
            "{}".to_string(),
        ] {
            for kind in ["\"collection\"", "\"history\"", "null", "3"] {
                texts.push(format!(
                    r#"{{"resourceType":"Bundle","id":"b","type":{kind},"entry":{entries}}}"#
                ));
            }
        }
        texts
    }

    #[test]
    fn one_pass_agrees_with_step_by_step() {
        let texts = texts();
        let mut taken = 0;
        for text in &texts {
            if resource_type(text, "").ok().as_deref() != Some("Bundle") {
                continue;
            }
            let mut fast = Gathered::default();
            let Some(r) = fast.bundle_at_once(text, "") else {
                continue;
            };
            taken += 1;
            let mut careful = Gathered::default();
            let c = careful.bundle_step_by_step(text, "");
            assert_eq!(shown(&fast, &r), shown(&careful, &c), "{text}");
        }
        assert!(taken >= 10, "{taken}");
    }
}
