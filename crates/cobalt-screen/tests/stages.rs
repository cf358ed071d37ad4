//! The stages of `cobalt screen-stage`, run as a cluster job runs them (each input split to its
//! own `file` run, the filed records partitioned by key, each partition to its own `assess`
//! run), give what `cobalt screen` gives on the same export: the same rows, error records and
//! counts, whatever the split size and the number of partitions.

use cobalt_screen::stage::{self, Job};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn kb() -> &'static cobalt_core::KnowledgeBase {
    static KB: OnceLock<cobalt_core::KnowledgeBase> = OnceLock::new();
    KB.get_or_init(|| cobalt_kb::load().unwrap())
}

fn as_of() -> time::Date {
    cobalt_core::case::parse_date("2026-01-01").unwrap()
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cobalt-stages-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const MEDICATIONS: &[&[u8]] = &[
    br#"{"resourceType":"Medication","id":"m-1","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"861007"}]}}"#,
    br#"{"resourceType":"Medication","id":"m-2","code":{"text":"Pantoprazole 40 mg tablets"}}"#,
    br#"{"resourceType":"Medication""#,
];

/// Lines that take the other paths: bad bytes, a carriage return inside a line, a CRLF line
/// end, blank lines, no patient, the wrong type, requests naming Medications.
fn extra(file: &str) -> Vec<&'static [u8]> {
    match file {
        "Observation.ndjson" => vec![
            b"",
            b"  ",
            br#"{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2132-9"}]}}"#,
            b"{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"2132-9\"}]},\"subject\":{\"reference\":\"Patient/p000000003\"},\"note\":[{\"text\":\"caf\xe9\"}]}",
            br#"["2132-9"]"#,
        ],
        "Condition.ndjson" => vec![
            b"{\"resourceType\":\"Condition\",\r\"id\":\"c-cr\",\"subject\":{\"reference\":\"Patient/p000000005\"},\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"396331005\"}]}}\r",
        ],
        "MedicationRequest.ndjson" => vec![
            br#"{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/p000000004"},"authoredOn":"2019-01-01","medicationReference":{"reference":"Medication/m-1"}}"#,
            br#"{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/p000000011"},"authoredOn":"2019-01-01","medicationReference":{"reference":"Medication/m-2"}}"#,
        ],
        "Patient.ndjson" => vec![br#"{"resourceType":"Patient","id":"p-broken""#],
        _ => vec![],
    }
}

/// A synthetic export (padded, with malformed lines) with the extra lines and a Medication file.
fn export() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = dir("export");
        let opts = cobalt_synth::SynthOptions {
            patients: 150,
            seed: 11,
            malformed_per_mille: 5,
            as_of: as_of(),
            gzip: false,
            pad_observations: 3,
        };
        cobalt_synth::synth(&opts, &d).unwrap();
        std::fs::remove_file(d.join("manifest.json")).unwrap();
        for (name, _) in cobalt_screen::discover(&d).unwrap() {
            let name = name + ".ndjson";
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(d.join(&name))
                .unwrap();
            for l in extra(&name) {
                f.write_all(l).unwrap();
                f.write_all(b"\n").unwrap();
            }
        }
        std::fs::write(d.join("Medication.ndjson"), MEDICATIONS.join(&b"\n"[..])).unwrap();
        d
    })
}

type Screened = (Vec<String>, Vec<String>, cobalt_screen::Summary);

/// What `cobalt screen` writes: results lines, error records, the summary.
fn reference() -> &'static Screened {
    static REF: OnceLock<Screened> = OnceLock::new();
    REF.get_or_init(|| screened("reference", |_| {}))
}

/// `cobalt screen` of the export with options changed by `change`, in directory `name`.
fn screened(name: &str, change: impl Fn(&mut cobalt_screen::Options)) -> Screened {
    let out = dir(name);
    let mut opts = cobalt_screen::Options {
        input: export().into(),
        out: out.clone(),
        format: cobalt_screen::Format::Ndjson,
        detail: cobalt_screen::Detail::Compact,
        validate_all: false,
        as_of: as_of(),
        as_of_source: "--as-of".into(),
        threads: 2,
        max_errors_per_file: cobalt_screen::DEFAULT_MAX_ERRORS_PER_FILE,
    };
    change(&mut opts);
    let kb = kb();
    let s =
        cobalt_screen::screen(kb, &kb.profiles[&kb.meta.default_profile], &opts, &|_| {}).unwrap();
    let read = |n: &str| -> Vec<String> {
        let t = std::fs::read_to_string(out.join(n)).unwrap();
        t.lines().map(str::to_string).collect()
    };
    (read("results.ndjson"), read("errors.ndjson"), s)
}

/// The summary without its timings, to compare two runs.
fn counts(s: &cobalt_screen::Summary) -> String {
    let mut s = s.clone();
    (s.seconds, s.read_seconds) = (0.0, 0.0);
    format!("{s:?}")
}

/// The counts the result rows carry, counted again from the rows.
fn recounted(results: &[String]) -> String {
    use std::collections::BTreeMap;
    let mut by: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
    let mut flagged = 0;
    for r in results {
        let v: serde_json::Value = serde_json::from_str(r).unwrap();
        for key in ["b12_status", "picture"] {
            *by.entry(key)
                .or_default()
                .entry(v[key].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        for key in ["causes", "flags"] {
            for c in v[key].as_array().unwrap() {
                *by.entry(key)
                    .or_default()
                    .entry(c.as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
        flagged += u64::from(!v["flags"].as_array().unwrap().is_empty());
        for (key, name) in [
            ("mcdonald_2017_met", "mcdonald_2017"),
            ("mcdonald_2024_met", "mcdonald_2024"),
        ] {
            if let Some(met) = v[key].as_bool() {
                let k = if met { "met" } else { "not_met" };
                *by.entry(name).or_default().entry(k.into()).or_default() += 1;
            }
        }
    }
    format!("{} {flagged} {by:?}", results.len())
}

fn summary_counts(s: &cobalt_screen::Summary) -> String {
    // McDonald: `met` and `not_met` (a row's null is either undecided or not assessed).
    let decided = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .filter(|(k, _)| *k == "met" || *k == "not_met")
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    };
    let by = std::collections::BTreeMap::from([
        ("b12_status", s.by_b12_status.clone()),
        ("causes", s.by_cause.clone()),
        ("flags", s.by_flag.clone()),
        ("mcdonald_2017", decided(&s.by_mcdonald_2017)),
        ("mcdonald_2024", decided(&s.by_mcdonald_2024)),
        ("picture", s.by_picture.clone()),
    ]);
    let by: std::collections::BTreeMap<_, _> =
        by.into_iter().filter(|(_, m)| !m.is_empty()).collect();
    format!("{} {} {by:?}", s.patients_assessed, s.patients_flagged)
}

/// The same results, error records and counts whatever the number of threads (which also
/// changes the number of partitions), and counts that agree with the rows.
#[test]
fn the_outputs_do_not_depend_on_the_threads() {
    let (results, errors, summary) = reference();
    assert!(
        results.len() >= 100 && !errors.is_empty(),
        "{}",
        results.len()
    );
    assert_eq!(summary_counts(summary), recounted(results));
    for threads in [1, 3] {
        let (r, e, s) = screened(&format!("threads-{threads}"), |o| o.threads = threads);
        assert_eq!(&r, results, "threads {threads}");
        assert_eq!(&e, errors, "threads {threads}");
        assert_eq!(counts(&s), counts(summary), "threads {threads}");
    }
}

/// One input record as a cluster job sends it: a line that is not UTF-8 in hexadecimal.
fn input_record(fi: usize, split: u64, row: u64, line: &[u8]) -> Vec<u8> {
    let mut r = format!("{fi}\t{}\t", (split << 33) + row).into_bytes();
    match std::str::from_utf8(line) {
        Ok(s) => {
            r.extend_from_slice(b"\t");
            r.extend_from_slice(s.as_bytes());
        }
        Err(_) => {
            r.extend_from_slice(b"x\t");
            for b in line {
                r.extend_from_slice(format!("{b:02X}").as_bytes());
            }
        }
    }
    r.push(b'\n');
    r
}

struct Distributed {
    rows: Vec<String>,
    errors: Vec<String>,
    summaries: Vec<serde_json::Value>,
    counts: BTreeMap<(u32, u64), stage::SplitCount>,
}

/// The stages as a cluster runs them: splits of `split_lines` lines, `parts` partitions.
fn distributed(name: &str, split_lines: usize, parts: usize) -> Distributed {
    let job_dir = dir(name);
    let files = cobalt_screen::discover(export()).unwrap();
    let entries: Vec<serde_json::Value> = files
        .iter()
        .map(|(k, p)| serde_json::json!({"type": k, "path": p.file_name().unwrap().to_str().unwrap()}))
        .collect();
    let job = serde_json::json!({"files": entries, "as_of": "2026-01-01", "format": "ndjson"});
    std::fs::write(job_dir.join("job.json"), job.to_string()).unwrap();
    let job = Job::load(&job_dir).unwrap();
    let kb = kb();
    let mut summaries = Vec::new();
    let mut filed = Vec::new();
    // The Medication run first, with every Medication line; then a file run per split.
    for medications in [true, false] {
        let mut meds = Vec::new();
        for (fi, (kind, path)) in files.iter().enumerate() {
            if (kind == "Medication") != medications {
                continue;
            }
            let bytes = std::fs::read(path).unwrap();
            let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
            // A last "\n" ends the last line; it starts none.
            let n = lines.len() - usize::from(bytes.last() == Some(&b'\n'));
            for (split, chunk) in lines[..n].chunks(split_lines).enumerate() {
                let mut input = Vec::new();
                for (row, l) in chunk.iter().enumerate() {
                    input.extend(input_record(fi, split as u64, row as u64, l));
                }
                if medications {
                    meds.extend(input);
                } else {
                    let mut out = Vec::new();
                    stage::file(kb, &job, &input[..], &mut out).unwrap();
                    filed.extend(String::from_utf8(out).unwrap().lines().map(str::to_string));
                }
            }
        }
        if medications {
            let mut o = Vec::new();
            stage::medications(&job, &meds[..], &mut o).unwrap();
            summaries.push(serde_json::from_slice(&o).unwrap());
        }
    }
    let mut partitions = vec![String::new(); parts];
    for r in filed {
        assert!(
            !r.contains('\r'),
            "a filed record holds a carriage return: {r:?}"
        );
        let key = r.split('\t').next().unwrap();
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        let p = (h.finish() % parts as u64) as usize;
        partitions[p].push_str(&format!("{p}\t{r}\n"));
    }
    let profile = &kb.profiles[&kb.meta.default_profile];
    for p in &partitions {
        let mut o = Vec::new();
        stage::assess(kb, profile, &job, p.as_bytes(), &mut o).unwrap();
        summaries.push(serde_json::from_slice(&o).unwrap());
    }
    let read_all = |sub: &str| -> Vec<String> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(job_dir.join(sub)).unwrap() {
            let t = std::fs::read_to_string(e.unwrap().path()).unwrap();
            v.extend(t.lines().map(str::to_string));
        }
        v
    };
    let mut rows = read_all("results");
    rows.sort_by_key(|r| serde_json::from_str::<serde_json::Value>(r).unwrap()["id"].to_string());
    let mut errors = read_all("errors");
    errors.sort_by_key(|e| {
        let e: cobalt_screen::ErrorRecord = serde_json::from_str(e).unwrap();
        e
    });
    let counts = stage::read_counts(&job_dir).unwrap();
    std::fs::remove_dir_all(&job_dir).ok();
    Distributed {
        rows,
        errors,
        summaries,
        counts,
    }
}

fn sum(d: &Distributed, field: &str) -> u64 {
    d.summaries.iter().map(|s| s[field].as_u64().unwrap()).sum()
}

fn check(d: &Distributed) {
    let (rows, errors, s) = reference();
    assert!(
        s.patients_assessed > 100 && s.bad_lines >= 3,
        "{:?}",
        s.bad_lines_by_kind
    );
    assert!(
        s.bad_lines_by_kind.contains_key("not_utf8"),
        "{:?}",
        s.bad_lines_by_kind
    );
    assert_eq!(&d.rows, rows, "the rows");
    assert_eq!(&d.errors, errors, "the error records");
    assert_eq!(sum(d, "patients_read"), s.patients_read);
    assert_eq!(sum(d, "patients_assessed"), s.patients_assessed);
    assert_eq!(sum(d, "patients_flagged"), s.patients_flagged);
    assert_eq!(sum(d, "bad_lines"), s.bad_lines);
    let lines: u64 = d.counts.values().map(|c| c.lines).sum();
    let skipped: u64 = d.counts.values().map(|c| c.skipped).sum();
    assert_eq!((lines, skipped), (s.lines_read, s.lines_skipped));
}

#[test]
fn stages_give_what_cobalt_screen_gives() {
    let d = distributed("one", 97, 4);
    check(&d);
    let (_, _, s) = reference();
    assert!(d.counts.len() > 10, "several splits: {}", d.counts.len());
    assert!(
        s.lines_skipped > 100,
        "padding skipped unparsed: {}",
        s.lines_skipped
    );
    // The requests name Medications that only the Medication run read.
    let p4 = d
        .rows
        .iter()
        .find(|r| r.contains(r#""id":"p000000004""#))
        .unwrap();
    assert!(p4.contains("metformin"), "{p4}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    #[test]
    fn any_splits_and_partitions_give_the_same(split_lines in 1usize..400, parts in 1usize..7) {
        check(&distributed(&format!("p{split_lines}-{parts}"), split_lines, parts));
    }
}

#[test]
fn a_bad_record_is_refused_with_its_problem() {
    let job_dir = dir("bad");
    let job = r#"{"files":[{"type":"Patient","path":"Patient.ndjson"}],"as_of":"2026-01-01","format":"ndjson"}"#;
    std::fs::write(job_dir.join("job.json"), job).unwrap();
    let job = Job::load(&job_dir).unwrap();
    let run = |input: &[u8]| {
        let mut o = Vec::new();
        stage::file(kb(), &job, input, &mut o)
            .unwrap_err()
            .to_string()
    };
    assert!(run(b"7\t0\t\t{}\n").contains("file index"));
    assert!(run(b"0\tx\t\t{}\n").contains("position"));
    assert!(run(b"0\t0\tx\tzz\n").contains("hexadecimal"));
    assert!(run(b"0\t0\n").contains("four fields"));
    std::fs::write(
        job_dir.join("job.json"),
        r#"{"files":[],"as_of":"2026-13-01","format":"ndjson"}"#,
    )
    .unwrap();
    assert!(Job::load(&job_dir)
        .unwrap_err()
        .to_string()
        .contains("as_of"));
    std::fs::remove_dir_all(&job_dir).ok();
}
