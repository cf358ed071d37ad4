//! Reading an export: which files it has, and their bytes in blocks of whole lines.
//!
//! Lines are not decoded here: a block is handed to the filter as bytes, so that a line that
//! cannot matter is never validated, copied or parsed, and a line that is not UTF-8 becomes an
//! error record instead of ending the run. A file that cannot be opened or read to its end (a
//! truncated or corrupt `.gz`) is reported with the line where reading stopped; the lines
//! before it are kept. A line longer than [`MAX_LINE`] is dropped as it is read, reported by its
//! number, and the lines after it are read.

use crate::ErrorRecord;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
    /// Lines read (a last line without `\n` counts), over-long ones included.
    pub lines: u64,
    /// Why reading stopped early, and at which line.
    pub problem: Option<(u64, String)>,
    /// The over-long lines, by number: not read.
    pub long_lines: Vec<u64>,
}

impl FileRead {
    /// The error records of this reading of file `name`: each over-long line, and the reason
    /// reading stopped (`unreadable`).
    pub(crate) fn errors(&self, name: &str) -> Vec<ErrorRecord> {
        let mut out: Vec<ErrorRecord> = self
            .long_lines
            .iter()
            .map(|line| ErrorRecord {
                file: name.to_string(),
                line: *line,
                patient: None,
                kind: "too_long".into(),
                message: format!("line longer than {} MiB: not read", MAX_LINE >> 20),
            })
            .collect();
        if let Some((line, message)) = &self.problem {
            out.push(ErrorRecord {
                file: name.to_string(),
                line: *line,
                patient: None,
                kind: "unreadable".into(),
                message: message.clone(),
            });
        }
        out
    }
}

/// Block buffers given back once their lines are filed, so that a run reuses memory it has
/// already touched instead of having fresh pages zeroed for every block. Holds a few at most.
#[derive(Default)]
pub(crate) struct Buffers(std::sync::Mutex<Vec<Vec<u8>>>);

impl Buffers {
    /// An empty buffer with room for a block.
    fn take(&self) -> Vec<u8> {
        let reused = self.0.lock().ok().and_then(|mut v| v.pop());
        let mut b = reused.unwrap_or_default();
        b.clear();
        b.reserve(BLOCK + READ);
        b
    }

    /// Gives a block's buffer back for reuse.
    pub(crate) fn give(&self, b: Vec<u8>) {
        if b.capacity() < BLOCK || b.capacity() > 4 * (BLOCK + READ) {
            return;
        }
        if let Ok(mut v) = self.0.lock() {
            if v.len() < 16 {
                v.push(b);
            }
        }
    }
}

/// Reads one file in blocks of whole lines and hands each to `send`. `bytes_read` counts the
/// bytes taken from disk (compressed bytes for `.gz`).
pub(crate) fn read_file(
    file: u32,
    path: &Path,
    bytes_read: &Arc<AtomicU64>,
    send: &mut dyn FnMut(Block),
) -> FileRead {
    read_file_with(file, path, bytes_read, &Buffers::default(), send)
}

/// [`read_file`], taking its block buffers from `buffers` (which the consumer refills).
pub(crate) fn read_file_with(
    file: u32,
    path: &Path,
    bytes_read: &Arc<AtomicU64>,
    buffers: &Buffers,
    send: &mut dyn FnMut(Block),
) -> FileRead {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            return FileRead {
                lines: 0,
                problem: Some((0, format!("cannot open the file: {e}"))),
                long_lines: Vec::new(),
            }
        }
    };
    let counted = CountingReader {
        inner: f,
        count: Arc::clone(bytes_read),
    };
    let mut reader: Box<dyn Read> = if crate::export::gzip_name(path) {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            READ, counted,
        )))
    } else {
        Box::new(counted)
    };
    let mut buf: Vec<u8> = buffers.take();
    let mut next_line = 1u64;
    // Inside an over-long line: bytes are dropped up to its end.
    let mut discarding = false;
    let mut problem = None;
    let mut long_lines = Vec::new();
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
                    let mut rest = buffers.take();
                    rest.extend_from_slice(&buf[cut + 1..]);
                    buf.truncate(cut + 1);
                    next_line = emit(file, next_line, std::mem::replace(&mut buf, rest), send);
                }
                None if buf.len() > MAX_LINE => {
                    long_lines.push(next_line);
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
        long_lines,
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
