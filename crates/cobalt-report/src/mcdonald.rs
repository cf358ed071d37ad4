//! The McDonald criteria side by side, 2017 and 2024, for every format: which regions counted,
//! dissemination, the 2024 items, the pathway, whether the criteria are met, what is missing to
//! decide and which parts of the 2024 assessment are unverified.

use super::{words, yn, Esc};
use crate::html::finding_html;
use crate::references::References;
use cobalt_core::assessment::{Assessment, Missing};
use cobalt_core::case::Site;
use std::fmt::Write;

fn sites(v: &[Site]) -> String {
    v.iter()
        .map(|s| s.as_str().replace('_', " "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One row of the side-by-side table: a key for the page, a label, and the 2017 and 2024 values.
pub(crate) struct Row {
    pub key: &'static str,
    pub label: &'static str,
    pub y2017: String,
    pub y2024: String,
}

/// The regions of 2024 in words: how many of five, which, and which were not assessed.
fn regions_2024(a: &Assessment<'_>) -> String {
    let m = &a.conclusions.mcdonald_2024;
    let d = &a.mcdonald_2024_detail;
    match m.regions {
        None => "not enough data (no imaging or optic nerve tests)".into(),
        Some(n) => {
            let mut s = format!("{n} of 5");
            if !d.regions_shown.is_empty() {
                let _ = write!(s, " ({})", sites(&d.regions_shown));
            }
            if !d.optic_nerve_by.is_empty() {
                let _ = write!(
                    s,
                    "; optic nerve by {}",
                    d.optic_nerve_by.join(", ").to_uppercase()
                );
            }
            if !d.regions_not_assessed.is_empty() {
                let _ = write!(s, "; not assessed: {}", sites(&d.regions_not_assessed));
            }
            s
        }
    }
}

/// The rows of the side-by-side table.
pub(crate) fn rows(a: &Assessment<'_>) -> Vec<Row> {
    let c = &a.conclusions;
    let m17 = &c.mcdonald_2017;
    let m24 = &c.mcdonald_2024;
    let d = &a.mcdonald_2024_detail;
    let not_part = || "not part of 2017".to_string();
    vec![
        Row {
            key: "regions",
            label: "Regions with typical lesions",
            y2017: "four regions; the optic nerve does not count".into(),
            y2024: regions_2024(a),
        },
        Row {
            key: "dis",
            label: "Dissemination in space",
            y2017: yn(m17.dis).into(),
            y2024: yn(m24.dis).into(),
        },
        Row {
            key: "dit",
            label: "Dissemination in time (2017: CSF bands may stand in; 2024: MRI or a further attack only)",
            y2017: yn(m17.dit).into(),
            y2024: yn(m24.dit).into(),
        },
        Row {
            key: "csf",
            label: "CSF positive (bands or kappa FLC index)",
            y2017: "bands stand in for dissemination in time".into(),
            y2024: yn(m24.csf_positive).into(),
        },
        Row {
            key: "cvs",
            label: "Central vein sign (select six)",
            y2017: not_part(),
            y2024: yn(m24.cvs_select6).into(),
        },
        Row {
            key: "prl",
            label: "Paramagnetic rim lesion",
            y2017: not_part(),
            y2024: yn(d.prl).into(),
        },
        Row {
            key: "pathway",
            label: "Pathway",
            y2017: "attacks and objective lesions, or primary progressive".into(),
            y2024: match (d.presentation, d.pathway, m24.met) {
                (_, Some(p), Some(true)) => p.to_string(),
                (_, Some(p), _) => format!("{p}; met only once B12 deficiency is excluded"),
                (Some("none"), _, _) => "no pathway (no attack, RIS or progression)".into(),
                (Some(p), None, Some(false)) => format!("{}: no pathway holds", words(p)),
                (Some(p), None, _) => format!("{}: not decided", words(p)),
                (None, _, _) => "presentation not known".into(),
            },
        },
        Row {
            key: "met",
            label: "Criteria met",
            y2017: yn(m17.met).into(),
            y2024: yn(m24.met).into(),
        },
    ]
}

/// The missing-data notes about either set of criteria.
pub(crate) fn missing<'a>(a: &'a Assessment<'_>) -> impl Iterator<Item = &'a Missing> {
    a.missing
        .iter()
        .filter(|m| m.conclusion.starts_with("mcdonald"))
}

/// What is unverified in the 2024 assessment: the fired 2024 rules that say so.
pub(crate) fn unverified<'a>(a: &'a Assessment<'_>) -> Vec<(&'a str, &'a str)> {
    a.findings
        .iter()
        .filter(|f| f.category == "mcdonald_2024")
        .filter_map(|f| f.unverified.map(|u| (f.rule, u)))
        .collect()
}

/// The 2024 conclusions in one line, for the conclusions block.
pub(crate) fn line_2024(a: &Assessment<'_>) -> String {
    if !a.mcdonald_2024_assessed() {
        return "not assessed (no MS work-up, MRI or optic nerve tests in the case)".into();
    }
    let m = &a.conclusions.mcdonald_2024;
    format!(
        "regions: {}; DIS: {}; DIT: {}; CSF: {}; CVS: {}; criteria met: {}{}",
        m.regions
            .map_or_else(|| "not enough data".to_string(), |n| format!("{n} of 5")),
        yn(m.dis),
        yn(m.dit),
        yn(m.csf_positive),
        yn(m.cvs_select6),
        yn(m.met),
        if unverified(a).is_empty() {
            ""
        } else {
            " (parts unverified)"
        }
    )
}

fn assessed(a: &Assessment<'_>) -> bool {
    a.mcdonald_assessed() || a.mcdonald_2024_assessed()
}

/// The side-by-side block of the terminal report.
pub(crate) fn text(o: &mut String, a: &Assessment<'_>, heading: &str) {
    if !assessed(a) {
        return;
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "{heading}");
    for r in rows(a) {
        let _ = writeln!(o, "  {}", r.label);
        let _ = writeln!(o, "      2017: {}", r.y2017);
        let _ = writeln!(o, "      2024: {}", r.y2024);
    }
    for m in missing(a) {
        let _ = writeln!(
            o,
            "  Missing to decide ({}): {}",
            crate::conclusion_words(m.conclusion),
            m.message
        );
    }
    for (rule, u) in unverified(a) {
        let _ = writeln!(o, "  Unverified (2024, {rule}): {u}");
    }
}

/// The side-by-side table of the Markdown report.
pub(crate) fn markdown(o: &mut String, a: &Assessment<'_>) {
    if !assessed(a) {
        return;
    }
    let _ = writeln!(o, "## McDonald criteria, 2017 and 2024\n");
    let _ = writeln!(o, "| | 2017 | 2024 |\n|---|---|---|");
    for r in rows(a) {
        let _ = writeln!(
            o,
            "| {} | {} | {} |",
            r.label,
            r.y2017.replace('|', "\\|"),
            r.y2024.replace('|', "\\|")
        );
    }
    let _ = writeln!(o);
    for m in missing(a) {
        let _ = writeln!(
            o,
            "- Missing to decide ({}): {}",
            crate::conclusion_words(m.conclusion),
            m.message
        );
    }
    for (rule, u) in unverified(a) {
        let _ = writeln!(o, "- *Unverified (2024, `{rule}`):* {u}");
    }
    let _ = writeln!(o);
}

fn class(v: &str) -> &'static str {
    match v {
        "yes" => "yes",
        "no" => "no",
        _ => "unknown",
    }
}

/// The McDonald panel of the HTML report: 2017 and 2024 side by side, what is missing, what is
/// unverified, and the McDonald findings of both; `None` when neither was assessed.
pub(crate) fn html(a: &Assessment<'_>, refs: &References<'_>) -> Option<String> {
    if !assessed(a) {
        return None;
    }
    let mut o = String::from(
        "<section class=\"mcdonald\" aria-labelledby=\"mcdonald\"><h2 id=\"mcdonald\">McDonald criteria: 2017 and 2024</h2>\
         <table><thead><tr><th scope=\"col\">Criterion</th><th scope=\"col\">2017</th><th scope=\"col\">2024</th></tr></thead><tbody>\n",
    );
    for r in rows(a) {
        let _ = writeln!(
            o,
            "<tr data-criterion=\"{}\"><th scope=\"row\">{}</th><td class=\"{}\">{}</td><td class=\"{}\" data-year=\"2024\">{}</td></tr>",
            r.key,
            r.label,
            class(&r.y2017),
            Esc(&r.y2017),
            class(&r.y2024),
            Esc(&r.y2024)
        );
    }
    o.push_str("</tbody></table>\n");
    let missing: Vec<&Missing> = missing(a).collect();
    if !missing.is_empty() {
        o.push_str("<p>Missing to decide:</p><ul class=\"missing\">");
        for m in missing {
            let _ = write!(o, "<li>{}</li>", Esc(&m.message));
        }
        o.push_str("</ul>\n");
    }
    let unverified = unverified(a);
    if !unverified.is_empty() {
        o.push_str("<p>Unverified parts of the 2024 assessment:</p><ul class=\"unverified\">");
        for (rule, u) in unverified {
            let _ = write!(
                o,
                "<li><span class=\"rule\">{}</span> {}</li>",
                Esc(rule),
                Esc(u)
            );
        }
        o.push_str("</ul>\n");
    }
    for (i, f) in a
        .findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.category.starts_with("mcdonald"))
    {
        finding_html(&mut o, refs, i, f);
    }
    o.push_str("</section>\n");
    Some(o)
}
