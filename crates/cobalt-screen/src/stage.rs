//! The screening's stages one at a time, on streams, for a job that distributes them over a
//! cluster (`spark/screen_job.py`). `cobalt screen-stage STAGE JOB_DIR` reads records on
//! standard input and writes records on standard output; `JOB_DIR/job.json` names the export's
//! files (in the order `cobalt screen` reads them), the date, the format and the profile.
//!
//! Input lines come as `file<TAB>pos<TAB>enc<TAB>text`: the file's index, the line's position
//! (its input split's number times 2^33 plus its row in the split, as Spark's
//! `monotonically_increasing_id` numbers the rows of a file read split by split), then the line.
//! No stage needs another's line count to start: each run writes the number of lines of every
//! split it read to `JOB_DIR/lines/FILE-SPLIT.json`, and a position becomes a line number only
//! where one is written, in the `assess` stage, which starts when every split was read.
//!
//! 1. `medications`: the Medication lines, all in one run. Writes the readable ones to
//!    `JOB_DIR/medications.tsv` (for every later run) and the bad ones to
//!    `JOB_DIR/errors/part-medications.ndjson`; prints one summary line.
//! 2. `file`: any other lines, a run per input split. Each is decided as `cobalt screen` decides
//!    it (skipped unparsed, an error record, or filed under its patient, with the Medication
//!    its request names) and written as `key<TAB>kind<TAB>file<TAB>pos<TAB>text`: kind `r` (a
//!    resource; the key is its patient) or `e` (the text is an error record). A job partitions
//!    these records by key.
//! 3. `assess`: one partition of filed records, each prefixed with the partition's number
//!    (`part<TAB>record`). Assesses its patients and writes `JOB_DIR/results/part-NNNNN.<ext>`
//!    and `JOB_DIR/errors/part-NNNNN.ndjson`, each under a temporary name first; prints one
//!    summary line.
//!
//! `enc` is empty for a line given as it is, or `x` for a line given in hexadecimal (one that is
//! not UTF-8, which a JVM string cannot carry). In the filed records, a carriage return and the
//! byte 0x01 in a key or a text are written as 0x01 `r` and 0x01 `a`, so that a reader that also
//! ends lines at a carriage return (a JVM's) reads each record whole.

use crate::assess::{self, Held};
use crate::filter::Filter;
use crate::medication::Medications;
use crate::partition::{Local, Worker};
use crate::{write, ErrorRecord, Format, Options, Summary};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// What the stages of one job share, from `JOB_DIR/job.json`.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job directory: the results and errors datasets are written under it.
    pub dir: PathBuf,
    /// The export's files: resource type and name, in reading order.
    pub files: Vec<(String, String)>,
    /// The assessment date.
    pub as_of: time::Date,
    /// The results' format.
    pub format: Format,
    /// The threshold profile, when not the default.
    pub profile: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    files: Vec<JobInput>,
    as_of: String,
    format: String,
    #[serde(default)]
    profile: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JobInput {
    #[serde(rename = "type")]
    kind: String,
    path: String,
}

impl Job {
    /// Reads `dir/job.json`.
    pub fn load(dir: &Path) -> Result<Job> {
        let path = dir.join("job.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let j: JobFile =
            serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
        let Some(as_of) = cobalt_core::case::parse_date(&j.as_of) else {
            bail!(
                "{}: as_of: `{}` is not a date (YYYY-MM-DD)",
                path.display(),
                j.as_of
            );
        };
        let format = match j.format.as_str() {
            "ndjson" => Format::Ndjson,
            "csv" => Format::Csv,
            "parquet" => Format::Parquet,
            other => bail!(
                "{}: format: `{other}` is not ndjson, csv or parquet",
                path.display()
            ),
        };
        for f in &j.files {
            if !crate::TYPES.contains(&f.kind.as_str()) {
                bail!(
                    "{}: files: `{}` is not a type cobalt reads",
                    path.display(),
                    f.kind
                );
            }
        }
        Ok(Job {
            dir: dir.to_path_buf(),
            files: j.files.into_iter().map(|f| (f.kind, f.path)).collect(),
            as_of,
            format,
            profile: j.profile,
        })
    }

    /// `JOB_DIR/<sub>/<name>`, the directory created.
    fn output(&self, sub: &str, name: &str) -> Result<PathBuf> {
        let d = self.dir.join(sub);
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        Ok(d.join(name))
    }

    fn options(&self) -> Options {
        Options {
            input: PathBuf::new(),
            out: self.dir.clone(),
            format: self.format,
            detail: crate::Detail::Compact,
            validate_all: false,
            as_of: self.as_of,
            as_of_source: "--as-of".into(),
            threads: 1,
            max_errors_per_file: crate::DEFAULT_MAX_ERRORS_PER_FILE,
        }
    }

    fn names(&self) -> Vec<String> {
        self.files.iter().map(|(_, n)| n.clone()).collect()
    }

    fn typed(&self) -> Vec<(String, PathBuf)> {
        self.files
            .iter()
            .map(|(k, n)| (k.clone(), PathBuf::from(n)))
            .collect()
    }
}

/// Bits of a position below the split's number.
const ROW_BITS: u32 = 33;

/// An input record `file<TAB>pos<TAB>enc<TAB>text`: the file index, the position and the line's
/// bytes (a trailing carriage return removed, as `cobalt screen` reads lines).
fn input_record<'r>(
    job: &Job,
    record: &'r [u8],
    hex: &'r mut Vec<u8>,
) -> Result<(u32, u64, &'r [u8])> {
    let mut f = record.splitn(4, |b| *b == b'\t');
    let (Some(file), Some(pos), Some(enc), Some(text)) = (f.next(), f.next(), f.next(), f.next())
    else {
        bail!("an input record without its four fields");
    };
    let file: u32 = std::str::from_utf8(file)
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|fi: &u32| (*fi as usize) < job.files.len())
        .context("an input record's file index is not one of job.json's files")?;
    let pos: u64 = std::str::from_utf8(pos)
        .ok()
        .and_then(|s| s.parse().ok())
        .context("an input record's position is not a number")?;
    let mut text = match enc {
        b"" => text,
        b"x" => {
            hex.clear();
            if text.len() % 2 != 0 {
                bail!("a hexadecimal input record of odd length");
            }
            for pair in text.chunks(2) {
                let s = std::str::from_utf8(pair).ok();
                let b = s.and_then(|s| u8::from_str_radix(s, 16).ok());
                hex.push(b.context("an input record that is not hexadecimal")?);
            }
            &hex[..]
        }
        _ => bail!("an input record's encoding is not empty or `x`"),
    };
    if text.last() == Some(&b'\r') {
        text = &text[..text.len() - 1];
    }
    Ok((file, pos, text))
}

/// Records of standard input, split at `\n` only.
fn records(input: impl BufRead, mut each: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    for record in input.split(b'\n') {
        let record = record.context("reading standard input")?;
        if !record.is_empty() {
            each(&record)?;
        }
    }
    Ok(())
}

fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['\r', '\u{1}']) {
        return s.into();
    }
    s.replace('\u{1}', "\u{1}a").replace('\r', "\u{1}r").into()
}

fn unescape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\u{1}') {
        return s.into();
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\u{1}' {
            match it.next() {
                Some('r') => out.push('\r'),
                Some(_) | None => out.push('\u{1}'),
            }
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// What a run read of one input split: its lines, and those skipped unparsed.
#[derive(serde::Serialize, serde::Deserialize, Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitCount {
    /// Lines of the split.
    pub lines: u64,
    /// Of which skipped unparsed (Observations that cannot matter).
    pub skipped: u64,
}

/// Writes the counts of the splits a run read to `JOB_DIR/lines/`.
fn write_counts(job: &Job, counts: &BTreeMap<(u32, u64), SplitCount>) -> Result<()> {
    let dir = job.dir.join("lines");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for ((fi, split), c) in counts {
        write::file(
            dir.join(format!("{fi}-{split}.json")),
            &serde_json::to_vec(c)?,
        )?;
    }
    Ok(())
}

/// The counts every run wrote, by file and split.
pub fn read_counts(dir: &Path) -> Result<BTreeMap<(u32, u64), SplitCount>> {
    let mut out = BTreeMap::new();
    let lines = dir.join("lines");
    let entries = match std::fs::read_dir(&lines) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("reading {}", lines.display())),
    };
    for e in entries {
        let path = e?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        let key = stem
            .split_once('-')
            .and_then(|(f, s)| Some((f.parse::<u32>().ok()?, s.parse::<u64>().ok()?)));
        let Some(key) = key else {
            continue;
        };
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        out.insert(
            key,
            serde_json::from_slice(&text).with_context(|| format!("{}", path.display()))?,
        );
    }
    Ok(out)
}

/// Line numbers from positions: the first line of each split.
struct Lines {
    first: HashMap<(u32, u64), u64>,
}

impl Lines {
    fn new(counts: &BTreeMap<(u32, u64), SplitCount>) -> Lines {
        let mut first = HashMap::new();
        let mut at: Option<u32> = None;
        let mut next = 1;
        // In (file, split) order: a file's splits follow one another.
        for ((fi, split), c) in counts {
            if at != Some(*fi) {
                at = Some(*fi);
                next = 1;
            }
            first.insert((*fi, *split), next);
            next += c.lines;
        }
        Lines { first }
    }

    fn line(&self, fi: u32, pos: u64) -> Result<u64> {
        let split = pos >> ROW_BITS;
        let row = pos & ((1 << ROW_BITS) - 1);
        match self.first.get(&(fi, split)) {
            Some(first) => Ok(first + row),
            None => bail!("no line count for split {split} of file {fi}"),
        }
    }
}

/// The counts a stage prints: a [`Summary`] with only what this run saw.
fn print(out: &mut dyn Write, summary: &Summary) -> Result<()> {
    serde_json::to_writer(&mut *out, summary)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Stage 1: the Medication lines, every one of them in this run.
pub fn medications(job: &Job, input: impl BufRead, out: &mut dyn Write) -> Result<()> {
    let names = job.names();
    let mut held: Vec<(u32, u64, Vec<u8>)> = Vec::new();
    let mut counts: BTreeMap<(u32, u64), SplitCount> = BTreeMap::new();
    let mut hex = Vec::new();
    records(input, |r| {
        let (fi, pos, bytes) = input_record(job, r, &mut hex)?;
        if job.files[fi as usize].0 != "Medication" {
            bail!(
                "a line of {} given as a Medication line",
                names[fi as usize]
            );
        }
        counts.entry((fi, pos >> ROW_BITS)).or_default().lines += 1;
        held.push((fi, pos, bytes.to_vec()));
        Ok(())
    })?;
    let lines = Lines::new(&counts);
    let mut meds = Medications::default();
    let mut errors = Vec::new();
    for (fi, pos, bytes) in &held {
        meds.add(
            *fi,
            lines.line(*fi, *pos)?,
            bytes,
            &names[*fi as usize],
            &mut errors,
        );
    }
    let mut tsv = Vec::new();
    for m in meds.lines() {
        writeln!(tsv, "{}\t{}\t{}", m.file, m.line, m.text)?;
    }
    write::file(job.dir.join("medications.tsv"), &tsv)?;
    errors.sort();
    if !errors.is_empty() {
        write::error_file(job.output("errors", "part-medications.ndjson")?, &errors)?;
    }
    write_counts(job, &counts)?;
    let mut summary = Summary::default();
    summary.count_errors(&errors);
    print(out, &summary)
}

/// The Medications the `medications` stage kept, if it ran.
fn load_medications(job: &Job) -> Result<Medications> {
    let mut meds = Medications::default();
    let path = job.dir.join("medications.tsv");
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(meds),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let names = job.names();
    let mut errors = Vec::new();
    for record in text.split(|b| *b == b'\n').filter(|r| !r.is_empty()) {
        let mut f = record.splitn(3, |b| *b == b'\t');
        let (Some(file), Some(line), Some(text)) = (f.next(), f.next(), f.next()) else {
            bail!("{}: a record without its three fields", path.display());
        };
        let parse = |b: &[u8]| {
            std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
        };
        let (Some(file), Some(line)) = (parse(file), parse(line)) else {
            bail!("{}: a record without its file and line", path.display());
        };
        let Some(name) = names.get(file as usize) else {
            bail!("{}: file index {file} is not in job.json", path.display());
        };
        meds.add(file as u32, line, text, name, &mut errors);
    }
    Ok(meds)
}

/// Stage 2: filing lines under their patients, streaming.
pub fn file(
    kb: &cobalt_core::KnowledgeBase,
    job: &Job,
    input: impl BufRead,
    out: &mut dyn Write,
) -> Result<()> {
    let meds = load_medications(job)?;
    let filter = Filter::new(kb);
    let opts = job.options();
    let (files, names) = (job.typed(), job.names());
    let worker = Worker::new(&meds, &filter, &opts, &files, &names, &[]);
    let mut local = Local::default();
    let mut hex = Vec::new();
    let mut counts: BTreeMap<(u32, u64), SplitCount> = BTreeMap::new();
    records(input, |r| {
        let (fi, pos, bytes) = input_record(job, r, &mut hex)?;
        if job.files[fi as usize].0 == "Medication" {
            bail!("a Medication line given to the file stage");
        }
        let skipped = local.skipped;
        // The position stands in for the line number until the assess stage.
        let filed = worker.line(fi, pos, bytes, &mut local);
        let c = counts.entry((fi, pos >> ROW_BITS)).or_default();
        c.lines += 1;
        c.skipped += local.skipped - skipped;
        if let Some(f) = filed {
            let key = escape(&f.pid);
            writeln!(out, "{key}\tr\t{fi}\t{pos}\t{}", escape(f.text))?;
            if let Some(m) = f.med {
                // A Medication's line is already its line number.
                writeln!(out, "{key}\tr\t{}\t{}\t{}", m.file, m.line, escape(&m.text))?;
            }
        }
        for e in local.errors.drain(..) {
            let e = serde_json::to_string(&e)?;
            writeln!(out, "!{fi}:{pos}\te\t{fi}\t{pos}\t{e}")?;
        }
        Ok(())
    })?;
    out.flush()?;
    write_counts(job, &counts)
}

/// Stage 3: assessing one partition of filed records.
pub fn assess(
    kb: &cobalt_core::KnowledgeBase,
    profile: &cobalt_core::Profile,
    job: &Job,
    input: impl BufRead,
    out: &mut dyn Write,
) -> Result<()> {
    let names = job.names();
    let lines = Lines::new(&read_counts(&job.dir)?);
    let mut patients: HashMap<std::borrow::Cow<'static, str>, Vec<Held<'static>>> = HashMap::new();
    let mut errors: Vec<ErrorRecord> = Vec::new();
    let mut summary = Summary::default();
    let mut part: Option<u32> = None;
    records(input, |r| {
        let r = std::str::from_utf8(r).context("a filed record that is not UTF-8")?;
        let mut f = r.splitn(6, '\t');
        let (Some(p), Some(key), Some(kind), Some(file), Some(pos), Some(text)) =
            (f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            bail!("a filed record without its six fields");
        };
        let p: u32 = p
            .parse()
            .context("a filed record's partition is not a number")?;
        if *part.get_or_insert(p) != p {
            bail!(
                "records of partitions {} and {p} in one run",
                part.unwrap_or(p)
            );
        }
        let file: u32 = file
            .parse()
            .ok()
            .filter(|fi: &u32| (*fi as usize) < names.len())
            .context("a filed record's file index is not one of job.json's files")?;
        let pos: u64 = pos
            .parse()
            .context("a filed record's position is not a number")?;
        let line = if job.files[file as usize].0 == "Medication" {
            pos
        } else {
            lines.line(file, pos)?
        };
        match kind {
            "r" => patients
                .entry(std::borrow::Cow::Owned(unescape(key).into_owned()))
                .or_default()
                .push(Held {
                    file,
                    line,
                    text: std::borrow::Cow::Owned(unescape(text).into_owned()),
                }),
            "e" => {
                let mut e: ErrorRecord =
                    serde_json::from_str(text).context("a filed error record")?;
                e.line = line;
                errors.push(e);
            }
            other => bail!("a filed record of kind `{other}`"),
        }
        Ok(())
    })?;
    let Some(part) = part else {
        // An empty partition: nothing to write.
        return print(out, &summary);
    };
    let opts = job.options();
    let patient_files: Vec<bool> = job.files.iter().map(|(k, _)| k == "Patient").collect();
    let ctx = assess::Context {
        kb,
        profile,
        opts: &opts,
        names: &names,
        patient_files: &patient_files,
        threads: 1,
    };
    let mut results = Vec::new();
    assess::patients(&ctx, patients, &mut summary, &mut errors, &mut results)?;
    summary.knowledge_version = kb.meta.version.clone();
    if summary.patients_assessed > 0 {
        let ext = job.format.extension();
        let a = write::Atomic::new(job.output("results", &format!("part-{part:05}.{ext}"))?);
        let file = a.create()?;
        let mut rows = results
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| memchr::memchr(b'\t', l).map_or(l, |t| &l[t + 1..]));
        write::rows(job.format, file, &mut |body| {
            body.clear();
            Ok(rows.next().map(|r| body.extend_from_slice(r)).is_some())
        })?;
        a.commit()?;
    }
    errors.sort();
    summary.count_errors(&errors);
    if !errors.is_empty() {
        let dest = job.output("errors", &format!("part-{part:05}.ndjson"))?;
        write::error_file(dest, &errors)?;
    }
    print(out, &summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn escaping_round_trips_and_leaves_no_line_end(s in "[a-z\r\u{1}\t ]{0,40}") {
            let e = escape(&s).into_owned();
            prop_assert!(!e.contains(['\r', '\n']));
            let back = unescape(&e).into_owned();
            prop_assert_eq!(back, s);
        }
    }
}
