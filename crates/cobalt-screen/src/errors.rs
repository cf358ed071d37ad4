//! The error records of a run: counted exactly, bounded per file, streamed to disk.
//!
//! Every record is counted for the summary when it is made. A file's line records are kept only
//! up to `--max-errors-per-file` of them (its first ones, in the order of `errors.ndjson`); the
//! rest are counted, and `errors.ndjson` says how many in one `not_recorded` record after the
//! file's last one kept. Records that are kept are sorted in runs of a few megabytes, each
//! written to the run's spill directory, and the runs are merged into `errors.ndjson` at the
//! end, so memory holds one run whatever the number of bad lines.
//!
//! Which records are kept does not depend on the order in which threads make them: a record is
//! dropped early only when the file has already given the maximum number of records on earlier
//! lines (a heap of the smallest line numbers kept), and the merge keeps exactly the first ones.

use crate::ErrorRecord;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Mutex;

/// The size of a sorted run, in approximate bytes of records.
const RUN_BYTES: usize = 8 << 20;

/// What the error records count, for the summary.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    /// Lines that became error records.
    pub bad_lines: u64,
    /// Bad lines by kind.
    pub bad_lines_by_kind: BTreeMap<String, u64>,
    /// Files that could not be opened or read to their end.
    pub files_in_error: u64,
    /// Issues of the export's own error files (OperationOutcome).
    pub export_issues: u64,
    /// Records counted but not written (over the maximum per file).
    pub not_recorded: u64,
}

impl Tally {
    /// Counts one record: a file that could not be read, an issue of the export's error files,
    /// or a bad line (line > 0) by kind. Patient-level records (line 0) and files not read are
    /// counted elsewhere.
    pub(crate) fn count(&mut self, e: &ErrorRecord) {
        match e.kind.as_str() {
            "unreadable" => self.files_in_error += 1,
            "export_error" => self.export_issues += 1,
            "file_not_read" | "not_recorded" => {}
            _ if e.line > 0 => {
                self.bad_lines += 1;
                *self.bad_lines_by_kind.entry(e.kind.clone()).or_default() += 1;
            }
            _ => {}
        }
    }
}

/// Whether a record counts against its file's maximum: a line's record. A file that could not
/// be read is always recorded, as are patient-level records and files not read (line 0).
fn capped(e: &ErrorRecord) -> bool {
    e.line > 0 && e.kind != "unreadable"
}

/// The records of one file that count against the maximum.
struct Cap {
    /// Records made.
    made: u64,
    /// The smallest line numbers of the records kept, at most the maximum of them.
    lines: BinaryHeap<u64>,
    /// The smallest line of a record dropped, or displaced, here (`u64::MAX`: none): records
    /// past the maximum begin on this line at the latest (the merge finds any earlier one).
    first_omitted: u64,
}

impl Default for Cap {
    fn default() -> Cap {
        Cap {
            made: 0,
            lines: BinaryHeap::new(),
            first_omitted: u64::MAX,
        }
    }
}

struct Inner {
    tally: Tally,
    caps: HashMap<String, Cap>,
    /// Records not yet written, and their approximate size.
    buffer: Vec<ErrorRecord>,
    bytes: usize,
    /// Sorted runs on disk.
    runs: Vec<PathBuf>,
}

/// The error records of a run. Shared by the reader and the worker threads.
pub(crate) struct Errors {
    max_per_file: u64,
    /// Where runs are written: the run's spill directory.
    dir: PathBuf,
    inner: Mutex<Inner>,
}

impl Errors {
    pub(crate) fn new(dir: PathBuf, max_per_file: u64) -> Errors {
        Errors {
            max_per_file,
            dir,
            inner: Mutex::new(Inner {
                tally: Tally::default(),
                caps: HashMap::new(),
                buffer: Vec::new(),
                bytes: 0,
                runs: Vec::new(),
            }),
        }
    }

    /// Counts a record, and keeps it unless its file has already given the maximum on earlier
    /// lines. Fails only when a run cannot be written.
    pub(crate) fn push(&self, e: ErrorRecord) -> std::io::Result<()> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| std::io::Error::other("an error-record writer panicked"))?;
        inner.tally.count(&e);
        if capped(&e) {
            let max = self.max_per_file;
            let cap = inner.caps.entry(e.file.clone()).or_default();
            cap.made += 1;
            let keep = if (cap.lines.len() as u64) < max {
                cap.lines.push(e.line);
                true
            } else {
                match cap.lines.peek().copied() {
                    // A line before the last kept: kept, and the last kept is now past the
                    // maximum (it stays on disk; the merge drops it).
                    Some(top) if e.line < top => {
                        cap.lines.pop();
                        cap.lines.push(e.line);
                        cap.first_omitted = cap.first_omitted.min(top);
                        true
                    }
                    // On the same line as the last kept: the merge decides.
                    Some(top) if e.line == top => true,
                    // The maximum already made on earlier lines: this one cannot be kept.
                    _ => {
                        cap.first_omitted = cap.first_omitted.min(e.line);
                        false
                    }
                }
            };
            if !keep {
                return Ok(());
            }
        }
        inner.bytes += e.file.len()
            + e.kind.len()
            + e.message.len()
            + e.patient.as_ref().map_or(0, String::len)
            + 64;
        inner.buffer.push(e);
        if inner.bytes >= RUN_BYTES {
            self.spill(&mut inner)?;
        }
        Ok(())
    }

    /// Counts and keeps every record of `errors`, emptying it.
    pub(crate) fn extend(&self, errors: &mut Vec<ErrorRecord>) -> std::io::Result<()> {
        for e in errors.drain(..) {
            self.push(e)?;
        }
        Ok(())
    }

    /// Writes the buffered records, sorted, as one run.
    fn spill(&self, inner: &mut Inner) -> std::io::Result<()> {
        let path = self.dir.join(format!("errors-{}", inner.runs.len()));
        let mut buffer = std::mem::take(&mut inner.buffer);
        inner.bytes = 0;
        buffer.sort();
        let write = || -> std::io::Result<()> {
            let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
            for e in &buffer {
                serde_json::to_writer(&mut w, e)?;
                w.write_all(b"\n")?;
            }
            w.flush()
        };
        write().map_err(|e| {
            std::io::Error::new(e.kind(), format!("writing {}: {e}", path.display()))
        })?;
        inner.runs.push(path);
        Ok(())
    }

    /// Merges the runs into `out`, in order, each file's records up to the maximum and then one
    /// `not_recorded` record saying how many more there were. Returns the counts.
    pub(crate) fn finish(self, out: &mut dyn Write) -> Result<Tally> {
        let max = self.max_per_file;
        let mut inner = self
            .inner
            .into_inner()
            .map_err(|_| anyhow::anyhow!("an error-record writer panicked"))?;
        inner.buffer.sort();
        inner.tally.not_recorded = inner
            .caps
            .values()
            .map(|c| c.made.saturating_sub(max))
            .sum();
        let caps = &inner.caps;
        // The note of a file past its maximum: how many records were not written, from `line`.
        let note = |file: &str, line: u64| -> Option<ErrorRecord> {
            let more = caps.get(file)?.made.checked_sub(max).filter(|m| *m > 0)?;
            Some(ErrorRecord {
                file: file.to_string(),
                line,
                patient: None,
                kind: "not_recorded".into(),
                message: format!(
                    "{more} more error records of this file, from this line on, are counted in summary.json but not written (--max-errors-per-file {max})"
                ),
            })
        };
        // Each run, the records still in memory, and the notes of the files whose records
        // were dropped here, as sorted streams.
        let mut streams: Vec<Box<dyn Iterator<Item = Result<ErrorRecord>>>> = Vec::new();
        for path in &inner.runs {
            let name = path.display().to_string();
            let f = std::fs::File::open(path).with_context(|| format!("reading {name}"))?;
            streams.push(Box::new(BufReader::with_capacity(64 << 10, f).lines().map(
                move |l| {
                    let l = l.with_context(|| format!("reading {name}"))?;
                    serde_json::from_str::<ErrorRecord>(&l)
                        .with_context(|| format!("reading {name}"))
                },
            )));
        }
        streams.push(Box::new(
            std::mem::take(&mut inner.buffer).into_iter().map(Ok),
        ));
        let mut notes: Vec<ErrorRecord> = caps
            .iter()
            .filter(|(_, c)| c.first_omitted != u64::MAX)
            .filter_map(|(f, c)| note(f, c.first_omitted))
            .collect();
        notes.sort();
        streams.push(Box::new(notes.into_iter().map(Ok)));
        let mut heap = BinaryHeap::new();
        for (i, s) in streams.iter_mut().enumerate() {
            if let Some(e) = s.next() {
                heap.push(std::cmp::Reverse((e?, i)));
            }
        }
        // The file being written, its records kept, and whether its note is out.
        let mut file = String::new();
        let mut kept = 0u64;
        let mut said = false;
        while let Some(std::cmp::Reverse((e, i))) = heap.pop() {
            if let Some(n) = streams[i].next() {
                heap.push(std::cmp::Reverse((n?, i)));
            }
            if e.file != file {
                file.clone_from(&e.file);
                kept = 0;
                said = false;
            }
            // Past the maximum: the note, once, where the first record not written would be
            // (a record here past the maximum, or the note of records dropped earlier).
            let is_note = e.kind == "not_recorded";
            if is_note || (capped(&e) && kept >= max) {
                if !said {
                    said = true;
                    let n = if is_note {
                        Some(e)
                    } else {
                        note(&file, e.line)
                    };
                    if let Some(n) = n {
                        serde_json::to_writer(&mut *out, &n)?;
                        out.write_all(b"\n")?;
                    }
                }
                continue;
            }
            if capped(&e) {
                kept += 1;
            }
            serde_json::to_writer(&mut *out, &e)?;
            out.write_all(b"\n")?;
        }
        Ok(inner.tally)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(file: &str, line: u64, patient: Option<&str>) -> ErrorRecord {
        ErrorRecord {
            file: file.into(),
            line,
            patient: patient.map(String::from),
            kind: "invalid_value".into(),
            message: "refused".into(),
        }
    }

    /// What the sink writes for `records`, pushed in the order given.
    fn through(max: u64, records: &[ErrorRecord]) -> (Vec<ErrorRecord>, Tally) {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cobalt-errors-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sink = Errors::new(dir.clone(), max);
        for r in records {
            sink.push(r.clone()).unwrap();
        }
        let mut out = Vec::new();
        let tally = sink.finish(&mut out).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let written = String::from_utf8(out).unwrap();
        let written = written.lines().map(|l| serde_json::from_str(l).unwrap());
        (written.collect(), tally)
    }

    proptest! {
        /// Whatever order the records come in: each file's first `max` records (in the order
        /// of `errors.ndjson`), then one note with the count of the rest from the line of the
        /// first one left out; the counts exact; the file in file and line order.
        #[test]
        fn the_first_records_of_each_file_are_kept_whatever_the_order(
            lines in prop::collection::vec((0usize..2, 1u64..12, prop::option::of(0u8..3)), 0..40),
            max in 0u64..6,
            seed in any::<u64>(),
        ) {
            let files = ["A.ndjson", "B.ndjson"];
            let names = ["a", "b", "c"];
            let mut records: Vec<ErrorRecord> = lines
                .iter()
                .map(|(f, l, p)| record(files[*f], *l, p.map(|p| names[p as usize])))
                .collect();
            // Shuffled by the seed (a small linear congruential generator).
            let mut s = seed;
            for i in (1..records.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                records.swap(i, (s >> 33) as usize % (i + 1));
            }
            let (written, tally) = through(max, &records);
            let mut sorted = records.clone();
            sorted.sort();
            prop_assert_eq!(tally.bad_lines, records.len() as u64);
            let mut left_out = 0;
            for f in files {
                let all: Vec<&ErrorRecord> = sorted.iter().filter(|e| e.file == f).collect();
                let kept: Vec<&ErrorRecord> = written
                    .iter()
                    .filter(|e| e.file == f && e.kind != "not_recorded")
                    .collect();
                let notes: Vec<&ErrorRecord> = written
                    .iter()
                    .filter(|e| e.file == f && e.kind == "not_recorded")
                    .collect();
                let n = (max as usize).min(all.len());
                prop_assert_eq!(&kept[..], &all[..n]);
                if all.len() > n {
                    prop_assert_eq!(notes.len(), 1);
                    prop_assert_eq!(notes[0].line, all[n].line);
                    let more = format!("{} more error records", all.len() - n);
                    prop_assert!(notes[0].message.starts_with(&more));
                    left_out += all.len() - n;
                } else {
                    prop_assert!(notes.is_empty());
                }
            }
            prop_assert_eq!(tally.not_recorded, left_out as u64);
            let keys: Vec<(&str, u64)> = written.iter().map(|e| (e.file.as_str(), e.line)).collect();
            prop_assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{:?}", keys);
        }
    }
}
