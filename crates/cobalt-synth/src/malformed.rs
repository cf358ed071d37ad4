//! Malformed lines, at a configured share of all lines, of three kinds:
//!
//! - not JSON: a line cut short (`Truncate`);
//! - JSON that is not a valid FHIR resource: no `resourceType` (`NoResourceType`), or an
//!   Observation whose `valueQuantity.value` is a string (`StringValue`);
//! - an Observation in a unit its test cannot have, such as B12 in `fL` (`WrongUnit`).
//!
//! The decisions come from a per-patient stream of their own, so the share changes which lines
//! are spoiled and nothing else.

use crate::rng::Rng;

/// What is wrong with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Truncate,
    NoResourceType,
    StringValue,
    WrongUnit,
}

/// Decides, line by line, which lines to spoil.
#[derive(Debug, Clone)]
pub struct Faults {
    rng: Rng,
    per_mille: u32,
}

impl Faults {
    pub fn new(rng: Rng, per_mille: u32) -> Self {
        Faults { rng, per_mille }
    }

    /// The fault for the next line; `quantity` when the line is an Observation with a
    /// `valueQuantity` (the only lines that can carry the last two kinds).
    pub fn next(&mut self, quantity: bool) -> Fault {
        if self.rng.below(1000) >= u64::from(self.per_mille) {
            return Fault::None;
        }
        let kinds: &[Fault] = if quantity {
            &[
                Fault::Truncate,
                Fault::NoResourceType,
                Fault::StringValue,
                Fault::WrongUnit,
            ]
        } else {
            &[Fault::Truncate, Fault::NoResourceType]
        };
        *self.rng.pick(kinds)
    }

    /// Applies the faults that act on a finished line (`buf[start..]`): truncation, removal of
    /// `resourceType`. The others are written by the resource writers.
    pub fn apply(&mut self, buf: &mut Vec<u8>, start: usize, fault: Fault) {
        match fault {
            Fault::Truncate => {
                let len = buf.len() - start;
                // Keep at least `{` and lose at least the closing `}`; cut on a UTF-8 boundary.
                let mut cut = start + 1 + self.rng.below(len as u64 - 2) as usize;
                while cut > start + 1 && (buf[cut] & 0xC0) == 0x80 {
                    cut -= 1;
                }
                buf.truncate(cut);
            }
            Fault::NoResourceType => {
                // Every line starts `{"resourceType":"X",`.
                let line = &buf[start..];
                if let Some(comma) = line.iter().position(|&b| b == b',') {
                    buf.drain(start + 1..start + comma + 1);
                }
            }
            Fault::None | Fault::StringValue | Fault::WrongUnit => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_is_never_json() {
        let mut f = Faults::new(Rng::new(3), 1000);
        for _ in 0..500 {
            let mut buf = r#"{"resourceType":"Patient","id":"p1","unit":"µµµµ"}"#
                .as_bytes()
                .to_vec();
            f.apply(&mut buf, 0, Fault::Truncate);
            assert!(!buf.is_empty());
            let s = std::str::from_utf8(&buf).expect("cut on a character boundary");
            assert!(serde_json::from_str::<serde_json::Value>(s).is_err(), "{s}");
        }
    }

    #[test]
    fn removes_resource_type() {
        let mut f = Faults::new(Rng::new(3), 1000);
        let mut buf = b"xx{\"resourceType\":\"Patient\",\"id\":\"p1\"}".to_vec();
        f.apply(&mut buf, 2, Fault::NoResourceType);
        assert_eq!(buf, b"xx{\"id\":\"p1\"}");
    }
}
