//! Speed of one assessment: evaluation alone, and parse plus evaluation, on the bundled
//! examples and the published dev cases. Run with `cargo bench -p cobalt-cli`.

use std::path::Path;

fn main() {
    divan::main();
}

fn cases() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = Vec::new();
    for dir in ["examples", "../shared/cases/dev"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut paths: Vec<_> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            // Published cases wrap the case; examples are the case.
            let case = v.get("case").cloned().unwrap_or(v);
            out.push((
                p.file_name().unwrap().to_string_lossy().into_owned(),
                case.to_string(),
            ));
        }
    }
    out
}

#[divan::bench]
fn evaluate_only(bencher: divan::Bencher) {
    let kb = cobalt_kb::load().unwrap();
    let profile = &kb.profiles[&kb.meta.default_profile];
    let as_of = cobalt_core::case::parse_date("2026-03-01").unwrap();
    let parsed: Vec<_> = cases()
        .iter()
        .map(|(_, t)| cobalt_core::parse_case(t, &kb.vocab, &kb.analytes).unwrap())
        .collect();
    let mut i = 0;
    bencher.bench_local(|| {
        let c = &parsed[i % parsed.len()];
        i += 1;
        divan::black_box(cobalt_core::evaluate(
            &kb,
            profile,
            divan::black_box(c),
            as_of,
        ))
        .conclusions
        .test_indicated
    });
}

#[divan::bench]
fn parse_and_evaluate(bencher: divan::Bencher) {
    let kb = cobalt_kb::load().unwrap();
    let profile = &kb.profiles[&kb.meta.default_profile];
    let as_of = cobalt_core::case::parse_date("2026-03-01").unwrap();
    let texts = cases();
    let mut i = 0;
    bencher.bench_local(|| {
        let t = &texts[i % texts.len()].1;
        i += 1;
        let c = cobalt_core::parse_case(divan::black_box(t), &kb.vocab, &kb.analytes).unwrap();
        divan::black_box(cobalt_core::evaluate(&kb, profile, &c, as_of))
            .conclusions
            .test_indicated
    });
}

#[divan::bench]
fn parse_evaluate_and_serialise_json(bencher: divan::Bencher) {
    let kb = cobalt_kb::load().unwrap();
    let profile = &kb.profiles[&kb.meta.default_profile];
    let as_of = cobalt_core::case::parse_date("2026-03-01").unwrap();
    let texts = cases();
    let mut i = 0;
    bencher.bench_local(|| {
        let t = &texts[i % texts.len()].1;
        i += 1;
        let c = cobalt_core::parse_case(divan::black_box(t), &kb.vocab, &kb.analytes).unwrap();
        serde_json::to_string(&cobalt_core::evaluate(&kb, profile, &c, as_of))
            .unwrap()
            .len()
    });
}

#[divan::bench]
fn load_knowledge_base() -> usize {
    cobalt_kb::load().unwrap().rules.len()
}

/// The evaluated cases, for the rendering benchmarks.
fn with_assessments<R>(f: impl FnOnce(&[cobalt_core::Assessment<'_>]) -> R) -> R {
    let kb = cobalt_kb::load().unwrap();
    let profile = &kb.profiles[&kb.meta.default_profile];
    let as_of = cobalt_core::case::parse_date("2026-03-01").unwrap();
    let parsed: Vec<_> = cases()
        .iter()
        .map(|(_, t)| cobalt_core::parse_case(t, &kb.vocab, &kb.analytes).unwrap())
        .collect();
    let assessments: Vec<_> = parsed
        .iter()
        .map(|c| cobalt_core::evaluate(&kb, profile, c, as_of))
        .collect();
    f(&assessments)
}

#[divan::bench]
fn render_json(bencher: divan::Bencher) {
    with_assessments(|a| {
        let mut i = 0;
        bencher.bench_local(|| {
            i += 1;
            serde_json::to_string(divan::black_box(&a[i % a.len()]))
                .unwrap()
                .len()
        })
    })
}

#[divan::bench]
fn render_clinician_html(bencher: divan::Bencher) {
    with_assessments(|a| {
        let mut i = 0;
        bencher.bench_local(|| {
            i += 1;
            cobalt_report::report_fragment(divan::black_box(&a[i % a.len()])).len()
        })
    })
}

#[divan::bench]
fn render_patient_html(bencher: divan::Bencher) {
    with_assessments(|a| {
        let mut i = 0;
        bencher.bench_local(|| {
            i += 1;
            cobalt_report::patient::html(divan::black_box(&a[i % a.len()])).len()
        })
    })
}
