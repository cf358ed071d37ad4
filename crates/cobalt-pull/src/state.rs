//! A pull's state, kept in `DIR/.pull/state.json` (written under a temporary name and renamed),
//! so that a pull run again resumes: the status URL to poll, the scopes that worked, the
//! server's manifest once it came, and each file already whole.

use crate::PullError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The state of one pull.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// The FHIR server.
    pub fhir_server: String,
    /// The kick-off URL (with `_type` and `_since`): the export's `request`.
    pub request: String,
    /// The status URL the kick-off answered with.
    pub status_url: String,
    /// When the kick-off was made (Unix seconds).
    pub kicked_off: i64,
    /// Index of the scope candidate that worked.
    pub scope_level: usize,
    /// The server's manifest, once complete.
    #[serde(default)]
    pub manifest: Option<serde_json::Value>,
    /// Files already whole: their stem, name and lines.
    #[serde(default)]
    pub done: BTreeMap<String, (String, u64)>,
}

/// The state directory of an export directory.
pub fn dir(out: &Path) -> PathBuf {
    out.join(".pull")
}

/// Reads the state, when there is one.
///
/// # Errors
/// A state file that cannot be read.
pub fn load(out: &Path) -> Result<Option<State>, PullError> {
    let path = dir(out).join("state.json");
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            PullError::Usage(format!(
                "{}: not a pull state ({e}); remove the directory {} to start afresh",
                path.display(),
                dir(out).display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PullError::Io(format!("reading {}: {e}", path.display()))),
    }
}

/// Writes the state: a temporary file, then a rename, so a crash leaves the old or the new.
///
/// # Errors
/// The disk.
pub fn save(out: &Path, state: &State) -> Result<(), PullError> {
    let d = dir(out);
    std::fs::create_dir_all(&d)
        .map_err(|e| PullError::Io(format!("creating {}: {e}", d.display())))?;
    let tmp = d.join("state.json.tmp");
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| PullError::Io(e.to_string()))?;
    std::fs::write(&tmp, bytes)
        .map_err(|e| PullError::Io(format!("writing {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, d.join("state.json"))
        .map_err(|e| PullError::Io(format!("writing {}: {e}", d.display())))
}

/// Counts the lines of a whole file already on disk (a file renamed before its state was
/// saved), decompressing `.gz`.
///
/// # Errors
/// The file cannot be read.
pub fn count_lines(path: &Path) -> Result<u64, PullError> {
    let f = std::fs::File::open(path)
        .map_err(|e| PullError::Io(format!("reading {}: {e}", path.display())))?;
    let mut counter = crate::download::LineCounter::default();
    let r: Box<dyn std::io::Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(f))
    } else {
        Box::new(f)
    };
    std::io::copy(&mut std::io::BufReader::new(r), &mut counter)
        .map_err(|e| PullError::Io(format!("reading {}: {e}", path.display())))?;
    Ok(counter.lines())
}
