//! Assessing the patients of each partition, in parallel, in patient-id order.

use crate::errors::Errors;
use crate::partition::Spill;
use crate::row::Row;
use crate::{Detail, ErrorRecord, Format, Options, Summary};
use anyhow::{Context as _, Result};
use cobalt_core::InputError;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufWriter, Write};

/// What every assessment of a run shares.
pub(crate) struct Context<'a> {
    pub kb: &'a cobalt_core::KnowledgeBase,
    pub profile: &'a cobalt_core::Profile,
    pub opts: &'a Options,
    pub names: &'a [String],
    /// Whether each file holds Patient resources.
    pub patient_files: &'a [bool],
    pub threads: usize,
}

/// Assesses every partition, `ctx.threads` at a time: each thread takes the next partition
/// not yet taken and does all of its work (reading its records, grouping them by patient,
/// assessing each patient, writing its results sorted by patient id to its result file), so
/// that no thread waits for another between partitions. The counts go to the summary and the
/// error records to `sink` (which sorts them), so the outputs do not depend on which thread
/// took which partition. Memory holds one partition per thread.
pub(crate) fn partitions(
    ctx: &Context<'_>,
    spill: &Spill,
    summary: &mut Summary,
    sink: &Errors,
) -> Result<()> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    /// Stops the other threads when its thread panics.
    struct StopOnPanic<'a>(&'a AtomicBool);
    impl Drop for StopOnPanic<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.store(true, Ordering::Relaxed);
            }
        }
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let workers = ctx.threads.clamp(1, spill.parts.max(1));
    let outcomes: Vec<std::thread::Result<Result<Summary>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (next, stop) = (&next, &stop);
                scope.spawn(move || -> Result<Summary> {
                    let _guard = StopOnPanic(stop);
                    let mut counts = Summary::default();
                    while !stop.load(Ordering::Relaxed) {
                        let p = next.fetch_add(1, Ordering::Relaxed);
                        if p >= spill.parts {
                            break;
                        }
                        if let Err(e) = partition(ctx, spill, p, &mut counts, sink) {
                            stop.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                    Ok(counts)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let mut panicked = 0;
    for o in outcomes {
        match o {
            Ok(Ok(counts)) => summary.add_assessed(&counts),
            // A thread's own error says more than another thread's panic.
            Ok(Err(e)) => return Err(e),
            Err(_) => panicked += 1,
        }
    }
    if panicked > 0 {
        // A thread stopped (it panicked) with patients unassessed: the run fails, and commits
        // nothing, rather than leave them out of the results.
        anyhow::bail!("assessing stopped early: {panicked} assessment thread(s) failed");
    }
    Ok(())
}

/// One partition: its records read at once and kept as they are (each patient's lines borrow
/// from this text, no copy per line), its patients assessed in patient-id order, the results
/// written to the partition's result file.
fn partition(
    ctx: &Context<'_>,
    spill: &Spill,
    p: usize,
    counts: &mut Summary,
    sink: &Errors,
) -> Result<()> {
    let path = spill.lines(p);
    let reading = || format!("reading {}", path.display());
    let data = std::fs::read_to_string(&path).with_context(reading)?;
    let mut patients: HashMap<Cow<'_, str>, Vec<Held<'_>>> = HashMap::new();
    for record in data.split('\n').filter(|r| !r.is_empty()) {
        let mut f = record.splitn(4, '\t');
        let (Some(file), Some(line), Some(pid), Some(text)) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let (Ok(file), Ok(line)) = (file.parse::<u32>(), line.parse::<u64>()) else {
            continue;
        };
        patients.entry(Cow::Borrowed(pid)).or_default().push(Held {
            file,
            line,
            text: Cow::Borrowed(text),
        });
    }
    std::fs::remove_file(&path).ok();
    let dest = spill.results(p);
    let writing = || format!("writing {}", dest.display());
    let f = std::fs::File::create(&dest).with_context(writing)?;
    let mut out = BufWriter::with_capacity(1 << 20, f);
    let mut errors = Vec::new();
    self::patients(ctx, patients, counts, &mut errors, &mut out).with_context(writing)?;
    out.flush().with_context(writing)?;
    sink.extend(&mut errors).context("writing error records")
}

/// Assesses a group of patients in patient-id order, in this thread: each result goes to
/// `out` as `id<TAB>record`, the counts to the summary, refused lines to `errors`.
pub(crate) fn patients(
    ctx: &Context<'_>,
    patients: HashMap<Cow<'_, str>, Vec<Held<'_>>>,
    summary: &mut Summary,
    errors: &mut Vec<ErrorRecord>,
    out: &mut dyn Write,
) -> Result<()> {
    let mut list: Vec<(Cow<'_, str>, Vec<Held<'_>>)> = patients.into_iter().collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    summary.patients_read += list.len() as u64;
    for (id, held) in list {
        let o = assess_patient(ctx, &id, held);
        tally(id, o, summary, errors, out)?;
    }
    Ok(())
}

/// Counts a patient's result in the summary and writes it.
fn tally(
    id: Cow<'_, str>,
    o: Outcome,
    summary: &mut Summary,
    errors: &mut Vec<ErrorRecord>,
    out: &mut dyn Write,
) -> Result<()> {
    errors.extend(o.errors);
    match o.result {
        Some(r) => {
            summary.patients_assessed += 1;
            *summary.by_b12_status.entry(r.status.into()).or_default() += 1;
            *summary.by_picture.entry(r.picture.into()).or_default() += 1;
            for c in &r.causes {
                *summary.by_cause.entry(c.clone()).or_default() += 1;
            }
            for f in &r.flags {
                *summary.by_flag.entry(f.to_string()).or_default() += 1;
            }
            if !r.flags.is_empty() {
                summary.patients_flagged += 1;
            }
            *summary
                .by_mcdonald_2017
                .entry(r.mcdonald[0].into())
                .or_default() += 1;
            *summary
                .by_mcdonald_2024
                .entry(r.mcdonald[1].into())
                .or_default() += 1;
            for k in &r.skipped {
                *summary
                    .skipped_resources_by_kind
                    .entry((*k).into())
                    .or_default() += 1;
            }
            out.write_all(id.as_bytes())?;
            out.write_all(b"\t")?;
            out.write_all(r.line.as_bytes())?;
            out.write_all(b"\n")?;
        }
        None => summary.patients_in_error += 1,
    }
    Ok(())
}

/// A resource, with the file and line it came from. The line's text is kept, not a parsed
/// tree: a JSON tree takes ten times the memory of its text. It borrows from the partition's
/// text when it can.
pub(crate) struct Held<'a> {
    pub file: u32,
    pub line: u64,
    pub text: Cow<'a, str>,
}

/// One patient's result: the output record, the counts the summary needs.
pub(crate) struct PatientResult {
    pub line: String,
    pub status: &'static str,
    pub picture: &'static str,
    pub causes: Vec<String>,
    pub flags: Vec<&'static str>,
    /// The kinds of the resources read but not used.
    pub skipped: Vec<&'static str>,
    /// McDonald 2017 and 2024, as summary keys.
    pub mcdonald: [&'static str; 2],
}

#[derive(Default)]
pub(crate) struct Outcome {
    pub result: Option<PatientResult>,
    pub errors: Vec<ErrorRecord>,
}

fn assess_patient(ctx: &Context<'_>, id: &str, mut held: Vec<Held<'_>>) -> Outcome {
    let (kb, opts, names) = (ctx.kb, ctx.opts, ctx.names);
    let mut outcome = Outcome::default();
    held.sort_by_key(|h| (h.file, h.line));
    // A Medication is filed once for each request that names it.
    held.dedup_by_key(|h| (h.file, h.line));
    let path = |h: &Held| format!("{}:{}", names[h.file as usize], h.line);
    patient_records(ctx, id, &mut held, &mut outcome.errors);
    let refused = |h: &Held, e: &InputError, p: &str| ErrorRecord {
        file: names[h.file as usize].clone(),
        line: h.line,
        patient: Some(id.to_string()),
        kind: "invalid_value".into(),
        message: format!(
            "{}: {}",
            e.path[p.len()..].trim_start_matches('.'),
            e.message
        ),
    };
    let culprit = |e: &InputError, paths: &[String]| {
        paths.iter().position(|p| {
            e.path.starts_with(p.as_str())
                && e.path[p.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| c == '.' || c == '[')
        })
    };
    let mut first_try = true;
    // A value the case format refuses names its resource by the path "<file>:<line>"; that line
    // becomes an error record. When the patient's lines together are refused, each line is
    // checked alone once (linear, however many are bad), and the patient is assessed from the
    // rest; a problem only the lines together have (a pregnancy recorded for a man) removes one
    // line per further try.
    loop {
        let paths: Vec<String> = held.iter().map(path).collect();
        let refs: Vec<(String, &str)> = paths
            .iter()
            .cloned()
            .zip(held.iter().map(|h| &*h.text))
            .collect();
        let e = match cobalt_fhir::resources_to_case(&refs, opts.as_of, kb) {
            Ok(mapped) => {
                outcome.result = Some(result(ctx, id, &mapped, &outcome));
                return outcome;
            }
            Err(e) => e,
        };
        if first_try && held.len() > 1 {
            first_try = false;
            let mut kept = Vec::with_capacity(held.len());
            for (h, p) in held.into_iter().zip(&paths) {
                match cobalt_fhir::resources_to_case(&[(p.clone(), &*h.text)], opts.as_of, kb) {
                    Err(e) if culprit(&e, std::slice::from_ref(p)).is_some() => {
                        outcome.errors.push(refused(&h, &e, p));
                    }
                    _ => kept.push(h),
                }
            }
            held = kept;
            if held.is_empty() {
                return outcome;
            }
            continue;
        }
        match culprit(&e, &paths) {
            Some(i) => {
                let h = held.remove(i);
                outcome.errors.push(refused(&h, &e, &paths[i]));
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

/// What the Patient lines of one patient say: none (the resources name a Patient the export
/// does not hold: a patient-level record, and the patient is assessed without demographics), or
/// several that differ (each later one is refused: the first is used, as the mapping does).
fn patient_records(
    ctx: &Context<'_>,
    id: &str,
    held: &mut Vec<Held<'_>>,
    errors: &mut Vec<ErrorRecord>,
) {
    let is_patient = |h: &Held| ctx.patient_files[h.file as usize];
    let Some(first) = held.iter().position(is_patient) else {
        errors.push(ErrorRecord {
            file: String::new(),
            line: 0,
            patient: Some(id.to_string()),
            kind: "patient_absent".into(),
            message: format!(
                "resources name Patient/{id}, which the export does not hold; assessed without the Patient's age, sex or pregnancy"
            ),
        });
        return;
    };
    let (first_file, first_line) = (held[first].file, held[first].line);
    let first_text = held[first].text.clone();
    let mut kept = Vec::with_capacity(held.len());
    for h in held.drain(..) {
        if is_patient(&h) && (h.file, h.line) != (first_file, first_line) && h.text != first_text {
            errors.push(ErrorRecord {
                file: ctx.names[h.file as usize].clone(),
                line: h.line,
                patient: Some(id.to_string()),
                kind: "conflicting_patient".into(),
                message: format!(
                    "another Patient with id `{id}` that differs from the one at {}:{first_line}; that one is used",
                    ctx.names[first_file as usize]
                ),
            });
            continue;
        }
        kept.push(h);
    }
    *held = kept;
}

/// The output record of an assessed patient.
fn result(
    ctx: &Context<'_>,
    id: &str,
    mapped: &cobalt_fhir::Mapped,
    outcome: &Outcome,
) -> PatientResult {
    let case = &mapped.parsed;
    let skipped: Vec<&'static str> = mapped.skipped.iter().map(|s| s.kind()).collect();
    let (kb, opts) = (ctx.kb, ctx.opts);
    // Compact rows need the conclusions and the rules, not the prose.
    let detail = match opts.detail {
        Detail::Full => cobalt_core::Detail::Full,
        Detail::Compact => cobalt_core::Detail::Conclusions,
    };
    let a = cobalt_core::evaluate_with(kb, ctx.profile, case, opts.as_of, detail);
    let refused = outcome.errors.iter().filter(|e| e.line > 0).count() as u32;
    let line = match (opts.detail, opts.format) {
        (Detail::Full, _) => {
            let mut v = serde_json::to_value(&a).unwrap_or(Value::Null);
            v["id"] = Value::String(id.to_string());
            let records: Vec<cobalt_fhir::Kinded<'_>> =
                mapped.skipped.iter().map(cobalt_fhir::Kinded).collect();
            v["skipped_resources"] = serde_json::to_value(records).unwrap_or(Value::Null);
            v.to_string()
        }
        (Detail::Compact, f) => {
            let row = Row::new(id, case, &a, opts.as_of, refused, skipped.len() as u32);
            match f {
                Format::Csv => row.csv(),
                Format::Ndjson | Format::Parquet => {
                    let mut line = String::with_capacity(768);
                    crate::row_json::write(&row, &mut line);
                    line
                }
            }
        }
    };
    let c = &a.conclusions;
    PatientResult {
        line,
        status: c.b12_status.as_str(),
        picture: c.picture.as_str(),
        causes: c.causes.clone(),
        flags: a.screening.clone(),
        skipped,
        mcdonald: [
            criteria_key(a.mcdonald_assessed(), c.mcdonald_2017.met),
            criteria_key(a.mcdonald_2024_assessed(), c.mcdonald_2024.met),
        ],
    }
}

fn criteria_key(assessed: bool, met: Option<bool>) -> &'static str {
    match (assessed, met) {
        (false, _) => "not_assessed",
        (_, Some(true)) => "met",
        (_, Some(false)) => "not_met",
        (_, None) => "undecided",
    }
}
