//! Registry-wide checks of the knowledge base: it lints clean, every rule's own tests pass, the
//! embedded file list matches the directory, and the vocabulary keeps every contract concept.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn knowledge_base_lints_clean() {
    if let Err(problems) = cobalt_kb::load() {
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        panic!("{} problem(s):\n{}", problems.len(), text.join("\n"));
    }
}

#[test]
fn every_rule_test_passes() {
    let kb = cobalt_kb::load().expect("knowledge base loads");
    let mut failures = Vec::new();
    let mut count = 0;
    for rule in &kb.rules {
        count += rule.tests.len();
        failures.extend(cobalt_kb::check::run_rule_tests(&kb, rule));
    }
    assert!(
        count >= 2 * kb.rules.len(),
        "{count} tests for {} rules",
        kb.rules.len()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn embedded_file_list_matches_the_directory() {
    let root = repo().join("knowledge");
    let mut on_disk = BTreeSet::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("toml" | "tsv")
            ) {
                on_disk.insert(
                    path.strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    // fhir.toml is embedded and checked by cobalt-fhir (its tests/tables.rs), not by this crate.
    on_disk.remove("fhir.toml");
    // plain.toml (the patient view's wording) is embedded and checked by cobalt-report (its
    // tests/patient.rs), not by this crate: it is wording, not clinical knowledge.
    on_disk.remove("plain.toml");
    let embedded: BTreeSet<String> = cobalt_kb::FILES
        .iter()
        .map(|f| f.path.to_string())
        .collect();
    assert_eq!(on_disk, embedded, "knowledge/ and cobalt_kb::FILES differ");
}

/// `knowledge/concepts.tsv` is the vocabulary; it keeps every concept and code of the contract's
/// copy when that sits beside the repository (a public clone has none: nothing to compare).
#[test]
fn vocabulary_keeps_every_contract_concept_when_present() {
    let contract = repo().join("../shared/contract/concepts.tsv");
    let Ok(text) = std::fs::read_to_string(&contract) else {
        eprintln!("{} absent: nothing to compare", contract.display());
        return;
    };
    let kb = cobalt_kb::load().expect("knowledge base loads");
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let c = kb
            .vocab
            .get(cols[0])
            .unwrap_or_else(|| panic!("concept `{}` dropped", cols[0]));
        assert_eq!(c.kind.as_str(), cols[1], "kind of `{}` changed", cols[0]);
        for code in cols
            .get(3)
            .copied()
            .unwrap_or("")
            .split(';')
            .filter(|s| !s.is_empty())
        {
            let (sys, value) = code.split_once('|').unwrap();
            let sys = cobalt_core::vocab::CodeSystem::parse(sys).unwrap();
            assert!(
                c.codes.iter().any(|(s, v)| *s == sys && v == value),
                "code {code} of `{}` dropped",
                cols[0]
            );
        }
    }
}

#[test]
fn every_rule_cites_a_source_and_every_reference_is_used() {
    // The linter enforces both; this test shows it catches a break.
    let mut files: Vec<cobalt_core::SourceFile<'_>> = cobalt_kb::FILES.to_vec();
    let broken = "[[rule]]\nid = \"TEST-999\"\ntitle = \"x\"\ncategory = \"testing\"\nstatus = \"active\"\nsince = \"0\"\nchecks = \"x\"\nwhy = \"x\"\ninputs = \"x\"\nlimitations = \"x\"\nsources = [{ ref = \"no-such-source\" }]\n";
    files.push(cobalt_core::SourceFile {
        path: "rules/broken.toml",
        text: broken,
    });
    let problems = cobalt_kb::load_from(&files).expect_err("broken rule must be refused");
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    let all = text.join("\n");
    for needle in [
        "unresolved source `no-such-source`",
        "without a test where it fires",
        "does not implement",
    ] {
        assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
    }
}

#[test]
fn linter_reports_every_problem_at_once() {
    let mut files: Vec<cobalt_core::SourceFile<'_>> = cobalt_kb::FILES.to_vec();
    let bad_profile = "id = \"lab-x\"\ntitle = \"x\"\n[tests.total_b12]\nunit = \"ng/L\"\ndeficient_below = 400.0\nindeterminate_up_to = 300.0\nsources = [{ ref = \"nice-ng239\" }]\n[tests.mcv]\nunit = \"furlongs\"\nraised_above = 1.0\nsources = [{ ref = \"nice-ng239\" }]\n";
    files.push(cobalt_core::SourceFile {
        path: "profiles/lab-y.toml",
        text: bad_profile,
    });
    files.push(cobalt_core::SourceFile {
        path: "rules/typo.toml",
        text: "[[rule]]\nidd = 1\n",
    });
    let problems = cobalt_kb::load_from(&files).expect_err("must be refused");
    let all: String = problems.iter().map(|p| p.to_string() + "\n").collect();
    for needle in [
        "inverted range",
        "unknown unit `furlongs`",
        "does not match the file name",
        "unknown field `idd`",
    ] {
        assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
    }
}

#[test]
fn linter_requires_a_cited_impossible_bound_for_every_numeric_analyte() {
    let mut files: Vec<cobalt_core::SourceFile<'_>> = cobalt_kb::FILES.to_vec();
    let f = files
        .iter_mut()
        .find(|f| f.path == "analytes.toml")
        .expect("analytes.toml");
    let text = f.text.to_string();
    // The mcv entry loses its bound; the homocysteine entry gets one that is not positive.
    let mcv = text.find("test = \"mcv\"").expect("mcv entry");
    let mcv_bound = mcv + text[mcv..].find("impossible_above").expect("mcv bound");
    let line_end = mcv_bound + text[mcv_bound..].find('\n').expect("line end");
    let mut text = format!("{}{}", &text[..mcv_bound], &text[line_end + 1..]);
    let hcy = text
        .find("test = \"homocysteine\"")
        .expect("homocysteine entry");
    let hcy_bound = hcy + text[hcy..].find("impossible_above = ").expect("hcy bound");
    text.insert(hcy_bound + "impossible_above = ".len(), '-');
    let text: &'static str = Box::leak(text.into_boxed_str());
    f.text = text;
    let problems = cobalt_kb::load_from(&files).expect_err("must be refused");
    let all: String = problems.iter().map(|p| p.to_string() + "\n").collect();
    for needle in ["mcv: bound_sources without impossible_above", "is not > 0"] {
        assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
    }
}

#[test]
fn a_threshold_or_dose_never_rests_only_on_patient_information() {
    let mut files: Vec<cobalt_core::SourceFile<'_>> = cobalt_kb::FILES.to_vec();
    let f = files
        .iter_mut()
        .find(|f| f.path == "rules/diet.toml")
        .expect("diet rules");
    // DIET-004's age parameter, cited to a patient-information article alone.
    let i = f.text.find("id = \"DIET-004\"").expect("DIET-004");
    let j = i + f.text[i..].find("\nsources = [").expect("its sources");
    let k = j + 1 + f.text[j + 1..].find('\n').expect("line end");
    let text = format!(
        "{}\nsources = [{{ ref = \"seed-002\" }}]{}",
        &f.text[..j],
        &f.text[k..]
    );
    f.text = Box::leak(text.into_boxed_str());
    let problems = cobalt_kb::load_from(&files).expect_err("must be refused");
    let all: String = problems.iter().map(|p| p.to_string() + "\n").collect();
    assert!(
        all.contains(
            "DIET-004: a threshold, parameter or dose rests only on patient-information articles"
        ),
        "{all}"
    );
}

/// A reference's title and issuer are printed in every report's reference list, so an internal
/// note there ("exact title not retrieved", "Authors not retrieved") is refused.
#[test]
fn linter_refuses_an_internal_note_in_a_reference_title_or_issuer() {
    let mut files: Vec<cobalt_core::SourceFile<'_>> = cobalt_kb::FILES.to_vec();
    let f = files
        .iter_mut()
        .find(|f| f.path == "references.toml")
        .expect("references.toml");
    let title = "title = \"Spine MR imaging features of subacute combined degeneration patients\"";
    assert!(f.text.contains(title), "the eur-spine-2014 entry moved");
    let text = f.text.replacen(
        title,
        "title = \"Spine MR imaging features of subacute combined degeneration patients (exact title not retrieved)\"\nissuer = \"Authors not retrieved\"",
        1,
    );
    // The entry's own issuer line follows; drop it so that the entry stays valid TOML.
    let issuer = text.find("issuer = \"Eur Spine J\"\n").expect("issuer");
    let text = format!(
        "{}{}",
        &text[..issuer],
        &text[issuer + "issuer = \"Eur Spine J\"\n".len()..]
    );
    f.text = Box::leak(text.into_boxed_str());
    let problems = cobalt_kb::load_from(&files).expect_err("must be refused");
    let all: String = problems.iter().map(|p| p.to_string() + "\n").collect();
    for needle in [
        "eur-spine-2014: title holds an internal note (`not retrieved`)",
        "eur-spine-2014: issuer holds an internal note (`not retrieved`)",
    ] {
        assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
    }
}
