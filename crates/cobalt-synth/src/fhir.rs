//! Writes a `Person` as FHIR R4 resources, one JSON object per call, without the newline.
//! Field order is fixed, so output is byte-for-byte reproducible.

use time::{Date, Duration, Month};

use crate::codes::{self, Coded};
use crate::json::{date, date_time, decimal, padded, raw, uint};
use crate::malformed::Fault;
use crate::person::{Cond, Lab, Med, Person, Proc, Value};

/// The resource types written, in manifest order.
pub const TYPES: [&str; 6] = [
    "Patient",
    "Observation",
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
    "Procedure",
];

/// Positions in `TYPES`.
pub const PATIENT: usize = 0;
pub const OBSERVATION: usize = 1;
pub const CONDITION: usize = 2;
pub const MEDICATION_REQUEST: usize = 3;
pub const MEDICATION_STATEMENT: usize = 4;
pub const PROCEDURE: usize = 5;

const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
const CONDITION_VER: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
const US_CORE_RACE: &str = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race";

/// Dates relative to `as_of`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub as_of: Date,
}

impl Clock {
    /// The date `days` before `as_of`.
    pub fn ago(self, days: u32) -> Date {
        self.as_of - Duration::days(i64::from(days))
    }

    /// The date `days` after `as_of`.
    pub fn ahead(self, days: u32) -> Date {
        self.as_of + Duration::days(i64::from(days))
    }

    /// A birth date `age` years and `extra_days` before `as_of`.
    pub fn birth(self, age: u32, extra_days: u32) -> Date {
        let year = self.as_of.year() - age as i32;
        let anniversary = self.as_of.replace_year(year).unwrap_or_else(|_| {
            // 29 February in a common year.
            Date::from_calendar_date(year, Month::February, 28).unwrap_or(self.as_of)
        });
        anniversary - Duration::days(i64::from(extra_days))
    }
}

/// `"id":"<prefix><9 digits>-<n>"`.
fn id(buf: &mut Vec<u8>, prefix: &str, p: &Person, n: usize) {
    raw(buf, "\"id\":\"");
    raw(buf, prefix);
    padded(buf, p.index, 9);
    buf.push(b'-');
    uint(buf, n as u64 + 1);
    buf.push(b'"');
}

fn subject(buf: &mut Vec<u8>, p: &Person) {
    raw(buf, ",\"subject\":{\"reference\":\"Patient/p");
    padded(buf, p.index, 9);
    raw(buf, "\"}");
}

fn quoted_date(buf: &mut Vec<u8>, d: Date) {
    buf.push(b'"');
    date(buf, d);
    buf.push(b'"');
}

fn coding(buf: &mut Vec<u8>, system: &str, code: &str, display: Option<&str>) {
    raw(buf, "{\"system\":\"");
    raw(buf, system);
    raw(buf, "\",\"code\":\"");
    raw(buf, code);
    if let Some(d) = display {
        raw(buf, "\",\"display\":\"");
        raw(buf, d);
    }
    raw(buf, "\"}");
}

fn coded_concept(buf: &mut Vec<u8>, c: &Coded) {
    raw(buf, "{\"coding\":[");
    coding(buf, c.system, c.code, Some(c.display));
    raw(buf, "]}");
}

/// `{"coding":[{"system":..,"code":..}]}` with no display.
fn status_concept(buf: &mut Vec<u8>, system: &str, code: &str) {
    raw(buf, "{\"coding\":[");
    coding(buf, system, code, None);
    raw(buf, "]}");
}

/// A Patient.
pub fn patient(buf: &mut Vec<u8>, p: &Person, clock: Clock) {
    raw(buf, "{\"resourceType\":\"Patient\",\"id\":\"p");
    padded(buf, p.index, 9);
    buf.push(b'"');
    if let Some(r) = p.race {
        let (code, display) = codes::RACES[r];
        raw(buf, ",\"extension\":[{\"url\":\"");
        raw(buf, US_CORE_RACE);
        raw(
            buf,
            "\",\"extension\":[{\"url\":\"ombCategory\",\"valueCoding\":",
        );
        coding(buf, codes::OMB_RACE, code, Some(display));
        raw(buf, "},{\"url\":\"text\",\"valueString\":\"");
        raw(buf, display);
        raw(buf, "\"}]}]");
    }
    raw(buf, ",\"active\":true,\"gender\":\"");
    raw(buf, p.sex.code());
    raw(buf, "\",\"birthDate\":");
    quoted_date(buf, clock.birth(p.age, p.birth_days_before_birthday));
    buf.push(b'}');
}

fn quantity(
    buf: &mut Vec<u8>,
    scaled: i64,
    places: u32,
    unit: codes::Unit,
    comparator: Option<&str>,
    string: bool,
) {
    buf.push(b'{');
    if let Some(c) = comparator {
        raw(buf, "\"comparator\":\"");
        raw(buf, c);
        raw(buf, "\",");
    }
    raw(buf, "\"value\":");
    if string {
        buf.push(b'"');
    }
    decimal(buf, scaled, places);
    if string {
        buf.push(b'"');
    }
    raw(buf, ",\"unit\":\"");
    raw(buf, unit.text);
    raw(buf, "\",\"system\":\"");
    raw(buf, codes::UCUM);
    raw(buf, "\",\"code\":\"");
    raw(buf, unit.ucum);
    raw(buf, "\"}");
}

/// An Observation; `fault` may be `StringValue` or `WrongUnit` for a quantity.
pub fn observation(buf: &mut Vec<u8>, p: &Person, n: usize, lab: &Lab, clock: Clock, fault: Fault) {
    let spec = lab.test.spec();
    raw(buf, "{\"resourceType\":\"Observation\",");
    id(buf, "o", p, n);
    raw(buf, ",\"status\":\"final\",\"code\":{\"coding\":[");
    coding(buf, codes::LOINC, spec.loinc, None);
    raw(buf, "],\"text\":\"");
    raw(buf, spec.text);
    raw(buf, "\"}");
    subject(buf, p);
    raw(buf, ",\"effectiveDateTime\":\"");
    date_time(buf, clock.ago(lab.days_ago), lab.minute);
    buf.push(b'"');
    match (lab.value, spec.quantity) {
        (
            Value::Quantity {
                scaled,
                comparator,
                low,
                high,
            },
            Some(q),
        ) => {
            let unit = if fault == Fault::WrongUnit {
                q.impossible
            } else {
                q.unit
            };
            raw(buf, ",\"valueQuantity\":");
            quantity(
                buf,
                scaled,
                q.places,
                unit,
                comparator,
                fault == Fault::StringValue,
            );
            if low.is_some() || high.is_some() {
                raw(buf, ",\"referenceRange\":[{");
                if let Some(l) = low {
                    raw(buf, "\"low\":");
                    quantity(buf, l, q.places, q.unit, None, false);
                }
                if let Some(h) = high {
                    if low.is_some() {
                        buf.push(b',');
                    }
                    raw(buf, "\"high\":");
                    quantity(buf, h, q.places, q.unit, None, false);
                }
                raw(buf, "}]");
            }
        }
        (Value::Code(c), _) => {
            raw(buf, ",\"valueCodeableConcept\":");
            coded_concept(buf, &c);
        }
        // A quantity for a coded test cannot be drawn; write no value rather than panic.
        (Value::Quantity { .. }, None) => {}
    }
    buf.push(b'}');
}

/// Whether `lab` is written with a `valueQuantity`.
pub fn is_quantity(lab: &Lab) -> bool {
    matches!(lab.value, Value::Quantity { .. }) && lab.test.spec().quantity.is_some()
}

/// A Condition.
pub fn condition(buf: &mut Vec<u8>, p: &Person, n: usize, c: &Cond, clock: Clock) {
    raw(buf, "{\"resourceType\":\"Condition\",");
    id(buf, "c", p, n);
    raw(buf, ",\"clinicalStatus\":");
    let clinical = if c.abated_days_ago.is_some() {
        "resolved"
    } else {
        "active"
    };
    status_concept(buf, CONDITION_CLINICAL, clinical);
    raw(buf, ",\"verificationStatus\":");
    let ver = if c.provisional {
        "provisional"
    } else {
        "confirmed"
    };
    status_concept(buf, CONDITION_VER, ver);
    raw(buf, ",\"code\":{\"coding\":[");
    for (i, (system, code)) in c.code.codings.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        coding(buf, system, code, None);
    }
    raw(buf, "],\"text\":\"");
    raw(buf, c.code.text);
    raw(buf, "\"}");
    subject(buf, p);
    raw(buf, ",\"onsetDateTime\":");
    quoted_date(buf, clock.ago(c.onset_days_ago));
    if let Some(a) = c.abated_days_ago {
        raw(buf, ",\"abatementDateTime\":");
        quoted_date(buf, clock.ago(a));
    }
    buf.push(b'}');
}

fn medication(buf: &mut Vec<u8>, m: &Med) {
    raw(buf, ",\"medicationCodeableConcept\":{\"coding\":[");
    coding(buf, codes::ATC, m.drug.atc, Some(m.drug.display));
    raw(buf, "],\"text\":\"");
    raw(buf, m.drug.text);
    raw(buf, "\"}");
}

fn route(buf: &mut Vec<u8>, field: &str, m: &Med) {
    if let Some(r) = &m.drug.route {
        raw(buf, ",\"");
        raw(buf, field);
        raw(buf, "\":[{\"route\":");
        coded_concept(buf, r);
        raw(buf, "}]");
    }
}

fn med_status(m: &Med) -> &'static str {
    if m.end_days_ago.is_some() {
        "completed"
    } else {
        "active"
    }
}

/// A MedicationRequest: `authoredOn` is the course's start, the validity period runs to its
/// end (or to a date after `as_of` while active).
pub fn medication_request(buf: &mut Vec<u8>, p: &Person, n: usize, m: &Med, clock: Clock) {
    raw(buf, "{\"resourceType\":\"MedicationRequest\",");
    id(buf, "mr", p, n);
    raw(buf, ",\"status\":\"");
    raw(buf, med_status(m));
    raw(buf, "\",\"intent\":\"order\"");
    medication(buf, m);
    subject(buf, p);
    raw(buf, ",\"authoredOn\":");
    let start = clock.ago(m.start_days_ago);
    quoted_date(buf, start);
    route(buf, "dosageInstruction", m);
    raw(buf, ",\"dispenseRequest\":{\"validityPeriod\":{\"start\":");
    quoted_date(buf, start);
    raw(buf, ",\"end\":");
    let end = match m.end_days_ago {
        Some(e) => clock.ago(e),
        // Repeat prescriptions run on: a validity end 1 to 6 months ahead, fixed by the start.
        None => clock.ahead(30 + m.start_days_ago % 150),
    };
    quoted_date(buf, end);
    raw(buf, "}}}");
}

/// A MedicationStatement with an `effectivePeriod` (no end while active).
pub fn medication_statement(buf: &mut Vec<u8>, p: &Person, n: usize, m: &Med, clock: Clock) {
    raw(buf, "{\"resourceType\":\"MedicationStatement\",");
    id(buf, "ms", p, n);
    raw(buf, ",\"status\":\"");
    raw(buf, med_status(m));
    buf.push(b'"');
    medication(buf, m);
    subject(buf, p);
    raw(buf, ",\"effectivePeriod\":{\"start\":");
    quoted_date(buf, clock.ago(m.start_days_ago));
    if let Some(e) = m.end_days_ago {
        raw(buf, ",\"end\":");
        quoted_date(buf, clock.ago(e));
    }
    buf.push(b'}');
    route(buf, "dosage", m);
    buf.push(b'}');
}

/// A Procedure (completed).
pub fn procedure(buf: &mut Vec<u8>, p: &Person, n: usize, pr: &Proc, clock: Clock) {
    raw(buf, "{\"resourceType\":\"Procedure\",");
    id(buf, "pr", p, n);
    raw(buf, ",\"status\":\"completed\",\"code\":{\"coding\":[");
    coding(buf, codes::SNOMED, pr.code.code, None);
    raw(buf, "],\"text\":\"");
    raw(buf, pr.code.text);
    raw(buf, "\"}");
    subject(buf, p);
    raw(buf, ",\"performedDateTime\":");
    quoted_date(buf, clock.ago(pr.days_ago));
    buf.push(b'}');
}

/// Vital signs as real exports carry them: (LOINC, display, UCUM unit, low, high, decimals).
const VITALS: [(&str, &str, &str, i64, i64, u32); 9] = [
    ("8867-4", "Heart rate", "/min", 50, 110, 0),
    ("8480-6", "Systolic blood pressure", "mm[Hg]", 95, 170, 0),
    ("8462-4", "Diastolic blood pressure", "mm[Hg]", 55, 100, 0),
    ("29463-7", "Body weight", "kg", 450, 1200, 1),
    ("8302-2", "Body height", "cm", 1500, 1950, 1),
    ("8310-5", "Body temperature", "Cel", 360, 380, 1),
    ("9279-1", "Respiratory rate", "/min", 12, 22, 0),
    (
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        "%",
        92,
        100,
        0,
    ),
    (
        "39156-5",
        "Body mass index (BMI) [Ratio]",
        "kg/m2",
        180,
        380,
        1,
    ),
];

/// SplitMix64 of a key: the padding's values, without a stream of their own.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The `k`-th unrelated Observation of a patient: a vital sign with a category, a display and a
/// UCUM quantity, none of whose codes cobalt reads. Padding, as real exports are padded.
pub fn vital(buf: &mut Vec<u8>, p: &Person, k: usize, clock: Clock) {
    let h = mix(p.index.wrapping_mul(1_000_003) ^ k as u64);
    let (code, display, unit, low, high, places) = VITALS[(h % VITALS.len() as u64) as usize];
    raw(buf, "{\"resourceType\":\"Observation\",");
    id(buf, "v", p, k);
    raw(buf, ",\"status\":\"final\",\"category\":[{\"coding\":[");
    coding(
        buf,
        "http://terminology.hl7.org/CodeSystem/observation-category",
        "vital-signs",
        Some("Vital Signs"),
    );
    raw(buf, "]}],\"code\":{\"coding\":[");
    coding(buf, codes::LOINC, code, Some(display));
    raw(buf, "],\"text\":\"");
    raw(buf, display);
    raw(buf, "\"}");
    subject(buf, p);
    raw(buf, ",\"effectiveDateTime\":\"");
    date_time(
        buf,
        clock.ago(((h >> 8) % 1095) as u32),
        ((h >> 20) % 1440) as u32,
    );
    raw(buf, "\",\"valueQuantity\":{\"value\":");
    decimal(
        buf,
        low + ((h >> 32) % (high - low + 1) as u64) as i64,
        places,
    );
    raw(buf, ",\"unit\":\"");
    raw(buf, unit);
    raw(
        buf,
        "\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"",
    );
    raw(buf, unit);
    raw(buf, "\"}}");
}
