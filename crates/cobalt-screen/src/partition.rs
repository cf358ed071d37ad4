//! Filing every line that can matter under its patient, in partition files by patient hash.

use crate::errors::Errors;
use crate::filter::{patient_of, shard_of, Filter, Probe};
use crate::medication::{MedLine, Medications};
use crate::read::{self, Block};
use crate::{ErrorRecord, Options, Progress};
use anyhow::{Context, Result};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

/// The run's spill directory under the results directory (`.partitions-RUN`, its own):
/// partition files of filed lines, then of sorted results, and runs of error records. Removed
/// when the run ends, whichever way it ends.
pub(crate) struct Spill {
    pub dir: PathBuf,
    pub parts: usize,
}

impl Spill {
    pub(crate) fn create(out: &Path, run: &str, parts: usize) -> Result<Spill> {
        let dir = out.join(format!(".partitions-{run}"));
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Spill { dir, parts })
    }

    pub(crate) fn lines(&self, p: usize) -> PathBuf {
        self.dir.join(format!("part-{p}"))
    }

    pub(crate) fn results(&self, p: usize) -> PathBuf {
        self.dir.join(format!("result-{p}"))
    }

    /// Removes the sorted results once merged, so that the disk holds them once.
    pub(crate) fn remove_results(&self) {
        for p in 0..self.parts {
            let _ = std::fs::remove_file(self.results(p));
        }
    }

    pub(crate) fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        self.remove();
    }
}

/// What filing found (its error records went to the run's [`Errors`]).
pub(crate) struct Filed {
    pub lines_read: u64,
    pub lines_skipped: u64,
    pub file_lines: Vec<u64>,
}

/// Reads every file (this thread) and files its lines (one worker per core); error records go
/// to `sink` as they are made.
#[allow(clippy::too_many_arguments)]
pub(crate) fn file_lines(
    kb: &cobalt_core::KnowledgeBase,
    opts: &Options,
    files: &[(String, PathBuf)],
    names: &[String],
    spill: &Spill,
    sink: &Errors,
    threads: usize,
    bytes_read: &Arc<AtomicU64>,
    total_bytes: u64,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Filed> {
    // Medication resources first: the requests of any patient may name one.
    let (meds, med_lines) =
        Medications::load(files, names, bytes_read, sink).context("writing error records")?;
    let parts: Vec<Mutex<BufWriter<std::fs::File>>> = (0..spill.parts)
        .map(|i| {
            let path = spill.lines(i);
            let f = std::fs::File::create(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            Ok(Mutex::new(BufWriter::with_capacity(256 << 10, f)))
        })
        .collect::<Result<_>>()?;
    let filter = Filter::new(kb);
    let lines_read = AtomicU64::new(med_lines.values().sum());
    let lines_skipped = AtomicU64::new(0);
    let mut file_lines = vec![0u64; files.len()];
    for (fi, n) in &med_lines {
        file_lines[*fi] = *n;
    }
    let write_failed: Mutex<Option<std::io::Error>> = Mutex::new(None);
    let buffers = read::Buffers::default();

    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Block>(threads * 2);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..threads {
            let rx = Arc::clone(&rx);
            let mut w = Worker::new(&meds, &filter, opts, files, names, &parts);
            w.sink = Some(sink);
            let (lines_read, lines_skipped, write_failed, buffers) =
                (&lines_read, &lines_skipped, &write_failed, &buffers);
            scope.spawn(move || loop {
                let msg = rx.lock().map(|r| r.recv());
                let Ok(Ok(block)) = msg else {
                    break;
                };
                let mut local = Local::default();
                if let Err(e) = w.block(&block, &mut local) {
                    if let Ok(mut f) = write_failed.lock() {
                        f.get_or_insert(e);
                    }
                }
                lines_read.fetch_add(local.lines, Ordering::Relaxed);
                lines_skipped.fetch_add(local.skipped, Ordering::Relaxed);
                buffers.give(block.bytes);
            });
        }
        // The reader: this thread.
        let mut last = std::time::Instant::now();
        for (fi, (kind, path)) in files.iter().enumerate() {
            if kind == "Medication" {
                continue;
            }
            let mut send = |b: Block| {
                tx.send(b).ok();
                if last.elapsed().as_millis() >= 200 {
                    progress(Progress {
                        bytes: bytes_read.load(Ordering::Relaxed),
                        total_bytes,
                        lines: lines_read.load(Ordering::Relaxed),
                    });
                    last = std::time::Instant::now();
                }
            };
            let r = read::read_file_with(fi as u32, path, bytes_read, &buffers, &mut send);
            file_lines[fi] = r.lines;
            // Over-long lines were read, and are error records.
            lines_read.fetch_add(r.long_lines.len() as u64, Ordering::Relaxed);
            if let Err(e) = sink.extend(&mut r.errors(&names[fi])) {
                if let Ok(mut f) = write_failed.lock() {
                    f.get_or_insert(e);
                }
            }
        }
        drop(tx);
    });
    progress(Progress {
        bytes: bytes_read.load(Ordering::Relaxed),
        total_bytes,
        lines: lines_read.load(Ordering::Relaxed),
    });
    if let Some(e) = write_failed.into_inner().ok().flatten() {
        return Err(e)
            .with_context(|| format!("writing the spill files in {}", spill.dir.display()));
    }
    for (i, w) in parts.into_iter().enumerate() {
        w.into_inner()
            .map_err(|_| anyhow::anyhow!("a partition writer panicked"))?
            .flush()
            .with_context(|| format!("writing {}", spill.lines(i).display()))?;
    }
    Ok(Filed {
        lines_read: lines_read.into_inner(),
        lines_skipped: lines_skipped.into_inner(),
        file_lines,
    })
}

pub(crate) struct Worker<'a> {
    /// Where error records go as they are made; without one (a stage run), they stay in the
    /// caller's [`Local`].
    pub sink: Option<&'a Errors>,
    meds: &'a Medications,
    filter: &'a Filter<'a>,
    opts: &'a Options,
    files: &'a [(String, PathBuf)],
    names: &'a [String],
    parts: &'a [Mutex<BufWriter<std::fs::File>>],
}

/// What one worker counted and refused.
#[derive(Default)]
pub(crate) struct Local {
    pub lines: u64,
    pub skipped: u64,
    pub errors: Vec<ErrorRecord>,
}

/// A line filed under its patient: the patient id, the resource's text, and the Medication its
/// request names, if the export holds it.
pub(crate) struct FiledLine<'l, 'm> {
    pub pid: String,
    pub text: &'l str,
    pub med: Option<&'m MedLine>,
}

impl<'a> Worker<'a> {
    pub(crate) fn new(
        meds: &'a Medications,
        filter: &'a Filter<'a>,
        opts: &'a Options,
        files: &'a [(String, PathBuf)],
        names: &'a [String],
        parts: &'a [Mutex<BufWriter<std::fs::File>>],
    ) -> Worker<'a> {
        Worker {
            sink: None,
            meds,
            filter,
            opts,
            files,
            names,
            parts,
        }
    }

    fn block(&self, block: &Block, local: &mut Local) -> std::io::Result<()> {
        for (lineno, bytes) in read::lines(block) {
            let filed = self.line(block.file, lineno, bytes, local);
            if let Some(sink) = self.sink {
                sink.extend(&mut local.errors)?;
            }
            let Some(f) = filed else {
                continue;
            };
            let p = shard_of(&f.pid, self.parts.len());
            if let Ok(mut w) = self.parts[p].lock() {
                // One record a line: file, line, patient, then the resource's text (JSON text
                // has no raw newline; a tab inside it is after the third field).
                record(&mut *w, block.file, lineno, &f.pid, f.text)?;
                // The Medication it names goes with it (the patient's lines are deduplicated
                // when assessed).
                if let Some(m) = f.med {
                    record(&mut *w, m.file, m.line, &f.pid, &m.text)?;
                }
            }
        }
        Ok(())
    }

    /// Decides one line: skipped (blank, or an Observation that cannot matter: counted in
    /// `local`), an error record (in `local`), or filed under its patient.
    pub(crate) fn line<'l>(
        &self,
        file: u32,
        lineno: u64,
        bytes: &'l [u8],
        local: &mut Local,
    ) -> Option<FiledLine<'l, 'a>> {
        let kind = self.files[file as usize].0.as_str();
        let observation = kind == "Observation";
        local.lines += 1;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        if observation && !self.opts.validate_all && !self.filter.observation_may_matter(bytes) {
            local.skipped += 1;
            return None;
        }
        let mut bad = |k: &str, m: String| {
            local.errors.push(ErrorRecord {
                file: self.names[file as usize].clone(),
                line: lineno,
                patient: None,
                kind: k.into(),
                message: m,
            });
            None
        };
        let line = match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                return bad(
                    "not_utf8",
                    format!(
                        "byte {} is not UTF-8 (FHIR NDJSON is UTF-8)",
                        e.valid_up_to() + 1
                    ),
                );
            }
        };
        // Tell malformed JSON from JSON of the wrong shape.
        let shape = |line: &str| {
            if serde_json::from_str::<serde::de::IgnoredAny>(line).is_ok() {
                "not_fhir"
            } else {
                "not_json"
            }
        };
        if line.trim_start().as_bytes().first() != Some(&b'{') {
            return bad(
                shape(line),
                "expected a FHIR resource (a JSON object)".into(),
            );
        }
        let probe: Probe<'_> = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return bad(shape(line), e.to_string()),
        };
        match probe.resource_type.as_deref() {
            Some(t) if t == kind => {}
            Some(t) => return bad("not_fhir", format!("a {t} in the {kind} file")),
            None => return bad("not_fhir", "no resourceType".into()),
        }
        if observation && !self.filter.observation_used(probe.code.as_ref()) {
            local.skipped += 1;
            return None;
        }
        let Some(pid) = patient_of(kind, &probe) else {
            return bad(
                "no_patient",
                "no Patient id or subject reference that names a Patient".into(),
            );
        };
        let med = probe
            .medication_reference
            .as_ref()
            .and_then(|r| r.reference.as_deref())
            .and_then(|r| self.meds.get(r));
        drop(probe);
        if pid.contains(['\t', '\n']) {
            return bad(
                "no_patient",
                "the patient id contains a tab or newline".into(),
            );
        }
        Some(FiledLine {
            pid,
            text: line,
            med,
        })
    }
}

/// Writes one filed record, `file<TAB>line<TAB>patient<TAB>text<LF>`, piece by piece (no
/// formatting machinery: this runs for every line filed).
fn record(w: &mut dyn Write, file: u32, line: u64, pid: &str, text: &str) -> std::io::Result<()> {
    let mut digits = [0u8; 20];
    w.write_all(decimal(u64::from(file), &mut digits))?;
    w.write_all(b"\t")?;
    w.write_all(decimal(line, &mut digits))?;
    w.write_all(b"\t")?;
    w.write_all(pid.as_bytes())?;
    w.write_all(b"\t")?;
    w.write_all(text.as_bytes())?;
    w.write_all(b"\n")
}

/// The decimal digits of `n`, written at the end of `buf`.
pub(crate) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_four_tab_separated_fields() {
        let mut out = Vec::new();
        record(&mut out, 3, 120045, "p-1", "{\"a\":1}").unwrap();
        record(&mut out, 0, 0, "x", "{}").unwrap();
        assert_eq!(out, b"3\t120045\tp-1\t{\"a\":1}\n0\t0\tx\t{}\n");
        let mut buf = [0u8; 20];
        assert_eq!(decimal(u64::MAX, &mut buf), b"18446744073709551615");
    }
}
