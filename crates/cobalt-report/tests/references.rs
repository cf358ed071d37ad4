//! Numbered references: every reference once in the list, in order of first citation, every
//! cited number resolving to its entry, the same numbers in text, Markdown and HTML, and every
//! link of the HTML report landing on an id. Checked on the bundled examples, the constructed
//! cases (`tests/cases`) and the published cases (`tests/published`).

mod common;

use cobalt_core::assessment::Assessment;
use cobalt_core::KnowledgeBase;
use std::collections::{BTreeMap, BTreeSet};

/// Every case the repository carries: `(name, case JSON)`.
fn all_cases() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["examples", "tests/cases", "tests/published"] {
        let mut paths: Vec<_> = std::fs::read_dir(common::repo().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            // Constructed and published cases wrap the case document with their metadata.
            let case = v.get("case").map_or(text, |c| c.to_string());
            out.push((format!("{dir}/{}", p.file_name().unwrap().display()), case));
        }
    }
    assert!(out.len() > 50, "the cases were not found");
    out
}

fn assess<'kb>(kb: &'kb KnowledgeBase, name: &str, json: &str) -> Assessment<'kb> {
    let case = cobalt_core::parse_case(json, &kb.vocab, &kb.analytes)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let day = case
        .as_of
        .unwrap_or_else(|| cobalt_core::case::parse_date("2026-01-01").unwrap());
    cobalt_core::evaluate(kb, &kb.profiles[&kb.meta.default_profile], &case, day)
}

/// The lines after the line `heading` up to the first blank line.
fn section<'a>(report: &'a str, heading: &str) -> Vec<&'a str> {
    report
        .lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect()
}

/// A reference list's entries `[n] rest` (after `prefix`), checked to be numbered 1, 2, 3…
fn entries<'a>(name: &str, lines: &[&'a str], prefix: &str) -> Vec<&'a str> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let rest = l
                .strip_prefix(prefix)
                .and_then(|l| l.strip_prefix(&format!("[{}]", i + 1)))
                .unwrap_or_else(|| panic!("{name}: entry {} is `{l}`", i + 1));
            rest.trim_start()
        })
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The values of `attr="…"` in an HTML document, in order.
fn attrs<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let open = format!(" {attr}=\"");
    html.match_indices(&open)
        .map(|(i, _)| {
            let rest = &html[i + open.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

/// Checks one assessment's three reports; returns how many references its list has.
fn check(name: &str, a: &Assessment<'_>) -> usize {
    // The distinct references the findings cite, in order of first citation.
    let mut order: Vec<(&str, &str)> = Vec::new();
    for s in a.findings.iter().flat_map(|f| f.sources) {
        if !order.iter().any(|(k, _)| *k == s.key) {
            order.push((&s.key, &s.citation));
        }
    }
    let number: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (*k, i + 1))
        .collect();
    let cites = |f: &cobalt_core::assessment::FindingOut<'_>| {
        f.sources
            .iter()
            .map(|s| match &s.at {
                Some(at) => format!("[{}] {at}", number[s.key.as_str()]),
                None => format!("[{}]", number[s.key.as_str()]),
            })
            .collect::<Vec<_>>()
            .join("; ")
    };

    // Text: the list holds each reference once, numbered in order of first citation, and each
    // finding cites those numbers with its locators.
    let text = cobalt_report::text(a, false);
    let list = entries(name, &section(&text, "REFERENCES"), "  ");
    assert_eq!(list.len(), order.len(), "{name}: text list length");
    for (entry, (key, citation)) in list.iter().zip(&order) {
        assert!(
            entry.starts_with(citation),
            "{name}: [{}] should be {key}: `{entry}`",
            number[key]
        );
    }
    let distinct: BTreeSet<&&str> = list.iter().collect();
    assert_eq!(
        distinct.len(),
        list.len(),
        "{name}: a reference listed twice"
    );
    for f in &a.findings {
        let line = format!("      sources: {}\n", cites(f));
        assert!(text.contains(&line), "{name}: text, {}: `{line}`", f.rule);
    }

    // Markdown: the same list, the same numbers.
    let md = cobalt_report::markdown(a);
    let md_list = entries(name, &section(&md, "## References"), "- ");
    assert_eq!(md_list.len(), order.len(), "{name}: Markdown list length");
    for (entry, (_, citation)) in md_list.iter().zip(&order) {
        let citation = citation.replace('[', "\\[").replace(']', "\\]");
        assert!(
            entry.starts_with(&citation) || entry.starts_with(&format!("[{citation}](")),
            "{name}: Markdown entry `{entry}`"
        );
    }
    for f in &a.findings {
        let line = format!("  - Sources: {}\n", cites(f));
        assert!(md.contains(&line), "{name}: Markdown, {}", f.rule);
    }

    // HTML: one entry per reference with its id, every link to an entry or a finding lands on
    // exactly one id, and every entry links back to each finding that cites it.
    let html = cobalt_report::html(a);
    let ids = attrs(&html, "id");
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "{name}: an id is used twice");
    for (i, (_, citation)) in order.iter().enumerate() {
        let n = i + 1;
        let entry = format!("<li id=\"ref-{n}\"><span class=\"refno\">[{n}]</span> ");
        let at = html
            .find(&entry)
            .unwrap_or_else(|| panic!("{name}: no entry {n}"));
        let line = &html[at..at + html[at..].find('\n').unwrap()];
        assert!(line.contains(&escape(citation)), "{name}: HTML entry {n}");
    }
    let refs = ids.iter().filter(|i| i.starts_with("ref-")).count();
    assert_eq!(refs, order.len(), "{name}: HTML entries");
    let hrefs = attrs(&html, "href");
    for target in hrefs.iter().filter_map(|h| h.strip_prefix('#')) {
        assert!(unique.contains(target), "{name}: `#{target}` has no id");
    }
    for n in 1..=order.len() {
        assert!(
            hrefs.contains(&format!("#ref-{n}").as_str()),
            "{name}: entry {n} is never cited"
        );
    }
    let findings = ids.iter().filter(|i| i.starts_with("f-")).count();
    assert_eq!(
        findings,
        a.findings.len(),
        "{name}: every finding has an id"
    );
    order.len()
}

#[test]
fn every_case_numbers_its_references_once_and_every_citation_resolves() {
    let kb = common::kb();
    let mut listed = 0;
    for (name, json) in all_cases() {
        let a = assess(&kb, &name, &json);
        listed += check(&name, &a);
    }
    assert!(listed > 0, "no case cites anything");
}

fn example(name: &str) -> String {
    std::fs::read_to_string(common::repo().join("examples").join(name)).unwrap()
}

/// The metformin example cites NICE NG239 in several findings; the guideline is listed once and
/// each finding cites it by number.
#[test]
fn a_guideline_cited_by_many_findings_is_listed_once() {
    let kb = common::kb();
    let a = assess(&kb, "metformin", &example("metformin-neuropathy.json"));
    let ng239 = "Vitamin B12 deficiency in over 16s: diagnosis and management";
    let citing = a
        .findings
        .iter()
        .filter(|f| f.sources.iter().any(|s| s.title.starts_with(ng239)))
        .count();
    assert!(citing > 3, "the example should cite NG239 often ({citing})");
    for (format, out) in [
        ("text", cobalt_report::text(&a, false)),
        ("markdown", cobalt_report::markdown(&a)),
        ("html", cobalt_report::report_fragment(&a)),
    ] {
        assert_eq!(out.matches(ng239).count(), 1, "{format}");
    }
}

/// The reference lists of the metformin example in the three formats, with the citations of
/// one finding: what a reviewer checks by eye.
#[test]
fn metformin_reference_lists() {
    let kb = common::kb();
    let a = assess(&kb, "metformin", &example("metformin-neuropathy.json"));
    let text = cobalt_report::text(&a, false);
    let md = cobalt_report::markdown(&a);
    let html = cobalt_report::report_fragment(&a);
    // The finding's lines, from its marker: its message and its citations.
    let lab = |report: &str, marker: &str, lines: usize| -> String {
        let at = report.find(marker).unwrap();
        report[at..]
            .lines()
            .take(lines)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let html_list = &html[html.find("<section class=\"references\"").unwrap()..];
    let shown = format!(
        "== text: LAB-001 ==\n{}\n\n== text ==\n{}\n\n== markdown: LAB-001 ==\n{}\n\n== markdown ==\n{}\n\n== html: LAB-001 ==\n{}\n\n== html ==\n{}",
        lab(&text, "[LAB-001]", 2),
        section(&text, "REFERENCES").join("\n"),
        lab(&md, "**LAB-001**", 2),
        section(&md, "## References").join("\n"),
        lab(&html, "<div class=\"finding\" id=\"f-LAB-001\">", 1),
        &html_list[..html_list.find("</section>").unwrap() + "</section>".len()],
    );
    insta::assert_snapshot!("metformin-neuropathy.references", shown);
}
