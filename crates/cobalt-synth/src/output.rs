//! The files: one NDJSON file per resource type (plain or gzip, through a `BufWriter`), and the
//! Bulk Data manifest (`manifest.json`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::fhir::TYPES;
use crate::SynthOptions;

const BUFFER: usize = 1 << 20;

enum Sink {
    Plain(BufWriter<File>),
    #[cfg(feature = "gzip")]
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
}

impl Sink {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Plain(w) => w,
            #[cfg(feature = "gzip")]
            Sink::Gzip(w) => w,
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Plain(mut w) => w.flush(),
            #[cfg(feature = "gzip")]
            Sink::Gzip(w) => w.finish()?.flush(),
        }
    }
}

/// The open NDJSON files, in `TYPES` order.
pub struct Files {
    sinks: Vec<Sink>,
    bytes: u64,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files").field("bytes", &self.bytes).finish()
    }
}

/// The file name for resource type `t`.
pub fn file_name(t: &str, gzip: bool) -> String {
    if gzip {
        format!("{t}.ndjson.gz")
    } else {
        format!("{t}.ndjson")
    }
}

impl Files {
    /// Creates (or truncates) every file.
    pub fn create(dir: &Path, gzip: bool) -> io::Result<Files> {
        #[cfg(not(feature = "gzip"))]
        if gzip {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "gzip output needs cobalt-synth's `gzip` feature",
            ));
        }
        let mut sinks = Vec::with_capacity(TYPES.len());
        for t in TYPES {
            let w = BufWriter::with_capacity(BUFFER, File::create(dir.join(file_name(t, gzip)))?);
            #[cfg(feature = "gzip")]
            if gzip {
                sinks.push(Sink::Gzip(flate2::write::GzEncoder::new(
                    w,
                    flate2::Compression::fast(),
                )));
                continue;
            }
            sinks.push(Sink::Plain(w));
        }
        Ok(Files { sinks, bytes: 0 })
    }

    /// Writes one line (the newline added) to file `t`.
    pub fn line(&mut self, t: usize, line: &[u8]) -> io::Result<()> {
        let w = self.sinks[t].writer();
        w.write_all(line)?;
        w.write_all(b"\n")?;
        self.bytes += line.len() as u64 + 1;
        Ok(())
    }

    /// Flushes and closes every file; returns the NDJSON bytes written (before compression).
    pub fn finish(self) -> io::Result<u64> {
        for s in self.sinks {
            s.finish()?;
        }
        Ok(self.bytes)
    }
}

/// Writes `manifest.json`: a Bulk Data export manifest listing each file with its line count,
/// and the generator's options under `extension`. Written by hand so that its fields keep the
/// specification's order.
pub fn manifest(dir: &Path, opts: &SynthOptions, counts: &[u64]) -> io::Result<()> {
    let (y, m, d) = opts.as_of.to_calendar_date();
    let mut w = BufWriter::new(File::create(dir.join("manifest.json"))?);
    writeln!(w, "{{")?;
    writeln!(
        w,
        "  \"transactionTime\": \"{y:04}-{:02}-{d:02}T00:00:00Z\",",
        m as u8
    )?;
    writeln!(
        w,
        "  \"request\": \"https://synthetic.invalid/fhir/$export?_type={}\",",
        TYPES.join(",")
    )?;
    writeln!(w, "  \"requiresAccessToken\": false,")?;
    writeln!(w, "  \"output\": [")?;
    for (i, (t, count)) in TYPES.iter().zip(counts).enumerate() {
        let comma = if i + 1 < TYPES.len() { "," } else { "" };
        writeln!(
            w,
            "    {{ \"type\": \"{t}\", \"url\": \"{}\", \"count\": {count} }}{comma}",
            file_name(t, opts.gzip)
        )?;
    }
    writeln!(w, "  ],")?;
    writeln!(w, "  \"error\": [],")?;
    writeln!(
        w,
        "  \"extension\": {{ \"cobalt-synth\": {{ \"patients\": {}, \"seed\": {}, \"malformedPerMille\": {}, \"gzip\": {} }} }}",
        opts.patients, opts.seed, opts.malformed_per_mille, opts.gzip
    )?;
    writeln!(w, "}}")?;
    w.flush()
}
