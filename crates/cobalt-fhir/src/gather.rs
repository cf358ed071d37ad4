//! Finding the resources in the input bytes: a Bundle's entries, an array's items, or one
//! resource, each kept as its raw JSON text (borrowed from the input, never a tree) with the
//! JSON path it came from and its resource type.

use crate::model::{join, message_of};
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
    pub raw: &'a str,
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
            raw,
        });
        Ok(())
    }

    fn bundle(&mut self, raw: &'a str, path: &str) -> Result<(), InputError> {
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
            if entry.request.as_ref().and_then(|r| r.method.as_deref()) == Some("DELETE") {
                self.skipped.push(Skipped {
                    path: epath,
                    reason: "a DELETE request: no resource to read".into(),
                });
                continue;
            }
            match entry.resource {
                Some(r) if r.get() != "null" => {
                    self.resource(r.get(), &join(&epath, "resource"), full_url)?
                }
                _ => self.skipped.push(Skipped {
                    path: epath,
                    reason: "the entry has no resource".into(),
                }),
            }
        }
        Ok(())
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
