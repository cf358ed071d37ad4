//! The evaluator: `evaluate(kb, profile, case, as_of) -> Assessment`.
//!
//! Each step of the pathway is a module; each rule is a builtin with the id of a documented rule
//! in the knowledge base (see [`BUILTINS`]). A step reads the case and the facts earlier steps
//! found, fires findings through [`Ctx::fire`], and records missing data through
//! [`Ctx::missing`]. Evaluation never fails on patient data.

/// A message, formatted only when the assessment carries messages ([`Detail::Full`]); an empty
/// string (no allocation) otherwise.
/// The value of a rule parameter of [`BUILTIN_PARAMS`], found by its position at compile time:
/// a parameter missing from the list is a compile error, and a lookup is an array index.
macro_rules! param {
    ($ctx:expr, $rule:literal, $name:literal) => {{
        const I: usize = $crate::eval::param_index($rule, $name);
        $ctx.kb.param_at(I)
    }};
}

macro_rules! msg {
    ($ctx:expr, $($arg:tt)*) => {
        if $ctx.detail {
            format!($($arg)*)
        } else {
            String::new()
        }
    };
}

mod causes;
mod choice;
mod differential;
mod facts;
mod lab_values;
mod labs;
mod management;
mod mcdonald;
mod mcdonald2024;
mod medicine;
mod normalise;
mod picture;
pub mod screening;
mod status;
mod testing;

use crate::assessment::*;
use crate::case::Case;
use crate::kb::{KnowledgeBase, Profile};
use time::Date;

pub use facts::Facts;

/// Every rule id the evaluator implements. The knowledge-base linter checks that each has a
/// documented rule, and that each active rule has a builtin; a tidy test checks that every id
/// used in the evaluator's sources is listed here.
pub const BUILTINS: &[&str] = &[
    // testing
    "TEST-001",
    "TEST-002",
    "TEST-003",
    "TEST-004",
    "TEST-005",
    "TEST-006",
    "TEST-007",
    "TEST-008",
    "TEST-009",
    "TEST-010",
    "TEST-011",
    "TEST-012",
    "TEST-013",
    "TEST-014",
    // interpretation
    "LAB-001",
    "LAB-002",
    "LAB-003",
    "LAB-004",
    "LAB-005",
    "LAB-006",
    "LAB-007",
    "LAB-008",
    "LAB-009",
    "LAB-010",
    "LAB-011",
    "LAB-012",
    "LAB-013",
    "LAB-014",
    "LAB-015",
    "LAB-016",
    "LAB-017",
    "LAB-018",
    "LAB-019",
    "LAB-020",
    "LAB-021",
    // causes
    "CAUSE-001",
    "CAUSE-002",
    "CAUSE-003",
    "CAUSE-004",
    "CAUSE-005",
    "CAUSE-006",
    "CAUSE-007",
    "CAUSE-008",
    "CAUSE-009",
    "CAUSE-010",
    "CAUSE-011",
    "CAUSE-012",
    "CAUSE-013",
    "CAUSE-014",
    "CAUSE-015",
    "CAUSE-016",
    "CAUSE-017",
    "CAUSE-018",
    "CAUSE-019",
    "CAUSE-020",
    "CAUSE-021",
    "CAUSE-022",
    "CAUSE-023",
    "CAUSE-024",
    "CAUSE-025",
    "CAUSE-026",
    "CAUSE-027",
    "CAUSE-028",
    // picture
    "PIC-001",
    "PIC-002",
    "PIC-003",
    "PIC-004",
    "PIC-005",
    "PIC-006",
    "PIC-007",
    "PIC-008",
    "PIC-009",
    "PIC-010",
    "PIC-011",
    "PIC-012",
    "PIC-013",
    "PIC-014",
    "PIC-015",
    "PIC-016",
    "PIC-017",
    "PIC-018",
    "PIC-019",
    "PIC-020",
    "PIC-021",
    "PIC-022",
    "PIC-023",
    "PIC-024",
    // other explanations
    "DIFF-001",
    "DIFF-002",
    "DIFF-003",
    "DIFF-004",
    "DIFF-005",
    "DIFF-006",
    // McDonald 2017
    "MCD-001",
    "MCD-002",
    "MCD-003",
    "MCD-004",
    "MCD-005",
    "MCD-006",
    "MCD-007",
    "MCD-008",
    "MCD-009",
    // McDonald 2024
    "MCD-010",
    "MCD-011",
    "MCD-012",
    "MCD-013",
    "MCD-014",
    "MCD-015",
    "MCD-016",
    "MCD-017",
    "MCD-018",
    "MCD-019",
    // management
    "TX-001",
    "TX-002",
    "TX-003",
    "TX-004",
    "TX-005",
    "TX-006",
    "TX-007",
    "TX-008",
    "TX-009",
    "TX-010",
    "TX-011",
    "TX-012",
    "TX-013",
    "TX-014",
    "TX-015",
    "TX-016",
    "TX-017",
    "TX-018",
    "TX-019",
    "TX-020",
    "TX-021",
    // diet
    "DIET-001",
    "DIET-002",
    "DIET-003",
    "DIET-004",
    "DIET-005",
    // evidence
    "EVID-001",
    "EVID-002",
    // screening
    "SCR-001",
    "SCR-002",
    "SCR-003",
    "SCR-004",
];

/// The position of a parameter in [`BUILTIN_PARAMS`]; evaluated at compile time by `param!`,
/// where a parameter missing from the list fails the build.
pub(crate) const fn param_index(rule: &str, name: &str) -> usize {
    const fn eq(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
    let mut i = 0;
    while i < BUILTIN_PARAMS.len() {
        if eq(BUILTIN_PARAMS[i].0, rule) && eq(BUILTIN_PARAMS[i].1, name) {
            return i;
        }
        i += 1;
    }
    panic!("not a builtin parameter")
}

/// The numeric parameters the evaluator reads from rules' `params` tables, as (rule, name).
/// The linter checks that each exists, and that no rule carries a parameter nothing reads.
pub const BUILTIN_PARAMS: &[(&str, &str)] = &[
    ("TEST-011", "min_age_years"),
    ("PIC-006", "min_age_years"),
    ("PIC-007", "min_age_years"),
    ("PIC-007", "max_age_years"),
    ("PIC-012", "min_segments"),
    ("PIC-013", "max_segments"),
    ("PIC-021", "mixed_if_other_side_scores"),
    ("PIC-021", "min_score"),
    ("PIC-021", "min_lead"),
    ("PIC-023", "max_progression_weeks"),
    ("PIC-023", "recovery_by_weeks"),
    ("CAUSE-028", "stopped_more_than_months"),
    ("DIFF-006", "min_months_on_replacement"),
    ("MCD-007", "min_progression_months"),
    ("MCD-011", "prnfl_min_um"),
    ("MCD-011", "gcipl_min_um"),
    ("MCD-014", "min_positive_lesions"),
    ("MCD-014", "few_lesions_below"),
    ("MCD-017", "min_age_years"),
    ("MCD-019", "min_progression_months"),
    ("TX-013", "review_months"),
    ("TX-013", "review_months_pregnant_or_breastfeeding"),
    ("DIET-004", "older_than_years"),
    ("SCR-001", "lookback_months"),
    ("SCR-004", "lookback_months"),
];

/// The treatment rules whose `regimen` table the evaluator reads.
pub const BUILTIN_REGIMENS: &[&str] = &["TX-001", "TX-002", "TX-003", "TX-004"];

/// Engine version.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

pub(crate) struct Fired<'kb> {
    rule: &'kb str,
    message: String,
    suggestion: Option<String>,
}

/// How much an evaluation writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    /// Everything: findings with their messages and suggestions, missing data, normalised
    /// results, the management plan with diet and evidence.
    #[default]
    Full,
    /// The conclusions, the screening flags and the rules that fired (findings without
    /// messages); no missing-data notes, normalised results or diet plan. For population
    /// screening, where nobody reads the prose.
    Conclusions,
}

/// Evaluation context: the inputs, and what the steps have found so far.
pub(crate) struct Ctx<'kb, 'c> {
    /// Whether messages are written ([`Detail::Full`]).
    pub detail: bool,
    pub kb: &'kb KnowledgeBase,
    pub profile: &'kb Profile,
    pub case: &'c Case,
    pub as_of: Date,
    fired: Vec<Fired<'kb>>,
    missing: Vec<Missing>,
    /// The finding groups of each of the case's findings, as bits ([`KnowledgeBase::groups_of`]).
    groups: Vec<u32>,
}

impl<'kb, 'c> Ctx<'kb, 'c> {
    /// The case's findings in a finding group, in the case's order.
    pub fn findings_in(&self, group: &str) -> impl Iterator<Item = &'c crate::case::Finding> + '_ {
        self.findings_with(self.kb.group_bit(group))
    }

    /// The case's findings in any of the groups whose bits are in `bits`, in the case's order.
    pub fn findings_with(&self, bits: u32) -> impl Iterator<Item = &'c crate::case::Finding> + '_ {
        let case: &'c Case = self.case;
        case.findings
            .iter()
            .zip(&self.groups)
            .filter(move |(_, g)| *g & bits != 0)
            .map(|(f, _)| f)
    }

    /// The group bits of the finding at position `i` of `case.findings`.
    pub fn groups_at(&self, i: usize) -> u32 {
        self.groups.get(i).copied().unwrap_or(0)
    }

    /// Records that a rule fired.
    pub fn fire(&mut self, rule: &'kb str, message: impl Into<String>, suggestion: Option<String>) {
        debug_assert!(BUILTINS.contains(&rule), "{rule} is not a builtin");
        let (message, suggestion) = if self.detail {
            (message.into(), suggestion)
        } else {
            (String::new(), None)
        };
        self.fired.push(Fired {
            rule,
            message,
            suggestion,
        });
    }

    /// Records missing data.
    pub fn missing(
        &mut self,
        conclusion: &'static str,
        inputs: Vec<&'static str>,
        supplied_by: Vec<&'static str>,
        message: impl Into<String>,
    ) {
        if !self.detail {
            return;
        }
        self.missing.push(Missing {
            conclusion,
            inputs,
            supplied_by,
            message: message.into(),
        });
    }

    /// The regimen of a treatment rule.
    pub fn regimen(&self, rule: &'static str) -> Option<Regimen> {
        let spec = self.kb.rule(rule)?.regimen.as_ref()?;
        Some(Regimen {
            rule,
            product: spec.product.clone(),
            initial: spec.initial.clone(),
            maintenance: spec.maintenance.clone(),
            alternative: spec.alternative.clone(),
        })
    }

    /// The label of a concept.
    pub fn label(&self, id: &str) -> &'kb str {
        // Every concept id in a parsed case is in the vocabulary.
        self.kb
            .vocab
            .get(id)
            .map_or("(unknown concept)", |c| c.label.as_str())
    }
}

/// The profile's total B12 cut-offs converted to pmol/L.
fn b12_cutoffs(kb: &KnowledgeBase, profile: &Profile) -> Option<crate::assessment::B12Cutoffs> {
    let c = profile.cutoffs("total_b12")?;
    let unit = c.parsed_unit?;
    let mm = kb.analytes.get("total_b12").and_then(|a| a.molar_mass);
    let to = |v: f64| crate::units::convert(v, unit, crate::units::Unit::PmolPerL, mm).ok();
    Some(crate::assessment::B12Cutoffs {
        deficient_below: to(c.deficient_below?)?,
        indeterminate_up_to: c.indeterminate_up_to.and_then(to),
    })
}

/// The fired rules as findings in report order: by category (its position, computed at load),
/// firing order within one. Keys are sorted rather than findings (an unstable sort of unique
/// keys is stable and allocates nothing), and each finding is built once, in place.
fn report_order<'kb>(kb: &'kb KnowledgeBase, fired: &mut [Fired<'kb>]) -> Vec<FindingOut<'kb>> {
    let mut keyed: Vec<(usize, usize, &'kb crate::kb::Rule)> = fired
        .iter()
        .enumerate()
        .filter_map(|(i, f)| kb.rule(f.rule).map(|r| (r.category_order, i, r)))
        .collect();
    keyed.sort_unstable_by_key(|&(order, i, _)| (order, i));
    keyed
        .into_iter()
        .map(|(order, i, rule)| FindingOut {
            order,
            rule: rule.id.as_str(),
            title: rule.title.as_str(),
            category: rule.category.as_str(),
            message: std::mem::take(&mut fired[i].message),
            suggestion: fired[i].suggestion.take(),
            sources: rule.resolved.as_slice(),
            unverified: rule.unverified.as_deref(),
        })
        .collect()
}

/// `YYYY-MM-DD`, written digit by digit (`format!` costs more than much of an evaluation
/// without prose). Years outside 0..=9999 are written as `format!` would.
fn format_date(d: Date) -> String {
    let (y, m, day) = (d.year(), u8::from(d.month()), d.day());
    if !(0..=9999).contains(&y) {
        return format!("{y:04}-{m:02}-{day:02}");
    }
    let y = y as u32;
    let digit = |n: u32| char::from(b'0' + (n % 10) as u8);
    let mut s = String::with_capacity(10);
    s.extend([digit(y / 1000), digit(y / 100), digit(y / 10), digit(y)]);
    s.push('-');
    s.extend([digit(u32::from(m) / 10), digit(u32::from(m))]);
    s.push('-');
    s.extend([digit(u32::from(day) / 10), digit(u32::from(day))]);
    s
}

/// Evaluates one case. `as_of` is the day of the assessment (the case's own `as_of` when it has
/// one; the caller supplies today otherwise). Pure: no I/O, no clock.
pub fn evaluate<'kb>(
    kb: &'kb KnowledgeBase,
    profile: &'kb Profile,
    case: &Case,
    as_of: Date,
) -> Assessment<'kb> {
    evaluate_with(kb, profile, case, as_of, Detail::Full)
}

/// [`evaluate`] with a choice of detail: [`Detail::Conclusions`] reaches the same conclusions,
/// flags and fired rules without writing the prose.
pub fn evaluate_with<'kb>(
    kb: &'kb KnowledgeBase,
    profile: &'kb Profile,
    case: &Case,
    as_of: Date,
    detail: Detail,
) -> Assessment<'kb> {
    let mut ctx = Ctx {
        detail: detail == Detail::Full,
        kb,
        profile,
        case,
        as_of,
        fired: Vec::with_capacity(48),
        missing: Vec::new(),
        groups: case
            .findings
            .iter()
            .map(|f| kb.groups_of(&f.concept))
            .collect(),
    };
    let facts = Facts::gather(&ctx);
    let lab = labs::interpret(&mut ctx, &facts);
    let causes = causes::find(&mut ctx, &facts, &lab);
    let test_indicated = testing::indication(&mut ctx, &facts, &causes);
    let picture = picture::decide(&mut ctx, &facts, &lab, &causes);
    let test_indicated = testing::picture_indication(&mut ctx, picture, test_indicated);
    differential::consider(&mut ctx, &lab);
    differential::no_response(&mut ctx, &facts);
    let mcdonald = mcdonald::assess(&mut ctx, &facts, lab.status);
    let (mcdonald_2024, mcdonald_2024_detail) = mcdonald2024::assess(&mut ctx, &facts, lab.status);
    let next_tests = testing::next_tests(&mut ctx, &facts, &lab, &causes, test_indicated);
    let (treatment, referrals, mut management) =
        management::plan(&mut ctx, &facts, &lab, &causes, picture);
    choice::advise(&mut ctx, &facts, &lab, treatment, &mut management);

    let screening = screening::flags(&mut ctx, &facts, &lab, &causes);
    let conclusions = Conclusions {
        test_indicated,
        b12_status: lab.status,
        next_tests,
        causes: causes.concepts.clone(),
        picture,
        mcdonald_2017: mcdonald,
        mcdonald_2024,
        treatment,
        referrals,
    };

    let findings = report_order(kb, &mut ctx.fired);

    Assessment {
        id: case.id.clone(),
        as_of: format_date(as_of),
        engine: Engine {
            name: "cobalt",
            version: ENGINE_VERSION,
            knowledge_version: kb.meta.version.as_str(),
            profile: profile.id.as_str(),
        },
        disclaimer: kb.meta.disclaimer.as_str(),
        conclusions,
        findings,
        missing: ctx.missing,
        labs: lab.normalised,
        mcdonald_2024_detail,
        total_b12_cutoffs_pmol_l: b12_cutoffs(kb, profile),
        management,
        unrecognised_codes: case.unrecognised.clone(),
        screening,
        kb: KbRef(kb),
    }
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// The date written by hand is the one `format!` writes.
        #[test]
        fn dates_are_written_as_format_writes_them(day in -1_930_999i32..=5_373_484) {
            let d = time::Date::from_julian_day(day).unwrap();
            let expected = format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
            proptest::prop_assert_eq!(super::format_date(d), expected);
        }
    }
}
