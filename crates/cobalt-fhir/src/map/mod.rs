//! The mapping itself: finds the patient, maps each resource straight into the case's typed
//! wire shape (`cobalt_core::case::RawCase`, one module per resource type), then runs the one
//! validation (`cobalt_core::case::validate`) and names any problem by the FHIR path it came
//! from. No JSON tree and no case document are built on the way.

mod admit;
mod condition;
mod medication;
mod observation;
mod patient;
mod procedure;

use crate::dates;
use crate::gather::{shown, Gathered, Item};
use crate::model::{self, CodeableConcept, Quantity};
use crate::tables::{tables, Tables};
use crate::{Mapped, Skipped};
use admit::{Attribution, PatientKey};
use cobalt_core::case::{MsStatus, RawCase, RawCode, RawReplacement, ReplacementStatus};
use cobalt_core::vocab::{CodeSystem, Concept};
use cobalt_core::{InputError, KnowledgeBase};
use std::collections::{BTreeMap, HashMap};
use time::Date;

/// UCUM, the code system of units (FHIR R4, Quantity).
const UCUM: &str = "http://unitsofmeasure.org";
/// LOINC's FHIR system URI.
const LOINC: &str = "http://loinc.org";

/// Maps the gathered resources. With `patient`, the case is about that patient: a Patient
/// resource with another id, or a resource whose subject is another patient, is refused, and a
/// resource whose subject does not name them is not used.
pub(crate) fn run(
    g: Gathered<'_>,
    as_of: Date,
    kb: &KnowledgeBase,
    patient: Option<&str>,
) -> Result<Mapped, InputError> {
    let mode = match patient {
        Some(_) => Attribution::Named,
        None => Attribution::Assumed,
    };
    let mut m = map_items(&g, as_of, kb, patient, mode)?;
    // A resource without a subject was taken to be the patient's, but the input holds another
    // patient too: it could be either's. Map again without taking it (only then: an input about
    // one patient is read once).
    if m.assumed && m.others {
        m = map_items(&g, as_of, kb, patient, Attribution::Strict)?;
    }
    let patient_id = m.key.id.clone();
    let id = g.bundle_id.clone().or_else(|| patient_id.clone());
    m.finish(id, patient_id)
}

/// Maps every gathered resource into a case, not yet validated.
fn map_items<'k, 'a>(
    g: &Gathered<'a>,
    as_of: Date,
    kb: &'k KnowledgeBase,
    patient: Option<&str>,
    mode: Attribution,
) -> Result<Mapper<'k, 'a>, InputError> {
    let mut m = Mapper {
        mode,
        assumed: false,
        others: false,
        seen: HashMap::new(),
        repeats: HashMap::new(),
        kb,
        t: tables(),
        as_of,
        case: RawCase::new(),
        origins: Vec::new(),
        skipped: g.skipped.clone(),
        key: PatientKey::default(),
        pregnancy_obs: None,
        rnfl: [None, None],
        pregnancy_cond: None,
        breastfeeding: None,
        ms_status: None,
        b12: None,
        medications: BTreeMap::new(),
        used_medications: Vec::new(),
    };
    // The patient: the one the caller names, else the first Patient resource, else the first
    // subject reference.
    if let Some(id) = patient {
        m.key = PatientKey {
            id: Some(id.to_string()),
            full_url: None,
        };
        for i in g.items.iter().filter(|i| i.kind == "Patient") {
            let p = i.read::<model::Patient>()?;
            if p.id.as_deref() != Some(id) {
                return Err(InputError::new(
                    model::join(&i.path, "id"),
                    format!(
                        "Patient/{} is another patient; this request is about Patient/{id}",
                        p.id.as_deref().unwrap_or("(no id)")
                    ),
                ));
            }
            if m.key.full_url.is_none() {
                m.key.full_url = i.full_url.as_deref().map(str::to_string);
            }
        }
    } else if let Some(p) = g.items.iter().find(|i| i.kind == "Patient") {
        let patient = p.read::<model::Patient>()?;
        m.key = PatientKey {
            id: patient.id.as_deref().map(str::to_string),
            full_url: p.full_url.as_deref().map(str::to_string),
        };
    } else {
        for i in &g.items {
            if let Some(r) = i.subject()?.and_then(|s| s.reference) {
                m.key = PatientKey {
                    id: crate::reference::patient_id(&r).map(str::to_string),
                    full_url: Some(r.into_owned()),
                };
                break;
            }
        }
    }
    // Medications, for references from MedicationStatement and MedicationRequest.
    for i in g.items.iter().filter(|i| i.kind == "Medication") {
        let med = i.read::<model::Medication>()?;
        if let Some(reason) = m.first_seen("Medication", med.id.as_deref(), &i.path) {
            // A repeat is not read again: a reference by its own fullUrl names the first copy.
            let first = med
                .id
                .as_ref()
                .and_then(|id| m.medications.get(&format!("Medication/{id}")).cloned());
            if let (Some(u), Some(first)) = (&i.full_url, first) {
                m.medications.entry(u.to_string()).or_insert(first);
            }
            m.repeats.insert(i.path.clone(), reason);
            continue;
        }
        let mut keys = Vec::new();
        if let Some(id) = &med.id {
            keys.push(format!("Medication/{id}"));
        }
        if let Some(u) = &i.full_url {
            keys.push(u.to_string());
        }
        let code = med.code.clone().unwrap_or_default();
        for k in keys {
            m.medications
                .entry(k)
                .or_insert_with(|| (i.path.clone(), code.clone()));
        }
    }
    let mut first_patient_done = false;
    for i in &g.items {
        match i.kind.as_ref() {
            "Patient" => {
                if first_patient_done {
                    let p = i.read::<model::Patient>()?;
                    let id = p.id.as_deref();
                    if id.is_some() && id == m.key.id.as_deref() {
                        // The patient again: a repeat of the first, skipped as a duplicate.
                        m.first_copy("Patient", id, &i.path);
                    } else {
                        m.another_patient();
                        m.skip(
                            &i.path,
                            format!(
                                "another patient ({}); only the first Patient is used",
                                id.unwrap_or("no id")
                            ),
                        );
                    }
                } else {
                    first_patient_done = true;
                    m.patient_resource(i)?;
                    let id = m.key.id.clone();
                    m.first_copy("Patient", id.as_deref(), &i.path);
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
        if let Some(reason) = m.repeats.remove(&i.path) {
            m.skip(&i.path, reason);
        } else if !m.used_medications.contains(&i.path) {
            m.skip(
                &i.path,
                "a Medication no MedicationStatement or MedicationRequest refers to",
            );
        }
    }
    Ok(m)
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

struct Mapper<'k, 'a> {
    kb: &'k KnowledgeBase,
    /// How a resource whose subject does not name the patient is treated.
    mode: Attribution,
    /// A resource without a subject reference was taken to be the patient's.
    assumed: bool,
    /// The input holds another patient (a Patient with another id, a subject naming another).
    others: bool,
    /// The path of the first resource read with each `Type/id`, to know a repeat.
    seen: HashMap<String, String>,
    /// Repeated Medication resources by path: the reason each is not used.
    repeats: HashMap<String, String>,
    t: &'static Tables,
    as_of: Date,
    case: RawCase,
    /// (case path, FHIR path) pairs, to name a validation error by the FHIR path.
    origins: Vec<(String, String)>,
    skipped: Vec<Skipped>,
    key: PatientKey,
    /// The latest pregnancy status observation: (date, pregnant, path of its value).
    pregnancy_obs: Option<(Option<Date>, bool, String)>,
    /// The latest OCT RNFL thickness of the right and the left eye: (date, um, path).
    rnfl: [Option<(Option<Date>, f64, String)>; 2],
    /// The path of the first active pregnancy condition.
    pregnancy_cond: Option<String>,
    breastfeeding: Option<(Option<Date>, bool, String)>,
    /// (status, path, set by a course code).
    ms_status: Option<(MsStatus, String, bool)>,
    /// (route, since, path, since path).
    b12: Option<(ReplacementStatus, Option<Date>, String, Option<String>)>,
    /// Medication resources by reference key: (path, code).
    medications: BTreeMap<String, (String, CodeableConcept<'a>)>,
    used_medications: Vec<String>,
}

impl<'k, 'a> Mapper<'k, 'a> {
    fn skip(&mut self, path: &str, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            path: shown(path).to_string(),
            reason: reason.into(),
        });
    }

    /// Records that entry `n` of a case list came from `resource`; returns its case path.
    fn entry(&mut self, list: &'static str, n: usize, resource: &str) -> String {
        let mut case_path = String::with_capacity(list.len() + 8);
        case_path.push_str(list);
        case_path.push('[');
        case_path.push_str(&n.to_string());
        case_path.push(']');
        self.origins
            .push((case_path.clone(), shown(resource).to_string()));
        case_path
    }

    fn origin(&mut self, case_path: String, fhir: String) {
        self.origins.push((case_path, fhir));
    }

    fn concept(&self, cc: &CodeableConcept<'_>) -> Option<&'k Concept> {
        let kb = self.kb;
        cc.pairs()
            .into_iter()
            .find_map(|(s, c)| CodeSystem::parse(s).and_then(|sys| kb.vocab.lookup(sys, c)))
    }

    fn date(&self, path: &str, s: Option<&str>) -> Result<Option<Date>, InputError> {
        s.map(|s| dates::parse(path, s)).transpose()
    }

    fn finish(
        mut self,
        id: Option<String>,
        patient_id: Option<String>,
    ) -> Result<Mapped, InputError> {
        // Pregnancy: a pregnancy status observation is the most direct record; without one, an
        // active pregnancy condition counts.
        let pregnant = match (&self.pregnancy_obs, &self.pregnancy_cond) {
            (Some((_, v, path)), _) => Some((*v, path.clone())),
            (None, Some(path)) => Some((true, path.clone())),
            (None, None) => None,
        };
        if let Some((v, path)) = pregnant {
            self.patient().pregnant = Some(v);
            self.origins.push(("patient.pregnant".into(), path));
        }
        if let Some((_, v, path)) = self.breastfeeding.clone() {
            self.patient().breastfeeding = Some(v);
            self.origins.push(("patient.breastfeeding".into(), path));
        }
        if let [Some((_, r, rp)), Some((_, l, _))] = &self.rnfl {
            self.case.optic_nerve = Some(cobalt_core::case::RawOpticNerve {
                oct_prnfl_intereye_difference_um: Some(cobalt_core::units::round_sig(
                    (r - l).abs(),
                    9,
                )),
                ..Default::default()
            });
            self.origins.push((
                "optic_nerve.oct_prnfl_intereye_difference_um".into(),
                rp.clone(),
            ));
        }
        self.case.id = id;
        self.case.as_of = Some(dates::format(self.as_of));
        if let Some((status, path, _)) = self.ms_status.clone() {
            self.case.ms = Some(cobalt_core::case::RawMs {
                status: Some(status),
                ..Default::default()
            });
            self.origins.push(("ms.status".into(), path));
        }
        if let Some((status, since, path, since_path)) = self.b12.clone() {
            self.case.b12_replacement = Some(RawReplacement {
                status,
                since: since.map(dates::format),
                daily_dose_mcg: None,
            });
            self.origins.push(("b12_replacement".into(), path));
            if let Some(sp) = since_path {
                self.origins.push(("b12_replacement.since".into(), sp));
            }
        }
        // The single validation path: the case's own. Its paths are the case's; name the FHIR
        // element instead.
        let parsed =
            match cobalt_core::case::validate(self.case.clone(), &self.kb.vocab, &self.kb.analytes)
            {
                Ok(p) => p,
                Err(e) => return Err(self.remap(e)),
            };
        Ok(Mapped {
            case: self.case,
            patient_id,
            skipped: self.skipped,
            parsed,
        })
    }

    fn patient(&mut self) -> &mut cobalt_core::case::RawPatient {
        self.case.patient.get_or_insert_with(Default::default)
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

/// A code entry of the case: a code that maps to no concept, kept as unrecognised.
fn raw_code(system: &str, code: &str) -> RawCode {
    RawCode {
        system: system.to_string(),
        code: code.to_string(),
    }
}

/// The unit of a quantity: its UCUM `code` when the system is UCUM, else its `unit` (else a
/// `code` of another system); with the path it came from.
fn unit_of(q: &Quantity<'_>, path: &str) -> Option<(String, String)> {
    let ucum = q.system.as_deref() == Some(UCUM);
    match (&q.code, &q.unit) {
        (Some(c), _) if ucum => Some((c.to_string(), model::join(path, "code"))),
        (_, Some(u)) => Some((u.to_string(), model::join(path, "unit"))),
        (Some(c), None) => Some((c.to_string(), model::join(path, "code"))),
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
                (Some(x), Some(y)) => x.same_size(y),
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

/// An item's path joined with a field.
fn at(i: &Item<'_>, rel: &str) -> String {
    model::join(&i.path, rel)
}
