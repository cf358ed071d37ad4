//! Renders a cobalt assessment for people: a terminal report (with optional colour) and
//! Markdown, conclusions first, then the findings with their rule ids and numbered citations,
//! and a reference list at the end. Also renders a rule's documentation for `cobalt explain`.
//! Pure: returns strings.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use cobalt_core::assessment::{Assessment, FindingOut, Route};
use cobalt_core::kb::{KnowledgeBase, Rule};
use std::fmt::Write;

mod html;
mod mcdonald;
pub mod patient;
mod references;

pub(crate) use html::Esc;
pub use html::{html, report_fragment, REPORT_CSS};

fn yn(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "not enough data",
    }
}

/// A concept or value id as words: `total_b12` → `total B12`.
fn words(s: &str) -> String {
    s.split('_')
        .map(|w| if w == "b12" { "B12" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

fn list_or(items: &[impl AsRef<str>], none: &str) -> String {
    if items.is_empty() {
        none.to_string()
    } else {
        items
            .iter()
            .map(|s| words(s.as_ref()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Concepts by their vocabulary labels (the names the page uses too), joined with semicolons
/// since labels may hold commas.
fn labels_or(a: &Assessment<'_>, ids: &[impl AsRef<str>], none: &str) -> String {
    if ids.is_empty() {
        return none.to_string();
    }
    ids.iter()
        .map(|id| a.label(id.as_ref()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The conclusions as label/value rows, shared by every format.
fn conclusion_rows(a: &Assessment<'_>) -> Vec<(&'static str, String)> {
    let c = &a.conclusions;
    let route = match c.treatment.route {
        Route::Undetermined => "undetermined".to_string(),
        r => words(r.as_str()),
    };
    let mut rows = vec![
        ("B12 status", words(c.b12_status.as_str())),
        (
            "Test indicated",
            if c.test_indicated {
                "yes".into()
            } else if a.fired("TEST-013") {
                "no NICE indication (no risk factor recorded), but B12 is ordered on clinical judgement for the signs (TEST-013)".into()
            } else if a.missing.iter().any(|m| m.conclusion == "test_indicated") {
                "not enough data (no symptoms or signs are recorded)".into()
            } else if c.b12_status != cobalt_core::assessment::B12Status::NotTested {
                "no: the case records no symptom with a risk factor and no MS work-up (NICE's reasons to offer a test); B12 was measured anyway".into()
            } else {
                "no: the case records no symptom with a risk factor and no MS work-up (NICE's reasons to offer a test)".into()
            },
        ),
        ("Next tests", labels_or(a, &c.next_tests, "none")),
        ("Likely causes", labels_or(a, &c.causes, "none recorded")),
        ("Picture", words(c.picture.as_str())),
        (
            "McDonald 2017",
            if !a.mcdonald_assessed() {
                "not assessed (no MS work-up or MRI in the case)".to_string()
            } else {
                format!(
                    "DIS: {}; DIT: {}; criteria met: {}",
                    yn(c.mcdonald_2017.dis),
                    yn(c.mcdonald_2017.dit),
                    yn(c.mcdonald_2017.met)
                )
            },
        ),
        ("McDonald 2024", mcdonald::line_2024(a)),
        (
            "Treatment",
            format!(
                "{route}{}",
                if c.treatment.urgent {
                    " — URGENT"
                } else {
                    ""
                }
            ),
        ),
        ("Referrals", labels_or(a, &c.referrals, "none")),
    ];
    // Screening flags matter to a population run; a one-patient report shows them only when set.
    if !a.screening.is_empty() {
        rows.push(("Screening", list_or(&a.screening, "")));
    }
    rows
}

/// A rule category as a heading: `differential` → `other explanations`.
fn category_title(category: &str) -> String {
    match category {
        "differential" => "other explanations".into(),
        other => other.replace('_', " "),
    }
}

/// A missing-data conclusion in words, such as `treatment.route` → `treatment route`.
fn conclusion_words(id: &str) -> String {
    match id {
        "b12_status" => "B12 status".into(),
        "test_indicated" => "whether a test is indicated".into(),
        "treatment.route" => "the route of treatment".into(),
        "management.diet_plan" => "the diet plan".into(),
        "picture" => "which picture the features favour".into(),
        "anaemia" => "anaemia".into(),
        "mcdonald_2017.dis" => "McDonald 2017: dissemination in space".into(),
        "mcdonald_2017.dit" => "McDonald 2017: dissemination in time".into(),
        "mcdonald_2017.met" => "McDonald 2017: whether the criteria are met".into(),
        "mcdonald_2024.regions" => "McDonald 2024: the regions".into(),
        "mcdonald_2024.met" => "McDonald 2024: whether the criteria are met".into(),
        other => words(&other.replace('.', ": ")),
    }
}

/// A result in its normalised unit, such as `<44.27 pmol/L`, when it is numeric.
fn normalised(l: &cobalt_core::assessment::NormalisedLab) -> Option<String> {
    let (v, u) = (l.value?, l.unit?);
    Some(format!(
        "{}{} {u}",
        l.comparator.unwrap_or(""),
        cobalt_core::units::display_number(v, 2)
    ))
}

struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    fn red(&self, s: &str) -> String {
        self.paint("1;31", s)
    }
}

/// The terminal report. `color` adds ANSI styles.
pub fn text(a: &Assessment<'_>, color: bool) -> String {
    let st = Style { on: color };
    let refs = references::References::new(a);
    let mut o = String::new();
    let id = a.id.as_deref().unwrap_or("(no id)");
    let _ = writeln!(
        o,
        "{}",
        st.bold(&format!("cobalt assessment — {id} — as of {}", a.as_of))
    );
    let _ = writeln!(o, "{}", st.dim(a.disclaimer));
    let _ = writeln!(o);
    let _ = writeln!(o, "{}", st.bold("CONCLUSIONS"));
    for (label, value) in conclusion_rows(a) {
        let value = if label == "Treatment" && a.conclusions.treatment.urgent {
            st.red(&value)
        } else {
            value
        };
        let _ = writeln!(o, "  {label:<15} {value}");
    }
    if let Some(r) = &a.management.regimen {
        let _ = writeln!(o);
        let _ = writeln!(o, "{}", st.bold("TREATMENT"));
        let _ = writeln!(
            o,
            "  {}: {}, then {} [{}]",
            r.product, r.initial, r.maintenance, r.rule
        );
        if let Some(alt) = &r.alternative {
            let _ = writeln!(o, "  Alternative: {alt}");
        }
    }
    if let Some(f) = &a.management.follow_up {
        let _ = writeln!(o, "  Follow-up: {f}");
    }
    for c in &a.management.cautions {
        let _ = writeln!(o, "  {} {c}", st.red("Caution:"));
    }
    if !a.missing.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "{}", st.bold("NOT ENOUGH DATA"));
        for m in &a.missing {
            let by = if m.supplied_by.is_empty() {
                String::new()
            } else {
                format!(" (would come from: {})", labels_or(a, &m.supplied_by, ""))
            };
            let _ = writeln!(
                o,
                "  - {}: {}{by}",
                capitalise(&conclusion_words(m.conclusion)),
                m.message
            );
        }
    }
    mcdonald::text(&mut o, a, &st.bold("McDONALD CRITERIA"));
    let _ = writeln!(o);
    let _ = writeln!(o, "{}", st.bold("FINDINGS"));
    let mut category = "";
    for f in &a.findings {
        if f.category != category {
            category = f.category;
            let _ = writeln!(o, "  {}", st.bold(&category_title(category).to_uppercase()));
        }
        let _ = writeln!(o, "  [{}] {}", st.bold(f.rule), f.message);
        if let Some(s) = &f.suggestion {
            let _ = writeln!(o, "      → {s}");
        }
        if let Some(u) = f.unverified {
            let _ = writeln!(o, "      unverified: {u}");
        }
        let _ = writeln!(
            o,
            "      {}",
            st.dim(&format!("sources: {}", refs.cites(f)))
        );
    }
    if !a.labs.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{}",
            st.bold("LABORATORY RESULTS (as reported; normalised in brackets)")
        );
        for l in &a.labs {
            // As reported, with the normalised value beside it when the unit differs.
            let norm = match normalised(l) {
                Some(n) if n != l.reported => format!("{} ({n})", l.reported),
                _ => l.reported.clone(),
            };
            let _ = writeln!(
                o,
                "  {:<26} {:<14} {:<30} {}{}",
                a.label(&l.test),
                l.date.as_deref().unwrap_or("undated"),
                norm,
                l.interpretation.map(words).unwrap_or_default(),
                if l.latest { "" } else { " (earlier)" }
            );
        }
    }
    if let Some(d) = &a.management.diet_plan {
        let _ = writeln!(o);
        let _ = writeln!(o, "{}", st.bold("DIET"));
        let _ = writeln!(
            o,
            "  {}: {} micrograms a day ({})",
            d.stage, d.intake_mcg_per_day, d.measure
        );
        for f in &d.foods {
            let _ = writeln!(
                o,
                "  - {} ({}): {} mcg, {}% of the day's need{}",
                f.name,
                f.serving,
                f.mcg,
                f.percent_of_intake,
                if f.caution.is_some() {
                    " (limit in pregnancy, below)"
                } else {
                    ""
                }
            );
        }
        for adv in &d.advice {
            let _ = writeln!(o, "  {adv}");
        }
    }
    if !a.unrecognised_codes.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "{}", st.bold("UNRECOGNISED CODES (not used)"));
        for c in &a.unrecognised_codes {
            let _ = writeln!(o, "  {} {}|{}", c.path, c.system, c.code);
        }
    }
    refs.text(&mut o, &st.bold("REFERENCES"));
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{}",
        st.dim(&format!(
            "{} {} · knowledge {} · profile {}",
            a.engine.name, a.engine.version, a.engine.knowledge_version, a.engine.profile
        ))
    );
    o
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The Markdown report.
pub fn markdown(a: &Assessment<'_>) -> String {
    let refs = references::References::new(a);
    let mut o = String::new();
    let id = a.id.as_deref().unwrap_or("(no id)");
    let _ = writeln!(o, "# cobalt assessment: {id}\n");
    let _ = writeln!(o, "As of {}. *{}*\n", a.as_of, a.disclaimer);
    let _ = writeln!(o, "## Conclusions\n");
    let _ = writeln!(o, "| | |\n|---|---|");
    for (label, value) in conclusion_rows(a) {
        let _ = writeln!(o, "| {label} | {} |", md_escape(&value));
    }
    let _ = writeln!(o);
    if let Some(r) = &a.management.regimen {
        let _ = writeln!(o, "## Treatment\n");
        let _ = writeln!(
            o,
            "- {}: {}, then {} (`{}`)",
            r.product, r.initial, r.maintenance, r.rule
        );
        if let Some(alt) = &r.alternative {
            let _ = writeln!(o, "- Alternative: {alt}");
        }
    }
    if let Some(f) = &a.management.follow_up {
        let _ = writeln!(o, "- Follow-up: {f}");
    }
    for c in &a.management.cautions {
        let _ = writeln!(o, "- **Caution:** {c}");
    }
    if a.management.regimen.is_some()
        || a.management.follow_up.is_some()
        || !a.management.cautions.is_empty()
    {
        let _ = writeln!(o);
    }
    if !a.missing.is_empty() {
        let _ = writeln!(o, "## Not enough data\n");
        for m in &a.missing {
            let by = if m.supplied_by.is_empty() {
                String::new()
            } else {
                format!(" Would come from: {}.", labels_or(a, &m.supplied_by, ""))
            };
            let _ = writeln!(
                o,
                "- **{}**: {}{by}",
                capitalise(&conclusion_words(m.conclusion)),
                m.message
            );
        }
        let _ = writeln!(o);
    }
    mcdonald::markdown(&mut o, a);
    let _ = writeln!(o, "## Findings\n");
    let mut category = "";
    for f in &a.findings {
        if f.category != category {
            category = f.category;
            let _ = writeln!(o, "### {}\n", capitalise(&category_title(category)));
        }
        let _ = writeln!(o, "- **{}** {}", f.rule, f.message);
        if let Some(s) = &f.suggestion {
            let _ = writeln!(o, "  - Consider: {s}");
        }
        if let Some(u) = f.unverified {
            let _ = writeln!(o, "  - *Unverified:* {u}");
        }
        let _ = writeln!(o, "  - Sources: {}", refs.cites(f));
    }
    let _ = writeln!(o);
    if !a.labs.is_empty() {
        let _ = writeln!(o, "## Laboratory results\n");
        let _ = writeln!(
            o,
            "| Test | Date | Reported | Normalised | Interpretation |\n|---|---|---|---|---|"
        );
        for l in &a.labs {
            let norm = normalised(l).unwrap_or_default();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {}{} |",
                a.label(&l.test),
                l.date.as_deref().unwrap_or("undated"),
                md_escape(&l.reported),
                md_escape(&norm),
                l.interpretation.map(words).unwrap_or_default(),
                if l.latest { "" } else { " (earlier)" }
            );
        }
        let _ = writeln!(o);
    }
    if let Some(d) = &a.management.diet_plan {
        let _ = writeln!(o, "## Diet\n");
        let _ = writeln!(
            o,
            "{}: {} micrograms a day ({}).\n",
            capitalise(d.stage),
            d.intake_mcg_per_day,
            d.measure
        );
        if !d.foods.is_empty() {
            let _ = writeln!(
                o,
                "| Food | Serving | B12 (mcg) | Share of the day's need |\n|---|---|---|---|"
            );
            for f in &d.foods {
                let _ = writeln!(
                    o,
                    "| {}{} | {} | {} | {}% |",
                    f.name,
                    if f.caution.is_some() {
                        " (limit in pregnancy)"
                    } else {
                        ""
                    },
                    f.serving,
                    f.mcg,
                    f.percent_of_intake
                );
            }
            let _ = writeln!(o);
        }
        for adv in &d.advice {
            let _ = writeln!(o, "- {adv}");
        }
        let _ = writeln!(o);
    }
    refs.markdown(&mut o);
    let _ = writeln!(
        o,
        "---\n{} {} · knowledge {} · profile {}",
        a.engine.name, a.engine.version, a.engine.knowledge_version, a.engine.profile
    );
    o
}

fn capitalise(s: &str) -> String {
    let s = s.replace("mcdonald", "McDonald").replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// A rule's documentation, for `cobalt explain`.
pub fn explain(kb: &KnowledgeBase, r: &Rule) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}: {}", r.id, r.title);
    let _ = writeln!(
        o,
        "category: {} · status: {:?} · since: {}\n",
        r.category, r.status, r.since
    );
    let mut section = |h: &str, body: &str| {
        let _ = writeln!(o, "## {h}\n{}\n", body.trim());
    };
    section("What it checks", &r.checks);
    section("Why it matters", &r.why);
    section("Inputs", &r.inputs);
    if let Some(t) = &r.thresholds {
        section("Thresholds", t);
    }
    section("Known limitations", &r.limitations);
    let _ = writeln!(o, "## References");
    for c in &r.sources {
        if let Some(refr) = kb.references.get(&c.key) {
            let at =
                c.at.as_deref()
                    .map(|a| format!(", {a}"))
                    .unwrap_or_default();
            let link = refr
                .link
                .as_deref()
                .map(|l| format!(" <{l}>"))
                .unwrap_or_default();
            let checked = if refr.checked == "primary" {
                ""
            } else {
                " [secondary source]"
            };
            let _ = writeln!(
                o,
                "- {}. {}{}{at}.{link}{checked}",
                refr.issuer,
                refr.title,
                refr.year.map(|y| format!(" ({y})")).unwrap_or_default()
            );
        }
    }
    if !r.tests.is_empty() {
        let _ = writeln!(o, "\n## Tests");
        for t in &r.tests {
            let _ = writeln!(
                o,
                "- {} {}",
                if t.fires { "fires:" } else { "does not fire:" },
                t.name
            );
        }
    }
    o
}
