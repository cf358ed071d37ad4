//! The generator's output: byte-identical for the same options, line counts that match the
//! manifest and the statistics, malformed lines at the configured share and of every kind,
//! well-formed lines that are FHIR resources with codes and units cobalt knows, medicine
//! courses of 1 to 120 months, files not sorted by patient, and every patient's resources
//! accepted by cobalt's FHIR reader.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use cobalt_synth::{synth, SynthOptions, SynthStats};
use serde_json::Value;
use time::macros::date;
use time::Date;

const AS_OF: Date = date!(2025 - 06 - 30);
const TYPES: [&str; 6] = cobalt_fhir::RESOURCE_TYPES;

/// A fresh directory under the target directory.
fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cobalt-synth")
        .join(name);
    let _ = fs::remove_dir_all(&d);
    d
}

fn run(name: &str, opts: &SynthOptions) -> (PathBuf, SynthStats) {
    let d = dir(name);
    let stats = synth(opts, &d).expect("synth");
    (d, stats)
}

fn read_lines(d: &Path, t: &str) -> Vec<String> {
    let text = fs::read_to_string(d.join(format!("{t}.ndjson"))).expect("read NDJSON as UTF-8");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{t}: last line ends"
    );
    text.lines().map(str::to_owned).collect()
}

fn knowledge(file: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../knowledge")
        .join(file);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The vocabulary: `system|code` to concept id, from `knowledge/concepts.tsv`.
fn vocabulary() -> BTreeMap<String, String> {
    let mut codes = BTreeMap::new();
    for line in knowledge("concepts.tsv").lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() > 3 {
            for c in cols[3].split(';').filter(|c| !c.is_empty()) {
                codes.insert(c.to_string(), cols[0].to_string());
            }
        }
    }
    codes
}

/// The usual units of each laboratory test (`examples` in `knowledge/analytes.toml`): synthetic
/// data uses only these, and its wrong units are none of them.
fn analyte_units() -> BTreeMap<String, Vec<String>> {
    let mut units = BTreeMap::new();
    let mut test = String::new();
    for line in knowledge("analytes.toml").lines() {
        if let Some(v) = line.strip_prefix("test = ") {
            test = v.trim_matches('"').to_string();
        } else if let Some(v) = line.strip_prefix("examples = ") {
            let list = v
                .trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .map(|u| u.trim().trim_matches('"').to_string())
                .collect();
            units.insert(test.clone(), list);
        }
    }
    units
}

/// The concept a code maps to: exact, or (ICD-10) through a parent code.
fn concept<'a>(vocab: &'a BTreeMap<String, String>, system: &str, code: &str) -> Option<&'a str> {
    let short = match system {
        "http://loinc.org" => "loinc",
        "http://snomed.info/sct" => "snomed",
        "http://hl7.org/fhir/sid/icd-10" => "icd10",
        "http://www.whocc.no/atc" => "atc",
        _ => return None,
    };
    let mut c = code.to_string();
    loop {
        if let Some(id) = vocab.get(&format!("{short}|{c}")) {
            return Some(id);
        }
        if short != "icd10" || c.len() <= 3 {
            return None;
        }
        c.pop();
        if c.ends_with('.') {
            c.pop();
        }
    }
}

/// What is wrong with a line, or `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    NotJson,
    NoResourceType,
    StringValue,
    WrongUnit,
}

struct Checker {
    vocab: BTreeMap<String, String>,
    units: BTreeMap<String, Vec<String>>,
}

impl Checker {
    fn new() -> Self {
        Checker {
            vocab: vocabulary(),
            units: analyte_units(),
        }
    }

    /// The line parsed, or what is wrong with it.
    fn check(&self, t: &str, line: &str) -> Result<Value, Kind> {
        let v: Value = serde_json::from_str(line).map_err(|_| Kind::NotJson)?;
        let Some(rt) = v.get("resourceType").and_then(Value::as_str) else {
            return Err(Kind::NoResourceType);
        };
        assert_eq!(rt, t, "a {rt} in {t}.ndjson: {line}");
        if let Some(q) = v.get("valueQuantity") {
            if !q["value"].is_number() {
                return Err(Kind::StringValue);
            }
            let coding = &v["code"]["coding"][0];
            let test = concept(
                &self.vocab,
                coding["system"].as_str().unwrap(),
                coding["code"].as_str().unwrap(),
            )
            .unwrap_or_else(|| panic!("unknown test: {line}"));
            let unit = q["code"].as_str().unwrap();
            assert_eq!(q["system"], "http://unitsofmeasure.org", "{line}");
            if !self.units[test].iter().any(|u| u == unit) {
                return Err(Kind::WrongUnit);
            }
        }
        Ok(v)
    }
}

fn opts(patients: u64, seed: u64) -> SynthOptions {
    SynthOptions::new(patients, seed, AS_OF)
}

#[test]
fn same_options_give_byte_identical_files() {
    let o = opts(3_000, 7);
    let (a, sa) = run("det-a", &o);
    let (b, sb) = run("det-b", &o);
    assert_eq!(sa, sb);
    let mut names: Vec<String> = TYPES.iter().map(|t| format!("{t}.ndjson")).collect();
    names.push("manifest.json".into());
    for n in &names {
        let x = fs::read(a.join(n)).unwrap();
        let y = fs::read(b.join(n)).unwrap();
        assert!(x == y, "{n} differs between two runs");
    }
    let (c, _) = run("det-c", &opts(3_000, 8));
    assert_ne!(
        fs::read(a.join("Observation.ndjson")).unwrap(),
        fs::read(c.join("Observation.ndjson")).unwrap(),
        "another seed gives other data"
    );
}

#[test]
fn the_malformed_share_changes_only_the_spoiled_lines() {
    let (a, _) = run(
        "share-0",
        &SynthOptions {
            malformed_per_mille: 0,
            ..opts(2_000, 3)
        },
    );
    let (b, sb) = run(
        "share-50",
        &SynthOptions {
            malformed_per_mille: 50,
            ..opts(2_000, 3)
        },
    );
    let mut differing = 0;
    for t in TYPES {
        let x = read_lines(&a, t);
        let y = read_lines(&b, t);
        assert_eq!(x.len(), y.len(), "{t}");
        differing += x.iter().zip(&y).filter(|(p, q)| p != q).count() as u64;
    }
    assert_eq!(differing, sb.malformed);
}

#[cfg(feature = "gzip")]
#[test]
fn gzip_holds_the_same_lines() {
    use std::io::Read;
    let o = opts(2_000, 11);
    let (plain, sp) = run("gz-plain", &o);
    let (gz, sg) = run("gz-gz", &SynthOptions { gzip: true, ..o });
    assert_eq!(sp, sg);
    for t in TYPES {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(fs::File::open(gz.join(format!("{t}.ndjson.gz"))).unwrap())
            .read_to_end(&mut text)
            .unwrap();
        assert_eq!(
            text,
            fs::read(plain.join(format!("{t}.ndjson"))).unwrap(),
            "{t}"
        );
    }
    let manifest: Value =
        serde_json::from_slice(&fs::read(gz.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["output"][0]["url"], "Patient.ndjson.gz");
}

#[test]
fn line_counts_match_the_manifest_and_the_statistics() {
    let (d, stats) = run("counts", &opts(5_000, 1));
    let manifest: Value =
        serde_json::from_slice(&fs::read(d.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["requiresAccessToken"], false);
    assert_eq!(manifest["transactionTime"], "2025-06-30T00:00:00Z");
    assert!(manifest["request"].as_str().unwrap().contains("$export"));
    assert_eq!(manifest["error"], serde_json::json!([]));
    let output = manifest["output"].as_array().unwrap();
    assert_eq!(output.len(), TYPES.len());
    let (mut lines, mut bytes) = (0, 0);
    let mut counts = BTreeMap::new();
    for (entry, t) in output.iter().zip(TYPES) {
        assert_eq!(entry["type"], t);
        assert_eq!(entry["url"], format!("{t}.ndjson"));
        let n = read_lines(&d, t).len() as u64;
        assert_eq!(entry["count"], n, "{t}");
        assert!(n > 0, "{t} has lines");
        counts.insert(t, n);
        lines += n;
        bytes += fs::metadata(d.join(format!("{t}.ndjson"))).unwrap().len();
    }
    assert_eq!(counts["Patient"], 5_000);
    assert_eq!(stats.patients, 5_000);
    assert_eq!(stats.lines, lines);
    assert_eq!(stats.bytes, bytes);
    // Rough proportions (see the crate's model): more results than patients, a condition for
    // about one patient in four, an operation for about one in a hundred.
    let per = |t: &str| counts[t] as f64 / 5_000.0;
    assert!(
        (1.0..1.8).contains(&per("Observation")),
        "{}",
        per("Observation")
    );
    assert!(
        (0.15..0.4).contains(&per("Condition")),
        "{}",
        per("Condition")
    );
    assert!((0.15..0.4).contains(&per("MedicationRequest")));
    assert!((0.1..0.3).contains(&per("MedicationStatement")));
    assert!((0.003..0.02).contains(&per("Procedure")));
}

#[test]
fn malformed_lines_come_at_the_configured_share_in_every_kind() {
    let checker = Checker::new();
    let (d, stats) = run("malformed", &opts(40_000, 5));
    let mut kinds: BTreeMap<Kind, u64> = BTreeMap::new();
    for t in TYPES {
        for line in read_lines(&d, t) {
            if let Err(k) = checker.check(t, &line) {
                *kinds.entry(k).or_default() += 1;
            }
        }
    }
    let found: u64 = kinds.values().sum();
    assert_eq!(found, stats.malformed, "{kinds:?}");
    let share = found as f64 * 1000.0 / stats.lines as f64;
    assert!((1.6..2.4).contains(&share), "{share} per mille");
    for k in [
        Kind::NotJson,
        Kind::NoResourceType,
        Kind::StringValue,
        Kind::WrongUnit,
    ] {
        assert!(
            kinds.get(&k).copied().unwrap_or(0) > 0,
            "no {k:?} in {kinds:?}"
        );
    }

    // None at 0, every line at 1000.
    let (d, stats) = run(
        "malformed-none",
        &SynthOptions {
            malformed_per_mille: 0,
            ..opts(2_000, 5)
        },
    );
    assert_eq!(stats.malformed, 0);
    for t in TYPES {
        for line in read_lines(&d, t) {
            checker
                .check(t, &line)
                .unwrap_or_else(|k| panic!("{k:?}: {line}"));
        }
    }
    let (_, stats) = run(
        "malformed-all",
        &SynthOptions {
            malformed_per_mille: 1000,
            ..opts(500, 5)
        },
    );
    assert_eq!(stats.malformed, stats.lines);
    assert!(synth(
        &SynthOptions {
            malformed_per_mille: 1001,
            ..opts(1, 5)
        },
        &dir("malformed-refused")
    )
    .is_err());
}

#[test]
fn well_formed_lines_are_fhir_resources_with_known_codes() {
    let checker = Checker::new();
    let (d, _) = run("wellformed", &opts(10_000, 2));
    let mut patients = BTreeSet::new();
    for line in read_lines(&d, "Patient") {
        let Ok(p) = checker.check("Patient", &line) else {
            continue;
        };
        let id = p["id"].as_str().unwrap();
        assert!(
            id.len() == 10 && id.starts_with('p') && id[1..].bytes().all(|b| b.is_ascii_digit())
        );
        assert!(patients.insert(id.to_string()), "duplicate {id}");
        assert!(["female", "male", "other", "unknown"].contains(&p["gender"].as_str().unwrap()));
        assert!(p["birthDate"].as_str().unwrap().len() == 10);
    }
    assert!(patients.len() >= 9_950);
    let mut ids = BTreeSet::new();
    let mut observation_codes = BTreeSet::new();
    for t in &TYPES[1..] {
        for line in read_lines(&d, t) {
            let Ok(r) = checker.check(t, &line) else {
                continue;
            };
            assert!(
                ids.insert(r["id"].as_str().unwrap().to_string()),
                "duplicate id: {line}"
            );
            let subject = r["subject"]["reference"].as_str().unwrap();
            let pid = subject.strip_prefix("Patient/").expect("Patient/<id>");
            assert!(pid.len() == 10 && pid.starts_with('p'), "{line}");
            let codings = match *t {
                "MedicationRequest" | "MedicationStatement" => {
                    r["medicationCodeableConcept"]["coding"].clone()
                }
                _ => r["code"]["coding"].clone(),
            };
            for c in codings.as_array().unwrap() {
                let (system, code) = (c["system"].as_str().unwrap(), c["code"].as_str().unwrap());
                if *t == "Observation" {
                    observation_codes.insert(code.to_string());
                    assert!(
                        code == "82810-3" || concept(&checker.vocab, system, code).is_some(),
                        "Observation code {system}|{code} is not in concepts.tsv"
                    );
                } else {
                    assert!(
                        concept(&checker.vocab, system, code).is_some(),
                        "{t} code {system}|{code} is not in concepts.tsv"
                    );
                }
            }
        }
    }
    // Every test appears.
    for code in [
        "2132-9", "14685-2", "72160-5", "13964-2", "13965-9", "2284-8", "14732-2", "718-7",
        "787-2", "31017-7", "82810-3",
    ] {
        assert!(observation_codes.contains(code), "no {code}");
    }
}

#[test]
fn files_are_not_sorted_by_patient() {
    let (d, _) = run("order", &opts(3_000, 4));
    for t in ["Patient", "Observation"] {
        let ids: Vec<String> = read_lines(&d, t)
            .iter()
            .filter_map(|l| {
                let at = l.find("p0")?;
                Some(l[at..at + 10].to_string())
            })
            .collect();
        let descents = ids.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(
            descents * 4 > ids.len(),
            "{t}: {descents} descents in {}",
            ids.len()
        );
    }
}

#[test]
fn medicine_courses_last_1_to_120_months() {
    let (d, _) = run(
        "courses",
        &SynthOptions {
            malformed_per_mille: 0,
            ..opts(10_000, 6)
        },
    );
    let parse = |s: &Value| {
        Date::parse(
            s.as_str().unwrap(),
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .unwrap()
    };
    let (mut shortest, mut longest) = (i64::MAX, 0);
    for line in read_lines(&d, "MedicationStatement") {
        let r: Value = serde_json::from_str(&line).unwrap();
        let start = parse(&r["effectivePeriod"]["start"]);
        let end = r["effectivePeriod"].get("end").map_or(AS_OF, parse);
        assert_eq!(
            r["status"] == "active",
            r["effectivePeriod"].get("end").is_none()
        );
        let days = (end - start).whole_days();
        shortest = shortest.min(days);
        longest = longest.max(days);
    }
    for line in read_lines(&d, "MedicationRequest") {
        let r: Value = serde_json::from_str(&line).unwrap();
        let start = parse(&r["authoredOn"]);
        let validity = &r["dispenseRequest"]["validityPeriod"];
        assert_eq!(validity["start"], r["authoredOn"]);
        let end = parse(&validity["end"]);
        assert_eq!(r["status"] == "active", end >= AS_OF, "{line}");
        let days = (end.min(AS_OF) - start).whole_days();
        shortest = shortest.min(days);
        longest = longest.max(days);
    }
    assert!(shortest >= 30, "shortest course {shortest} days");
    assert!(
        longest <= 121 * 31 && longest > 110 * 30,
        "longest course {longest} days"
    );
}

#[test]
fn cobalt_reads_every_patient() {
    let kb = cobalt_kb::load().expect("knowledge base");
    let (d, _) = run(
        "cobalt",
        &SynthOptions {
            malformed_per_mille: 0,
            ..opts(3_000, 9)
        },
    );
    let mut by_patient: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for t in TYPES {
        for line in read_lines(&d, t) {
            let r: Value = serde_json::from_str(&line).unwrap();
            let pid = match r["subject"]["reference"].as_str() {
                Some(s) => s.trim_start_matches("Patient/").to_string(),
                None => r["id"].as_str().unwrap().to_string(),
            };
            by_patient.entry(pid).or_default().push(r);
        }
    }
    assert_eq!(by_patient.len(), 3_000);
    let (mut labs, mut meds, mut conditions) = (0, 0, 0);
    for (pid, resources) in by_patient {
        let mapped = cobalt_fhir::to_case(&Value::Array(resources), AS_OF, &kb)
            .unwrap_or_else(|e| panic!("{pid}: {e:?}"));
        assert_eq!(mapped.patient_id.as_deref(), Some(pid.as_str()));
        assert!(
            mapped.parsed.unrecognised.is_empty(),
            "{pid}: {:?}",
            mapped.parsed.unrecognised
        );
        labs += mapped.parsed.labs.len();
        meds += mapped.parsed.medications.len();
        conditions += mapped.parsed.conditions.len();
    }
    assert!(
        labs > 2_000 && meds > 500 && conditions > 300,
        "{labs} {meds} {conditions}"
    );

    // Every malformed line that is JSON is refused by the reader.
    let (d, _) = run(
        "cobalt-malformed",
        &SynthOptions {
            malformed_per_mille: 1000,
            ..opts(300, 9)
        },
    );
    let mut refused = 0;
    for t in TYPES {
        for line in read_lines(&d, t) {
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            assert!(
                cobalt_fhir::to_case(&v, AS_OF, &kb).is_err(),
                "accepted malformed line: {line}"
            );
            refused += 1;
        }
    }
    assert!(refused > 100);
}
