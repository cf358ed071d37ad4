//! Observation: laboratory results (through the vocabulary's LOINC codes), findings, and
//! pregnancy and breastfeeding status.

use super::{at, qualitative_text, same_unit, unit_of, LabValue, Mapper, LOINC};
use crate::dates;
use crate::gather::Item;
use crate::model::{self, CodeableConcept};
use cobalt_core::case::{Comparator, Qualitative, RawLab};
use cobalt_core::vocab::{CodeSystem, Kind};
use cobalt_core::InputError;
use time::Date;

impl Mapper<'_, '_> {
    pub(super) fn observation(&mut self, i: &Item<'_>) -> Result<(), InputError> {
        let o = i.read::<model::Observation>()?;
        if let Some(s) = &o.status {
            if self
                .t
                .set("observation_status_excluded")
                .contains("http://hl7.org/fhir/observation-status", s)
            {
                self.skip(&i.path, format!("status {s}: not a result"));
                return Ok(());
            }
        }
        if !self.admit(&i.kind, o.id.as_deref(), o.subject.as_ref(), &i.path)? {
            return Ok(());
        }
        let (date, date_path) = self.effective_date(i, &o)?;
        let Some(code) = &o.code else {
            self.skip(&i.path, "no code");
            return Ok(());
        };
        let pairs = code.pairs();
        let vpairs = o
            .valueCodeableConcept
            .as_ref()
            .map(CodeableConcept::pairs)
            .unwrap_or_default();

        if self.t.any("pregnancy_status_observation", &pairs) {
            self.pregnancy_status(i, &vpairs, date);
            return Ok(());
        }
        if self.t.any("breastfeeding_status_observation", &pairs) {
            self.breastfeeding_status(i, &o, &vpairs, date);
            return Ok(());
        }

        for (set, eye) in [("oct_rnfl_right", 0), ("oct_rnfl_left", 1)] {
            if self.t.any(set, &pairs) {
                self.rnfl(i, &o, eye, date);
                return Ok(());
            }
        }

        let value = self.lab_value(&o, &i.path);
        match self.concept(code).map(|c| (c.id.clone(), c.kind)) {
            Some((id, Kind::Lab)) => {
                self.lab(i, &o, id, value, date.zip(date_path))?;
            }
            Some((id, Kind::Finding)) => {
                let absent =
                    o.valueBoolean == Some(false) || matches!(value, LabValue::Result("negative"));
                if absent {
                    self.skip(&i.path, format!("finding `{id}` recorded as absent"));
                } else {
                    self.finding(id, &i.path);
                }
            }
            Some((id, kind)) => self.skip(
                &i.path,
                format!(
                    "the code maps to `{id}`, a {} concept, which an Observation does not carry",
                    kind.as_str()
                ),
            ),
            None => {
                let loinc = pairs
                    .iter()
                    .find(|(s, _)| CodeSystem::parse(s) == Some(CodeSystem::Loinc));
                match (loinc, &value) {
                    (Some(_), LabValue::None) | (None, _) => self.skip(
                        &i.path,
                        if loinc.is_some() {
                            "a LOINC code that maps to no concept, without a value"
                        } else {
                            "no LOINC code and no code that maps to a concept"
                        },
                    ),
                    (Some((_, c)), v) => {
                        let mut e = RawLab {
                            code: Some(super::raw_code(LOINC, c)),
                            ..RawLab::default()
                        };
                        match v {
                            LabValue::Number { value, unit, .. } => {
                                e.value = Some(*value);
                                e.unit = unit.as_ref().map(|(u, _)| u.clone());
                            }
                            LabValue::Result(r) => e.result = qualitative(r),
                            LabValue::None => {}
                        }
                        let n = self.case.labs.len();
                        self.case.labs.push(e);
                        self.entry("labs", n, &i.path);
                    }
                }
            }
        }
        Ok(())
    }

    /// An Observation's date, with its path: effective[x], else issued. Every date given is
    /// checked; the path is built only for a date given.
    fn effective_date(
        &self,
        i: &Item<'_>,
        o: &model::Observation<'_>,
    ) -> Result<(Option<Date>, Option<String>), InputError> {
        let candidates = [
            (o.effectiveDateTime.as_deref(), "effectiveDateTime"),
            (
                o.effectivePeriod.as_ref().and_then(|x| x.start.as_deref()),
                "effectivePeriod.start",
            ),
            (o.effectiveInstant.as_deref(), "effectiveInstant"),
            (o.issued.as_deref(), "issued"),
        ];
        let mut found = (None, None);
        for (v, rel) in candidates {
            let Some(v) = v else { continue };
            let path = at(i, rel);
            if let Some(d) = self.date(&path, Some(v))? {
                if found.0.is_none() {
                    found = (Some(d), Some(path));
                }
            }
        }
        Ok(found)
    }

    /// A pregnancy status observation: pregnant or not, the latest kept.
    fn pregnancy_status(&mut self, i: &Item<'_>, vpairs: &[(&str, &str)], date: Option<Date>) {
        let value = if self.t.any("pregnant", vpairs) {
            Some(true)
        } else if self.t.any("not_pregnant", vpairs) {
            Some(false)
        } else {
            None
        };
        match value {
            Some(v) => {
                if self
                    .pregnancy_obs
                    .as_ref()
                    .is_none_or(|(d, _, _)| date >= *d)
                {
                    self.pregnancy_obs = Some((date, v, at(i, "valueCodeableConcept")));
                }
            }
            None => self.skip(
                &i.path,
                "pregnancy status without a value read as pregnant or not pregnant",
            ),
        }
    }

    /// A breastfeeding status observation: by its coded value or a boolean, the latest kept.
    fn breastfeeding_status(
        &mut self,
        i: &Item<'_>,
        o: &model::Observation<'_>,
        vpairs: &[(&str, &str)],
        date: Option<Date>,
    ) {
        let vpath = || at(i, "valueCodeableConcept");
        let value = if self.t.any("breastfeeding", vpairs) {
            Some((true, vpath()))
        } else if self.t.any("not_breastfeeding", vpairs) {
            Some((false, vpath()))
        } else {
            o.valueBoolean.map(|b| (b, at(i, "valueBoolean")))
        };
        match value {
            Some((v, path)) => {
                if self
                    .breastfeeding
                    .as_ref()
                    .is_none_or(|(d, _, _)| date >= *d)
                {
                    self.breastfeeding = Some((date, v, path));
                }
            }
            None => self.skip(
                &i.path,
                "breastfeeding status without a value read as yes or no",
            ),
        }
    }

    /// An OCT RNFL thickness of one eye (0 right, 1 left), in micrometres; the latest counts.
    fn rnfl(&mut self, i: &Item<'_>, o: &model::Observation<'_>, eye: usize, date: Option<Date>) {
        let q = o.valueQuantity.as_ref();
        let um = q.and_then(|q| {
            let unit = q.code.as_deref().or(q.unit.as_deref())?;
            matches!(unit, "um" | "µm" | "μm").then_some(q.value?)
        });
        match um {
            Some(v) if v.is_finite() && v >= 0.0 => {
                if self.rnfl[eye].as_ref().is_none_or(|(d, _, _)| date >= *d) {
                    self.rnfl[eye] = Some((date, v, at(i, "valueQuantity.value")));
                }
            }
            _ => self.skip(&i.path, "an OCT RNFL thickness without a value in um"),
        }
    }

    fn lab_value(&self, o: &model::Observation<'_>, path: &str) -> LabValue {
        if let Some(q) = &o.valueQuantity {
            if let Some(value) = q.value {
                return LabValue::Number {
                    value,
                    unit: unit_of(q, &model::join(path, "valueQuantity")),
                    comparator: q.comparator.as_deref().map(str::to_string),
                };
            }
        }
        if let Some(cc) = &o.valueCodeableConcept {
            if let Some(r) = self.qualitative(cc) {
                return LabValue::Result(r);
            }
        }
        if let Some(s) = &o.valueString {
            if let Some(r) = qualitative_text(s) {
                return LabValue::Result(r);
            }
        }
        LabValue::None
    }

    fn qualitative(&self, cc: &CodeableConcept<'_>) -> Option<&'static str> {
        let pairs = cc.pairs();
        for (set, r) in [
            ("result_positive", "positive"),
            ("result_negative", "negative"),
            ("result_equivocal", "equivocal"),
        ] {
            if self.t.any(set, &pairs) {
                return Some(r);
            }
        }
        cc.text.as_deref().and_then(qualitative_text).or_else(|| {
            cc.coding
                .iter()
                .filter_map(|c| c.display.as_deref())
                .find_map(qualitative_text)
        })
    }

    fn lab(
        &mut self,
        i: &Item<'_>,
        o: &model::Observation<'_>,
        test: String,
        value: LabValue,
        date: Option<(Date, String)>,
    ) -> Result<(), InputError> {
        let analyte = self.kb.analytes.get(&test);
        let numeric = analyte.is_some_and(|a| a.numeric());
        let mut e = RawLab {
            test: Some(test.clone()),
            ..RawLab::default()
        };
        let mut subs: Vec<(&str, String)> = Vec::new();
        match value {
            LabValue::None if numeric && o.valueInteger.is_some() => {
                return Err(InputError::new(
                    at(i, "valueInteger"),
                    format!(
                        "`{test}` needs a unit, and valueInteger has none; send valueQuantity with a UCUM unit"
                    ),
                ));
            }
            LabValue::None => {
                self.skip(&i.path, format!("`{test}` without a value cobalt reads"));
                return Ok(());
            }
            LabValue::Number { .. } if !numeric => {
                self.skip(
                    &i.path,
                    format!(
                        "`{test}` is read as positive, negative or equivocal; a number is not used"
                    ),
                );
                return Ok(());
            }
            LabValue::Result(_) if numeric => {
                self.skip(
                    &i.path,
                    format!("`{test}` is read as a number with a unit; a coded result is not used"),
                );
                return Ok(());
            }
            LabValue::Result(r) => {
                e.result = qualitative(r);
                subs.push(("result", at(i, "valueCodeableConcept")));
            }
            LabValue::Number {
                value,
                unit,
                comparator,
            } => {
                if comparator.as_deref() == Some("ad") {
                    self.skip(
                        &i.path,
                        "comparator `ad` (sufficient to achieve) is not a result",
                    );
                    return Ok(());
                }
                e.value = Some(value);
                subs.push(("value", at(i, "valueQuantity.value")));
                let unit_text = unit.as_ref().map(|(u, _)| u.clone());
                match unit {
                    Some((u, upath)) => {
                        e.unit = Some(u);
                        subs.push(("unit", upath));
                    }
                    None => subs.push(("unit", at(i, "valueQuantity"))),
                }
                if let Some(c) = comparator {
                    let cpath = at(i, "valueQuantity.comparator");
                    e.comparator = Some(match c.as_str() {
                        "<" => Comparator::Lt,
                        "<=" => Comparator::Le,
                        ">=" => Comparator::Ge,
                        ">" => Comparator::Gt,
                        other => {
                            return Err(InputError::new(
                                cpath,
                                format!("unknown comparator `{other}`; expected one of `<`, `<=`, `>=`, `>`"),
                            ))
                        }
                    });
                    subs.push(("comparator", cpath));
                }
                if let Some(range) = o.referenceRange.first() {
                    let rpath = at(i, "referenceRange[0]");
                    let mut mismatched = false;
                    for (field, q, rel) in [
                        ("reference_low", &range.low, "low"),
                        ("reference_high", &range.high, "high"),
                    ] {
                        let Some(q) = q else { continue };
                        let Some(v) = q.value else { continue };
                        let qpath = model::join(&rpath, rel);
                        let qunit = unit_of(q, &qpath).map(|(u, _)| u);
                        if qunit.is_some() && !same_unit(qunit.as_deref(), unit_text.as_deref()) {
                            mismatched = true;
                            continue;
                        }
                        if field == "reference_low" {
                            e.reference_low = Some(v);
                        } else {
                            e.reference_high = Some(v);
                        }
                        subs.push((field, model::join(&qpath, "value")));
                    }
                    if mismatched {
                        self.skip(
                            &rpath,
                            "reference range in another unit than the result: not used",
                        );
                    }
                }
            }
        }
        if let Some((d, dpath)) = date {
            e.date = Some(dates::format(d));
            subs.push(("date", dpath));
        }
        let n = self.case.labs.len();
        self.case.labs.push(e);
        let cp = self.entry("labs", n, &i.path);
        for (field, path) in subs {
            self.origin(crate::model::join(&cp, field), path);
        }
        Ok(())
    }
}

/// The case's qualitative result for the mapping's fixed words.
fn qualitative(r: &str) -> Option<Qualitative> {
    match r {
        "positive" => Some(Qualitative::Positive),
        "negative" => Some(Qualitative::Negative),
        "equivocal" => Some(Qualitative::Equivocal),
        _ => None,
    }
}
