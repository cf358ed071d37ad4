//! The mapping itself: gathers the resources (expanding Bundles), finds the patient, maps each
//! resource to entries of the case, then checks the case with `cobalt_core::parse_case_value`
//! and names any problem by the FHIR path it came from.

use crate::dates;
use crate::model::{self, join, CodeableConcept, Quantity, Reference};
use crate::tables::{tables, Tables};
use crate::{Mapped, Skipped};
use cobalt_core::vocab::{CodeSystem, Concept, Kind};
use cobalt_core::{InputError, KnowledgeBase};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use time::Date;

/// UCUM, the code system of units (FHIR R4, Quantity).
const UCUM: &str = "http://unitsofmeasure.org";
/// LOINC's FHIR system URI.
const LOINC: &str = "http://loinc.org";
/// The Bundle types whose entries are resources to read.
const BUNDLE_TYPES: &[&str] = &[
    "collection",
    "searchset",
    "transaction",
    "batch",
    "document",
];

/// One resource found in the input.
struct Item<'v> {
    path: String,
    full_url: Option<String>,
    kind: String,
    value: &'v Value,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The path of the whole input, for messages about it.
fn shown(path: &str) -> &str {
    if path.is_empty() {
        "$"
    } else {
        path
    }
}

#[derive(Default)]
struct Gathered<'v> {
    items: Vec<Item<'v>>,
    skipped: Vec<Skipped>,
    bundle_id: Option<String>,
}

impl<'v> Gathered<'v> {
    fn resource(
        &mut self,
        v: &'v Value,
        path: &str,
        full_url: Option<String>,
    ) -> Result<(), InputError> {
        let Value::Object(obj) = v else {
            return Err(InputError::new(
                shown(path),
                format!(
                    "expected a FHIR resource (a JSON object); found {}",
                    type_name(v)
                ),
            ));
        };
        let kind =
            match obj.get("resourceType") {
                None => return Err(InputError::new(
                    join(path, "resourceType"),
                    "missing; expected a FHIR resource type such as \"Bundle\" or \"Observation\"",
                )),
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(other) => {
                    return Err(InputError::new(
                        join(path, "resourceType"),
                        format!(
                            "expected a resource type (a string); found {}",
                            type_name(other)
                        ),
                    ))
                }
            };
        if kind == "Bundle" {
            return self.bundle(obj, path);
        }
        self.items.push(Item {
            path: path.to_string(),
            full_url,
            kind,
            value: v,
        });
        Ok(())
    }

    fn bundle(&mut self, obj: &'v Map<String, Value>, path: &str) -> Result<(), InputError> {
        let string = |field: &str| -> Result<Option<&'v str>, InputError> {
            match obj.get(field) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(other) => Err(InputError::new(
                    join(path, field),
                    format!("expected a string; found {}", type_name(other)),
                )),
            }
        };
        match string("type")? {
            Some(t) if BUNDLE_TYPES.contains(&t) => {}
            Some(t) => {
                return Err(InputError::new(
                    join(path, "type"),
                    format!(
                        "Bundle type `{t}` is not read; expected one of {}",
                        BUNDLE_TYPES.join(", ")
                    ),
                ))
            }
            None => {
                return Err(InputError::new(
                    join(path, "type"),
                    format!("missing; expected one of {}", BUNDLE_TYPES.join(", ")),
                ))
            }
        }
        if self.bundle_id.is_none() && self.items.is_empty() {
            self.bundle_id = string("id")?.map(str::to_string);
        }
        let entries = match obj.get("entry") {
            None => return Ok(()),
            Some(Value::Array(a)) => a,
            Some(other) => {
                return Err(InputError::new(
                    join(path, "entry"),
                    format!("expected an array of entries; found {}", type_name(other)),
                ))
            }
        };
        for (i, e) in entries.iter().enumerate() {
            let epath = join(path, &format!("entry[{i}]"));
            let Value::Object(entry) = e else {
                return Err(InputError::new(
                    epath,
                    format!(
                        "expected a Bundle entry (a JSON object); found {}",
                        type_name(e)
                    ),
                ));
            };
            let full_url = match entry.get("fullUrl") {
                None => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => {
                    return Err(InputError::new(
                        join(&epath, "fullUrl"),
                        format!("expected a string; found {}", type_name(other)),
                    ))
                }
            };
            let method = entry
                .get("request")
                .and_then(|r| r.get("method"))
                .and_then(Value::as_str);
            if method == Some("DELETE") {
                self.skipped.push(Skipped {
                    path: epath,
                    reason: "a DELETE request: no resource to read".into(),
                });
                continue;
            }
            match entry.get("resource") {
                Some(r) => self.resource(r, &join(&epath, "resource"), full_url)?,
                None => self.skipped.push(Skipped {
                    path: epath,
                    reason: "the entry has no resource".into(),
                }),
            }
        }
        Ok(())
    }
}

pub(crate) fn to_case(
    input: &Value,
    as_of: Date,
    kb: &KnowledgeBase,
) -> Result<Mapped, InputError> {
    let mut g = Gathered::default();
    match input {
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                g.resource(v, &format!("[{i}]"), None)?;
            }
        }
        Value::Object(_) => g.resource(input, "", None)?,
        other => {
            return Err(InputError::new(
                "$",
                format!(
                    "expected a FHIR resource, a Bundle or an array of resources; found {}",
                    type_name(other)
                ),
            ))
        }
    }
    run(g, as_of, kb)
}

pub(crate) fn resources_to_case(
    resources: &[(String, &Value)],
    as_of: Date,
    kb: &KnowledgeBase,
) -> Result<Mapped, InputError> {
    let mut g = Gathered::default();
    for (path, v) in resources {
        g.resource(v, path, None)?;
    }
    g.bundle_id = None;
    run(g, as_of, kb)
}

/// The patient the case is about, as references name it.
#[derive(Default)]
struct PatientKey {
    id: Option<String>,
    full_url: Option<String>,
}

impl PatientKey {
    /// Whether a reference names this patient: its fullUrl, `Patient/{id}`, or an absolute URL
    /// ending in `/Patient/{id}`, with or without a `/_history/{version}` suffix.
    fn matches(&self, reference: &str) -> bool {
        crate::reference::names(
            reference,
            "Patient",
            self.id.as_deref(),
            self.full_url.as_deref(),
        )
    }
}

fn run(g: Gathered<'_>, as_of: Date, kb: &KnowledgeBase) -> Result<Mapped, InputError> {
    let mut m = Mapper {
        kb,
        t: tables(),
        as_of,
        patient: Map::new(),
        lists: BTreeMap::new(),
        origins: Vec::new(),
        skipped: g.skipped,
        key: PatientKey::default(),
        pregnancy_obs: None,
        pregnancy_cond: None,
        breastfeeding: None,
        ms_status: None,
        b12: None,
        medications: BTreeMap::new(),
        used_medications: Vec::new(),
    };
    // The patient: the first Patient resource, else the first subject reference.
    if let Some(p) = g.items.iter().find(|i| i.kind == "Patient") {
        let patient: model::Patient = model::read(p.value, &p.path)?;
        m.key = PatientKey {
            id: patient.id.clone(),
            full_url: p.full_url.clone(),
        };
    } else if let Some(r) = g.items.iter().find_map(|i| {
        i.value
            .get("subject")
            .and_then(|s| s.get("reference"))
            .and_then(Value::as_str)
    }) {
        m.key = PatientKey {
            id: crate::reference::patient_id(r).map(str::to_string),
            full_url: Some(r.to_string()),
        };
    }
    // Medications, for references from MedicationStatement and MedicationRequest.
    for i in g.items.iter().filter(|i| i.kind == "Medication") {
        let med: model::Medication = model::read(i.value, &i.path)?;
        let mut keys = Vec::new();
        if let Some(id) = &med.id {
            keys.push(format!("Medication/{id}"));
        }
        if let Some(u) = &i.full_url {
            keys.push(u.clone());
        }
        for k in keys {
            m.medications
                .entry(k)
                .or_insert_with(|| (i.path.clone(), med.code.clone().unwrap_or_default()));
        }
    }
    let mut first_patient_done = false;
    for i in &g.items {
        match i.kind.as_str() {
            "Patient" => {
                if first_patient_done {
                    let p: model::Patient = model::read(i.value, &i.path)?;
                    let reason = if p.id.is_some() && p.id == m.key.id {
                        "a second copy of the patient; the first is used".to_string()
                    } else {
                        format!(
                            "another patient ({}); only the first Patient is used",
                            p.id.as_deref().unwrap_or("no id")
                        )
                    };
                    m.skip(&i.path, reason);
                } else {
                    first_patient_done = true;
                    m.patient_resource(i)?;
                }
            }
            "Observation" => m.observation(i)?,
            "Condition" => m.condition(i)?,
            "MedicationStatement" => m.medication_use(i, false)?,
            "MedicationRequest" => m.medication_use(i, true)?,
            "Procedure" => m.procedure(i)?,
            "Medication" => {}
            other => m.skip(
                &i.path,
                format!("resource type {other} is not read by cobalt"),
            ),
        }
    }
    for i in g.items.iter().filter(|i| i.kind == "Medication") {
        if !m.used_medications.contains(&i.path) {
            m.skip(
                &i.path,
                "a Medication no MedicationStatement or MedicationRequest refers to",
            );
        }
    }
    let patient_id = m.key.id.clone();
    let id = g.bundle_id.or_else(|| patient_id.clone());
    m.finish(id, patient_id)
}

/// How a lab's value reads.
enum LabValue {
    Number {
        value: f64,
        unit: Option<(String, String)>,
        comparator: Option<String>,
    },
    Result(&'static str),
    None,
}

struct Mapper<'a> {
    kb: &'a KnowledgeBase,
    t: &'static Tables,
    as_of: Date,
    patient: Map<String, Value>,
    lists: BTreeMap<&'static str, Vec<Value>>,
    /// (case path, FHIR path) pairs, to name a parser error by the FHIR path.
    origins: Vec<(String, String)>,
    skipped: Vec<Skipped>,
    key: PatientKey,
    /// The latest pregnancy status observation: (date, pregnant, path of its value).
    pregnancy_obs: Option<(Option<Date>, bool, String)>,
    /// The path of the first active pregnancy condition.
    pregnancy_cond: Option<String>,
    breastfeeding: Option<(Option<Date>, bool, String)>,
    /// (status, path, set by a course code).
    ms_status: Option<(&'static str, String, bool)>,
    /// (route, since, path, since path).
    b12: Option<(&'static str, Option<Date>, String, Option<String>)>,
    /// Medication resources by reference key: (path, code).
    medications: BTreeMap<String, (String, CodeableConcept)>,
    used_medications: Vec<String>,
}

impl Mapper<'_> {
    fn skip(&mut self, path: &str, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            path: shown(path).to_string(),
            reason: reason.into(),
        });
    }

    /// Appends an entry to a case list; returns its case path.
    fn push(&mut self, list: &'static str, entry: Value, resource: &str) -> String {
        let v = self.lists.entry(list).or_default();
        let case_path = format!("{list}[{}]", v.len());
        v.push(entry);
        self.origins
            .push((case_path.clone(), shown(resource).to_string()));
        case_path
    }

    fn origin(&mut self, case_path: String, fhir: String) {
        self.origins.push((case_path, fhir));
    }

    /// Whether the subject is the patient; if not, the resource is skipped.
    fn for_patient(&mut self, subject: Option<&Reference>, path: &str) -> bool {
        let Some(r) = subject.and_then(|s| s.reference.as_deref()) else {
            return true;
        };
        if self.key.id.is_none() && self.key.full_url.is_none() {
            return true;
        }
        if self.key.matches(r) {
            return true;
        }
        let who = match (&self.key.id, &self.key.full_url) {
            (Some(id), _) => format!("Patient/{id}"),
            (None, Some(u)) => u.clone(),
            (None, None) => String::new(),
        };
        self.skip(
            path,
            format!("about another subject ({r}); the case is about {who}"),
        );
        false
    }

    fn concept(&self, cc: &CodeableConcept) -> Option<&Concept> {
        cc.pairs()
            .into_iter()
            .find_map(|(s, c)| CodeSystem::parse(s).and_then(|sys| self.kb.vocab.lookup(sys, c)))
    }

    fn date(&self, path: &str, s: &Option<String>) -> Result<Option<Date>, InputError> {
        s.as_deref().map(|s| dates::parse(path, s)).transpose()
    }

    // ------------------------------------------------------------------------------ Patient

    fn patient_resource(&mut self, i: &Item<'_>) -> Result<(), InputError> {
        let p: model::Patient = model::read(i.value, &i.path)?;
        if let Some(b) = &p.birthDate {
            let bpath = join(&i.path, "birthDate");
            let birth = dates::parse(&bpath, b)?;
            self.patient.insert(
                "age_years".into(),
                json!(dates::age_years(birth, self.as_of)),
            );
            self.origin("patient.age_years".into(), bpath);
        }
        if let Some(g) = &p.gender {
            let gpath = join(&i.path, "gender");
            if !matches!(g.as_str(), "male" | "female" | "other" | "unknown") {
                return Err(InputError::new(
                    gpath,
                    format!("`{g}` is not a FHIR administrative gender; expected male, female, other or unknown"),
                ));
            }
            self.patient.insert("sex".into(), json!(g));
            self.origin("patient.sex".into(), gpath);
        }
        let mut parts = Vec::new();
        for url in &self.t.ethnicity_extensions {
            let name = url.rsplit('/').next().unwrap_or(url);
            for (n, e) in p.extension.iter().enumerate() {
                if e.url.as_deref() != Some(url.as_str()) {
                    continue;
                }
                let text = e
                    .extension
                    .iter()
                    .find(|x| x.url.as_deref() == Some("text"))
                    .and_then(|x| x.valueString.clone())
                    .filter(|s| !s.trim().is_empty());
                let omb: Vec<String> = e
                    .extension
                    .iter()
                    .filter(|x| x.url.as_deref() == Some("ombCategory"))
                    .filter_map(|x| x.valueCoding.as_ref()?.display.clone())
                    .collect();
                let value = text.or_else(|| (!omb.is_empty()).then(|| omb.join(", ")));
                if let Some(v) = value {
                    parts.push(v);
                    self.origin(
                        "patient.ethnicity".into(),
                        join(&i.path, &format!("extension[{n}]")),
                    );
                } else {
                    self.skip(
                        &join(&i.path, &format!("extension[{n}]")),
                        format!("{name} extension without text or an ombCategory display"),
                    );
                }
            }
        }
        if !parts.is_empty() {
            self.patient
                .insert("ethnicity".into(), json!(parts.join("; ")));
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------ Observation

    fn observation(&mut self, i: &Item<'_>) -> Result<(), InputError> {
        let o: model::Observation = model::read(i.value, &i.path)?;
        let p = |rel: &str| join(&i.path, rel);
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
        if !self.for_patient(o.subject.as_ref(), &i.path) {
            return Ok(());
        }
        // The date: effective[x], else issued.
        let (date, date_path) = {
            let candidates = [
                (&o.effectiveDateTime, p("effectiveDateTime")),
                (
                    &o.effectivePeriod.as_ref().and_then(|x| x.start.clone()),
                    p("effectivePeriod.start"),
                ),
                (&o.effectiveInstant, p("effectiveInstant")),
                (&o.issued, p("issued")),
            ];
            let mut found = (None, None);
            for (v, path) in candidates {
                if let Some(d) = self.date(&path, v)? {
                    if found.0.is_none() {
                        found = (Some(d), Some(path));
                    }
                }
            }
            found
        };
        let Some(code) = &o.code else {
            self.skip(&i.path, "no code");
            return Ok(());
        };
        let pairs = code.pairs();
        let vcc = o.valueCodeableConcept.clone().unwrap_or_default();
        let vpairs = vcc.pairs();
        let vpath = p("valueCodeableConcept");

        if self.t.any("pregnancy_status_observation", &pairs) {
            let value = if self.t.any("pregnant", &vpairs) {
                Some(true)
            } else if self.t.any("not_pregnant", &vpairs) {
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
                        self.pregnancy_obs = Some((date, v, vpath));
                    }
                }
                None => self.skip(
                    &i.path,
                    "pregnancy status without a value read as pregnant or not pregnant",
                ),
            }
            return Ok(());
        }
        if self.t.any("breastfeeding_status_observation", &pairs) {
            let value = if self.t.any("breastfeeding", &vpairs) {
                Some((true, vpath))
            } else if self.t.any("not_breastfeeding", &vpairs) {
                Some((false, vpath))
            } else {
                o.valueBoolean.map(|b| (b, p("valueBoolean")))
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
            return Ok(());
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
                        let mut e = Map::new();
                        e.insert("code".into(), json!({ "system": LOINC, "code": c }));
                        match v {
                            LabValue::Number { value, unit, .. } => {
                                e.insert("value".into(), json!(value));
                                if let Some((u, _)) = unit {
                                    e.insert("unit".into(), json!(u));
                                }
                            }
                            LabValue::Result(r) => {
                                e.insert("result".into(), json!(r));
                            }
                            LabValue::None => {}
                        }
                        self.push("labs", Value::Object(e), &i.path);
                    }
                }
            }
        }
        Ok(())
    }

    fn lab_value(&self, o: &model::Observation, path: &str) -> LabValue {
        if let Some(q) = &o.valueQuantity {
            if let Some(value) = q.value {
                return LabValue::Number {
                    value,
                    unit: unit_of(q, &join(path, "valueQuantity")),
                    comparator: q.comparator.clone(),
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

    fn qualitative(&self, cc: &CodeableConcept) -> Option<&'static str> {
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
        o: &model::Observation,
        test: String,
        value: LabValue,
        date: Option<(Date, String)>,
    ) -> Result<(), InputError> {
        let analyte = self.kb.analytes.get(&test);
        let numeric = analyte.is_some_and(|a| !a.units.is_empty());
        let mut e = Map::new();
        e.insert("test".into(), json!(test));
        let mut subs: Vec<(&str, String)> = Vec::new();
        match value {
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
                e.insert("result".into(), json!(r));
                subs.push(("result", join(&i.path, "valueCodeableConcept")));
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
                e.insert("value".into(), json!(value));
                subs.push(("value", join(&i.path, "valueQuantity.value")));
                let unit_text = unit.as_ref().map(|(u, _)| u.clone());
                match unit {
                    Some((u, upath)) => {
                        e.insert("unit".into(), json!(u));
                        subs.push(("unit", upath));
                    }
                    None => subs.push(("unit", join(&i.path, "valueQuantity"))),
                }
                if let Some(c) = comparator {
                    e.insert("comparator".into(), json!(c));
                    subs.push(("comparator", join(&i.path, "valueQuantity.comparator")));
                }
                if let Some(range) = o.referenceRange.first() {
                    let rpath = join(&i.path, "referenceRange[0]");
                    let mut mismatched = false;
                    for (field, q, rel) in [
                        ("reference_low", &range.low, "low"),
                        ("reference_high", &range.high, "high"),
                    ] {
                        let Some(q) = q else { continue };
                        let Some(v) = q.value else { continue };
                        let qpath = join(&rpath, rel);
                        let qunit = unit_of(q, &qpath).map(|(u, _)| u);
                        if qunit.is_some() && !same_unit(qunit.as_deref(), unit_text.as_deref()) {
                            mismatched = true;
                            continue;
                        }
                        e.insert(field.into(), json!(v));
                        subs.push((field, join(&qpath, "value")));
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
            e.insert("date".into(), json!(dates::format(d)));
            subs.push(("date", dpath));
        }
        let cp = self.push("labs", Value::Object(e), &i.path);
        for (field, path) in subs {
            self.origin(format!("{cp}.{field}"), path);
        }
        Ok(())
    }

    fn finding(&mut self, id: String, path: &str) {
        let exists = self
            .lists
            .get("findings")
            .is_some_and(|v| v.iter().any(|f| f["concept"] == id.as_str()));
        if exists {
            self.skip(path, format!("finding `{id}` already recorded"));
        } else {
            self.push("findings", json!({ "concept": id }), path);
        }
    }

    // ------------------------------------------------------------------------------ Condition

    fn condition(&mut self, i: &Item<'_>) -> Result<(), InputError> {
        let c: model::Condition = model::read(i.value, &i.path)?;
        let p = |rel: &str| join(&i.path, rel);
        let verification = c.verificationStatus.clone().unwrap_or_default();
        let vpairs = verification.pairs();
        if self.t.any("condition_verification_excluded", &vpairs) {
            self.skip(
                &i.path,
                format!("verification status {}", codes_text(&vpairs)),
            );
            return Ok(());
        }
        if let Some(cs) = &c.clinicalStatus {
            let cpairs = cs.pairs();
            if !self.t.any("condition_clinical_counts", &cpairs) {
                self.skip(
                    &i.path,
                    format!("clinical status {}: not present now", codes_text(&cpairs)),
                );
                return Ok(());
            }
        }
        if !self.for_patient(c.subject.as_ref(), &i.path) {
            return Ok(());
        }
        let (since, since_path) = match (
            &c.onsetDateTime,
            c.onsetPeriod.as_ref().and_then(|x| x.start.clone()),
        ) {
            (Some(s), _) => (
                Some(dates::parse(&p("onsetDateTime"), s)?),
                p("onsetDateTime"),
            ),
            (None, Some(s)) => (
                Some(dates::parse(&p("onsetPeriod.start"), &s)?),
                p("onsetPeriod.start"),
            ),
            (None, None) => (None, String::new()),
        };
        let Some(code) = &c.code else {
            self.skip(&i.path, "no code");
            return Ok(());
        };
        let pairs = code.pairs();
        if self.t.any("pregnancy_condition", &pairs) {
            if self.pregnancy_cond.is_none() {
                self.pregnancy_cond = Some(p("code"));
            }
            return Ok(());
        }
        let suspected = self.t.any("condition_verification_suspected", &vpairs);
        let concept = self.concept(code).map(|c| (c.id.clone(), c.kind));
        let dated = |key: &str, entry: &mut Map<String, Value>| {
            if let Some(d) = since {
                entry.insert(key.into(), json!(dates::format(d)));
            }
        };
        match concept {
            Some((id, Kind::Condition)) => {
                if id == "multiple_sclerosis" && suspected {
                    if self.ms_status.is_none() {
                        self.ms_status = Some(("suspected", p("verificationStatus"), false));
                    }
                    return Ok(());
                }
                if id == "multiple_sclerosis" {
                    let course = pairs
                        .iter()
                        .find_map(|(s, c)| self.t.ms_status(s, c))
                        .and_then(ms_status_static);
                    if let Some(status) = course {
                        if self
                            .ms_status
                            .as_ref()
                            .is_none_or(|(_, _, by_code)| !by_code)
                        {
                            self.ms_status = Some((status, p("code"), true));
                        }
                    }
                }
                let mut e = Map::new();
                e.insert("concept".into(), json!(id));
                dated("since", &mut e);
                let cp = self.push("conditions", Value::Object(e), &i.path);
                if since.is_some() {
                    self.origin(format!("{cp}.since"), since_path);
                }
            }
            Some((id, Kind::Finding)) => self.finding(id, &i.path),
            Some((id, Kind::Procedure)) => {
                let mut e = Map::new();
                e.insert("concept".into(), json!(id));
                dated("date", &mut e);
                let cp = self.push("procedures", Value::Object(e), &i.path);
                if since.is_some() {
                    self.origin(format!("{cp}.date"), since_path);
                }
            }
            Some((id, kind)) => self.skip(
                &i.path,
                format!(
                    "the code maps to `{id}`, a {} concept, which a Condition does not carry",
                    kind.as_str()
                ),
            ),
            None => match pairs.first() {
                Some((s, c)) => {
                    let mut e = Map::new();
                    e.insert("code".into(), json!({ "system": s, "code": c }));
                    dated("since", &mut e);
                    let cp = self.push("conditions", Value::Object(e), &i.path);
                    if since.is_some() {
                        self.origin(format!("{cp}.since"), since_path);
                    }
                }
                None => self.skip(&i.path, "no coded diagnosis (text only)"),
            },
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------ Medicines

    fn medication_use(&mut self, i: &Item<'_>, request: bool) -> Result<(), InputError> {
        let u: model::MedicationUse = model::read(i.value, &i.path)?;
        let p = |rel: &str| join(&i.path, rel);
        let (status_set, status_system) = if request {
            (
                "medication_request_status_counts",
                "http://hl7.org/fhir/CodeSystem/medicationrequest-status",
            )
        } else {
            (
                "medication_statement_status_counts",
                "http://hl7.org/fhir/CodeSystem/medication-statement-status",
            )
        };
        let status = u.status.clone().unwrap_or_default();
        if !self.t.set(status_set).contains(status_system, &status) {
            self.skip(
                &i.path,
                if status.is_empty() {
                    "no status".to_string()
                } else {
                    format!("status {status}: not taken")
                },
            );
            return Ok(());
        }
        if !self.for_patient(u.subject.as_ref(), &i.path) {
            return Ok(());
        }
        // The medicine's codes.
        let code = match (&u.medicationCodeableConcept, &u.medicationReference) {
            (Some(cc), _) => cc.clone(),
            (None, Some(r)) => match self.medication_ref(&u, r, &p("medicationReference"))? {
                Some(cc) => cc,
                None => {
                    self.skip(
                        &i.path,
                        format!(
                            "medicationReference {} names no Medication in the input",
                            r.reference.as_deref().unwrap_or("(empty)")
                        ),
                    );
                    return Ok(());
                }
            },
            (None, None) => {
                self.skip(&i.path, "no medication");
                return Ok(());
            }
        };
        // When: start, end, months.
        let (start, start_path) = {
            let candidates: Vec<(Option<String>, String)> = if request {
                vec![
                    (u.authoredOn.clone(), p("authoredOn")),
                    (
                        u.dispenseRequest
                            .as_ref()
                            .and_then(|d| d.validityPeriod.as_ref())
                            .and_then(|v| v.start.clone()),
                        p("dispenseRequest.validityPeriod.start"),
                    ),
                ]
            } else {
                vec![
                    (
                        u.effectivePeriod.as_ref().and_then(|x| x.start.clone()),
                        p("effectivePeriod.start"),
                    ),
                    (u.effectiveDateTime.clone(), p("effectiveDateTime")),
                ]
            };
            let mut found = (None, String::new());
            for (v, path) in candidates {
                if let Some(d) = self.date(&path, &v)? {
                    if found.0.is_none() {
                        found = (Some(d), path);
                    }
                }
            }
            found
        };
        let end = if request {
            None
        } else {
            self.date(
                &p("effectivePeriod.end"),
                &u.effectivePeriod.as_ref().and_then(|x| x.end.clone()),
            )?
        };
        let current_status = self
            .t
            .set("medication_status_current")
            .contains(status_system, &status);
        let current = current_status && end.is_none_or(|e| e >= self.as_of);
        let until = end.map_or(self.as_of, |e| e.min(self.as_of));
        let months = start
            .filter(|s| *s <= until)
            .map(|s| dates::months_between(s, until));

        let concept = self.concept(&code).cloned();
        let medication = |m: &mut Mapper<'_>, what: Value| {
            let mut e = Map::new();
            if let Value::Object(o) = what {
                e.extend(o);
            }
            if let Some(mo) = months {
                e.insert("months".into(), json!(mo));
            }
            e.insert("current".into(), json!(current));
            let cp = m.push("medications", Value::Object(e), &i.path);
            if months.is_some() {
                m.origin(format!("{cp}.months"), start_path.clone());
            }
        };
        match concept {
            Some(c) if c.kind == Kind::B12Product => {
                let routes: Vec<(String, String)> = u
                    .dosage
                    .iter()
                    .chain(&u.dosageInstruction)
                    .filter_map(|d| d.route.as_ref())
                    .flat_map(|r| {
                        r.pairs()
                            .into_iter()
                            .map(|(s, c)| (s.to_string(), c.to_string()))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let routes: Vec<(&str, &str)> = routes
                    .iter()
                    .map(|(s, c)| (s.as_str(), c.as_str()))
                    .collect();
                let route = if self.t.any("route_intramuscular", &routes) {
                    Some("intramuscular")
                } else if self.t.any("route_oral", &routes) {
                    Some("oral")
                } else if routes.is_empty()
                    && c.codes.iter().any(|(s, code)| {
                        self.t
                            .set("b12_intramuscular_when_route_unknown")
                            .contains(s.as_str(), code)
                    })
                {
                    Some("intramuscular")
                } else {
                    None
                };
                match route {
                    Some(r) if current => {
                        let better = match &self.b12 {
                            None => true,
                            Some((have, since, _, _)) => {
                                (r == "intramuscular" && *have != "intramuscular")
                                    || (r == *have
                                        && start.is_some()
                                        && (since.is_none() || start < *since))
                            }
                        };
                        if better {
                            let sp = start.map(|_| start_path.clone());
                            self.b12 = Some((r, start, i.path.clone(), sp));
                        } else {
                            medication(self, json!({ "concept": c.id }));
                        }
                    }
                    _ => medication(self, json!({ "concept": c.id })),
                }
            }
            Some(c) if c.kind == Kind::Medication => medication(self, json!({ "concept": c.id })),
            Some(c) if c.kind == Kind::Exposure => {
                let mut e = Map::new();
                e.insert("concept".into(), json!(c.id));
                if let Some(last) = end.or(start) {
                    e.insert("last".into(), json!(dates::format(last)));
                }
                self.push("exposures", Value::Object(e), &i.path);
            }
            Some(c) => self.skip(
                &i.path,
                format!(
                    "the medicine maps to `{}`, a {} concept",
                    c.id,
                    c.kind.as_str()
                ),
            ),
            None => match code.pairs().first() {
                Some((s, c)) => medication(self, json!({ "code": { "system": s, "code": c } })),
                None => self.skip(&i.path, "no coded medicine (text only)"),
            },
        }
        Ok(())
    }

    /// The code of a referenced Medication: contained (`#id`) or in the input.
    fn medication_ref(
        &mut self,
        u: &model::MedicationUse,
        r: &Reference,
        path: &str,
    ) -> Result<Option<CodeableConcept>, InputError> {
        let Some(reference) = r.reference.as_deref() else {
            return Ok(None);
        };
        if let Some(local) = reference.strip_prefix('#') {
            for (n, v) in u.contained.iter().enumerate() {
                let cpath = join(
                    path.trim_end_matches(".medicationReference"),
                    &format!("contained[{n}]"),
                );
                if v.get("resourceType").and_then(Value::as_str) != Some("Medication") {
                    continue;
                }
                let med: model::Medication = model::read(v, &cpath)?;
                if med.id.as_deref() == Some(local) {
                    return Ok(Some(med.code.unwrap_or_default()));
                }
            }
            return Ok(None);
        }
        let key = self
            .medications
            .keys()
            .find(|k| {
                k.as_str() == reference
                    || (k.starts_with("Medication/")
                        && reference
                            .strip_suffix(k.as_str())
                            .is_some_and(|h| h.is_empty() || h.ends_with('/')))
            })
            .cloned();
        Ok(key.map(|k| {
            let (mpath, cc) = self.medications[&k].clone();
            self.used_medications.push(mpath);
            cc
        }))
    }

    // ------------------------------------------------------------------------------ Procedure

    fn procedure(&mut self, i: &Item<'_>) -> Result<(), InputError> {
        let pr: model::Procedure = model::read(i.value, &i.path)?;
        let p = |rel: &str| join(&i.path, rel);
        let status = pr.status.clone().unwrap_or_default();
        if !self
            .t
            .set("procedure_status_counts")
            .contains("http://hl7.org/fhir/event-status", &status)
        {
            self.skip(
                &i.path,
                if status.is_empty() {
                    "no status".to_string()
                } else {
                    format!("status {status}: not done")
                },
            );
            return Ok(());
        }
        if !self.for_patient(pr.subject.as_ref(), &i.path) {
            return Ok(());
        }
        let (date, date_path) = match (
            &pr.performedDateTime,
            pr.performedPeriod.as_ref().and_then(|x| x.start.clone()),
        ) {
            (Some(s), _) => (
                Some(dates::parse(&p("performedDateTime"), s)?),
                p("performedDateTime"),
            ),
            (None, Some(s)) => (
                Some(dates::parse(&p("performedPeriod.start"), &s)?),
                p("performedPeriod.start"),
            ),
            (None, None) => (None, String::new()),
        };
        let Some(code) = &pr.code else {
            self.skip(&i.path, "no code");
            return Ok(());
        };
        let mut e = Map::new();
        match self.concept(code).map(|c| (c.id.clone(), c.kind)) {
            Some((id, Kind::Procedure)) => {
                e.insert("concept".into(), json!(id));
            }
            Some((id, kind)) => {
                self.skip(
                    &i.path,
                    format!(
                        "the code maps to `{id}`, a {} concept, which a Procedure does not carry",
                        kind.as_str()
                    ),
                );
                return Ok(());
            }
            None => match code.pairs().first() {
                Some((s, c)) => {
                    e.insert("code".into(), json!({ "system": s, "code": c }));
                }
                None => {
                    self.skip(&i.path, "no coded procedure (text only)");
                    return Ok(());
                }
            },
        }
        if let Some(d) = date {
            e.insert("date".into(), json!(dates::format(d)));
        }
        let cp = self.push("procedures", Value::Object(e), &i.path);
        if date.is_some() {
            self.origin(format!("{cp}.date"), date_path);
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------ the case

    fn finish(
        mut self,
        id: Option<String>,
        patient_id: Option<String>,
    ) -> Result<Mapped, InputError> {
        // Pregnancy: a pregnancy status observation is the most direct record; without one, an
        // active pregnancy condition counts.
        match (&self.pregnancy_obs, &self.pregnancy_cond) {
            (Some((_, v, path)), _) => {
                self.patient.insert("pregnant".into(), json!(v));
                self.origins.push(("patient.pregnant".into(), path.clone()));
            }
            (None, Some(path)) => {
                self.patient.insert("pregnant".into(), json!(true));
                self.origins.push(("patient.pregnant".into(), path.clone()));
            }
            (None, None) => {}
        }
        if let Some((_, v, path)) = &self.breastfeeding {
            self.patient.insert("breastfeeding".into(), json!(v));
            self.origins
                .push(("patient.breastfeeding".into(), path.clone()));
        }
        let mut case = Map::new();
        case.insert("format".into(), json!(cobalt_core::case::CASE_FORMAT));
        if let Some(id) = id {
            case.insert("id".into(), json!(id));
        }
        case.insert("as_of".into(), json!(dates::format(self.as_of)));
        if !self.patient.is_empty() {
            case.insert(
                "patient".into(),
                Value::Object(std::mem::take(&mut self.patient)),
            );
        }
        for (list, entries) in std::mem::take(&mut self.lists) {
            case.insert(list.into(), Value::Array(entries));
        }
        if let Some((status, path, _)) = &self.ms_status {
            case.insert("ms".into(), json!({ "status": status }));
            self.origins.push(("ms.status".into(), path.clone()));
        }
        if let Some((status, since, path, since_path)) = &self.b12 {
            let mut r = Map::new();
            r.insert("status".into(), json!(status));
            if let Some(d) = since {
                r.insert("since".into(), json!(dates::format(*d)));
            }
            case.insert("b12_replacement".into(), Value::Object(r));
            self.origins.push(("b12_replacement".into(), path.clone()));
            if let Some(sp) = since_path {
                self.origins
                    .push(("b12_replacement.since".into(), sp.clone()));
            }
        }
        let case = Value::Object(case);
        // The single validation path: the case parser. Its paths are the case's; name the FHIR
        // element instead.
        let parsed =
            match cobalt_core::parse_case_value(case.clone(), &self.kb.vocab, &self.kb.analytes) {
                Ok(p) => p,
                Err(e) => return Err(self.remap(e)),
            };
        Ok(Mapped {
            case,
            patient_id,
            skipped: self.skipped,
            parsed,
        })
    }

    fn remap(&self, e: InputError) -> InputError {
        let best = self
            .origins
            .iter()
            .filter(|(cp, _)| {
                e.path == *cp
                    || e.path
                        .strip_prefix(cp.as_str())
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            })
            .max_by_key(|(cp, _)| cp.len());
        match best {
            Some((cp, fhir)) if *cp == e.path => InputError::new(fhir.clone(), e.message),
            Some((_, fhir)) => InputError::new(
                fhir.clone(),
                format!("{} (case field `{}`)", e.message, e.path),
            ),
            None => e,
        }
    }
}

fn ms_status_static(s: &str) -> Option<&'static str> {
    [
        "clinically_isolated_syndrome",
        "relapsing_remitting",
        "primary_progressive",
        "secondary_progressive",
    ]
    .into_iter()
    .find(|x| *x == s)
}

/// The unit of a quantity: its UCUM `code` when the system is UCUM, else its `unit` (else a
/// `code` of another system); with the path it came from.
fn unit_of(q: &Quantity, path: &str) -> Option<(String, String)> {
    let ucum = q.system.as_deref() == Some(UCUM);
    match (&q.code, &q.unit) {
        (Some(c), _) if ucum => Some((c.clone(), join(path, "code"))),
        (_, Some(u)) => Some((u.clone(), join(path, "unit"))),
        (Some(c), None) => Some((c.clone(), join(path, "code"))),
        (None, None) => None,
    }
}

fn same_unit(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            let (pa, pb) = (
                cobalt_core::units::Unit::parse(a),
                cobalt_core::units::Unit::parse(b),
            );
            match (pa, pb) {
                (Some(x), Some(y)) => x == y,
                _ => a.trim().eq_ignore_ascii_case(b.trim()),
            }
        }
        _ => false,
    }
}

/// A qualitative result written as text.
fn qualitative_text(s: &str) -> Option<&'static str> {
    match s.trim().to_ascii_lowercase().as_str() {
        "positive" | "pos" | "detected" | "reactive" => Some("positive"),
        "negative" | "neg" | "not detected" | "non-reactive" | "nonreactive" => Some("negative"),
        "equivocal" | "borderline" | "indeterminate" | "inconclusive" => Some("equivocal"),
        _ => None,
    }
}

fn codes_text(pairs: &[(&str, &str)]) -> String {
    let codes: Vec<&str> = pairs.iter().map(|(_, c)| *c).collect();
    if codes.is_empty() {
        "(uncoded)".into()
    } else {
        codes.join(", ")
    }
}
