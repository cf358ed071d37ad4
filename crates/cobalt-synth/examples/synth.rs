//! Writes a synthetic export and prints its size and speed:
//! `cargo run --release -p cobalt-synth --example synth -- PATIENTS SEED OUT_DIR [gzip]`.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let patients = args.first().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let seed = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let out = args.get(2).map_or("target/synth", String::as_str);
    let mut opts =
        cobalt_synth::SynthOptions::new(patients, seed, time::macros::date!(2025 - 06 - 30));
    opts.gzip = args.get(3).is_some_and(|s| s == "gzip");
    let t = Instant::now();
    let stats = cobalt_synth::synth(&opts, std::path::Path::new(out)).expect("synth");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{} patients, {} lines ({} malformed), {} bytes, {:.0} bytes/patient, {:.2} s, {:.0} MB/s",
        stats.patients,
        stats.lines,
        stats.malformed,
        stats.bytes,
        stats.bytes as f64 / stats.patients.max(1) as f64,
        secs,
        stats.bytes as f64 / secs / 1e6
    );
}
