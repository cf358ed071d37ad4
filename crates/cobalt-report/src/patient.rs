//! The report for the patient, in plain language.
//!
//! Knowledge as data: every sentence comes from `knowledge/plain.toml` (embedded, parsed once);
//! this module only chooses the sentences that apply to an assessment, in a fixed order of
//! sections, and fills in values from the assessment. No doses, thresholds or codes appear:
//! the only numbers are the ones the assessment carries with a citation (the recommended daily
//! intake, the vitamin B12 in a serving of food and the follow-up interval).

use crate::Esc;

mod by_rule;
mod coverage;
use cobalt_core::assessment::{Assessment, B12Status, Picture, Route};
use cobalt_core::units::display_number;
pub use coverage::coverage_problems;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::OnceLock;

/// One section of the patient view: a heading, paragraphs, then a list of items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainSection {
    /// Stable id: `about`, `results`, `causes`, `others`, `ms`, `now`, `next`, `treatment`,
    /// `food` or `missing`.
    pub id: &'static str,
    /// The heading.
    pub heading: String,
    /// Paragraphs, in order.
    pub paragraphs: Vec<String>,
    /// List items, shown after the paragraphs.
    pub items: Vec<String>,
}

// --- The wording table (knowledge/plain.toml) ------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wording {
    title: String,
    months: Vec<String>,
    about: About,
    results: Results,
    causes: Causes,
    ms: Ms,
    next: Next,
    tests: BTreeMap<String, Test>,
    food: Food,
    missing: MissingWording,
    /// Sections whose sentences come from the rules that fired.
    rule_sections: Vec<by_rule::RuleSection>,
    /// Where the patient view carries each rule that it does not read by id.
    coverage: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct About {
    heading: String,
    paragraphs: Vec<String>,
    date: String,
    reference: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Results {
    heading: String,
    indicated_untested: String,
    judgement_untested: String,
    indicated_tested: String,
    not_indicated: String,
    results_intro: String,
    result: String,
    status: BTreeMap<String, String>,
    meaning: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Causes {
    heading: String,
    intro: String,
    not_low: String,
    medicine: String,
    concepts: BTreeMap<String, Cause>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cause {
    text: String,
    #[serde(default)]
    medicine: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ms {
    heading: String,
    paragraphs: Vec<String>,
    criteria_met: String,
    criteria_not_met: String,
    criteria_open: String,
    b12_first: String,
    b12_treat_first: String,
    evidence: String,
    both: String,
    criteria_2024_met: String,
    criteria_2024_not_met: String,
    criteria_2024_open: String,
    versions_differ: String,
    picture: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Next {
    heading: String,
    started_early: String,
    treatment_started: String,
    no_delay: String,
    urgent: String,
    dose: String,
    stop_nitrous_oxide: String,
    anaesthetic: String,
    referral: String,
    follow_up: String,
    no_retest: String,
    follow_up_generic: String,
    folic_acid: String,
    tests_intro: String,
    test: String,
    route: BTreeMap<String, String>,
    referrals: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Test {
    name: String,
    what: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Food {
    heading: String,
    intake: String,
    animal_foods: String,
    fortified: String,
    older: String,
    food_alone: String,
    foods_intro: String,
    food: String,
    food_limited: String,
    pregnancy: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MissingWording {
    heading: String,
    intro: String,
    conclusions: BTreeMap<String, String>,
}

/// The wording, parsed once. The file is embedded and checked by this crate's tests, so a
/// failure here is a build defect, not a runtime condition.
fn wording() -> &'static Wording {
    static WORDING: OnceLock<Wording> = OnceLock::new();
    WORDING.get_or_init(|| {
        toml::from_str(include_str!("../../../knowledge/plain.toml"))
            .unwrap_or_else(|e| panic!("knowledge/plain.toml: {e}"))
    })
}

// --- Rules whose firing adds a sentence ------------------------------------------------------

/// Rule ids this module reads with `Assessment::fired`; a unit test checks each is a builtin.
pub const RULES_READ: &[&str] = &[
    TX_NITROUS_OXIDE,
    TX_FOLIC_ACID,
    TX_NO_DELAY,
    TX_STARTED,
    MCD_B12_FIRST,
    MCD_B12_FIRST_2024,
    TEST_JUDGEMENT,
    TX_START_EARLY,
    EVID_B12_IN_MS,
    EVID_COEXIST,
    DIET_PLANT_BASED,
    DIET_OLDER,
    DIET_PREGNANCY,
];

/// Nitrous oxide: stop it (recreational) or avoid it as an anaesthetic.
const TX_NITROUS_OXIDE: &str = "TX-005";
/// Folic acid only after B12.
const TX_FOLIC_ACID: &str = "TX-012";
/// Indeterminate B12 with neurological signs: do not delay treatment.
const TX_NO_DELAY: &str = "TX-014";
/// B12 replacement already started.
const TX_STARTED: &str = "TX-015";
/// Pregnant or breastfeeding on a plant-based diet: start B12 before the result (its sentences
/// are a rule section; the route sentence is reworded).
const TX_START_EARLY: &str = "TX-018";
/// McDonald: B12 deficiency not excluded (or shown).
const MCD_B12_FIRST: &str = "MCD-008";
const TEST_JUDGEMENT: &str = "TEST-013";
const MCD_B12_FIRST_2024: &str = "MCD-018";
/// What the evidence says about B12 in MS (fires when MS is in question).
const EVID_B12_IN_MS: &str = "EVID-001";
/// MS and B12 deficiency can coexist.
const EVID_COEXIST: &str = "EVID-002";
/// Plant-based diets need fortified foods or a supplement.
const DIET_PLANT_BASED: &str = "DIET-003";
/// Older people absorb less food-bound B12.
const DIET_OLDER: &str = "DIET-004";
const DIET_PREGNANCY: &str = "DIET-005";

// --- Assembly --------------------------------------------------------------------------------

/// Replaces each `{key}` in a template by its value.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut s = template.to_string();
    for (k, v) in values {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// `2026-03-01` as `1 March 2026`; anything else as given.
fn long_date(w: &Wording, iso: &str) -> String {
    let parts: Vec<&str> = iso.split('-').collect();
    if let [y, m, d] = parts[..] {
        if let (Ok(m), Ok(d)) = (m.parse::<usize>(), d.parse::<u32>()) {
            if let Some(month) = m.checked_sub(1).and_then(|i| w.months.get(i)) {
                if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) && (1..=31).contains(&d) {
                    return format!("{d} {month} {y}");
                }
            }
        }
    }
    iso.to_string()
}

fn section(
    id: &'static str,
    heading: &str,
    paragraphs: Vec<String>,
    items: Vec<String>,
) -> Option<PlainSection> {
    (!paragraphs.is_empty() || !items.is_empty()).then(|| PlainSection {
        id,
        heading: heading.to_string(),
        paragraphs,
        items,
    })
}

fn about(w: &Wording, a: &Assessment<'_>) -> PlainSection {
    let mut p = w.about.paragraphs.clone();
    p.push(fill(&w.about.date, &[("date", &long_date(w, &a.as_of))]));
    if let Some(id) = a.id.as_deref().filter(|id| !id.trim().is_empty()) {
        p.push(fill(&w.about.reference, &[("id", id)]));
    }
    PlainSection {
        id: "about",
        heading: w.about.heading.clone(),
        paragraphs: p,
        items: Vec::new(),
    }
}

fn results(w: &Wording, a: &Assessment<'_>) -> Option<PlainSection> {
    let c = &a.conclusions;
    let r = &w.results;
    let mut p = Vec::new();
    p.extend(r.status.get(c.b12_status.as_str()).cloned());
    let untested = c.b12_status == B12Status::NotTested;
    match (c.test_indicated, untested) {
        (true, true) => p.push(r.indicated_untested.clone()),
        (true, false) => p.push(r.indicated_tested.clone()),
        (false, true) if a.fired(TEST_JUDGEMENT) => p.push(r.judgement_untested.clone()),
        (false, true) => p.push(r.not_indicated.clone()),
        (false, false) => {}
    }
    let items: Vec<String> = a
        .labs
        .iter()
        .filter(|l| l.latest)
        .filter_map(|l| {
            let test = w.tests.get(&l.test)?;
            let meaning = r.meaning.get(l.interpretation?)?;
            Some(fill(
                &r.result,
                &[("test", &test.name), ("meaning", meaning)],
            ))
        })
        .collect();
    if !items.is_empty() {
        p.push(r.results_intro.clone());
    }
    section("results", &r.heading, p, items)
}

fn causes(w: &Wording, a: &Assessment<'_>) -> Option<PlainSection> {
    let known: Vec<&Cause> = a
        .conclusions
        .causes
        .iter()
        .filter_map(|c| w.causes.concepts.get(c))
        .collect();
    if known.is_empty() {
        return None;
    }
    let mut p = vec![w.causes.intro.clone()];
    if a.conclusions.b12_status == B12Status::NotDeficient {
        p.push(w.causes.not_low.clone());
    }
    if known.iter().any(|c| c.medicine) {
        p.push(w.causes.medicine.clone());
    }
    let items = known.iter().map(|c| c.text.clone()).collect();
    section("causes", &w.causes.heading, p, items)
}

fn ms(w: &Wording, a: &Assessment<'_>) -> Option<PlainSection> {
    let c = &a.conclusions;
    // MS is in question when the picture favours it (or is mixed) or a demyelinating disease is
    // being considered (EVID-001 fires for both). An MRI alone makes the criteria assessed: the
    // section then says which picture the features favour, without the criteria.
    let in_question =
        matches!(c.picture, Picture::MultipleSclerosis | Picture::Mixed) || a.fired(EVID_B12_IN_MS);
    if !in_question && !a.mcdonald_assessed() {
        return None;
    }
    let m = &w.ms;
    // What the reader's own features favour comes first, the background after it.
    let mut p: Vec<String> = m
        .picture
        .get(c.picture.as_str())
        .cloned()
        .into_iter()
        .collect();
    p.extend(m.paragraphs.iter().cloned());
    if a.mcdonald_assessed() && (in_question || c.mcdonald_2017.met.is_some()) {
        match c.mcdonald_2017.met {
            Some(true) => p.push(m.criteria_met.clone()),
            Some(false) => p.push(m.criteria_not_met.clone()),
            None => {
                p.push(m.criteria_open.clone());
                if a.fired(MCD_B12_FIRST) {
                    p.push(if c.b12_status.shown() {
                        m.b12_treat_first.clone()
                    } else {
                        m.b12_first.clone()
                    });
                }
            }
        }
    }
    let m24 = c.mcdonald_2024.met;
    if a.mcdonald_2024_assessed() && (in_question || m24.is_some()) {
        let m17 = c.mcdonald_2017.met;
        match m24 {
            Some(true) => p.push(m.criteria_2024_met.clone()),
            Some(false) => p.push(m.criteria_2024_not_met.clone()),
            // Both open: the 2017 sentences already say so.
            None if a.mcdonald_assessed() && m17.is_none() => {}
            None if a.mcdonald_assessed() => p.push(m.criteria_2024_open.clone()),
            None => {
                p.push(m.criteria_open.clone());
                if a.fired(MCD_B12_FIRST_2024) && !a.fired(MCD_B12_FIRST) {
                    p.push(if c.b12_status.shown() {
                        m.b12_treat_first.clone()
                    } else {
                        m.b12_first.clone()
                    });
                }
            }
        }
        if m17.is_some() && m24.is_some() && m17 != m24 {
            p.push(m.versions_differ.clone());
        }
    }
    if a.fired(EVID_B12_IN_MS) {
        p.push(m.evidence.clone());
    }
    if a.fired(EVID_COEXIST) {
        p.push(m.both.clone());
    }
    section("ms", &m.heading, p, Vec::new())
}

fn next(w: &Wording, a: &Assessment<'_>) -> Option<PlainSection> {
    let c = &a.conclusions;
    let n = &w.next;
    let mut p = Vec::new();
    let started = a.fired(TX_STARTED);
    if started {
        p.push(n.treatment_started.clone());
    }
    if c.treatment.route == Route::Undetermined && a.fired(TX_START_EARLY) {
        p.push(n.started_early.clone());
    } else if !(started && c.treatment.route == Route::Undetermined) {
        p.extend(n.route.get(c.treatment.route.as_str()).cloned());
    }
    if a.fired(TX_NO_DELAY) {
        p.push(n.no_delay.clone());
    }
    if c.treatment.urgent {
        p.push(n.urgent.clone());
    }
    if matches!(c.treatment.route, Route::Intramuscular | Route::Oral) {
        p.push(n.dose.clone());
    }
    if a.fired(TX_NITROUS_OXIDE) {
        let has = |id: &str| c.causes.iter().any(|x| x == id);
        if has("nitrous_oxide_recreational") {
            p.push(n.stop_nitrous_oxide.clone());
        } else if has("nitrous_oxide_anaesthesia") {
            p.push(n.anaesthetic.clone());
        }
    }
    for r in &c.referrals {
        if let Some(name) = n.referrals.get(*r) {
            p.push(fill(&n.referral, &[("name", name)]));
        }
    }
    match (a.management.follow_up_months, &a.management.follow_up) {
        (Some(months), _) => {
            let when = format!(
                "{} month{}",
                display_number(months, 0),
                if months == 1.0 { "" } else { "s" }
            );
            p.push(fill(&n.follow_up, &[("when", &when)]));
            p.push(n.no_retest.clone());
        }
        (None, Some(_)) => p.push(n.follow_up_generic.clone()),
        (None, None) => {}
    }
    if a.fired(TX_FOLIC_ACID) {
        p.push(n.folic_acid.clone());
    }
    let items: Vec<String> = c
        .next_tests
        .iter()
        .filter_map(|t| w.tests.get(*t))
        .map(|t| fill(&n.test, &[("name", &t.name), ("what", &t.what)]))
        .collect();
    if !items.is_empty() {
        p.push(n.tests_intro.clone());
    }
    section("next", &n.heading, p, items)
}

fn food(w: &Wording, a: &Assessment<'_>) -> Option<PlainSection> {
    let d = a.management.diet_plan.as_ref()?;
    let f = &w.food;
    let mut p = vec![fill(
        &f.intake,
        &[
            ("stage", d.stage),
            ("mcg", &display_number(d.intake_mcg_per_day, 1)),
        ],
    )];
    if a.fired(DIET_PLANT_BASED) {
        p.push(f.animal_foods.clone());
        p.push(f.fortified.clone());
    }
    if a.fired(DIET_OLDER) {
        p.push(f.older.clone());
    }
    if a.conclusions.b12_status.shown() {
        p.push(f.food_alone.clone());
    }
    if a.fired(DIET_PREGNANCY) {
        p.push(f.pregnancy.clone());
        // The reasons are written for a person to read (knowledge/diet.toml, [[pregnancy]]).
        p.extend(d.pregnancy.iter().map(|s| s.to_string()));
    }
    let items: Vec<String> = d
        .foods
        .iter()
        .map(|x| {
            let mcg = display_number(x.mcg, 1);
            let template = if x.caution.is_some() {
                &f.food_limited
            } else {
                &f.food
            };
            fill(
                template,
                &[("name", x.name), ("serving", x.serving), ("mcg", &mcg)],
            )
        })
        .collect();
    if !items.is_empty() {
        p.push(f.foods_intro.clone());
    }
    section("food", &f.heading, p, items)
}

fn missing(w: &Wording, a: &Assessment<'_>) -> Option<PlainSection> {
    let mut seen: Vec<&str> = Vec::new();
    let mut items = Vec::new();
    for m in &a.missing {
        if seen.contains(&m.conclusion) {
            continue;
        }
        seen.push(m.conclusion);
        items.extend(w.missing.conclusions.get(m.conclusion).cloned());
    }
    if items.is_empty() {
        return None;
    }
    section(
        "missing",
        &w.missing.heading,
        vec![w.missing.intro.clone()],
        items,
    )
}

/// The patient view's sections, in order: `about` (always), `results`, `causes`, `others`, `ms`,
/// `now`, `next`, `treatment`, `food`, `missing`; a section with nothing to say is left out.
pub fn sections(a: &Assessment<'_>) -> Vec<PlainSection> {
    let w = wording();
    let mut out = vec![about(w, a)];
    out.extend(results(w, a));
    out.extend(causes(w, a));
    out.extend(by_rule::rule_section(w, a, "others"));
    out.extend(ms(w, a));
    out.extend(by_rule::rule_section(w, a, "now"));
    out.extend(next(w, a));
    out.extend(by_rule::rule_section(w, a, "treatment"));
    out.extend(food(w, a));
    out.extend(missing(w, a));
    out
}

/// The patient view as an HTML fragment (a `<section id="patient-view">`, no scripts, every
/// piece of text escaped), to embed in a page.
pub fn html(a: &Assessment<'_>) -> String {
    let w = wording();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<section id=\"patient-view\" class=\"patient\" aria-labelledby=\"patient-title\">\n<h2 id=\"patient-title\">{}</h2>",
        Esc(&w.title)
    );
    for s in sections(a) {
        let _ = writeln!(
            o,
            "<section id=\"patient-{id}\" aria-labelledby=\"patient-{id}-heading\">\n<h3 id=\"patient-{id}-heading\">{}</h3>",
            Esc(&s.heading),
            id = s.id
        );
        for p in &s.paragraphs {
            let _ = writeln!(o, "<p>{}</p>", Esc(p));
        }
        if !s.items.is_empty() {
            let _ = writeln!(o, "<ul>");
            for i in &s.items {
                let _ = writeln!(o, "<li>{}</li>", Esc(i));
            }
            let _ = writeln!(o, "</ul>");
        }
        let _ = writeln!(o, "</section>");
    }
    let _ = writeln!(o, "</section>");
    o
}

/// The patient view as plain text, for `cobalt assess --format patient`.
pub fn text(a: &Assessment<'_>) -> String {
    let w = wording();
    let mut o = String::new();
    let underline = |s: &str, c: char| c.to_string().repeat(s.chars().count());
    let _ = writeln!(o, "{}\n{}", w.title, underline(&w.title, '='));
    for s in sections(a) {
        let _ = writeln!(o);
        let _ = writeln!(o, "{}\n{}", s.heading, underline(&s.heading, '-'));
        for p in &s.paragraphs {
            let _ = writeln!(o, "{p}");
        }
        for i in &s.items {
            let _ = writeln!(o, "- {i}");
        }
    }
    o
}

#[cfg(test)]
mod tests;
