//! The sources of a report, numbered once as a journal numbers them: each distinct reference
//! gets a number in the order of its first citation among the findings (the order in which the
//! text and Markdown reports list them), each finding cites numbers with their locators
//! (`[3] rec 1.2.1; [7] table 2`), and a reference list closes the report. The HTML report
//! uses the same numbers (its McDonald panel, shown above the findings, too), links each
//! number to its entry (`#ref-3`) and each entry back to the findings that cite it (`#f-LAB-001`).
//! The JSON assessment is untouched: findings keep their full citations there.

use crate::Esc;
use cobalt_core::assessment::{Assessment, FindingOut, SourceRef};
use std::collections::HashMap;
use std::fmt::Write;

/// One entry of the reference list.
pub(crate) struct Entry<'a> {
    /// The reference as first cited: its citation and link are the same in every citation.
    pub source: &'a SourceRef,
    /// The findings that cite it, as indices into the assessment's findings, each once.
    pub cited_by: Vec<usize>,
}

/// The numbered references of one assessment, shared by every format.
pub(crate) struct References<'a> {
    /// The entries; entry `i` has number `i + 1`.
    pub entries: Vec<Entry<'a>>,
    number: HashMap<&'a str, usize>,
    /// The HTML id of each finding, by index: `f-` and the rule id (`-2`, `-3` for a rule that
    /// fired again).
    anchors: Vec<String>,
}

impl<'a> References<'a> {
    /// Numbers the references of `a`'s findings in order of first citation.
    pub(crate) fn new(a: &'a Assessment<'_>) -> Self {
        let mut r = References {
            entries: Vec::new(),
            number: HashMap::new(),
            anchors: Vec::with_capacity(a.findings.len()),
        };
        let mut seen_rules: HashMap<&str, usize> = HashMap::new();
        for (i, f) in a.findings.iter().enumerate() {
            let times = seen_rules.entry(f.rule).or_insert(0);
            *times += 1;
            r.anchors.push(match *times {
                1 => format!("f-{}", f.rule),
                n => format!("f-{}-{n}", f.rule),
            });
            for s in f.sources {
                let n = *r.number.entry(s.key.as_str()).or_insert_with(|| {
                    r.entries.push(Entry {
                        source: s,
                        cited_by: Vec::new(),
                    });
                    r.entries.len()
                });
                let cited_by = &mut r.entries[n - 1].cited_by;
                if cited_by.last() != Some(&i) {
                    cited_by.push(i);
                }
            }
        }
        r
    }

    /// A citation's number.
    fn number_of(&self, s: &SourceRef) -> usize {
        self.number[s.key.as_str()]
    }

    /// The HTML id of the finding at index `i` of the assessment's findings.
    pub(crate) fn anchor(&self, i: usize) -> &str {
        &self.anchors[i]
    }

    /// A finding's citations for text and Markdown: `[3] rec 1.2.1; [7] table 2; [9]`.
    pub(crate) fn cites(&self, f: &FindingOut<'_>) -> String {
        f.sources
            .iter()
            .map(|s| match &s.at {
                Some(at) => format!("[{}] {at}", self.number_of(s)),
                None => format!("[{}]", self.number_of(s)),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A finding's citations for HTML, each number a link to its entry in the list.
    pub(crate) fn cites_html(&self, o: &mut String, f: &FindingOut<'_>) {
        for (i, s) in f.sources.iter().enumerate() {
            if i > 0 {
                o.push_str("; ");
            }
            let n = self.number_of(s);
            let _ = write!(o, "<a class=\"cite\" href=\"#ref-{n}\">[{n}]</a>");
            if let Some(at) = &s.at {
                let _ = write!(o, " {}", Esc(at));
            }
        }
    }

    /// The reference list of the terminal report, under `heading`; nothing without sources.
    pub(crate) fn text(&self, o: &mut String, heading: &str) {
        if self.entries.is_empty() {
            return;
        }
        let _ = writeln!(o);
        let _ = writeln!(o, "{heading}");
        let width = format!("[{}]", self.entries.len()).len();
        for (i, e) in self.entries.iter().enumerate() {
            let _ = writeln!(
                o,
                "  {:<width$} {}{}",
                format!("[{}]", i + 1),
                e.source.citation,
                plain_link(e.source).map_or(String::new(), |l| format!(" {l}"))
            );
        }
    }

    /// The reference list of the Markdown report, the citation linked to the source.
    pub(crate) fn markdown(&self, o: &mut String) {
        if self.entries.is_empty() {
            return;
        }
        let _ = writeln!(o, "## References\n");
        for (i, e) in self.entries.iter().enumerate() {
            let s = e.source;
            let citation = s.citation.replace('[', "\\[").replace(']', "\\]");
            match &s.url {
                Some(u) => {
                    let _ = writeln!(o, "- [{}] [{citation}]({u})", i + 1);
                }
                None => {
                    let _ = writeln!(o, "- [{}] {citation}", i + 1);
                }
            }
        }
        let _ = writeln!(o);
    }

    /// The reference list of the HTML report: `id="ref-N"` on each entry, the citation linked
    /// to the source, and links back to the findings that cite it, named by rule id.
    pub(crate) fn html(&self, o: &mut String, a: &Assessment<'_>) {
        if self.entries.is_empty() {
            return;
        }
        let _ = writeln!(
            o,
            "<section class=\"references\" aria-labelledby=\"references\"><h2 id=\"references\">References</h2><ol>"
        );
        for (i, e) in self.entries.iter().enumerate() {
            let n = i + 1;
            let s = e.source;
            let _ = write!(o, "<li id=\"ref-{n}\"><span class=\"refno\">[{n}]</span> ");
            match &s.url {
                Some(u) => {
                    let _ = write!(o, "<a href=\"{}\">{}</a>", Esc(u), Esc(&s.citation));
                }
                None => {
                    let _ = write!(o, "{}", Esc(&s.citation));
                }
            }
            o.push_str(" <span class=\"back\">Cited in ");
            for (k, &f) in e.cited_by.iter().enumerate() {
                if k > 0 {
                    o.push_str(", ");
                }
                let _ = write!(
                    o,
                    "<a href=\"#{}\">{}</a>",
                    Esc(self.anchor(f)),
                    Esc(a.findings[f].rule)
                );
            }
            o.push_str("</span></li>\n");
        }
        let _ = writeln!(o, "</ol></section>");
    }
}

/// A source's link for plain text, left out when it only repeats the DOI the citation shows.
fn plain_link(s: &SourceRef) -> Option<&str> {
    let u = s.url.as_deref()?;
    match u.strip_prefix("https://doi.org/") {
        Some(doi) if s.citation.contains(&format!("doi:{doi}")) => None,
        _ => Some(u),
    }
}
