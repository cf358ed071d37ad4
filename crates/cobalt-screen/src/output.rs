//! A screening owns its output directory, and commits its outputs as one set.
//!
//! A run takes an exclusive lock on `OUT/.cobalt-screen.lock` before it touches anything in
//! `OUT` and holds it to the end; a second run into the same directory finds it locked and
//! refuses, whatever it was started with. The lock is the operating system's (`flock` on
//! Linux), so it goes with the process: a run that is killed leaves no lock behind. The lock
//! file is removed when the run ends; a run that opened it just before then checks, once it
//! holds the lock, that it locked the file the path still names.
//!
//! Everything a run writes goes under names of its own (its spill directory, its temporary
//! files), and is renamed to the final names only when every output is complete and on disk.

use crate::write::Atomic;
use anyhow::{bail, Context, Result};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file, in the output directory.
pub const LOCK_FILE: &str = ".cobalt-screen.lock";

/// An exclusive hold on an output directory, for one run. Dropped, it releases the lock.
#[derive(Debug)]
pub struct OutputLock {
    dir: PathBuf,
    path: PathBuf,
    file: std::fs::File,
    run: String,
}

impl OutputLock {
    /// Creates `out` if needed and locks it for this run, or fails at once (without waiting)
    /// when another run holds it, saying which process does.
    pub fn acquire(out: &Path) -> Result<OutputLock> {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let path = out.join(LOCK_FILE);
        // A few tries: each lost only when the holder removed the file between our open and
        // our lock, that is, when it has just ended.
        for _ in 0..8 {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    file.read_to_string(&mut holder).ok();
                    let holder = match holder.trim() {
                        "" => String::new(),
                        pid => format!(" (process {pid})"),
                    };
                    bail!(
                        "{} is in use by another screening{holder}: {} is locked. Wait for it to end, or give another --out",
                        out.display(),
                        path.display()
                    );
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", path.display()));
                }
            }
            if !same_file(&file, &path) {
                continue;
            }
            // Who holds it, for the message of a run that finds it locked.
            file.set_len(0).ok();
            file.rewind().ok();
            writeln!(file, "{}", std::process::id()).ok();
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            return Ok(OutputLock {
                dir: out.to_path_buf(),
                path,
                file,
                run: format!("{}-{nanos:x}", std::process::id()),
            });
        }
        bail!("could not lock {}", path.display())
    }

    /// The directory held.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This run's name, for names of its own in the directory.
    pub(crate) fn run(&self) -> &str {
        &self.run
    }

    /// Removes what runs that ended without finishing left (a spill directory, temporary
    /// files): with the lock held, no other run can be writing them.
    pub(crate) fn clear_leftovers(&self) -> Result<()> {
        let entries = std::fs::read_dir(&self.dir)
            .with_context(|| format!("reading {}", self.dir.display()))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if name == ".partitions" || name.starts_with(".partitions-") {
                std::fs::remove_dir_all(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            } else if name.starts_with('.') && name.ends_with(".partial") {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
        Ok(())
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still locked; the lock goes with the file handle, closed after this.
        if cfg!(unix) {
            let _ = std::fs::remove_file(&self.path);
        }
        let _ = self.file.unlock();
    }
}

/// Whether an open file is the one a path names now.
#[cfg(unix)]
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Elsewhere the lock file is never removed, so the path always names the file locked.
#[cfg(not(unix))]
fn same_file(_: &std::fs::File, _: &Path) -> bool {
    true
}

/// Commits a run's outputs, each written and closed under its temporary name: every one is
/// synced to disk, then each is renamed to its final name, in the order given (`summary.json`
/// last, so that its presence means a complete set). If any step fails, the outputs already
/// renamed are removed and every temporary file too: the directory holds the whole set or
/// none of it.
pub(crate) fn commit(dir: &Path, outputs: Vec<Atomic>) -> Result<()> {
    for a in &outputs {
        a.sync()?;
    }
    let mut done: Vec<PathBuf> = Vec::new();
    for a in outputs {
        let dest = a.dest().to_path_buf();
        if let Err(e) = a.commit() {
            for d in &done {
                let _ = std::fs::remove_file(d);
            }
            return Err(e);
        }
        done.push(dest);
    }
    // The renames themselves on disk. Best effort: the set is complete either way.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
