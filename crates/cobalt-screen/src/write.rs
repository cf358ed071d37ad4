//! Writing the outputs. Each is written under a temporary name of its own run and renamed when
//! complete (by [`crate::output::commit`], the whole set at once), so a results directory never
//! holds a partial file under a final name; the outputs of an earlier run are removed before a
//! run starts, so none can pass for current.

use crate::partition::Spill;
use crate::row::{Row, COLUMNS};
use crate::{ErrorRecord, Format, Options};
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Every file a run writes, by its final name.
pub(crate) const OUTPUTS: [&str; 5] = [
    "results.ndjson",
    "results.csv",
    "results.parquet",
    "errors.ndjson",
    "summary.json",
];

/// Removes the outputs of an earlier run.
pub(crate) fn clear(out: &Path) -> Result<()> {
    for name in OUTPUTS {
        match std::fs::remove_file(out.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {name} of an earlier run")),
        }
    }
    Ok(())
}

/// A file written under a temporary name, renamed to its final name by [`Atomic::commit`];
/// dropped without a commit, the temporary file is removed. The temporary name is this
/// process's own (`.NAME.PID-TIME-N.partial`), so that two writers of one name never share it.
pub(crate) struct Atomic {
    tmp: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl Atomic {
    pub(crate) fn new(dest: PathBuf) -> Atomic {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let name = dest
            .file_name()
            .map_or_else(Default::default, |n| n.to_os_string());
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}-{nanos:x}-{n}.partial", std::process::id()));
        Atomic {
            tmp: dest.with_file_name(tmp_name),
            dest,
            done: false,
        }
    }

    /// The final name.
    pub(crate) fn dest(&self) -> &Path {
        &self.dest
    }

    pub(crate) fn create(&self) -> Result<std::fs::File> {
        std::fs::File::create(&self.tmp).with_context(|| self.writing())
    }

    /// "writing DEST": what a failure to write this file is reported as.
    pub(crate) fn writing(&self) -> String {
        format!("writing {}", self.dest.display())
    }

    /// Puts the written file on disk (a full disk may say so only now).
    pub(crate) fn sync(&self) -> Result<()> {
        std::fs::File::open(&self.tmp)
            .and_then(|f| f.sync_all())
            .with_context(|| self.writing())
    }

    pub(crate) fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.dest)
            .with_context(|| format!("renaming to {}", self.dest.display()))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Atomic {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `dest` atomically.
pub(crate) fn file(dest: PathBuf, bytes: &[u8]) -> Result<()> {
    let a = Atomic::new(dest);
    let mut f = a.create()?;
    f.write_all(bytes).with_context(|| a.writing())?;
    drop(f);
    a.sync()?;
    a.commit()
}

/// Error records written to `dest`, one JSON object a line, atomically.
pub(crate) fn error_file(dest: PathBuf, errors: &[ErrorRecord]) -> Result<()> {
    let a = Atomic::new(dest);
    let mut w = BufWriter::new(a.create()?);
    let mut write = || -> std::io::Result<()> {
        for e in errors {
            serde_json::to_writer(&mut w, e)?;
            w.write_all(b"\n")?;
        }
        w.flush()
    };
    write().with_context(|| a.writing())?;
    drop(w);
    a.commit()
}

/// Merges the partitions' sorted results into `a` (`results.<format>`, not yet committed), in
/// patient-id order.
pub(crate) fn merge(opts: &Options, spill: &Spill, a: &Atomic) -> Result<()> {
    let file = a.create()?;
    let mut readers: Vec<BufReader<std::fs::File>> = (0..spill.parts)
        .map(|p| {
            let path = spill.results(p);
            let f = std::fs::File::open(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(BufReader::with_capacity(256 << 10, f))
        })
        .collect::<Result<_>>()?;
    // Each reader's next record, in the heap with its reader's index. A record's buffer goes
    // back to its reader for the one after it: nothing is allocated or checked per record (the
    // files are cobalt's own, written this run).
    let read = |r: &mut BufReader<std::fs::File>, mut buf: Vec<u8>| -> Result<Option<Vec<u8>>> {
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            return Ok(None);
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        Ok(Some(buf))
    };
    let mut heap = std::collections::BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some(line) = read(r, Vec::new())? {
            heap.push(std::cmp::Reverse((line, i)));
        }
    }
    let mut spare = Vec::new();
    let mut next = |body: &mut Vec<u8>| -> Result<bool> {
        let Some(std::cmp::Reverse((line, i))) = heap.pop() else {
            return Ok(false);
        };
        body.clear();
        let at = memchr::memchr(b'\t', &line).map_or(0, |t| t + 1);
        body.extend_from_slice(&line[at..]);
        if let Some(n) = read(&mut readers[i], std::mem::replace(&mut spare, line))? {
            heap.push(std::cmp::Reverse((n, i)));
        }
        Ok(true)
    };
    rows(opts.format, file, &mut next).with_context(|| a.writing())
}

/// Writes result records (`next` puts each one's text in its buffer, in order, and says
/// whether there was one) to `file` in `format`: the text itself for NDJSON and CSV (with the
/// header), compact rows read back for Parquet.
pub(crate) fn rows(
    format: Format,
    file: std::fs::File,
    next: &mut dyn FnMut(&mut Vec<u8>) -> Result<bool>,
) -> Result<()> {
    let mut body = Vec::new();
    match format {
        Format::Ndjson | Format::Csv => {
            let mut out = BufWriter::with_capacity(1 << 20, file);
            if format == Format::Csv {
                writeln!(out, "{}", COLUMNS.join(","))?;
            }
            while next(&mut body)? {
                out.write_all(&body)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
        Format::Parquet => {
            let mut w = crate::parquet::Writer::new(file)?;
            while next(&mut body)? {
                let row: Row = serde_json::from_slice(&body).context("a compact row")?;
                w.push(row)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}
