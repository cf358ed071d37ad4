//! The compact result: one row per patient, the same columns in NDJSON, CSV and Parquet.
//!
//! A screening run needs the conclusions, the flags and why, not the prose of the full
//! assessment (`--detail full` writes that). The columns are documented in the README; their
//! types are fixed (lists are lists, McDonald values are nullable booleans, dates are dates),
//! so that readers need not guess them.

use cobalt_core::assessment::Assessment;
use cobalt_core::Case;
use serde::{Deserialize, Serialize};

/// One patient's compact result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The patient id.
    pub id: String,
    /// The day assessed, `YYYY-MM-DD`.
    pub as_of: String,
    /// Knowledge-base version.
    pub knowledge_version: String,
    /// Threshold profile.
    pub profile: String,
    /// `conclusions.b12_status`.
    pub b12_status: String,
    /// `conclusions.picture`.
    pub picture: String,
    /// `conclusions.test_indicated`.
    pub test_indicated: bool,
    /// `conclusions.next_tests`.
    pub next_tests: Vec<String>,
    /// `conclusions.causes`.
    pub causes: Vec<String>,
    /// `conclusions.treatment.route`.
    pub route: String,
    /// `conclusions.treatment.urgent`.
    pub urgent: bool,
    /// `conclusions.referrals`.
    pub referrals: Vec<String>,
    /// `conclusions.mcdonald_2017.dis` (null: not enough data).
    pub mcdonald_2017_dis: Option<bool>,
    /// `conclusions.mcdonald_2017.dit`.
    pub mcdonald_2017_dit: Option<bool>,
    /// `conclusions.mcdonald_2017.met`.
    pub mcdonald_2017_met: Option<bool>,
    /// Screening flags (rules SCR-*).
    pub flags: Vec<String>,
    /// Every rule that fired, in report order.
    pub rules: Vec<String>,
    /// The test of the latest B12 result: `total_b12`, else `active_b12` (null: none).
    pub b12_test: Option<String>,
    /// Its value as reported.
    pub b12_value: Option<f64>,
    /// Its comparator (`<`, `<=`, `>=`, `>`) when censored.
    pub b12_comparator: Option<String>,
    /// Its unit as reported (UCUM).
    pub b12_unit: Option<String>,
    /// Its date, `YYYY-MM-DD`.
    pub b12_date: Option<String>,
    /// Lines of this patient that were refused (error records): a patient whose B12 line was
    /// refused must not read as an ordinary "not tested".
    pub refused_lines: u32,
    /// `conclusions.mcdonald_2024.regions` (null: no imaging or optic nerve data).
    pub mcdonald_2024_regions: Option<u8>,
    /// `conclusions.mcdonald_2024.dis`.
    pub mcdonald_2024_dis: Option<bool>,
    /// `conclusions.mcdonald_2024.dit`.
    pub mcdonald_2024_dit: Option<bool>,
    /// `conclusions.mcdonald_2024.csf_positive`.
    pub mcdonald_2024_csf_positive: Option<bool>,
    /// `conclusions.mcdonald_2024.cvs_select6`.
    pub mcdonald_2024_cvs_select6: Option<bool>,
    /// `conclusions.mcdonald_2024.met`.
    pub mcdonald_2024_met: Option<bool>,
    /// Resources of the patient that were read but not used (their kinds are counted in the
    /// summary's `skipped_resources_by_kind`).
    pub skipped_resources: u32,
}

/// The CSV header: the columns in order.
pub const COLUMNS: [&str; 30] = [
    "id",
    "as_of",
    "knowledge_version",
    "profile",
    "b12_status",
    "picture",
    "test_indicated",
    "next_tests",
    "causes",
    "route",
    "urgent",
    "referrals",
    "mcdonald_2017_dis",
    "mcdonald_2017_dit",
    "mcdonald_2017_met",
    "flags",
    "rules",
    "b12_test",
    "b12_value",
    "b12_comparator",
    "b12_unit",
    "b12_date",
    "refused_lines",
    "mcdonald_2024_regions",
    "mcdonald_2024_dis",
    "mcdonald_2024_dit",
    "mcdonald_2024_csf_positive",
    "mcdonald_2024_cvs_select6",
    "mcdonald_2024_met",
    "skipped_resources",
];

impl Row {
    /// The row of one assessment.
    pub fn new(
        id: &str,
        case: &Case,
        a: &Assessment<'_>,
        as_of: time::Date,
        refused: u32,
        skipped: u32,
    ) -> Row {
        let c = &a.conclusions;
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut rules: Vec<String> = Vec::new();
        for f in &a.findings {
            if !rules.iter().any(|r| r == f.rule) {
                rules.push(f.rule.to_string());
            }
        }
        let latest = ["total_b12", "active_b12"]
            .into_iter()
            .find_map(|t| case.latest_lab(t, as_of));
        let (value, comparator, unit) = match latest.map(|l| &l.value) {
            Some(cobalt_core::case::LabValue::Numeric(q)) => (
                Some(q.value),
                q.comparator.map(|c| c.symbol().to_string()),
                Some(q.unit.ucum().to_string()),
            ),
            _ => (None, None, None),
        };
        Row {
            id: id.to_string(),
            as_of: a.as_of.clone(),
            knowledge_version: a.engine.knowledge_version.to_string(),
            profile: a.engine.profile.to_string(),
            b12_status: c.b12_status.as_str().into(),
            picture: c.picture.as_str().into(),
            test_indicated: c.test_indicated,
            next_tests: strings(&c.next_tests),
            causes: c.causes.clone(),
            route: c.treatment.route.as_str().into(),
            urgent: c.treatment.urgent,
            referrals: strings(&c.referrals),
            mcdonald_2017_dis: c.mcdonald_2017.dis,
            mcdonald_2017_dit: c.mcdonald_2017.dit,
            mcdonald_2017_met: c.mcdonald_2017.met,
            flags: strings(&a.screening),
            rules,
            b12_test: latest.map(|l| l.test.clone()),
            b12_value: value,
            b12_comparator: comparator,
            b12_unit: unit,
            b12_date: latest.and_then(|l| l.date).map(cobalt_fhir::dates::format),
            refused_lines: refused,
            mcdonald_2024_regions: c.mcdonald_2024.regions,
            mcdonald_2024_dis: c.mcdonald_2024.dis,
            mcdonald_2024_dit: c.mcdonald_2024.dit,
            mcdonald_2024_csf_positive: c.mcdonald_2024.csf_positive,
            mcdonald_2024_cvs_select6: c.mcdonald_2024.cvs_select6,
            mcdonald_2024_met: c.mcdonald_2024.met,
            skipped_resources: skipped,
        }
    }

    /// The row as one CSV record (lists joined with `;`, null as empty), without a line end. A
    /// text cell that a spreadsheet would run as a formula is neutralised ([`csv_text`]).
    pub fn csv(&self) -> String {
        let b = |v: bool| if v { "true" } else { "false" }.to_string();
        let ob = |v: Option<bool>| v.map_or(String::new(), b);
        let os = |v: &Option<String>| v.clone().unwrap_or_default();
        let list = |v: &[String]| v.join(";");
        [
            self.id.clone(),
            self.as_of.clone(),
            self.knowledge_version.clone(),
            self.profile.clone(),
            self.b12_status.clone(),
            self.picture.clone(),
            b(self.test_indicated),
            list(&self.next_tests),
            list(&self.causes),
            self.route.clone(),
            b(self.urgent),
            list(&self.referrals),
            ob(self.mcdonald_2017_dis),
            ob(self.mcdonald_2017_dit),
            ob(self.mcdonald_2017_met),
            list(&self.flags),
            list(&self.rules),
            os(&self.b12_test),
            self.b12_value.map_or(String::new(), |v| v.to_string()),
            os(&self.b12_comparator),
            os(&self.b12_unit),
            os(&self.b12_date),
            self.refused_lines.to_string(),
            self.mcdonald_2024_regions
                .map_or(String::new(), |n| n.to_string()),
            ob(self.mcdonald_2024_dis),
            ob(self.mcdonald_2024_dit),
            ob(self.mcdonald_2024_csf_positive),
            ob(self.mcdonald_2024_cvs_select6),
            ob(self.mcdonald_2024_met),
            self.skipped_resources.to_string(),
        ]
        .iter()
        .zip(COLUMNS)
        .map(|(f, column)| {
            if NUMERIC.contains(&column) {
                csv_field(f)
            } else {
                csv_field(&csv_text(f))
            }
        })
        .collect::<Vec<_>>()
        .join(",")
    }
}

/// The columns that hold numbers: written as they are.
const NUMERIC: [&str; 4] = [
    "b12_value",
    "refused_lines",
    "mcdonald_2024_regions",
    "skipped_resources",
];

/// A text cell as a spreadsheet may safely open it: one that starts with `=`, `+`, `-`, `@`, a
/// tab or a carriage return would be run as a formula (CSV injection), so it gets a leading `'`,
/// as OWASP advises. The patient id comes from the export and may be anything; the other text
/// columns hold cobalt's own values, never so written.
pub fn csv_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line end (RFC 4180).
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
