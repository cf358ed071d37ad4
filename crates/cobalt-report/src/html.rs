//! The HTML report: the clinician fragment the page shows, the standalone file, the B12 chart
//! and the McDonald panel. Every text is escaped on the way out.

use super::*;
use crate::references::References;

/// Text escaped for HTML content and attribute values, written straight into the output.
pub(crate) struct Esc<'a>(pub(crate) &'a str);

impl std::fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest
            .bytes()
            .position(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\''))
        {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// The standalone file's page style; the page at `/` has its own.
const DOC_STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.45}.patient{break-before:page;margin-top:2rem}";

const HTML_STYLE: &str = "h1{font-size:1.5rem}h2{font-size:1.2rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:1.6rem}h3{font-size:1rem;margin-bottom:.3rem}\
.disclaimer{background:#fff4ce;border-left:4px solid #b58900;padding:.5rem .8rem}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e3e3e3;vertical-align:top}\
th{width:12rem;color:#444}.urgent{color:#a40000;font-weight:700}.rule{font-family:ui-monospace,monospace;font-weight:700}\
.finding{margin:.4rem 0}.src{color:#555;font-size:.9rem}.suggest{margin-left:1rem}\
.references ol{list-style:none;padding-left:0}.references li{margin:.3rem 0}.back{color:#555;font-size:.9rem}\
svg{max-width:100%;height:auto}.mcdonald .yes{font-weight:700}.unverified{color:#6b4a00}\
@media print{body{margin:0;max-width:none}a{color:inherit;text-decoration:none}.disclaimer{border:1px solid #999}}";

/// Days since 1970-01-01 of a `YYYY-MM-DD` date, for spacing a chart by time.
fn day_number(date: &str) -> Option<i64> {
    const EPOCH_JULIAN_DAY: i64 = 2_440_588;
    Some(i64::from(cobalt_core::case::parse_date(date)?.to_julian_day()) - EPOCH_JULIAN_DAY)
}

/// A chart of the total B12 results over time (in pmol/L, the normalised unit), as inline SVG,
/// when there are at least two dated results: spaced by date, the latest result coloured by its
/// interpretation, and a text alternative that lists every value.
fn b12_chart(a: &Assessment<'_>) -> Option<String> {
    let mut points: Vec<(&str, i64, f64, Option<&str>)> = a
        .labs
        .iter()
        .filter(|l| l.test == "total_b12")
        .filter_map(|l| {
            let date = l.date.as_deref()?;
            Some((date, day_number(date)?, l.value?, l.interpretation))
        })
        .collect();
    if points.len() < 2 {
        return None;
    }
    points.sort_by_key(|p| p.1);
    let (w, h, pad) = (560.0, 210.0, 44.0);
    let cut = a.total_b12_cutoffs_pmol_l;
    let top_cut = cut.map_or(0.0, |c| c.indeterminate_up_to.unwrap_or(c.deficient_below));
    let max = points
        .iter()
        .map(|p| p.2)
        .fold(300.0f64.max(top_cut), f64::max)
        * 1.15;
    let (first, last) = (points[0].1, points[points.len() - 1].1);
    let span = (last - first).max(1) as f64;
    let x = |day: i64| pad + (w - 2.0 * pad) * (day - first) as f64 / span;
    let y = |v: f64| h - pad - (h - 2.0 * pad) * v / max;
    let latest_class = points[points.len() - 1].3;
    let alt: Vec<String> = points
        .iter()
        .map(|(date, _, v, _)| format!("{date}: {}", cobalt_core::units::display_number(*v, 0)))
        .collect();
    let mut svg = format!(
        "<svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Total B12 over time in pmol/L: {}{}\"><title>Total B12 over time (pmol/L)</title>",
        Esc(&alt.join(", ")),
        latest_class.map_or(String::new(), |c| format!("; latest {}", words(c)))
    );
    let _ = write!(
        svg,
        "<line x1=\"{pad}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#888\"/><line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{0}\" stroke=\"#888\"/><text x=\"{2}\" y=\"{3:.1}\" font-size=\"11\" text-anchor=\"end\">0</text><text x=\"{2}\" y=\"{4:.1}\" font-size=\"11\" text-anchor=\"end\">{5}</text><text x=\"{pad}\" y=\"{6}\" font-size=\"11\">pmol/L</text>",
        h - pad,
        w - pad,
        pad - 4.0,
        h - pad + 4.0,
        y(max / 1.15) + 4.0,
        cobalt_core::units::display_number(max / 1.15, 0),
        pad - 16.0,
    );
    // The profile's bands, as dashed lines with their values.
    if let Some(c) = cut {
        for (v, label, colour) in [
            (Some(c.deficient_below), "deficient below", "#a40000"),
            (c.indeterminate_up_to, "indeterminate up to", "#8a6d00"),
        ] {
            let Some(v) = v else { continue };
            let _ = write!(
                svg,
                "<line x1=\"{pad}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"{colour}\" stroke-dasharray=\"4 3\" data-cutoff=\"{2}\"/><text x=\"{1}\" y=\"{3:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"{colour}\">{label} {2} ({4})</text>",
                y(v),
                w - pad,
                cobalt_core::units::display_number(v, 0),
                y(v) - 3.0,
                Esc(a.engine.profile)
            );
        }
    }
    let path: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.1), y(p.2)))
        .collect();
    let _ = write!(
        svg,
        "<polyline fill=\"none\" stroke=\"#005ea5\" stroke-width=\"2\" points=\"{}\"/>",
        path.join(" ")
    );
    for (i, (date, day, v, _)) in points.iter().enumerate() {
        let latest = i == points.len() - 1;
        let fill = match (latest, latest_class) {
            (true, Some("deficient")) => "#a40000",
            (true, Some("indeterminate")) => "#8a6d00",
            _ => "#005ea5",
        };
        let anchor = if i == 0 {
            "start"
        } else if latest {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            svg,
            "<circle cx=\"{0:.1}\" cy=\"{1:.1}\" r=\"{2}\" fill=\"{fill}\"/><text x=\"{0:.1}\" y=\"{3:.1}\" font-size=\"11\" text-anchor=\"middle\">{4}</text><text x=\"{0:.1}\" y=\"{5:.1}\" font-size=\"11\" text-anchor=\"{anchor}\">{6}</text>",
            x(*day),
            y(*v),
            if latest { 5 } else { 4 },
            y(*v) - 9.0,
            cobalt_core::units::display_number(*v, 0),
            h - pad + 16.0,
            Esc(date)
        );
    }
    if let Some(c) = latest_class {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">latest: {}</text>",
            w - pad,
            h - 8.0,
            Esc(&words(c))
        );
    }
    svg.push_str("</svg>");
    Some(svg)
}

/// The stylesheet of the HTML report, for pages that show [`report_fragment`].
pub const REPORT_CSS: &str = HTML_STYLE;

/// The finding at index `i` of the assessment's findings as HTML: its rule id, message,
/// suggestion and numbered citations, each a link to its entry in the reference list.
pub(crate) fn finding_html(o: &mut String, refs: &References<'_>, i: usize, f: &FindingOut<'_>) {
    let _ = write!(
        o,
        "<div class=\"finding\" id=\"{}\"><span class=\"rule\">{}</span> {}",
        Esc(refs.anchor(i)),
        Esc(f.rule),
        Esc(&f.message)
    );
    if let Some(s) = &f.suggestion {
        let _ = write!(o, "<div class=\"suggest\">Consider: {}</div>", Esc(s));
    }
    if let Some(u) = f.unverified {
        let _ = write!(o, "<div class=\"unverified\">Unverified: {}</div>", Esc(u));
    }
    o.push_str("<div class=\"src\">Sources: ");
    refs.cites_html(o, f);
    o.push_str("</div></div>\n");
}

/// The clinician report as an HTML fragment (an `<article>`, no scripts, every text escaped):
/// what [`html`] wraps into a file and what the web page shows.
pub fn report_fragment(a: &Assessment<'_>) -> String {
    let refs = References::new(a);
    let mut o = String::new();
    let id = a.id.as_deref().unwrap_or("(no id)");
    let _ = writeln!(
        o,
        "<article class=\"report\" aria-labelledby=\"report-title\"><h1 id=\"report-title\">cobalt assessment: {}</h1>",
        Esc(id)
    );
    let _ = writeln!(
        o,
        "<p>As of {}.</p><p class=\"disclaimer\" role=\"note\">{}</p>",
        Esc(&a.as_of),
        Esc(a.disclaimer)
    );
    let _ = writeln!(
        o,
        "<h2 id=\"conclusions\">Conclusions</h2><table class=\"glance\" aria-labelledby=\"conclusions\">"
    );
    for (label, value) in conclusion_rows(a) {
        let class = if label == "Treatment" && a.conclusions.treatment.urgent {
            " class=\"urgent\""
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "<tr><th scope=\"row\">{label}</th><td{class}>{}</td></tr>",
            Esc(&value)
        );
    }
    let _ = writeln!(o, "</table>");
    if a.management.regimen.is_some()
        || a.management.follow_up.is_some()
        || !a.management.cautions.is_empty()
    {
        let _ = writeln!(o, "<h2>Treatment</h2><ul>");
        if let Some(r) = &a.management.regimen {
            let _ = writeln!(
                o,
                "<li>{}: {}, then {} (<span class=\"rule\">{}</span>)</li>",
                Esc(&r.product),
                Esc(&r.initial),
                Esc(&r.maintenance),
                Esc(r.rule)
            );
            if let Some(alt) = &r.alternative {
                let _ = writeln!(o, "<li>Alternative: {}</li>", Esc(alt));
            }
        }
        if let Some(f) = &a.management.follow_up {
            let _ = writeln!(o, "<li>Follow-up: {}</li>", Esc(f));
        }
        for c in &a.management.cautions {
            let _ = writeln!(o, "<li><strong>Caution:</strong> {}</li>", Esc(c));
        }
        let _ = writeln!(o, "</ul>");
    }
    if !a.missing.is_empty() {
        let _ = writeln!(o, "<h2>Not enough data</h2><ul>");
        for m in &a.missing {
            let by = if m.supplied_by.is_empty() {
                String::new()
            } else {
                format!(
                    " Would come from: {}.",
                    Esc(&crate::labels_or(a, &m.supplied_by, ""))
                )
            };
            let _ = writeln!(
                o,
                "<li><strong>{}</strong>: {}{by}</li>",
                Esc(&capitalise(&crate::conclusion_words(m.conclusion))),
                Esc(&m.message)
            );
        }
        let _ = writeln!(o, "</ul>");
    }
    if let Some(chart) = b12_chart(a) {
        let _ = writeln!(o, "<h2>Total B12 over time (pmol/L)</h2>{chart}");
    }
    if let Some(panel) = crate::mcdonald::html(a, &refs) {
        o.push_str(&panel);
    }
    let _ = writeln!(o, "<h2>Findings</h2>");
    let mut category = "";
    for (i, f) in a
        .findings
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.category.starts_with("mcdonald"))
    {
        if f.category != category {
            category = f.category;
            let _ = writeln!(
                o,
                "<h3>{}</h3>",
                Esc(&capitalise(&crate::category_title(category)))
            );
        }
        finding_html(&mut o, &refs, i, f);
    }
    if !a.labs.is_empty() {
        let _ = writeln!(o, "<h2>Laboratory results</h2><table><thead><tr><th scope=\"col\">Test</th><th scope=\"col\">Date</th><th scope=\"col\">Reported</th><th scope=\"col\">Normalised</th><th scope=\"col\">Interpretation</th></tr></thead><tbody>");
        for l in &a.labs {
            let norm = normalised(l).unwrap_or_default();
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
                Esc(a.label(&l.test)),
                Esc(l.date.as_deref().unwrap_or("undated")),
                Esc(&l.reported),
                Esc(&norm),
                Esc(&l.interpretation.map(words).unwrap_or_default()),
                if l.latest { "" } else { " (earlier)" }
            );
        }
        let _ = writeln!(o, "</tbody></table>");
    }
    if let Some(d) = &a.management.diet_plan {
        let _ = writeln!(
            o,
            "<h2>Diet</h2><p>{}: {} micrograms a day ({}).</p>",
            Esc(&capitalise(d.stage)),
            d.intake_mcg_per_day,
            Esc(d.measure)
        );
        if !d.foods.is_empty() {
            let _ = writeln!(o, "<table><thead><tr><th scope=\"col\">Food</th><th scope=\"col\">Serving</th><th scope=\"col\">B12 (micrograms)</th><th scope=\"col\">Share of the day's need</th></tr></thead><tbody>");
            for f in &d.foods {
                let _ = writeln!(
                    o,
                    "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}%</td></tr>",
                    Esc(f.name),
                    if f.caution.is_some() {
                        " <em>(limit in pregnancy)</em>"
                    } else {
                        ""
                    },
                    Esc(f.serving),
                    f.mcg,
                    f.percent_of_intake
                );
            }
            let _ = writeln!(o, "</tbody></table>");
        }
        for adv in &d.advice {
            let _ = writeln!(o, "<p>{}</p>", Esc(adv));
        }
    }
    refs.html(&mut o, a);
    let _ = writeln!(
        o,
        "<footer><p class=\"src\">{} {} · knowledge {} · profile {}</p></footer></article>",
        Esc(a.engine.name),
        Esc(a.engine.version),
        Esc(a.engine.knowledge_version),
        Esc(a.engine.profile)
    );
    o
}

/// The report as one standalone HTML file (no scripts, no external assets), print-friendly:
/// the clinician report, then the view for the patient on its own printed page.
pub fn html(a: &Assessment<'_>) -> String {
    let id = a.id.as_deref().unwrap_or("(no id)");
    format!(
        "<!doctype html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>cobalt assessment: {}</title><style>{DOC_STYLE}{HTML_STYLE}</style></head><body><main>\n{}{}</main></body></html>\n",
        Esc(id),
        report_fragment(a),
        patient::html(a)
    )
}

#[cfg(test)]
mod tests {
    use super::{day_number, Esc};
    use proptest::prelude::*;

    fn naive(s: &str) -> String {
        s.chars()
            .map(|c| match c {
                '&' => "&amp;".to_string(),
                '<' => "&lt;".to_string(),
                '>' => "&gt;".to_string(),
                '"' => "&quot;".to_string(),
                '\'' => "&#39;".to_string(),
                c => c.to_string(),
            })
            .collect()
    }

    proptest! {
        #[test]
        fn escaping_matches_a_character_by_character_reference(s in "\\PC*|[<>&\"'a é]{0,20}") {
            let escaped = Esc(&s).to_string();
            prop_assert_eq!(&escaped, &naive(&s));
            prop_assert!(!escaped.contains('<') && !escaped.contains('"'));
        }
    }

    #[test]
    fn day_numbers_match_the_calendar() {
        for (date, days) in [
            ("1970-01-01", 0),
            ("1969-12-31", -1),
            ("2000-02-29", 11_016),
            ("2000-03-01", 11_017),
            ("2024-02-29", 19_782),
            ("2026-11-22", 20_779),
        ] {
            assert_eq!(day_number(date), Some(days), "{date}");
        }
        assert_eq!(day_number("2026-1"), None);
        assert_eq!(day_number("not-a-date"), None);
    }
}
