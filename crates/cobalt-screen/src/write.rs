//! Writing the outputs. Each is written under a temporary name and renamed when complete, so a
//! results directory never holds a partial file under a final name; the outputs of an earlier
//! run are removed before a run starts, so none can pass for current.

use crate::partition::Spill;
use crate::row::{Row, COLUMNS};
use crate::{ErrorRecord, Format, Options};
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

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
/// dropped without a commit, the temporary file is removed.
pub(crate) struct Atomic {
    tmp: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl Atomic {
    pub(crate) fn new(dest: PathBuf) -> Atomic {
        let name = dest
            .file_name()
            .map_or_else(Default::default, |n| n.to_os_string());
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(".partial");
        Atomic {
            tmp: dest.with_file_name(tmp_name),
            dest,
            done: false,
        }
    }

    pub(crate) fn create(&self) -> Result<std::fs::File> {
        std::fs::File::create(&self.tmp).with_context(|| format!("creating {}", self.tmp.display()))
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
    f.write_all(bytes)?;
    f.sync_all().ok();
    drop(f);
    a.commit()
}

/// The error records, one JSON object a line.
pub(crate) fn errors(out: &Path, errors: &[ErrorRecord]) -> Result<()> {
    error_file(out.join("errors.ndjson"), errors)
}

/// Error records written to `dest`, one JSON object a line, atomically.
pub(crate) fn error_file(dest: PathBuf, errors: &[ErrorRecord]) -> Result<()> {
    let a = Atomic::new(dest);
    let mut w = BufWriter::new(a.create()?);
    for e in errors {
        serde_json::to_writer(&mut w, e)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    drop(w);
    a.commit()
}

/// Merges the partitions' sorted results into `results.<format>`, in patient-id order.
pub(crate) fn merge(opts: &Options, spill: &Spill) -> Result<()> {
    let a = Atomic::new(
        opts.out
            .join(format!("results.{}", opts.format.extension())),
    );
    let file = a.create()?;
    let mut readers: Vec<std::io::Lines<BufReader<std::fs::File>>> = (0..spill.parts)
        .map(|p| {
            Ok(BufReader::with_capacity(256 << 10, std::fs::File::open(spill.results(p))?).lines())
        })
        .collect::<Result<_>>()?;
    let mut heap = std::collections::BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some(line) = r.next() {
            heap.push(std::cmp::Reverse((line?, i)));
        }
    }
    let mut next = || -> Result<Option<String>> {
        let Some(std::cmp::Reverse((line, i))) = heap.pop() else {
            return Ok(None);
        };
        if let Some(n) = readers[i].next() {
            heap.push(std::cmp::Reverse((n?, i)));
        }
        let body = match line.split_once('\t') {
            Some((_, b)) => b.to_string(),
            None => line,
        };
        Ok(Some(body))
    };
    rows(opts.format, file, &mut next)?;
    a.commit()
}

/// Writes result records (`next` gives each one's text, in order) to `file` in `format`: the
/// text itself for NDJSON and CSV (with the header), compact rows read back for Parquet.
pub(crate) fn rows(
    format: Format,
    file: std::fs::File,
    next: &mut dyn FnMut() -> Result<Option<String>>,
) -> Result<()> {
    match format {
        Format::Ndjson | Format::Csv => {
            let mut out = BufWriter::with_capacity(1 << 20, file);
            if format == Format::Csv {
                writeln!(out, "{}", COLUMNS.join(","))?;
            }
            while let Some(body) = next()? {
                out.write_all(body.as_bytes())?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
        Format::Parquet => {
            let mut w = crate::parquet::Writer::new(file)?;
            while let Some(body) = next()? {
                let row: Row = serde_json::from_str(&body).context("a compact row")?;
                w.push(row)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}
