//! What the command line reads: one case or FHIR document, bounded in size, as UTF-8 text; and
//! the error that is the input's fault (exit 2).

use anyhow::{Context, Result};
use std::io::Read;
use std::path::Path;

/// An error that is the input's fault: exit 2.
#[derive(Debug)]
pub struct InvalidInput(pub String);

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for InvalidInput {}

/// The largest case or FHIR document read (one patient's record is kilobytes; a case with
/// 100,000 results is about 10 MB).
const MAX_INPUT_BYTES: u64 = 64 << 20;

/// Reads a file, or standard input for `-`, as UTF-8 text: the same refusal (exit 2) for bytes
/// that are not UTF-8 from either, and for more than [`MAX_INPUT_BYTES`] (an endless stream
/// such as /dev/zero is cut off there; a larger regular file is refused before it is read).
pub fn read_input(path: &Path) -> Result<String> {
    let too_big = || {
        InvalidInput(format!(
            "$: the input is larger than {} MiB; expected one patient's case or FHIR record",
            MAX_INPUT_BYTES >> 20
        ))
    };
    let mut b = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut b)
            .context("reading standard input")?;
    } else {
        let f = std::fs::File::open(path)
            .map_err(|e| InvalidInput(format!("cannot read {}: {e}", path.display())))?;
        if f.metadata()
            .is_ok_and(|m| m.is_file() && m.len() > MAX_INPUT_BYTES)
        {
            return Err(too_big().into());
        }
        f.take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut b)
            .map_err(|e| InvalidInput(format!("cannot read {}: {e}", path.display())))?;
    }
    if b.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_big().into());
    }
    let bytes = b;
    String::from_utf8(bytes).map_err(|e| {
        InvalidInput(format!(
            "$: byte {} is not UTF-8; expected a UTF-8 JSON document",
            e.utf8_error().valid_up_to() + 1
        ))
        .into()
    })
}
