//! Validation: from the wire shape to the domain [`Case`], with the JSON path of the first
//! problem.

use super::*;
use crate::units::Unit;
use crate::vocab::{CodeSystem, Kind, Vocabulary};
use crate::Analytes;
use serde::Deserialize;

/// The longest medicine name kept from a record (`medications[].matched_by_name`).
pub const MAX_NAME_CHARS: usize = 200;

/// Parses a `cobalt.case/1` document. Every error names the JSON path of the problem.
pub fn parse_case(json: &str, vocab: &Vocabulary, analytes: &Analytes) -> Result<Case, InputError> {
    // Fast path: straight from the text into the typed shape. Any error is re-diagnosed through
    // a JSON value, so that a wrong `format` is reported as such rather than as whatever field
    // the other format happens to have.
    let mut de = serde_json::Deserializer::from_str(json);
    let fast = serde_path_to_error::deserialize::<_, RawCase>(&mut de)
        .ok()
        .filter(|_| de.end().is_ok());
    match fast {
        Some(raw) if raw.format == CASE_FORMAT => Validator {
            vocab,
            analytes,
            unrecognised: Vec::new(),
        }
        .case(raw),
        _ => {
            // A key given twice: the typed shape refused it (or stopped at an earlier problem),
            // but a JSON tree would keep the last value without a word. Name it, as FHIR input
            // does. Only a document the fast path refused is scanned.
            if let Some((path, key)) = super::duplicates::first_repeated_key(json) {
                let path = if path.is_empty() {
                    "$[\"\"]".to_string()
                } else {
                    path
                };
                return Err(InputError::new(
                    path,
                    format!("duplicate field `{key}`: a field may be given once"),
                ));
            }
            let value: serde_json::Value = serde_json::from_str(json)
                .map_err(|e| InputError::new("$", format!("malformed JSON: {e}")))?;
            parse_case_value(value, vocab, analytes)
        }
    }
}

/// Validates a case in its wire shape, as the FHIR mapping builds it: the same checks as
/// [`parse_case`], after the JSON has been read.
pub fn validate(raw: RawCase, vocab: &Vocabulary, analytes: &Analytes) -> Result<Case, InputError> {
    if raw.format != CASE_FORMAT {
        return Err(InputError::new(
            "format",
            format!(
                "unknown format {:?}; expected \"cobalt.case/1\"",
                raw.format
            ),
        ));
    }
    Validator {
        vocab,
        analytes,
        unrecognised: Vec::new(),
    }
    .case(raw)
}

/// Parses a `cobalt.case/1` document already read as a JSON value. A tree keeps one value of a
/// key given twice, so a caller that holds the text should call [`parse_case`], which refuses
/// the repeat.
pub fn parse_case_value(
    value: serde_json::Value,
    vocab: &Vocabulary,
    analytes: &Analytes,
) -> Result<Case, InputError> {
    match value.get("format") {
        None => {
            return Err(InputError::new(
                "format",
                "missing; expected \"cobalt.case/1\"",
            ))
        }
        Some(serde_json::Value::String(s)) if s == CASE_FORMAT => {}
        Some(other) => {
            return Err(InputError::new(
                "format",
                format!("unknown format {other}; expected \"cobalt.case/1\""),
            ))
        }
    }
    // Plain serde from a borrowed tree first (fast); only a failure is read again with path
    // tracking to name where the problem is.
    let raw = match RawCase::deserialize(&value) {
        Ok(raw) => Ok(raw),
        Err(_) => serde_path_to_error::deserialize(value),
    };
    let raw: RawCase = raw.map_err(|e| {
        let path = e.path().to_string();
        let path = match path.as_str() {
            "." => "$".to_string(),
            // An empty key: name it rather than give an empty path.
            "" => "$[\"\"]".to_string(),
            _ => path,
        };
        InputError::new(path, plain_types(&e.inner().to_string()))
    })?;
    Validator {
        vocab,
        analytes,
        unrecognised: Vec::new(),
    }
    .case(raw)
}

/// serde's type names in the words of the case format: `expected f64` → `expected a number`.
fn plain_types(message: &str) -> String {
    message
        .replace("expected f64", "expected a number")
        .replace("expected u32", "expected a whole number of 0 or more")
        .replace("expected u8", "expected a whole number of 0 or more")
        .replace("expected i64", "expected a whole number")
        .replace("expected a boolean", "expected true or false")
        .replace("expected a sequence", "expected a list")
}

struct Validator<'a> {
    vocab: &'a Vocabulary,
    analytes: &'a Analytes,
    unrecognised: Vec<UnrecognisedCode>,
}

/// A date field. Its path is written only when the value is refused (paths are built for
/// every field of every case otherwise).
fn date(path: impl FnOnce() -> String, s: &Option<String>) -> Result<Option<Date>, InputError> {
    match s {
        None => Ok(None),
        Some(s) => parse_date(s).map(Some).ok_or_else(|| {
            InputError::new(path(), format!("`{s}` is not a date; expected YYYY-MM-DD"))
        }),
    }
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Option<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &fmt).ok()
}

/// A number that cannot be negative; its path is written only when it is refused.
fn non_negative(path: impl FnOnce() -> String, v: Option<f64>) -> Result<Option<f64>, InputError> {
    match v {
        Some(x) if !x.is_finite() || x < 0.0 => Err(InputError::new(
            path(),
            format!("{x} is impossible; expected a number >= 0"),
        )),
        other => Ok(other),
    }
}

impl Validator<'_> {
    fn concept(
        &mut self,
        path: &str,
        concept: Option<&str>,
        code: Option<&RawCode>,
        kinds: &[Kind],
    ) -> Result<Option<String>, InputError> {
        let expected = kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(" or ");
        if let Some(id) = concept {
            let c = self.vocab.get(id).ok_or_else(|| {
                InputError::new(
                    format!("{path}.concept"),
                    format!("unknown concept `{id}`; expected a concept of kind {expected}"),
                )
            })?;
            if !kinds.contains(&c.kind) {
                return Err(InputError::new(
                    format!("{path}.concept"),
                    format!(
                        "`{id}` is a {} concept; expected kind {expected}",
                        c.kind.as_str()
                    ),
                ));
            }
            return Ok(Some(c.id.clone()));
        }
        if let Some(code) = code {
            let found = CodeSystem::parse(&code.system)
                .and_then(|sys| self.vocab.lookup(sys, &code.code))
                .filter(|c| kinds.contains(&c.kind));
            return match found {
                Some(c) => Ok(Some(c.id.clone())),
                None => {
                    self.unrecognised.push(UnrecognisedCode {
                        path: format!("{path}.code"),
                        system: code.system.clone(),
                        code: code.code.clone(),
                    });
                    Ok(None)
                }
            };
        }
        Err(InputError::new(path, "needs `concept` or `code`"))
    }

    fn case(mut self, raw: RawCase) -> Result<Case, InputError> {
        debug_assert_eq!(raw.format, CASE_FORMAT);
        let mut case = Case {
            id: raw.id,
            as_of: date(|| "as_of".into(), &raw.as_of)?,
            diet: raw.diet,
            ..Case::default()
        };
        if let Some(p) = raw.patient {
            if let Some(age) = p.age_years {
                if !(0.0..=130.0).contains(&age) {
                    return Err(InputError::new(
                        "patient.age_years",
                        format!("{age} is impossible; expected a number from 0 to 130"),
                    ));
                }
            }
            if p.pregnant == Some(true) && p.sex == Some(Sex::Male) {
                return Err(InputError::new(
                    "patient.pregnant",
                    "true for a patient whose sex is male; expected false or absent",
                ));
            }
            case.patient = Patient {
                age_years: p.age_years,
                sex: p.sex,
                pregnant: p.pregnant,
                breastfeeding: p.breastfeeding,
                ethnicity: p.ethnicity,
            };
        }
        for (i, m) in raw.medications.iter().enumerate() {
            let path = format!("medications[{i}]");
            let months = non_negative(|| format!("{path}.months"), m.months)?;
            let dose = non_negative(|| format!("{path}.daily_dose_mg"), m.daily_dose_mg)?;
            let ended = date(|| format!("{path}.ended"), &m.ended)?;
            if let Some(n) = &m.matched_by_name {
                if n.trim().is_empty() || n.chars().count() > MAX_NAME_CHARS {
                    return Err(InputError::new(
                        format!("{path}.matched_by_name"),
                        format!("expected a name of 1 to {MAX_NAME_CHARS} characters"),
                    ));
                }
            }
            if let Some(concept) = self.concept(
                &path,
                m.concept.as_deref(),
                m.code.as_ref(),
                &[Kind::Medication, Kind::B12Product],
            )? {
                case.medications.push(Medication {
                    concept,
                    months,
                    daily_dose_mg: dose,
                    current: m.current.unwrap_or(true),
                    ended,
                    matched_by_name: m.matched_by_name.clone(),
                });
            }
        }
        for (i, c) in raw.conditions.iter().enumerate() {
            let path = format!("conditions[{i}]");
            let since = date(|| format!("{path}.since"), &c.since)?;
            if let Some(concept) = self.concept(
                &path,
                c.concept.as_deref(),
                c.code.as_ref(),
                &[Kind::Condition],
            )? {
                case.conditions.push(Dated {
                    concept,
                    date: since,
                    frequency: None,
                });
            }
        }
        for (i, p) in raw.procedures.iter().enumerate() {
            let path = format!("procedures[{i}]");
            let d = date(|| format!("{path}.date"), &p.date)?;
            if let Some(concept) = self.concept(
                &path,
                p.concept.as_deref(),
                p.code.as_ref(),
                &[Kind::Procedure],
            )? {
                case.procedures.push(Dated {
                    concept,
                    date: d,
                    frequency: None,
                });
            }
        }
        for (i, e) in raw.exposures.iter().enumerate() {
            let path = format!("exposures[{i}]");
            let last = date(|| format!("{path}.last"), &e.last)?;
            if let Some(concept) = self.concept(&path, Some(&e.concept), None, &[Kind::Exposure])? {
                case.exposures.push(Dated {
                    concept,
                    date: last,
                    frequency: e.frequency.clone(),
                });
            }
        }
        for (i, f) in raw.findings.into_iter().enumerate() {
            let path = format!("findings[{i}]");
            let weeks = non_negative(|| format!("{path}.weeks"), f.weeks)?;
            if let Some(concept) = self.concept(&path, Some(&f.concept), None, &[Kind::Finding])? {
                case.findings.push(Finding {
                    concept,
                    laterality: f.laterality,
                    regions: f.regions,
                    onset: f.onset,
                    course: f.course,
                    weeks,
                });
            }
        }
        for (i, l) in raw.labs.iter().enumerate() {
            if let Some(lab) = self.lab(i, l)? {
                case.labs.push(lab);
            }
        }
        if let Some(m) = raw.mri {
            let mut lesions = Vec::new();
            for (i, l) in m.lesions.iter().enumerate() {
                if let (Some(c), Some(e)) = (l.count, l.enhancing) {
                    if e > c {
                        return Err(InputError::new(
                            format!("mri.lesions[{i}].enhancing"),
                            format!("{e} enhancing lesions of {c}; expected at most `count`"),
                        ));
                    }
                }
                lesions.push(Lesion {
                    site: l.site,
                    count: l.count,
                    enhancing: l.enhancing,
                });
            }
            let pattern = match m.spinal_cord_pattern {
                Some(p) => Some(CordPattern {
                    dorsal_columns_symmetric: p.dorsal_columns_symmetric,
                    longest_lesion_segments: non_negative(
                        || "mri.spinal_cord_pattern.longest_lesion_segments".into(),
                        p.longest_lesion_segments,
                    )?,
                    lateral_columns: p.lateral_columns,
                }),
                None => None,
            };
            let central_vein_sign = match m.central_vein_sign {
                Some(c) if c.lesions_positive > c.lesions_assessed => {
                    return Err(InputError::new(
                        "mri.central_vein_sign.lesions_positive",
                        format!(
                            "{} lesions with a central vein of {} assessed; expected at most `lesions_assessed`",
                            c.lesions_positive, c.lesions_assessed
                        ),
                    ))
                }
                Some(c) => Some(CentralVeinSign {
                    lesions_assessed: c.lesions_assessed,
                    lesions_positive: c.lesions_positive,
                }),
                None => None,
            };
            case.mri = Some(Mri {
                date: date(|| "mri.date".into(), &m.date)?,
                lesions,
                new_lesion_on_follow_up: m.new_lesion_on_follow_up,
                spinal_cord_pattern: pattern,
                brain_normal: m.brain_normal,
                spinal_cord_normal: m.spinal_cord_normal,
                central_vein_sign,
                paramagnetic_rim_lesions: m.paramagnetic_rim_lesions,
            });
        }
        if let Some(c) = raw.csf {
            case.csf_oligoclonal_bands = c.oligoclonal_bands;
            case.csf_kappa_flc_index =
                non_negative(|| "csf.kappa_flc_index".into(), c.kappa_flc_index)?;
        }
        if let Some(o) = raw.optic_nerve {
            case.optic_nerve = Some(OpticNerve {
                oct_prnfl_intereye_difference_um: non_negative(
                    || "optic_nerve.oct_prnfl_intereye_difference_um".into(),
                    o.oct_prnfl_intereye_difference_um,
                )?,
                oct_gcipl_intereye_difference_um: non_negative(
                    || "optic_nerve.oct_gcipl_intereye_difference_um".into(),
                    o.oct_gcipl_intereye_difference_um,
                )?,
                vep_delayed: o.vep_delayed,
            });
        }
        if let Some(ms) = raw.ms {
            case.ms = Some(MsHistory {
                status: ms.status,
                attacks: ms.attacks,
                lesions_with_objective_clinical_evidence: ms
                    .lesions_with_objective_clinical_evidence,
                progression_months: non_negative(
                    || "ms.progression_months".into(),
                    ms.progression_months,
                )?,
            });
        }
        if let Some(r) = raw.b12_replacement {
            case.b12_replacement = Some(Replacement {
                status: r.status,
                since: date(|| "b12_replacement.since".into(), &r.since)?,
                daily_dose_mcg: non_negative(
                    || "b12_replacement.daily_dose_mcg".into(),
                    r.daily_dose_mcg,
                )?,
            });
        }
        case.unrecognised = self.unrecognised;
        Ok(case)
    }

    fn lab(&mut self, i: usize, l: &RawLab) -> Result<Option<LabResult>, InputError> {
        let path = format!("labs[{i}]");
        let test = match (&l.test, &l.code) {
            (Some(t), _) => {
                let c = self.vocab.get(t).ok_or_else(|| {
                    InputError::new(
                        format!("{path}.test"),
                        format!("unknown test `{t}`; expected a concept of kind lab"),
                    )
                })?;
                if c.kind != Kind::Lab {
                    return Err(InputError::new(
                        format!("{path}.test"),
                        format!("`{t}` is a {} concept; expected kind lab", c.kind.as_str()),
                    ));
                }
                c.id.clone()
            }
            (None, Some(code)) => match self.concept(&path, None, Some(code), &[Kind::Lab])? {
                Some(id) => id,
                None => return Ok(None),
            },
            (None, None) => return Err(InputError::new(path, "needs `test` or `code`")),
        };
        let analyte = self.analytes.get(&test);
        let value = match (l.value, &l.unit, l.result) {
            (Some(_), _, Some(_)) => {
                return Err(InputError::new(
                    path,
                    "has both `value` and `result`; expected one",
                ))
            }
            (Some(v), unit, None) => {
                let Some(analyte) = analyte.filter(|a| a.numeric()) else {
                    return Err(InputError::new(
                        format!("{path}.value"),
                        format!("`{test}` is reported as `result` (positive, negative or equivocal), not as a number"),
                    ));
                };
                if !v.is_finite() || v < 0.0 {
                    return Err(InputError::new(
                        format!("{path}.value"),
                        format!("{v} is impossible; expected a concentration >= 0"),
                    ));
                }
                let Some(unit_str) = unit else {
                    return Err(InputError::new(
                        format!("{path}.unit"),
                        format!(
                            "missing; a numeric result needs its unit: `{test}` is {}",
                            analyte.takes()
                        ),
                    ));
                };
                let unit = Unit::parse(unit_str).filter(|u| analyte.accepts(*u));
                let Some(unit) = unit else {
                    return Err(InputError::new(
                        format!("{path}.unit"),
                        analyte.refusal(unit_str),
                    ));
                };
                if let Some(bound) = analyte.impossible_above_in(unit) {
                    if v > bound {
                        return Err(InputError::new(
                            format!("{path}.value"),
                            format!(
                                "{v} {unit} is impossible for `{test}`; expected at most {} {unit} \
                                 (far above any value reported in people: check the unit and the figure)",
                                crate::units::display_number(bound, 3)
                            ),
                        ));
                    }
                }
                for (field, r) in [
                    ("reference_low", l.reference_low),
                    ("reference_high", l.reference_high),
                ] {
                    non_negative(|| format!("{path}.{field}"), r)?;
                }
                if let (Some(lo), Some(hi)) = (l.reference_low, l.reference_high) {
                    if lo > hi {
                        return Err(InputError::new(
                            format!("{path}.reference_low"),
                            format!("{lo} is above reference_high {hi}; expected low <= high"),
                        ));
                    }
                }
                LabValue::Numeric(Quantity {
                    value: v,
                    unit,
                    comparator: l.comparator,
                })
            }
            (None, _, Some(q)) => {
                if l.unit.is_some() || l.comparator.is_some() {
                    return Err(InputError::new(
                        path,
                        "a qualitative `result` takes no `unit` or `comparator`",
                    ));
                }
                if analyte.is_some_and(|a| !a.qualitative) {
                    return Err(InputError::new(
                        format!("{path}.result"),
                        format!("`{test}` is reported as a number with a unit, not as `result`"),
                    ));
                }
                LabValue::Qualitative(q)
            }
            (None, _, None) => {
                return Err(InputError::new(
                    path,
                    "needs `value` with `unit`, or `result`",
                ))
            }
        };
        Ok(Some(LabResult {
            test,
            value,
            date: date(|| format!("{path}.date"), &l.date)?,
            reference_low: l.reference_low,
            reference_high: l.reference_high,
            index: i,
        }))
    }
}
