//! One file's download: renamed only when whole, gzip kept and counted, a count that is not the
//! manifest's refused; and the small checks of the options.

use cobalt_pull::download::{save, LineCounter};
use cobalt_pull::PullError;
use proptest::prelude::*;
use std::io::Write;

fn response(body: Vec<u8>, gzip_header: bool) -> reqwest::Response {
    let mut b = http::Response::builder().status(200);
    if gzip_header {
        b = b.header("content-encoding", "gzip");
    }
    reqwest::Response::from(b.body(body).unwrap())
}

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text).unwrap();
    e.finish().unwrap()
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("cobalt-pull-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn a_plain_file_is_renamed_whole_with_its_lines_counted() {
    let dir = tempdir("plain");
    let body = b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}".to_vec();
    let d = save(
        response(body, false),
        &dir,
        "Observation-0",
        Some(3),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(d.name, "Observation-0.ndjson");
    assert_eq!(d.lines, 3, "a last line without a newline counts");
    assert_eq!(names(&dir), ["Observation-0.ndjson"]);
}

#[tokio::test]
async fn a_gzip_answer_is_kept_compressed_and_its_decompressed_lines_counted() {
    let dir = tempdir("gzip");
    let z = gzip(b"{\"a\":1}\n{\"a\":2}\n");
    let d = save(
        response(z.clone(), true),
        &dir,
        "Patient-0",
        Some(2),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(d.name, "Patient-0.ndjson.gz");
    assert_eq!(d.lines, 2);
    assert_eq!(std::fs::read(dir.join("Patient-0.ndjson.gz")).unwrap(), z);
    // Recognised by its magic number without the header too.
    let d = save(response(z, false), &dir, "Patient-1", None, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(d.name, "Patient-1.ndjson.gz");
}

#[tokio::test]
async fn a_count_that_is_not_the_manifests_leaves_nothing_behind() {
    let dir = tempdir("count");
    let e = save(
        response(b"{}\n{}\n".to_vec(), false),
        &dir,
        "Condition-0",
        Some(3),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(e, PullError::Truncated(_)), "{e}");
    assert!(
        e.to_string()
            .contains("2 line(s) where the manifest says 3"),
        "{e}"
    );
    assert!(names(&dir).is_empty(), "{:?}", names(&dir));
}

#[tokio::test]
async fn a_gzip_stream_cut_short_is_refused() {
    let dir = tempdir("cut");
    let z = gzip(&b"{\"resourceType\":\"Observation\"}\n".repeat(2000));
    let cut = z[..z.len() / 2].to_vec();
    let e = save(
        response(cut, true),
        &dir,
        "Observation-0",
        None,
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("cut short"), "{e}");
    assert!(names(&dir).is_empty());
}

#[test]
fn instants_and_options() {
    assert!(cobalt_pull::is_instant("2026-11-01T00:00:00Z"));
    assert!(cobalt_pull::is_instant("2026-11-01T00:00:00.123+02:00"));
    assert!(!cobalt_pull::is_instant("2026-11-01"));
    assert!(
        !cobalt_pull::is_instant("2026-11-01T00:00:00"),
        "a time zone is required"
    );
    let types: Vec<String> = ["Patient", "Observation"].map(String::from).to_vec();
    let c = cobalt_pull::auth::candidates(&types, None);
    assert_eq!(
        c,
        [
            "system/Patient.rs system/Observation.rs",
            "system/*.rs",
            "system/*.read"
        ]
    );
    assert_eq!(
        cobalt_pull::auth::candidates(&types, Some("system/*.read")),
        ["system/*.read"]
    );
}

proptest! {
    /// However the bytes arrive, the count is the lines of the whole.
    #[test]
    fn lines_are_counted_whatever_the_chunks(text in "[a-z\n]{0,200}", cuts in proptest::collection::vec(0usize..200, 0..8)) {
        let bytes = text.as_bytes();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        cuts.sort_unstable();
        let mut c = LineCounter::default();
        let mut at = 0;
        for cut in cuts.into_iter().chain([bytes.len()]) {
            c.write_all(&bytes[at..cut]).unwrap();
            at = cut;
        }
        let expected = text.split_inclusive('\n').count() as u64;
        prop_assert_eq!(c.lines(), expected);
    }
}
