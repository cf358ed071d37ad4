//! Speed of one assessment: evaluation alone, and parse plus evaluation, on the bundled
//! examples and the published cases. Run with `cargo bench -p cobalt-cli`.

use std::path::Path;

/// The allocator the `cobalt` binary and the service run with, so that the figures are theirs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

fn cases() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = Vec::new();
    for dir in ["examples", "tests/published"] {
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

/// The knowledge base, the default profile's assessment date, and the cases as text.
struct Fixture {
    kb: cobalt_core::KnowledgeBase,
    as_of: time::Date,
    texts: Vec<String>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            kb: cobalt_kb::load().unwrap(),
            as_of: cobalt_core::case::parse_date("2026-03-01").unwrap(),
            texts: cases().into_iter().map(|(_, t)| t).collect(),
        }
    }

    fn profile(&self) -> &cobalt_core::Profile {
        &self.kb.profiles[&self.kb.meta.default_profile]
    }

    fn parse(&self, text: &str) -> cobalt_core::Case {
        cobalt_core::parse_case(text, &self.kb.vocab, &self.kb.analytes).unwrap()
    }

    fn evaluate<'a>(&'a self, case: &cobalt_core::Case) -> cobalt_core::Assessment<'a> {
        cobalt_core::evaluate(&self.kb, self.profile(), case, self.as_of)
    }
}

/// Benchmarks `f` on each item in turn.
fn round_robin<T, R>(bencher: divan::Bencher, items: &[T], mut f: impl FnMut(&T) -> R) {
    let mut i = 0;
    bencher.bench_local(|| {
        i += 1;
        f(divan::black_box(&items[i % items.len()]))
    });
}

#[divan::bench]
fn evaluate_only(bencher: divan::Bencher) {
    let fx = Fixture::new();
    let parsed: Vec<_> = fx.texts.iter().map(|t| fx.parse(t)).collect();
    round_robin(bencher, &parsed, |c| {
        fx.evaluate(c).conclusions.test_indicated
    });
}

/// Evaluation without prose (what a screening run's compact rows need).
#[divan::bench]
fn evaluate_conclusions_only(bencher: divan::Bencher) {
    let fx = Fixture::new();
    let parsed: Vec<_> = fx.texts.iter().map(|t| fx.parse(t)).collect();
    round_robin(bencher, &parsed, |c| {
        cobalt_core::evaluate_with(
            &fx.kb,
            fx.profile(),
            c,
            fx.as_of,
            cobalt_core::Detail::Conclusions,
        )
        .conclusions
        .test_indicated
    });
}

#[divan::bench]
fn parse_and_evaluate(bencher: divan::Bencher) {
    let fx = Fixture::new();
    round_robin(bencher, &fx.texts, |t| {
        fx.evaluate(&fx.parse(t)).conclusions.test_indicated
    });
}

#[divan::bench]
fn parse_evaluate_and_serialise_json(bencher: divan::Bencher) {
    let fx = Fixture::new();
    round_robin(bencher, &fx.texts, |t| {
        serde_json::to_string(&fx.evaluate(&fx.parse(t)))
            .unwrap()
            .len()
    });
}

#[divan::bench]
fn load_knowledge_base() -> usize {
    cobalt_kb::load().unwrap().rules.len()
}

/// Benchmarks a renderer on the evaluated cases.
fn render(bencher: divan::Bencher, f: impl Fn(&cobalt_core::Assessment<'_>) -> usize) {
    let fx = Fixture::new();
    let parsed: Vec<_> = fx.texts.iter().map(|t| fx.parse(t)).collect();
    let assessments: Vec<_> = parsed.iter().map(|c| fx.evaluate(c)).collect();
    round_robin(bencher, &assessments, f);
}

#[divan::bench]
fn render_json(bencher: divan::Bencher) {
    render(bencher, |a| serde_json::to_string(a).unwrap().len());
}

#[divan::bench]
fn render_clinician_html(bencher: divan::Bencher) {
    render(bencher, |a| cobalt_report::report_fragment(a).len());
}

#[divan::bench]
fn render_patient_html(bencher: divan::Bencher) {
    render(bencher, |a| cobalt_report::patient::html(a).len());
}

/// The FHIR example bundles (the fixtures of `cobalt-fhir`), as bytes.
fn bundles() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cobalt-fhir/tests/fixtures");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

/// Parse plus evaluation from FHIR bytes: the typed path (`cobalt_fhir::from_slice`).
#[divan::bench]
fn fhir_bytes_to_assessment(bencher: divan::Bencher) {
    let fx = Fixture::new();
    let bundles = bundles();
    round_robin(bencher, &bundles, |b| {
        let m = cobalt_fhir::from_slice(b, fx.as_of, &fx.kb).unwrap();
        fx.evaluate(&m.parsed).conclusions.test_indicated
    });
}

/// FHIR bytes to conclusions: the typed path, then evaluation without prose (what a screening
/// row or a conclusions-only caller needs).
#[divan::bench]
fn fhir_bytes_to_conclusions(bencher: divan::Bencher) {
    let fx = Fixture::new();
    let bundles = bundles();
    round_robin(bencher, &bundles, |b| {
        let m = cobalt_fhir::from_slice(b, fx.as_of, &fx.kb).unwrap();
        cobalt_core::evaluate_with(
            &fx.kb,
            fx.profile(),
            &m.parsed,
            fx.as_of,
            cobalt_core::Detail::Conclusions,
        )
        .conclusions
        .test_indicated
    });
}

/// One assessment of a case with many laboratory results: the work must grow no faster than
/// n log n in their number.
#[divan::bench(args = [1_000, 10_000, 100_000], sample_count = 10)]
fn many_labs(bencher: divan::Bencher, n: usize) {
    let fx = Fixture::new();
    let labs: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"test":"total_b12","value":{},"unit":"pg/mL","date":"20{:02}-{:02}-{:02}"}}"#,
                150 + i % 300,
                10 + i % 15,
                1 + i % 12,
                1 + i % 28
            )
        })
        .collect();
    let text = format!(
        r#"{{"format":"cobalt.case/1","as_of":"2026-01-01","labs":[{}]}}"#,
        labs.join(",")
    );
    bencher.bench_local(|| fx.evaluate(&fx.parse(divan::black_box(&text))).labs.len());
}
