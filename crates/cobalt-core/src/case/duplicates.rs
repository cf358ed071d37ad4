//! A key given twice in one JSON object. The typed structs refuse a repeated field (serde's
//! derive does), but a JSON tree (`serde_json::Value`) keeps the last value without a word, so
//! the parser looks for a repeat here before it reads a document into a tree. Only a document
//! the typed fast path refused comes here: a valid one is read once.

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeSet;
use std::fmt;

/// The first key given twice in one object: its JSON path (`patient.age_years`,
/// `labs[1].unit`) and the key. Malformed JSON gives none here; the caller says it is
/// malformed. Builds nothing but each object's set of keys.
pub(super) fn first_repeated_key(json: &str) -> Option<(String, String)> {
    let mut found = None;
    let mut de = serde_json::Deserializer::from_str(json);
    // The scan stops at the first repeat with an error; the repeat is in `found`.
    let _ = Scan {
        path: String::new(),
        found: &mut found,
    }
    .deserialize(&mut de);
    found
}

/// Walks one JSON value at `path`, recording the first repeated key in `found`.
struct Scan<'f> {
    path: String,
    found: &'f mut Option<(String, String)>,
}

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let found = self.found;
        let mut keys = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !keys.insert(key.clone()) {
                *found = Some((path, key));
                return Err(A::Error::custom("a key given twice"));
            }
            map.next_value_seed(Scan {
                path,
                found: &mut *found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let found = self.found;
        let mut i = 0;
        while seq
            .next_element_seed(Scan {
                path: format!("{}[{i}]", self.path),
                found: &mut *found,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    // Everything else holds no key.
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::first_repeated_key;

    #[test]
    fn finds_the_first_repeat_and_its_path() {
        let got = |s: &str| first_repeated_key(s).map(|(p, _)| p);
        assert_eq!(
            got(r#"{"a": 1, "b": {"c": [1, {"d": 2, "d": 3}]}}"#).as_deref(),
            Some("b.c[1].d")
        );
        assert_eq!(got(r#"{"a": 1, "a": 2}"#).as_deref(), Some("a"));
        assert_eq!(
            got(r#"[{"x": null}, {"x": true, "y": "s", "x": 1.5}]"#).as_deref(),
            Some("[1].x")
        );
        // The same key in two objects, escapes that spell different keys, and malformed JSON.
        assert_eq!(got(r#"{"a": {"k": 1}, "b": {"k": 1}, "k": -1}"#), None);
        assert_eq!(got(r#"{"k": 1, "\u006b2": 2}"#), None);
        assert_eq!(got(r#"{"k": 1,"#), None);
        // An escape that spells the same key is the same key.
        assert_eq!(got(r#"{"k": 1, "\u006b": 2}"#).as_deref(), Some("k"));
    }
}
