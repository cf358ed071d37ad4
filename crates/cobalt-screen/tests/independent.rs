//! An export cobalt's authors did not write (`tests/data/clinosim`, made by the clinosim
//! generator): its RxNorm-coded and name-only medicines, ICD-10-CM conditions and labs are read,
//! and every resource is used, skipped with a counted reason, or refused.

use serde_json::Value;
use std::collections::BTreeMap;
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

/// Patients with an active MedicationRequest whose code or text names `what`, with the months
/// from the earliest such request's `authoredOn` to `as_of` (how long it has been taken), read
/// here directly from the export, not through cobalt.
fn taking(what: &[&str], as_of: &str) -> BTreeMap<String, f64> {
    let day = |s: &str| -> i64 {
        // Days since 2000-01-01 of a `YYYY-MM-DD` prefix, by a civil-calendar count.
        let (y, m, d): (i64, i64, i64) = (
            s[0..4].parse().unwrap(),
            s[5..7].parse().unwrap(),
            s[8..10].parse().unwrap(),
        );
        let (y, m) = if m <= 2 { (y - 1, m + 12) } else { (y, m) };
        365 * y + y / 4 - y / 100 + y / 400 + (153 * (m - 3) + 2) / 5 + d
    };
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for r in lines("MedicationRequest.ndjson.gz")
        .iter()
        .filter(|r| r["status"] == "active")
    {
        let cc = &r["medicationCodeableConcept"];
        let mut t = cc["text"].as_str().unwrap_or("").to_lowercase();
        for c in cc["coding"].as_array().into_iter().flatten() {
            t.push(' ');
            t.push_str(c["code"].as_str().unwrap_or(""));
            t.push(' ');
            t.push_str(&c["display"].as_str().unwrap_or("").to_lowercase());
        }
        if !what
            .iter()
            .any(|w| t.split(|c: char| !c.is_alphanumeric()).any(|x| x == *w))
        {
            continue;
        }
        let months = (day(as_of) - day(r["authoredOn"].as_str().unwrap())) as f64 / 30.4375;
        let p = r["subject"]["reference"].as_str().unwrap()[8..].to_string();
        let e = out.entry(p).or_insert(months);
        *e = e.max(months);
    }
    out
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

    // Medicines: RxNorm ingredient codes and names only, as the export holds them. A medicine
    // is a cause once it has been taken for longer than its cause rule's long-term duration
    // (metformin 4 months, PPIs 12); a shorter course is named (CAUSE-027) and is not a cause.
    let as_of = "2026-12-01";
    let metformin = taking(&["6809", "metformin"], as_of);
    let ppi = taking(
        &[
            "17128",
            "lansoprazole",
            "omeprazole",
            "pantoprazole",
            "esomeprazole",
        ],
        as_of,
    );
    let folic = taking(&["folic"], as_of);
    assert!(metformin.len() >= 6 && ppi.len() >= 6 && folic.len() >= 6);
    let mut short = 0;
    for (drug, takers, long_term) in [
        ("metformin", &metformin, 4.0),
        ("proton_pump_inhibitor", &ppi, 12.0),
    ] {
        for (p, months) in takers {
            if *months > long_term {
                assert!(has(p, "causes", drug), "{p}: {drug} for {months:.1} months");
            } else {
                short += 1;
                assert!(
                    !has(p, "causes", drug),
                    "{p}: {drug} for {months:.1} months"
                );
                assert!(has(p, "rules", "CAUSE-027"), "{p}: {drug} course not named");
            }
        }
    }
    eprintln!("clinosim: {short} medicine courses too short to be a cause");
    // Folic acid, given by name only, brings the folic-acid caution (no B12 result here).
    for p in folic.keys() {
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
