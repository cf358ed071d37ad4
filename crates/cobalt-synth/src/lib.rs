//! Deterministic synthetic FHIR R4 Bulk Data exports, for tests and benchmarks of population
//! screening.
//!
//! [`synth`] writes one NDJSON file per resource type (`Patient`, `Observation`, `Condition`,
//! `MedicationRequest`, `MedicationStatement`, `Procedure`) and a Bulk Data `manifest.json`.
//! Patients are drawn in blocks of [`BLOCK`]; within a block each file's lines are shuffled, so
//! no file is sorted by patient. Every clinical resource names its patient in
//! `subject.reference` (`Patient/p000000123`).
//!
//! The same options give byte-identical files: every patient is drawn from a random stream of
//! its own (SplitMix64 and xoshiro256**, no `rand`), keyed by the seed and the patient's number;
//! the shuffles and the malformed lines have streams of their own.
//!
//! The codes are ones cobalt maps (the vocabulary and `knowledge/fhir.toml`); see `codes`. The
//! clinical model is in `person`.
//!
//! ```no_run
//! let opts = cobalt_synth::SynthOptions::new(1_000, 42, time::macros::date!(2025 - 01 - 01));
//! let stats = cobalt_synth::synth(&opts, std::path::Path::new("target/synth")).unwrap();
//! println!("{} lines, {} malformed", stats.lines, stats.malformed);
//! ```

mod codes;
mod fhir;
mod json;
mod malformed;
mod output;
mod person;
mod rng;

use std::io;
use std::path::Path;

use time::Date;

use crate::fhir::Clock;
use crate::malformed::{Fault, Faults};
use crate::output::Files;
use crate::person::{Form, Person};
use crate::rng::Rng;

/// Patients per block: the unit within which each file's lines are shuffled.
pub const BLOCK: u64 = 1000;

/// Stream names (see `Rng::stream`).
const STREAM_PATIENT: u64 = 1;
const STREAM_FAULTS: u64 = 2;
const STREAM_SHUFFLE: u64 = 3;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthOptions {
    /// Number of patients (ids `p000000000` upwards; more than nine digits past 999 999 999).
    pub patients: u64,
    /// The seed: the same options give byte-identical output.
    pub seed: u64,
    /// Share of malformed lines among all NDJSON lines, per mille (default 2; at most 1000).
    pub malformed_per_mille: u32,
    /// The export's date: results fall in the three years before it, ages are counted at it,
    /// and it is the manifest's `transactionTime` (midnight UTC).
    pub as_of: Date,
    /// Write `.ndjson.gz` (gzip) instead of `.ndjson`.
    pub gzip: bool,
    /// Unrelated Observations (vital signs, codes cobalt does not read) for each Observation
    /// cobalt reads, as real exports are padded (default 0).
    pub pad_observations: u32,
}

impl SynthOptions {
    /// `patients` patients from `seed` as of `as_of`, with the default 2 per mille of malformed
    /// lines, uncompressed.
    pub fn new(patients: u64, seed: u64, as_of: Date) -> Self {
        SynthOptions {
            patients,
            seed,
            malformed_per_mille: 2,
            as_of,
            gzip: false,
            pad_observations: 0,
        }
    }
}

/// What [`synth`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SynthStats {
    /// Patients generated.
    pub patients: u64,
    /// NDJSON lines in all files, malformed ones included.
    pub lines: u64,
    /// Malformed lines among them.
    pub malformed: u64,
    /// NDJSON bytes, newlines included, before any compression (the manifest not counted).
    pub bytes: u64,
}

/// One block's lines for one resource type: the bytes and each line's span.
#[derive(Debug, Default)]
struct Lines {
    buf: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

/// Writes the export for `opts` into `out_dir` (created if missing; files of the same names are
/// replaced) and returns what it wrote.
pub fn synth(opts: &SynthOptions, out_dir: &Path) -> io::Result<SynthStats> {
    if opts.malformed_per_mille > 1000 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "malformed_per_mille must be at most 1000",
        ));
    }
    std::fs::create_dir_all(out_dir)?;
    let mut files = Files::create(out_dir, opts.gzip)?;
    let clock = Clock { as_of: opts.as_of };
    let mut stats = SynthStats {
        patients: opts.patients,
        ..SynthStats::default()
    };
    let mut counts = [0u64; fhir::TYPES.len()];
    let mut lines: [Lines; fhir::TYPES.len()] = Default::default();
    let mut person = Person::default();

    let mut block_start = 0;
    let mut block = 0u64;
    while block_start < opts.patients {
        let block_end = opts.patients.min(block_start + BLOCK);
        for l in &mut lines {
            l.buf.clear();
            l.spans.clear();
        }
        for index in block_start..block_end {
            let mut rng = Rng::stream(opts.seed, STREAM_PATIENT, index);
            person.draw(index, &mut rng);
            let faults = Faults::new(
                Rng::stream(opts.seed, STREAM_FAULTS, index),
                opts.malformed_per_mille,
            );
            stats.malformed += write_person(&person, clock, faults, &mut lines);
            let pad = person.labs.len() * opts.pad_observations as usize;
            let l = &mut lines[fhir::OBSERVATION];
            for k in 0..pad {
                let start = l.buf.len();
                fhir::vital(&mut l.buf, &person, k, clock);
                l.spans.push((start, l.buf.len()));
            }
        }
        for (t, l) in lines.iter_mut().enumerate() {
            Rng::stream(opts.seed, STREAM_SHUFFLE, block * 8 + t as u64).shuffle(&mut l.spans);
            for &(a, b) in &l.spans {
                files.line(t, &l.buf[a..b])?;
            }
            counts[t] += l.spans.len() as u64;
        }
        block_start = block_end;
        block += 1;
    }
    stats.bytes = files.finish()?;
    stats.lines = counts.iter().sum();
    output::manifest(out_dir, opts, &counts)?;
    Ok(stats)
}

/// Writes one patient's resources into `lines`; returns how many lines were spoiled.
fn write_person(p: &Person, clock: Clock, mut faults: Faults, lines: &mut [Lines]) -> u64 {
    let mut malformed = 0;
    let mut emit = |t: usize, quantity: bool, write: &dyn Fn(&mut Vec<u8>, Fault)| {
        let fault = faults.next(quantity);
        let l = &mut lines[t];
        let start = l.buf.len();
        write(&mut l.buf, fault);
        faults.apply(&mut l.buf, start, fault);
        l.spans.push((start, l.buf.len()));
        if fault != Fault::None {
            malformed += 1;
        }
    };
    emit(fhir::PATIENT, false, &|b, _| fhir::patient(b, p, clock));
    for (n, lab) in p.labs.iter().enumerate() {
        emit(fhir::OBSERVATION, fhir::is_quantity(lab), &|b, f| {
            fhir::observation(b, p, n, lab, clock, f)
        });
    }
    for (n, c) in p.conditions.iter().enumerate() {
        emit(fhir::CONDITION, false, &|b, _| {
            fhir::condition(b, p, n, c, clock)
        });
    }
    let (mut requests, mut statements) = (0, 0);
    for m in &p.meds {
        if matches!(m.form, Form::Request | Form::Both) {
            let n = requests;
            emit(fhir::MEDICATION_REQUEST, false, &|b, _| {
                fhir::medication_request(b, p, n, m, clock)
            });
            requests += 1;
        }
        if matches!(m.form, Form::Statement | Form::Both) {
            let n = statements;
            emit(fhir::MEDICATION_STATEMENT, false, &|b, _| {
                fhir::medication_statement(b, p, n, m, clock)
            });
            statements += 1;
        }
    }
    for (n, pr) in p.procedures.iter().enumerate() {
        emit(fhir::PROCEDURE, false, &|b, _| {
            fhir::procedure(b, p, n, pr, clock)
        });
    }
    malformed
}
