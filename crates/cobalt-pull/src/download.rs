//! One output file, streamed to disk: under a temporary name, renamed when whole. A gzip answer
//! (`Content-Encoding: gzip`, or a gzip body) is kept compressed as `.ndjson.gz` and counted as
//! it is written, through a streaming decoder; memory stays at one network chunk whatever the
//! file's size.

use crate::PullError;
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Counts lines written to it: every `\n`, and a last line without one.
#[derive(Debug, Default)]
pub struct LineCounter {
    /// Newlines seen.
    pub newlines: u64,
    /// Whether the last byte seen was not a newline.
    pub open: bool,
}

impl LineCounter {
    /// Lines, a last line without `\n` included.
    pub fn lines(&self) -> u64 {
        self.newlines + u64::from(self.open)
    }
}

impl Write for LineCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(&last) = buf.last() {
            self.newlines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
            self.open = last != b'\n';
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a finished download wrote.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// The file's name in the export directory.
    pub name: String,
    /// Lines.
    pub lines: u64,
    /// Bytes written to disk.
    pub bytes: u64,
}

/// The names a file of this stem may have once whole.
pub fn final_names(stem: &str) -> [String; 2] {
    [format!("{stem}.ndjson"), format!("{stem}.ndjson.gz")]
}

/// The whole file of this stem already in `dir`, if any (a resumed pull skips it).
pub fn existing(dir: &Path, stem: &str) -> Option<PathBuf> {
    final_names(stem)
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// Streams `resp` to `dir/{stem}.ndjson[.gz]`, checking the line count against `expected`.
///
/// # Errors
/// The connection breaks, the disk fails, or the file has another number of lines than the
/// manifest says (a file cut short): the temporary file is removed and nothing is renamed.
pub async fn save(
    mut resp: reqwest::Response,
    dir: &Path,
    stem: &str,
    expected: Option<u64>,
    on_bytes: &mut (dyn FnMut(u64) + Send),
) -> Result<Downloaded, PullError> {
    let gzip_header = resp
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let part = dir.join(format!("{stem}.part"));
    let mut file = tokio::fs::File::create(&part)
        .await
        .map_err(|e| PullError::Io(format!("creating {}: {e}", part.display())))?;
    let result = async {
        let mut plain = LineCounter::default();
        // Decided on the first bytes: gzip by header or by magic number.
        let mut gz: Option<flate2::write::GzDecoder<LineCounter>> = None;
        let mut first = true;
        let mut bytes = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            PullError::Truncated(format!(
                "{stem}: the download broke off: {}",
                cobalt_smart::discovery::without_url(&e)
            ))
        })? {
            if first {
                first = false;
                if gzip_header || chunk.starts_with(&[0x1f, 0x8b]) {
                    gz = Some(flate2::write::GzDecoder::new(LineCounter::default()));
                }
            }
            match &mut gz {
                Some(d) => d.write_all(&chunk).map_err(|e| {
                    PullError::Truncated(format!("{stem}: not a valid gzip stream: {e}"))
                })?,
                None => {
                    plain.write_all(&chunk).ok();
                }
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| PullError::Io(format!("writing {}: {e}", part.display())))?;
            bytes += chunk.len() as u64;
            on_bytes(chunk.len() as u64);
        }
        let (lines, compressed) = match gz {
            Some(d) => {
                let c = d.finish().map_err(|e| {
                    PullError::Truncated(format!("{stem}: the gzip stream is cut short: {e}"))
                })?;
                (c.lines(), true)
            }
            None => (plain.lines(), false),
        };
        if let Some(n) = expected {
            if n != lines {
                return Err(PullError::Truncated(format!(
                    "{stem}: {lines} line(s) where the manifest says {n}; the file is incomplete"
                )));
            }
        }
        file.sync_all()
            .await
            .map_err(|e| PullError::Io(format!("writing {}: {e}", part.display())))?;
        Ok((lines, bytes, compressed))
    }
    .await;
    drop(file);
    let (lines, bytes, compressed) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
    };
    let name = if compressed {
        format!("{stem}.ndjson.gz")
    } else {
        format!("{stem}.ndjson")
    };
    tokio::fs::rename(&part, dir.join(&name))
        .await
        .map_err(|e| PullError::Io(format!("renaming {}: {e}", part.display())))?;
    Ok(Downloaded { name, lines, bytes })
}
