//! Population screening over a FHIR Bulk Data export.
//!
//! The export is one NDJSON file per resource type (optionally gzip-compressed, optionally with
//! a Bulk Data `manifest.json`), one resource per line, not sorted by patient. `screen` reads
//! the files in chunks of lines; worker threads (one per core) parse the lines and file each
//! resource under its patient; then the patients are assessed in parallel, in patient-id order,
//! with the same mapping and evaluator as `cobalt assess`, and written out in that order.
//!
//! Memory: the reader files each line by a small probe (resource type, patient, code) without
//! building a JSON tree, and spills the text of the lines cobalt reads (Observations with other
//! codes are dropped) to partition files by patient hash, about 48 MB of input each. Patients are
//! then assessed one partition at a time, and the sorted results of the partitions are merged.
//! Memory is therefore bounded by one partition, whatever the size of the export. A bad line (not JSON, not a FHIR
//! resource, a value the case format refuses) becomes an error record naming its file and line;
//! the patient is assessed without it, and the summary reconciles patients read, assessed and in
//! error.

#![forbid(unsafe_code)]

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

/// Resource types the screening reads.
pub const TYPES: &[&str] = &cobalt_fhir::RESOURCE_TYPES;

/// Output format of the per-patient results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The assessment as `cobalt assess --format json` writes it, one per line.
    Ndjson,
    /// One row per patient: conclusions and flags.
    Csv,
}

/// Options.
#[derive(Debug, Clone)]
pub struct Options {
    /// The export directory.
    pub input: PathBuf,
    /// The results directory (created).
    pub out: PathBuf,
    /// Output format.
    pub format: Format,
    /// The assessment date.
    pub as_of: time::Date,
    /// Worker threads (0: one per core).
    pub threads: usize,
}

/// Progress, reported as the input is read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Bytes read (compressed bytes for .gz files).
    pub bytes: u64,
    /// Total bytes.
    pub total_bytes: u64,
    /// Lines read.
    pub lines: u64,
}

/// One input file.
#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    /// Resource type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Path relative to the export.
    pub path: String,
    /// Lines read.
    pub lines: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

/// An error record: a line (or a patient) that could not be used.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ErrorRecord {
    /// File, relative to the export.
    pub file: String,
    /// 1-based line, or 0 for a patient-level error.
    pub line: u64,
    /// The patient, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// `not_json`, `not_fhir`, `no_patient`, `invalid_value` or `patient`.
    pub kind: String,
    /// What is wrong.
    pub message: String,
}

/// The summary.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    /// Assessment date.
    pub as_of: String,
    /// Knowledge-base version.
    pub knowledge_version: String,
    /// Files read.
    pub files: Vec<InputFile>,
    /// Lines read.
    pub lines_read: u64,
    /// Lines that became error records.
    pub bad_lines: u64,
    /// Bad lines by kind.
    pub bad_lines_by_kind: BTreeMap<String, u64>,
    /// Patients with at least one resource.
    pub patients_read: u64,
    /// Patients assessed.
    pub patients_assessed: u64,
    /// Patients that could not be assessed at all.
    pub patients_in_error: u64,
    /// Counts by B12 status.
    pub by_b12_status: BTreeMap<String, u64>,
    /// Counts by picture.
    pub by_picture: BTreeMap<String, u64>,
    /// Counts by cause.
    pub by_cause: BTreeMap<String, u64>,
    /// Counts by screening flag.
    pub by_flag: BTreeMap<String, u64>,
    /// Patients with at least one flag.
    pub patients_flagged: u64,
    /// Seconds taken.
    pub seconds: f64,
    /// Of which reading and filing the input.
    pub read_seconds: f64,
}

struct Keep {
    /// LOINC codes cobalt reads (vocabulary plus the FHIR tables).
    loinc: HashSet<String>,
}

impl Keep {
    fn new(kb: &cobalt_core::KnowledgeBase) -> Keep {
        let mut loinc = HashSet::new();
        for c in kb.vocab.concepts() {
            for (sys, code) in &c.codes {
                if *sys == cobalt_core::vocab::CodeSystem::Loinc {
                    loinc.insert(code.clone());
                }
            }
        }
        // Pregnancy and breastfeeding status (knowledge/fhir.toml).
        for code in ["82810-3", "63895-7"] {
            loinc.insert(code.to_string());
        }
        Keep { loinc }
    }

    /// Whether an Observation is one cobalt reads. Observations cobalt cannot use are not kept.
    fn observation(&self, code: Option<&ProbeCode<'_>>) -> bool {
        code.is_some_and(|c| {
            c.coding.iter().any(|c| {
                let sys = c.system.as_deref().unwrap_or("");
                let code = c.code.as_deref().unwrap_or("");
                (sys == "http://loinc.org" && self.loinc.contains(code))
                    || sys == "http://snomed.info/sct"
            })
        })
    }
}

/// A resource, with the file and line it came from. The line's text is kept, not a parsed
/// tree: a JSON tree takes ten times the memory of its text.
struct Held {
    file: u32,
    line: u64,
    text: Box<str>,
}

/// The few fields the reader needs to file a line: serde skips everything else without
/// building it.
#[derive(serde::Deserialize)]
struct Probe<'a> {
    #[serde(rename = "resourceType", borrow)]
    resource_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    subject: Option<ProbeRef<'a>>,
    patient: Option<ProbeRef<'a>>,
    code: Option<ProbeCode<'a>>,
}

#[derive(serde::Deserialize)]
struct ProbeRef<'a> {
    #[serde(borrow)]
    reference: Option<std::borrow::Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct ProbeCode<'a> {
    #[serde(borrow, default)]
    coding: Vec<ProbeCoding<'a>>,
}

#[derive(serde::Deserialize)]
struct ProbeCoding<'a> {
    #[serde(borrow)]
    system: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    code: Option<std::borrow::Cow<'a, str>>,
}

fn patient_of(kind: &str, p: &Probe<'_>) -> Option<String> {
    if kind == "Patient" {
        return p.id.as_deref().map(str::to_string);
    }
    let reference = p
        .subject
        .as_ref()
        .and_then(|r| r.reference.as_deref())
        .or_else(|| p.patient.as_ref().and_then(|r| r.reference.as_deref()))?;
    reference
        .rsplit_once("Patient/")
        .map(|(_, id)| id.to_string())
}

fn shard_of(id: &str, n: usize) -> usize {
    // FNV-1a: stable across runs.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in id.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    (h % n as u64) as usize
}

/// Finds the export's files: the manifest's when there is one, else every `<Type>.ndjson` or
/// `<Type>*.ndjson.gz` of a type cobalt reads.
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

const CHUNK_LINES: usize = 2048;

/// Runs the screening. `progress` is called now and then while reading.
pub fn screen(
    kb: &cobalt_core::KnowledgeBase,
    profile: &cobalt_core::Profile,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Summary> {
    let started = std::time::Instant::now();
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.threads
    };
    let files = discover(&opts.input)?;
    if files.is_empty() {
        anyhow::bail!(
            "{}: no FHIR Bulk Data files (Patient.ndjson, Observation.ndjson, ...)",
            opts.input.display()
        );
    }
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let names: Vec<String> = files
        .iter()
        .map(|(_, p)| {
            p.strip_prefix(&opts.input)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let total_bytes: u64 = files
        .iter()
        .map(|(_, p)| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let keep = Keep::new(kb);
    // Lines are spilled to partition files by patient hash, so that memory holds one
    // partition at a time: about 48 MB of input per partition.
    let nparts = ((total_bytes / (48 << 20)) as usize + 1).clamp(1, 512);
    let spill = opts.out.join(".partitions");
    let _ = std::fs::remove_dir_all(&spill);
    std::fs::create_dir_all(&spill).with_context(|| format!("creating {}", spill.display()))?;
    let parts: Vec<Mutex<BufWriter<std::fs::File>>> = (0..nparts)
        .map(|i| {
            Ok(Mutex::new(BufWriter::with_capacity(
                256 << 10,
                std::fs::File::create(spill.join(format!("part-{i}")))?,
            )))
        })
        .collect::<Result<_>>()?;
    let errors: Mutex<Vec<ErrorRecord>> = Mutex::new(Vec::new());
    let bytes_read = Arc::new(AtomicU64::new(0));
    let lines_read = AtomicU64::new(0);
    let mut file_lines = vec![0u64; files.len()];

    // --- Read and file every resource under its patient -------------------------------
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = mpsc::sync_channel::<(u32, u64, Vec<String>)>(threads * 4);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..threads {
            let rx = Arc::clone(&rx);
            let (parts, errors, keep, files, names) = (&parts, &errors, &keep, &files, &names);
            scope.spawn(move || loop {
                let msg = rx.lock().map(|r| r.recv());
                let Ok(Ok((file, first, lines))) = msg else {
                    break;
                };
                let kind = files[file as usize].0.as_str();
                let mut local_errors = Vec::new();
                for (i, line) in lines.into_iter().enumerate() {
                    let lineno = first + i as u64;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let bad = |k: &str, m: String| ErrorRecord {
                        file: names[file as usize].clone(),
                        line: lineno,
                        patient: None,
                        kind: k.into(),
                        message: m,
                    };
                    let probe: Probe<'_> = match serde_json::from_str(&line) {
                        Ok(v) => v,
                        Err(e) => {
                            // Tell malformed JSON from JSON of the wrong shape.
                            let kind =
                                if serde_json::from_str::<serde::de::IgnoredAny>(&line).is_ok() {
                                    "not_fhir"
                                } else {
                                    "not_json"
                                };
                            local_errors.push(bad(kind, e.to_string()));
                            continue;
                        }
                    };
                    match probe.resource_type.as_deref() {
                        Some(t) if t == kind => {}
                        Some(t) => {
                            local_errors.push(bad("not_fhir", format!("a {t} in the {kind} file")));
                            continue;
                        }
                        None => {
                            local_errors.push(bad("not_fhir", "no resourceType".into()));
                            continue;
                        }
                    }
                    if kind == "Observation" && !keep.observation(probe.code.as_ref()) {
                        continue;
                    }
                    let Some(pid) = patient_of(kind, &probe) else {
                        local_errors.push(bad(
                            "no_patient",
                            "no Patient id or subject reference".into(),
                        ));
                        continue;
                    };
                    drop(probe);
                    if pid.contains(['\t', '\n']) {
                        local_errors.push(bad(
                            "no_patient",
                            "the patient id contains a tab or newline".into(),
                        ));
                        continue;
                    }
                    let p = shard_of(&pid, parts.len());
                    if let Ok(mut w) = parts[p].lock() {
                        // One record a line: file, line, patient, then the resource's text (JSON
                        // text has no raw newline; a tab inside it is after the third field).
                        let _ = writeln!(w, "{file}\t{lineno}\t{pid}\t{line}");
                    }
                }
                if !local_errors.is_empty() {
                    if let Ok(mut e) = errors.lock() {
                        e.extend(local_errors);
                    }
                }
            });
        }
        // The reader: this thread.
        let mut last = std::time::Instant::now();
        for (fi, (_, path)) in files.iter().enumerate() {
            let f =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let counted = CountingReader {
                inner: f,
                count: Arc::clone(&bytes_read),
            };
            let reader: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "gz") {
                Box::new(BufReader::with_capacity(
                    1 << 20,
                    flate2::read::MultiGzDecoder::new(counted),
                ))
            } else {
                Box::new(BufReader::with_capacity(1 << 20, counted))
            };
            let mut chunk = Vec::with_capacity(CHUNK_LINES);
            let mut first = 1u64;
            let mut n = 0u64;
            for line in reader.lines() {
                let line = line.with_context(|| format!("reading {}", path.display()))?;
                n += 1;
                chunk.push(line);
                if chunk.len() == CHUNK_LINES {
                    tx.send((fi as u32, first, std::mem::take(&mut chunk))).ok();
                    first = n + 1;
                    chunk = Vec::with_capacity(CHUNK_LINES);
                    lines_read.store(
                        lines_read.load(Ordering::Relaxed) + CHUNK_LINES as u64,
                        Ordering::Relaxed,
                    );
                    if last.elapsed().as_millis() >= 200 {
                        progress(Progress {
                            bytes: bytes_read.load(Ordering::Relaxed),
                            total_bytes,
                            lines: lines_read.load(Ordering::Relaxed),
                        });
                        last = std::time::Instant::now();
                    }
                }
            }
            if !chunk.is_empty() {
                lines_read.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                tx.send((fi as u32, first, chunk)).ok();
            }
            file_lines[fi] = n;
        }
        drop(tx);
        Ok(())
    })?;
    progress(Progress {
        bytes: bytes_read.load(Ordering::Relaxed),
        total_bytes,
        lines: lines_read.load(Ordering::Relaxed),
    });
    let read_seconds = started.elapsed().as_secs_f64();

    for w in &parts {
        if let Ok(mut w) = w.lock() {
            w.flush()?;
        }
    }
    drop(parts);

    // --- Assess every patient, partition by partition, in parallel ------------------------
    let ext = match opts.format {
        Format::Ndjson => "ndjson",
        Format::Csv => "csv",
    };
    let mut summary = Summary {
        as_of: format!(
            "{:04}-{:02}-{:02}",
            opts.as_of.year(),
            u8::from(opts.as_of.month()),
            opts.as_of.day()
        ),
        knowledge_version: kb.meta.version.clone(),
        ..Summary::default()
    };
    for p in 0..nparts {
        let path = spill.join(format!("part-{p}"));
        let mut patients: HashMap<String, Vec<Held>> = HashMap::new();
        for record in BufReader::with_capacity(1 << 20, std::fs::File::open(&path)?).lines() {
            let record = record?;
            let mut f = record.splitn(4, '\t');
            let (Some(file), Some(line), Some(pid), Some(text)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let (Ok(file), Ok(line)) = (file.parse::<u32>(), line.parse::<u64>()) else {
                continue;
            };
            patients.entry(pid.to_string()).or_default().push(Held {
                file,
                line,
                text: text.into(),
            });
        }
        std::fs::remove_file(&path).ok();
        let mut list: Vec<(String, Vec<Held>)> = patients.into_iter().collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        summary.patients_read += list.len() as u64;
        let mut out = BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(spill.join(format!("result-{p}")))?,
        );
        while !list.is_empty() {
            let take = list.len().min(4096);
            let block: Vec<(String, Vec<Held>)> = list.drain(..take).collect();
            let per = block.len().div_ceil(threads).max(1);
            let mut groups: Vec<Vec<(String, Vec<Held>)>> = Vec::new();
            let mut it = block.into_iter().peekable();
            while it.peek().is_some() {
                groups.push(it.by_ref().take(per).collect());
            }
            let results: Vec<Vec<(String, Outcome)>> = std::thread::scope(|scope| {
                let handles: Vec<_> = groups
                    .into_iter()
                    .map(|group| {
                        let names = &names;
                        scope.spawn(move || {
                            group
                                .into_iter()
                                .map(|(id, held)| {
                                    let o = assess_patient(kb, profile, opts, &id, held, names);
                                    (id, o)
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_default())
                    .collect()
            });
            for (id, o) in results.into_iter().flatten() {
                summary.bad_lines += o.errors.iter().filter(|e| e.line > 0).count() as u64;
                if let Ok(mut e) = errors.lock() {
                    e.extend(o.errors);
                }
                match o.result {
                    Some(r) => {
                        summary.patients_assessed += 1;
                        *summary.by_b12_status.entry(r.status.clone()).or_default() += 1;
                        *summary.by_picture.entry(r.picture.clone()).or_default() += 1;
                        for c in &r.causes {
                            *summary.by_cause.entry(c.clone()).or_default() += 1;
                        }
                        for f in &r.flags {
                            *summary.by_flag.entry(f.to_string()).or_default() += 1;
                        }
                        if !r.flags.is_empty() {
                            summary.patients_flagged += 1;
                        }
                        writeln!(out, "{id}\t{}", r.line)?;
                    }
                    None => summary.patients_in_error += 1,
                }
            }
        }
        out.flush()?;
    }

    // --- Merge the partitions' results in patient-id order --------------------------------
    let mut out = BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(opts.out.join(format!("results.{ext}")))?,
    );
    if opts.format == Format::Csv {
        writeln!(
            out,
            "id,b12_status,picture,test_indicated,next_tests,causes,route,urgent,referrals,flags"
        )?;
    }
    let mut readers: Vec<std::io::Lines<BufReader<std::fs::File>>> = (0..nparts)
        .map(|p| {
            Ok(BufReader::with_capacity(
                256 << 10,
                std::fs::File::open(spill.join(format!("result-{p}")))?,
            )
            .lines())
        })
        .collect::<Result<_>>()?;
    let mut heap = std::collections::BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some(line) = r.next() {
            let line = line?;
            heap.push(std::cmp::Reverse((line, i)));
        }
    }
    while let Some(std::cmp::Reverse((line, i))) = heap.pop() {
        let body = line.split_once('\t').map_or(line.as_str(), |(_, b)| b);
        out.write_all(body.as_bytes())?;
        out.write_all(b"\n")?;
        if let Some(next) = readers[i].next() {
            heap.push(std::cmp::Reverse((next?, i)));
        }
    }
    out.flush()?;
    drop(readers);
    std::fs::remove_dir_all(&spill).ok();

    // --- Errors and summary -----------------------------------------------------------
    let mut errors = errors.into_inner().unwrap_or_default();
    errors.sort();
    let read_errors = errors
        .iter()
        .filter(|e| matches!(e.kind.as_str(), "not_json" | "not_fhir" | "no_patient"))
        .count() as u64;
    summary.bad_lines += read_errors;
    for e in errors.iter().filter(|e| e.line > 0) {
        *summary.bad_lines_by_kind.entry(e.kind.clone()).or_default() += 1;
    }
    let mut ew = BufWriter::new(std::fs::File::create(opts.out.join("errors.ndjson"))?);
    for e in &errors {
        serde_json::to_writer(&mut ew, e)?;
        ew.write_all(b"\n")?;
    }
    ew.flush()?;
    summary.lines_read = lines_read.load(Ordering::Relaxed);
    summary.files = files
        .iter()
        .enumerate()
        .map(|(i, (k, p))| InputFile {
            kind: k.clone(),
            path: names[i].clone(),
            lines: file_lines[i],
            bytes: std::fs::metadata(p).map_or(0, |m| m.len()),
        })
        .collect();
    summary.seconds = started.elapsed().as_secs_f64();
    summary.read_seconds = read_seconds;
    std::fs::write(
        opts.out.join("summary.json"),
        serde_json::to_vec_pretty(&summary)?,
    )?;
    Ok(summary)
}

struct PatientResult {
    line: String,
    status: String,
    picture: String,
    causes: Vec<String>,
    flags: Vec<&'static str>,
}

#[derive(Default)]
struct Outcome {
    result: Option<PatientResult>,
    errors: Vec<ErrorRecord>,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn assess_patient(
    kb: &cobalt_core::KnowledgeBase,
    profile: &cobalt_core::Profile,
    opts: &Options,
    id: &str,
    mut held: Vec<Held>,
    names: &[String],
) -> Outcome {
    let mut outcome = Outcome::default();
    held.sort_by_key(|h| (h.file, h.line));
    // Parse the kept lines. A line that parsed as a probe is JSON, so this cannot fail in
    // practice; a failure becomes an error record all the same.
    let mut parsed: Vec<(u32, u64, Value)> = Vec::with_capacity(held.len());
    for h in held {
        match serde_json::from_str::<Value>(&h.text) {
            Ok(v) => parsed.push((h.file, h.line, v)),
            Err(e) => outcome.errors.push(ErrorRecord {
                file: names[h.file as usize].clone(),
                line: h.line,
                patient: Some(id.to_string()),
                kind: "not_json".into(),
                message: e.to_string(),
            }),
        }
    }
    let mut held = parsed;
    // A value the case format refuses names its resource by the path "<file>:<line>"; that line
    // becomes an error record and the patient is assessed again without it.
    loop {
        let paths: Vec<String> = held
            .iter()
            .map(|h| format!("{}:{}", names[h.0 as usize], h.1))
            .collect();
        let refs: Vec<(String, &Value)> = paths
            .iter()
            .cloned()
            .zip(held.iter().map(|h| &h.2))
            .collect();
        match cobalt_fhir::resources_to_case(&refs, opts.as_of, kb) {
            Ok(mapped) => {
                let a = cobalt_core::evaluate(kb, profile, &mapped.parsed, opts.as_of);
                let c = &a.conclusions;
                let line = match opts.format {
                    Format::Ndjson => {
                        let mut v = serde_json::to_value(&a).unwrap_or(Value::Null);
                        v["id"] = Value::String(id.to_string());
                        v.to_string()
                    }
                    Format::Csv => [
                        csv_field(id),
                        c.b12_status.as_str().into(),
                        c.picture.as_str().into(),
                        c.test_indicated.to_string(),
                        csv_field(&c.next_tests.join(";")),
                        csv_field(&c.causes.join(";")),
                        c.treatment.route.as_str().into(),
                        c.treatment.urgent.to_string(),
                        csv_field(&c.referrals.join(";")),
                        csv_field(&a.screening.join(";")),
                    ]
                    .join(","),
                };
                outcome.result = Some(PatientResult {
                    line,
                    status: c.b12_status.as_str().into(),
                    picture: c.picture.as_str().into(),
                    causes: c.causes.clone(),
                    flags: a.screening.clone(),
                });
                return outcome;
            }
            Err(e) => {
                let culprit = paths.iter().position(|p| {
                    e.path.starts_with(p.as_str())
                        && e.path[p.len()..]
                            .chars()
                            .next()
                            .is_none_or(|c| c == '.' || c == '[')
                });
                match culprit {
                    Some(i) => {
                        let h = held.remove(i);
                        outcome.errors.push(ErrorRecord {
                            file: names[h.0 as usize].clone(),
                            line: h.1,
                            patient: Some(id.to_string()),
                            kind: "invalid_value".into(),
                            message: format!(
                                "{}: {}",
                                &e.path[paths[i].len()..].trim_start_matches('.'),
                                e.message
                            ),
                        });
                        if held.is_empty() {
                            return outcome;
                        }
                    }
                    None => {
                        outcome.errors.push(ErrorRecord {
                            file: String::new(),
                            line: 0,
                            patient: Some(id.to_string()),
                            kind: "patient".into(),
                            message: format!("{}: {}", e.path, e.message),
                        });
                        return outcome;
                    }
                }
            }
        }
    }
}
