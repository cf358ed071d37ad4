//! Reading an export: which files it has, and their bytes in blocks of whole lines.
//!
//! Lines are not decoded here: a block is handed to the filter as bytes, so that a line that
//! cannot matter is never validated, copied or parsed, and a line that is not UTF-8 becomes an
//! error record instead of ending the run. A file that cannot be opened or read to its end (a
//! truncated or corrupt `.gz`) is reported with the line where reading stopped; the lines
//! before it are kept.

use anyhow::{Context, Result};
use serde_json::Value;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::TYPES;

/// A block of whole lines of one file.
pub(crate) struct Block {
    /// Index of the file.
    pub file: u32,
    /// Line number (1-based) of the block's first line.
    pub first_line: u64,
    /// The lines, each ending with `\n` (the last line of a file may not).
    pub bytes: Vec<u8>,
}

/// Read size and the block size a reader aims for.
const READ: usize = 1 << 20;
const BLOCK: usize = 4 << 20;
/// A line longer than this is an error record, not a reason to hold the file in memory.
pub(crate) const MAX_LINE: usize = 64 << 20;

/// The day of the export: the date of the Bulk Data manifest's `transactionTime` (the server's
/// time when the export was made), when there is a manifest that gives one. An export is assessed
/// as of that day, so that "in the last 12 months" means the same whenever the job runs.
pub fn manifest_date(dir: &Path) -> Result<Option<time::Date>> {
    let manifest = dir.join("manifest.json");
    if !manifest.exists() {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&manifest)?)
        .context("manifest.json is not JSON")?;
    let Some(t) = v.get("transactionTime") else {
        return Ok(None);
    };
    let date = t
        .as_str()
        .filter(|s| s.len() >= 10 && (s.len() == 10 || s.as_bytes()[10] == b'T'))
        .and_then(|s| cobalt_core::case::parse_date(&s[..10]));
    match date {
        Some(d) => Ok(Some(d)),
        None => anyhow::bail!("manifest.json: transactionTime `{t}` is not a FHIR instant"),
    }
}

/// The export's files: the manifest's when there is one (of the types cobalt reads), else
/// every `<Type>.ndjson` or `<Type>*.ndjson.gz` of such a type, sorted by name.
pub fn discover(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let manifest = dir.join("manifest.json");
    let mut out = Vec::new();
    if manifest.exists() {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&manifest)?)
            .context("manifest.json is not JSON")?;
        for o in v
            .get("output")
            .and_then(Value::as_array)
            .context("manifest.json has no `output` list")?
        {
            let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
            let url = o.get("url").and_then(Value::as_str).unwrap_or("");
            if !TYPES.contains(&kind) || url.is_empty() {
                continue;
            }
            // A URL is read by its last path segment, relative to the export directory.
            let name = url.rsplit('/').next().unwrap_or(url);
            out.push((kind.to_string(), dir.join(name)));
        }
    } else {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !(name.ends_with(".ndjson") || name.ends_with(".ndjson.gz")) {
                continue;
            }
            let kind: String = name
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            if TYPES.contains(&kind.as_str()) {
                out.push((kind, p));
            }
        }
    }
    Ok(out)
}

struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// How reading a file ended.
pub(crate) struct FileRead {
    /// Lines read (a last line without `\n` counts).
    pub lines: u64,
    /// Why reading stopped early, and at which line.
    pub problem: Option<(u64, String)>,
}

/// Reads one file in blocks of whole lines and hands each to `send`. `bytes_read` counts the
/// bytes taken from disk (compressed bytes for `.gz`).
pub(crate) fn read_file(
    file: u32,
    path: &Path,
    bytes_read: &Arc<AtomicU64>,
    send: &mut dyn FnMut(Block),
) -> FileRead {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            return FileRead {
                lines: 0,
                problem: Some((0, format!("cannot open the file: {e}"))),
            }
        }
    };
    let counted = CountingReader {
        inner: f,
        count: Arc::clone(bytes_read),
    };
    let mut reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            READ, counted,
        )))
    } else {
        Box::new(counted)
    };
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK + READ);
    let mut next_line = 1u64;
    // Inside an over-long line: bytes are dropped up to its end.
    let mut discarding = false;
    let mut problem = None;
    loop {
        let start = buf.len();
        buf.resize(start + READ, 0);
        let n = match reader.read(&mut buf[start..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                buf.truncate(start);
                continue;
            }
            Err(e) => {
                buf.truncate(start);
                // Whole lines before the problem are kept; the partial one is the problem.
                if let Some(cut) = memchr::memrchr(b'\n', &buf) {
                    let rest = buf.split_off(cut + 1);
                    next_line = emit(file, next_line, buf, send);
                    buf = rest;
                }
                problem = Some((next_line, format!("reading stopped: {e}")));
                buf.clear();
                break;
            }
        };
        buf.truncate(start + n);
        if discarding {
            match memchr::memchr(b'\n', &buf) {
                Some(i) => {
                    buf.drain(..=i);
                    discarding = false;
                    next_line += 1;
                }
                None => {
                    buf.clear();
                    if n == 0 {
                        next_line += 1;
                        break;
                    }
                    continue;
                }
            }
        }
        if n == 0 {
            if !buf.is_empty() {
                next_line = emit(file, next_line, std::mem::take(&mut buf), send);
            }
            break;
        }
        if buf.len() >= BLOCK {
            match memchr::memrchr(b'\n', &buf) {
                Some(cut) => {
                    let rest = buf.split_off(cut + 1);
                    next_line = emit(file, next_line, std::mem::replace(&mut buf, rest), send);
                    buf.reserve(BLOCK + READ);
                }
                None if buf.len() > MAX_LINE => {
                    problem.get_or_insert((
                        next_line,
                        format!("line longer than {} MiB: not read", MAX_LINE >> 20),
                    ));
                    buf.clear();
                    discarding = true;
                }
                None => {}
            }
        }
    }
    FileRead {
        lines: next_line - 1,
        problem,
    }
}

/// Sends a block; returns the number of the line after it.
fn emit(file: u32, first_line: u64, bytes: Vec<u8>, send: &mut dyn FnMut(Block)) -> u64 {
    let mut lines = memchr::memchr_iter(b'\n', &bytes).count() as u64;
    if bytes.last().is_some_and(|b| *b != b'\n') {
        lines += 1;
    }
    send(Block {
        file,
        first_line,
        bytes,
    });
    first_line + lines
}

/// The lines of a block with their numbers, without the line ends (`\n` or `\r\n`).
pub(crate) fn lines(block: &Block) -> impl Iterator<Item = (u64, &[u8])> {
    let bytes = &block.bytes[..];
    let mut start = 0usize;
    let mut n = block.first_line;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let mut line = &bytes[start..end];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        let item = (n, line);
        n += 1;
        start = end + 1;
        Some(item)
    })
}
