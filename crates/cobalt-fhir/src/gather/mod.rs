//! Finding the resources in the input bytes: a Bundle's entries, an array's items, or one
//! resource, each with the JSON path it came from and its resource type. A resource is kept as
//! its raw JSON text (borrowed from the input, never a tree), or, when its Bundle was read in
//! one pass, as the typed fields cobalt reads from it ([`Typed`]), so that its text is not
//! scanned twice.

mod one_pass;

use crate::model::{join, message_of};
use crate::Skipped;
use cobalt_core::InputError;
use one_pass::OnePassResource;
pub(crate) use one_pass::Typed;
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
mod tests;
