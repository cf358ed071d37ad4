//! `cobalt assess` reads a bounded input: an endless stream is cut off, and a file larger than
//! the bound is refused before it is read, each with exit 2 and the reason.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn an_endless_input_is_cut_off_with_exit_2() {
    let start = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_cobalt"))
        .args(["assess", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("larger than 64 MiB"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_file_over_the_bound_is_refused_before_it_is_read() {
    let path = std::env::temp_dir().join(format!("cobalt-big-{}.json", std::process::id()));
    let f = std::fs::File::create(&path).unwrap();
    // A sparse 1 GiB file: reading it whole would take seconds and a gigabyte.
    f.set_len(1 << 30).unwrap();
    let start = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_cobalt"))
        .args(["assess", path.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("larger than 64 MiB"));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}
