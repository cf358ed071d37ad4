//! An export cobalt's authors did not write (`tests/data/clinosim`, made by the clinosim
//! generator): its RxNorm-coded and name-only medicines, ICD-10-CM conditions and labs are read,
//! and every resource is used, skipped with a counted reason, or refused.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/clinosim")
}

fn lines(file: &str) -> Vec<Value> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(data().join(file)).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Patients with an active MedicationRequest whose code or text names `what`, read here
/// directly from the export, not through cobalt.
fn taking(what: &[&str]) -> BTreeSet<String> {
    lines("MedicationRequest.ndjson.gz")
        .iter()
        .filter(|r| r["status"] == "active")
        .filter(|r| {
            let cc = &r["medicationCodeableConcept"];
            let mut t = cc["text"].as_str().unwrap_or("").to_lowercase();
            for c in cc["coding"].as_array().into_iter().flatten() {
                t.push(' ');
                t.push_str(c["code"].as_str().unwrap_or(""));
                t.push(' ');
                t.push_str(&c["display"].as_str().unwrap_or("").to_lowercase());
            }
            what.iter()
                .any(|w| t.split(|c: char| !c.is_alphanumeric()).any(|x| x == *w))
        })
        .map(|r| r["subject"]["reference"].as_str().unwrap()[8..].to_string())
        .collect()
}

#[test]
fn an_independent_export_is_read_and_accounted_for() {
    let kb = cobalt_kb::load().unwrap();
    let out = std::env::temp_dir().join(format!("cobalt-independent-{}", std::process::id()));
    let opts = cobalt_screen::Options {
        input: data(),
        out: out.clone(),
        format: cobalt_screen::Format::Ndjson,
        detail: cobalt_screen::Detail::Compact,
        validate_all: false,
        as_of: cobalt_screen::manifest_date(&data()).unwrap().unwrap(),
        as_of_source: "manifest transactionTime".into(),
        threads: 2,
        max_errors_per_file: cobalt_screen::DEFAULT_MAX_ERRORS_PER_FILE,
    };
    let s =
        cobalt_screen::screen(&kb, &kb.profiles[&kb.meta.default_profile], &opts, &|_| {}).unwrap();
    let rows: Vec<Value> = std::fs::read_to_string(out.join("results.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    std::fs::remove_dir_all(&out).ok();
    let by_id: BTreeMap<&str, &Value> = rows
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    let has = |id: &str, field: &str, v: &str| {
        by_id[id][field].as_array().unwrap().iter().any(|x| x == v)
    };

    // Every patient is assessed; no line is refused.
    assert_eq!(s.patients_read, 57);
    assert_eq!(s.patients_assessed, 57);
    assert_eq!(s.bad_lines, 0);

    // Medicines: RxNorm ingredient codes and names only, as the export holds them.
    let metformin = taking(&["6809", "metformin"]);
    let ppi = taking(&[
        "17128",
        "lansoprazole",
        "omeprazole",
        "pantoprazole",
        "esomeprazole",
    ]);
    let folic = taking(&["folic"]);
    assert!(metformin.len() >= 6 && ppi.len() >= 6 && folic.len() >= 6);
    for p in &metformin {
        assert!(has(p, "causes", "metformin"), "{p}: metformin");
    }
    for p in &ppi {
        assert!(has(p, "causes", "proton_pump_inhibitor"), "{p}: PPI");
    }
    // Folic acid, given by name only, brings the folic-acid caution (no B12 result here).
    for p in &folic {
        assert!(has(p, "rules", "TX-012"), "{p}: folic acid");
    }
    assert!(
        s.by_flag
            .get("long_term_drug_untested")
            .copied()
            .unwrap_or(0)
            >= 10
    );
    // ICD-10-CM depression codes are findings that, with a risk factor, make a test indicated.
    assert!(rows.iter().any(|r| r["test_indicated"] == true));

    // Every line of a file cobalt reads is used, skipped unparsed (Observations cobalt cannot
    // use), skipped after reading with a counted reason, or refused.
    let skipped: u64 = s.skipped_resources_by_kind.values().sum();
    let per_row: u64 = rows
        .iter()
        .map(|r| r["skipped_resources"].as_u64().unwrap())
        .sum();
    assert_eq!(skipped, per_row);
    assert!(s.skipped_resources_by_kind.contains_key("no_code"));
    let used = s.lines_read - s.lines_skipped - skipped - s.bad_lines;
    assert!(used > 100, "{used} used of {}", s.lines_read);
    eprintln!(
        "clinosim: {} lines in the files cobalt reads: {used} used, {} skipped unread (Observations \
         with no code cobalt reads), {skipped} skipped after reading ({:?}), {} refused",
        s.lines_read, s.lines_skipped, s.skipped_resources_by_kind, s.bad_lines
    );
}
