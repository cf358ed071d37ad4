//! One synthetic patient as plain data (demographics, results, conditions, medicines,
//! operations), drawn from the patient's own random stream. Dates are days before `as_of`.
//! Nothing here is JSON: `fhir` writes it.
//!
//! The model: each patient has risk factors (conditions, medicines, operations); a share is
//! tested for B12, with a latent B12 status (deficient, indeterminate, normal) made likelier by
//! the risk factors; every B12 result and its companion tests (blood count, folate, MMA,
//! homocysteine) is drawn from that status, in units that depend on the patient's laboratory.

use crate::codes::{self, CondCode, Drug, ProcCode, Test};
use crate::rng::Rng;

/// Results fall in the three years before `as_of` (days `0..WINDOW_DAYS`).
pub const WINDOW_DAYS: u32 = 3 * 365;

/// Average days per month, times 100.
const DAYS_PER_MONTH_X100: u32 = 3044;

/// Administrative gender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

impl Sex {
    /// The FHIR `administrative-gender` code.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }
}

/// The latent B12 status of a tested patient, from which every result is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Deficient,
    Indeterminate,
    Normal,
}

/// A result's value, as the laboratory reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// `scaled / 10^places` in the test's unit, maybe censored, maybe with a range.
    Quantity {
        scaled: i64,
        comparator: Option<&'static str>,
        low: Option<i64>,
        high: Option<i64>,
    },
    /// A coded value.
    Code(codes::Coded),
}

/// One Observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lab {
    pub test: Test,
    pub days_ago: u32,
    /// Minutes after midnight (UTC).
    pub minute: u32,
    pub value: Value,
}

/// One Condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cond {
    pub code: &'static CondCode,
    pub onset_days_ago: u32,
    /// Resolved this many days ago; `None` while active.
    pub abated_days_ago: Option<u32>,
    /// Verification status `provisional` instead of `confirmed`.
    pub provisional: bool,
}

/// How a medicine appears in the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Request,
    Statement,
    Both,
}

/// One course of a medicine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Med {
    pub drug: &'static Drug,
    pub start_days_ago: u32,
    /// Ended this many days ago (`completed`); `None` while `active`.
    pub end_days_ago: Option<u32>,
    pub form: Form,
}

/// One Procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    pub code: &'static ProcCode,
    pub days_ago: u32,
}

/// How a patient's laboratory reports: units, ranges, limit of detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LabProfile {
    b12_molar: bool,
    folate_molar: bool,
    hb_g_per_l: bool,
    mma_umol: bool,
    /// Total B12 results carry the laboratory's reference range.
    ranges: bool,
    /// Total B12 below this (in the B12 unit) is reported as `<` this.
    b12_floor: Option<i64>,
    /// Folate above this (ng/mL x 10) is reported as `>` this.
    folate_ceiling: Option<i64>,
}

const LABS: [LabProfile; 4] = [
    LabProfile {
        b12_molar: false,
        folate_molar: false,
        hb_g_per_l: false,
        mma_umol: false,
        ranges: true,
        b12_floor: Some(100),
        folate_ceiling: Some(200),
    },
    LabProfile {
        b12_molar: true,
        folate_molar: true,
        hb_g_per_l: true,
        mma_umol: true,
        ranges: false,
        b12_floor: Some(50),
        folate_ceiling: None,
    },
    LabProfile {
        b12_molar: false,
        folate_molar: false,
        hb_g_per_l: true,
        mma_umol: false,
        ranges: false,
        b12_floor: None,
        folate_ceiling: None,
    },
    LabProfile {
        b12_molar: true,
        folate_molar: false,
        hb_g_per_l: false,
        mma_umol: false,
        ranges: false,
        b12_floor: Some(111),
        folate_ceiling: Some(240),
    },
];
const LAB_WEIGHTS: [u32; 4] = [40, 30, 20, 10];

/// One patient. Reused between patients (`draw` clears it) to avoid allocation.
#[derive(Debug, Clone)]
pub struct Person {
    /// The patient's number: id `p` + nine digits.
    pub index: u64,
    pub sex: Sex,
    pub age: u32,
    /// The birth date is `age` years and this many days before `as_of`.
    pub birth_days_before_birthday: u32,
    /// Index into `codes::RACES`.
    pub race: Option<usize>,
    pub status: Option<Status>,
    pub labs: Vec<Lab>,
    pub conditions: Vec<Cond>,
    pub meds: Vec<Med>,
    pub procedures: Vec<Proc>,
}

impl Default for Person {
    fn default() -> Self {
        Person {
            index: 0,
            sex: Sex::Unknown,
            age: 0,
            birth_days_before_birthday: 0,
            race: None,
            status: None,
            labs: Vec::new(),
            conditions: Vec::new(),
            meds: Vec::new(),
            procedures: Vec::new(),
        }
    }
}

fn months_to_days(months: u32) -> u32 {
    (months * DAYS_PER_MONTH_X100).div_ceil(100)
}

/// Risk factors that make a B12 test and a low result likelier.
#[derive(Debug, Default, Clone, Copy)]
struct Risks {
    ms: bool,
    autoimmune_gastritis: bool,
    malabsorption: bool,
    surgery: bool,
    acid_or_metformin: bool,
    ckd: bool,
    symptoms: bool,
}

impl Person {
    /// Draws patient `index` from `rng`, replacing whatever `self` held.
    pub fn draw(&mut self, index: u64, rng: &mut Rng) {
        self.index = index;
        self.labs.clear();
        self.conditions.clear();
        self.meds.clear();
        self.procedures.clear();
        self.status = None;

        // Demographics. Ages 16-95: half uniform, half skewed older (the larger of two draws).
        self.sex = match rng.weighted(&[505, 485, 5, 5]) {
            0 => Sex::Female,
            1 => Sex::Male,
            2 => Sex::Other,
            _ => Sex::Unknown,
        };
        let u = if rng.chance(0.5) {
            rng.unit()
        } else {
            rng.unit().max(rng.unit())
        };
        self.age = (16 + (u * 80.0) as u32).min(95);
        self.birth_days_before_birthday = rng.below(365) as u32;
        self.race = match rng.weighted(&[150, 100, 40, 5, 2, 703]) {
            5 => None,
            i => Some(i),
        };
        let female = self.sex == Sex::Female;
        let age = self.age;
        let mut risks = Risks::default();

        // Conditions.
        if rng.chance(0.02) {
            risks.ms = true;
            let code = match rng.weighted(&[50, 30, 20]) {
                0 => &codes::MS_ICD,
                1 => &codes::MS_SNOMED,
                _ => &codes::MS_BOTH,
            };
            let onset =
                365 + rng.below(u64::from(age.saturating_sub(16).clamp(1, 25)) * 365) as u32;
            let provisional = rng.chance(0.15);
            self.condition(code, onset, None, provisional);
        }
        let aig = if female { 0.013 } else { 0.007 } * if age >= 60 { 1.6 } else { 0.6 };
        if rng.chance(aig) {
            risks.autoimmune_gastritis = true;
            self.chronic(rng, &codes::AUTOIMMUNE_GASTRITIS, age);
        }
        if rng.chance(0.01) {
            risks.malabsorption = true;
            self.chronic(rng, &codes::COELIAC, age);
        }
        if rng.chance(0.005) {
            risks.malabsorption = true;
            self.chronic(rng, &codes::CROHNS, age);
        }
        if rng.chance(0.005) {
            self.chronic(rng, &codes::TYPE_1_DIABETES, age);
        }
        if rng.chance(if female { 0.06 } else { 0.02 }) {
            self.chronic(rng, &codes::HYPOTHYROIDISM, age);
        }
        if rng.chance(if age >= 60 { 0.06 } else { 0.01 }) {
            risks.ckd = true;
            self.chronic(rng, &codes::CKD, age);
        }
        // Findings, in the results window; more often in MS.
        for (code, base, in_ms) in [
            (&codes::PARAESTHESIA, 0.03, 0.4),
            (&codes::MUSCLE_WEAKNESS, 0.02, 0.3),
            (&codes::COGNITIVE, 0.02, 0.2),
        ] {
            if rng.chance(if risks.ms { in_ms } else { base }) {
                risks.symptoms = true;
                let onset = rng.below(u64::from(WINDOW_DAYS)) as u32;
                let abated =
                    (rng.chance(0.3) && onset > 30).then(|| rng.below(u64::from(onset)) as u32);
                self.condition(code, onset, abated, false);
            }
        }

        // Operations.
        if rng.chance(0.007) {
            risks.surgery = true;
            let days = 180 + rng.below(20 * 365) as u32;
            self.procedures.push(Proc {
                code: &codes::BARIATRIC,
                days_ago: days,
            });
        }
        if rng.chance(0.003) {
            risks.surgery = true;
            let days = 180 + rng.below(20 * 365) as u32;
            self.procedures.push(Proc {
                code: &codes::GASTRECTOMY,
                days_ago: days,
            });
        }

        // Medicines.
        let older = match age {
            0..=39 => 0.35,
            40..=59 => 1.0,
            _ => 1.45,
        };
        if rng.chance(0.107 * older) {
            risks.acid_or_metformin = true;
            self.long_term(rng, &codes::METFORMIN);
        }
        if rng.chance(0.135 * older) {
            risks.acid_or_metformin = true;
            let d = *rng.pick(&[
                &codes::OMEPRAZOLE,
                &codes::OMEPRAZOLE,
                &codes::PANTOPRAZOLE,
                &codes::ESOMEPRAZOLE,
            ]);
            self.long_term(rng, d);
        }
        if rng.chance(0.03) {
            risks.acid_or_metformin = true;
            self.long_term(rng, &codes::FAMOTIDINE);
        }
        if rng.chance(0.03) {
            self.long_term(rng, &codes::FOLIC_ACID);
        }

        // Pregnancy status, for about 3% of women aged 18-45.
        if female && (18..=45).contains(&age) && rng.chance(0.03) {
            let days = rng.below(270) as u32;
            let pregnant = rng.chance(0.7);
            self.labs.push(Lab {
                test: Test::PregnancyStatus,
                days_ago: days,
                minute: clinic_minute(rng),
                value: Value::Code(if pregnant {
                    codes::PREGNANT
                } else {
                    codes::NOT_PREGNANT
                }),
            });
            if pregnant && rng.chance(0.6) {
                let start = days + 31 + rng.below(60) as u32;
                self.course(rng, &codes::FOLIC_ACID_PREGNANCY, start, None);
            }
        }

        // B12 testing.
        let any_risk = risks.ms
            || risks.autoimmune_gastritis
            || risks.malabsorption
            || risks.surgery
            || risks.acid_or_metformin
            || risks.symptoms;
        let p_tested = if any_risk { 0.8 } else { 0.5 };
        let lab = LABS[rng.weighted(&LAB_WEIGHTS)];
        if rng.chance(p_tested) {
            let mut p_def: f64 = 0.035;
            if risks.acid_or_metformin {
                p_def = p_def.max(0.11);
            }
            if risks.malabsorption {
                p_def = p_def.max(0.2);
            }
            if risks.surgery {
                p_def = p_def.max(0.45);
            }
            if risks.autoimmune_gastritis {
                p_def = p_def.max(0.6);
            }
            if age >= 75 {
                p_def += 0.02;
            }
            let u = rng.unit();
            let status = if u < p_def {
                Status::Deficient
            } else if u < p_def + 0.15 {
                Status::Indeterminate
            } else {
                Status::Normal
            };
            self.status = Some(status);
            self.tested(rng, lab, status, risks);
        } else if rng.chance(0.06) {
            // A blood count only.
            let days = rng.below(u64::from(WINDOW_DAYS)) as u32;
            let minute = clinic_minute(rng);
            self.blood_count(rng, lab, Status::Normal, risks, days, minute);
        }

        // Pernicious anaemia is treated whether or not a result is in the window.
        if risks.autoimmune_gastritis
            && rng.chance(0.9)
            && !self.meds.iter().any(|m| m.drug.atc.starts_with("B03BA"))
        {
            self.long_term(rng, &codes::HYDROXOCOBALAMIN);
        }
    }

    fn condition(
        &mut self,
        code: &'static CondCode,
        onset: u32,
        abated: Option<u32>,
        provisional: bool,
    ) {
        self.conditions.push(Cond {
            code,
            onset_days_ago: onset,
            abated_days_ago: abated,
            provisional,
        });
    }

    /// A chronic condition with an onset after age 15 and at most 20 years ago.
    fn chronic(&mut self, rng: &mut Rng, code: &'static CondCode, age: u32) {
        let years = u64::from(age.saturating_sub(15).clamp(1, 20));
        let onset = 30 + rng.below(years * 365) as u32;
        self.condition(code, onset, None, false);
    }

    fn form(rng: &mut Rng) -> Form {
        match rng.weighted(&[55, 33, 12]) {
            0 => Form::Request,
            1 => Form::Statement,
            _ => Form::Both,
        }
    }

    fn course(&mut self, rng: &mut Rng, drug: &'static Drug, start: u32, end: Option<u32>) {
        let form = Person::form(rng);
        self.meds.push(Med {
            drug,
            start_days_ago: start,
            end_days_ago: end,
            form,
        });
    }

    /// A course of 1 to 120 months: 70% still active, else ended 1 to 24 months ago.
    fn long_term(&mut self, rng: &mut Rng, drug: &'static Drug) {
        let months = 1 + rng.below(120) as u32;
        let (start, end) = if rng.chance(0.7) {
            (months_to_days(months) + rng.below(28) as u32, None)
        } else {
            let end = months_to_days(1 + rng.below(24) as u32);
            (end + months_to_days(months), Some(end))
        };
        self.course(rng, drug, start, end);
    }

    fn tested(&mut self, rng: &mut Rng, lab: LabProfile, status: Status, risks: Risks) {
        let n = match rng.weighted(&[80, 15, 5]) {
            0 => 1,
            1 => 2,
            _ => 3,
        };
        let mut days = [0u32; 3];
        for d in days.iter_mut().take(n) {
            *d = rng.below(u64::from(WINDOW_DAYS)) as u32;
        }
        days[..n].sort_unstable_by(|a, b| b.cmp(a));
        let first = days[0];
        for (i, &day) in days[..n].iter().enumerate() {
            let minute = clinic_minute(rng);
            let active_only = rng.chance(0.05);
            if !active_only {
                self.total_b12(rng, lab, status, day, minute);
            }
            let second_line = i == 0 && status != Status::Normal;
            if active_only || (second_line && rng.chance(0.25)) {
                self.active_b12(rng, status, day, minute);
            }
            if rng.chance(0.15) {
                self.blood_count(rng, lab, status, risks, day, minute);
            }
            let folate_low = rng.chance(if risks.malabsorption { 0.15 } else { 0.06 });
            if rng.chance(0.2) {
                self.folate(rng, lab, folate_low, day, minute);
            }
            if i == 0 {
                let p_mma = match status {
                    Status::Deficient => 0.2,
                    Status::Indeterminate => 0.3,
                    Status::Normal => 0.03,
                };
                if rng.chance(p_mma) {
                    self.mma(rng, lab, status, risks, day, minute);
                }
                let p_hcy = match status {
                    Status::Deficient => 0.1,
                    Status::Indeterminate => 0.15,
                    Status::Normal => 0.02,
                };
                if rng.chance(p_hcy) {
                    self.homocysteine(rng, lab, status, folate_low, day, minute);
                }
            }
        }
        // Coeliac serology.
        let coeliac = self.conditions.iter().any(|c| c.code == &codes::COELIAC);
        if rng.chance(if coeliac { 0.7 } else { 0.025 }) {
            let positive = rng.chance(if coeliac { 0.85 } else { 0.03 });
            self.labs.push(Lab {
                test: Test::CoeliacSerology,
                days_ago: first,
                minute: clinic_minute(rng),
                value: Value::Code(if positive {
                    codes::POSITIVE
                } else {
                    codes::NEGATIVE
                }),
            });
        }
        // Diagnosis and replacement.
        let (p_diag, p_treat) = match status {
            Status::Deficient => (0.45, 0.55),
            Status::Indeterminate => (0.05, 0.2),
            Status::Normal => (0.0, 0.015),
        };
        if rng.chance(p_diag) {
            let abated =
                (rng.chance(0.2) && first > 60).then(|| rng.below(u64::from(first - 30)) as u32);
            self.condition(&codes::B12_DEFICIENCY, first, abated, false);
        }
        // Replacement starts after the first result and has run for a month at least.
        if rng.chance(p_treat) && (status == Status::Normal || first > 60) {
            let drug = if rng.chance(0.6) {
                &codes::HYDROXOCOBALAMIN
            } else {
                &codes::CYANOCOBALAMIN
            };
            if status == Status::Normal {
                self.long_term(rng, drug);
            } else {
                let start = first - rng.below(30) as u32;
                let end = (rng.chance(0.25) && start > 62)
                    .then(|| start - 31 - rng.below(u64::from(start - 62) + 1) as u32);
                self.course(rng, drug, start, end);
            }
        }
    }

    /// Pushes a quantitative result (`scaled` in the test's unit and decimals).
    fn quantity(
        &mut self,
        test: Test,
        day: u32,
        minute: u32,
        scaled: i64,
        comparator: Option<&'static str>,
        range: Option<(i64, i64)>,
    ) {
        self.labs.push(Lab {
            test,
            days_ago: day,
            minute,
            value: Value::Quantity {
                scaled,
                comparator,
                low: range.map(|r| r.0),
                high: range.map(|r| r.1),
            },
        });
    }

    fn total_b12(&mut self, rng: &mut Rng, lab: LabProfile, status: Status, day: u32, minute: u32) {
        // Drawn in pg/mL (= ng/L), clear of the NICE cut-offs 180 and 350 in either unit.
        let pg = match status {
            Status::Deficient => 40 + (135.0 * rng.unit().max(rng.unit())) as i64,
            Status::Indeterminate => rng.range(185, 345),
            Status::Normal => 355 + (845.0 * rng.unit() * rng.unit()) as i64,
        };
        let (test, value, range) = if lab.b12_molar {
            // 1 pmol/L = 1.3554 pg/mL.
            (
                Test::B12Molar,
                (pg * 100_000 + 67_770) / 135_540,
                (133, 675),
            )
        } else {
            (Test::B12Mass, pg, (180, 914))
        };
        let range = lab.ranges.then_some(range);
        match lab.b12_floor {
            // Below the assay's limit: reported as `<` the limit.
            Some(floor) if value < floor => {
                self.quantity(test, day, minute, floor, Some("<"), range)
            }
            _ => self.quantity(test, day, minute, value, None, range),
        }
    }

    fn active_b12(&mut self, rng: &mut Rng, status: Status, day: u32, minute: u32) {
        let v = match status {
            Status::Deficient => rng.range(8, 24),
            Status::Indeterminate => rng.range(26, 69),
            Status::Normal => 71 + (100.0 * rng.unit() * rng.unit()) as i64,
        };
        self.quantity(Test::ActiveB12, day, minute, v, None, None);
    }

    fn blood_count(
        &mut self,
        rng: &mut Rng,
        lab: LabProfile,
        status: Status,
        risks: Risks,
        day: u32,
        minute: u32,
    ) {
        let female = match self.sex {
            Sex::Female => true,
            Sex::Male => false,
            _ => self.index.is_multiple_of(2),
        };
        let mut p_anaemia: f64 = match status {
            Status::Deficient => 0.35,
            Status::Indeterminate => 0.1,
            Status::Normal => 0.06,
        };
        if risks.ckd {
            p_anaemia = p_anaemia.max(0.3);
        }
        // g/dL x 10, which is also g/L.
        let hb = match (rng.chance(p_anaemia), female) {
            (true, true) => rng.range(80, 118),
            (true, false) => rng.range(85, 128),
            (false, true) => rng.range(120, 155),
            (false, false) => rng.range(130, 170),
        };
        let test = if lab.hb_g_per_l {
            Test::HbGl
        } else {
            Test::HbGdl
        };
        self.quantity(test, day, minute, hb, None, None);
        let p_macro = match status {
            Status::Deficient => 0.4,
            Status::Indeterminate => 0.12,
            Status::Normal => 0.03,
        };
        let mcv = if rng.chance(p_macro) {
            rng.range(101, 118)
        } else {
            rng.range(80, 99)
        };
        self.quantity(Test::Mcv, day, minute, mcv, None, None);
    }

    fn folate(&mut self, rng: &mut Rng, lab: LabProfile, low: bool, day: u32, minute: u32) {
        // ng/mL x 10; low is below 3.5 ng/mL (7.9 nmol/L).
        let ng = if low {
            rng.range(15, 33)
        } else {
            rng.range(40, 240)
        };
        if lab.folate_molar {
            // 1 ng/mL = 2.266 nmol/L.
            let nmol = (ng * 2266 + 500) / 1000;
            self.quantity(Test::FolateMolar, day, minute, nmol, None, None);
        } else {
            match lab.folate_ceiling {
                // Above the assay's range: reported as `>` its top.
                Some(c) if ng > c => {
                    self.quantity(Test::FolateMass, day, minute, c, Some(">"), None)
                }
                _ => self.quantity(Test::FolateMass, day, minute, ng, None, None),
            }
        }
    }

    fn mma(
        &mut self,
        rng: &mut Rng,
        lab: LabProfile,
        status: Status,
        risks: Risks,
        day: u32,
        minute: u32,
    ) {
        let mut p_raised: f64 = match status {
            Status::Deficient => 0.7,
            Status::Indeterminate => 0.35,
            Status::Normal => 0.05,
        };
        if risks.ckd {
            p_raised += 0.3;
        }
        // nmol/L; raised is above 280.
        let nmol = if rng.chance(p_raised) {
            300 + (2700.0 * rng.unit() * rng.unit()) as i64
        } else {
            rng.range(80, 270)
        };
        // The laboratory's upper limit, where it prints one.
        if lab.mma_umol {
            let range = lab.ranges.then_some((0, 28));
            self.quantity(Test::MmaUmol, day, minute, (nmol + 5) / 10, None, range);
        } else {
            let range = lab.ranges.then_some((0, 280));
            self.quantity(Test::MmaNmol, day, minute, nmol, None, range);
        }
    }

    fn homocysteine(
        &mut self,
        rng: &mut Rng,
        lab: LabProfile,
        status: Status,
        folate_low: bool,
        day: u32,
        minute: u32,
    ) {
        let mut p_raised: f64 = match status {
            Status::Deficient => 0.6,
            Status::Indeterminate => 0.3,
            Status::Normal => 0.04,
        };
        if folate_low {
            p_raised = p_raised.max(0.5);
        }
        // µmol/L x 10; raised is above 20.
        let v = if rng.chance(p_raised) {
            220 + (580.0 * rng.unit() * rng.unit()) as i64
        } else {
            rng.range(50, 150)
        };
        let range = lab.ranges.then_some((50, 150));
        self.quantity(Test::Homocysteine, day, minute, v, None, range);
    }
}

/// A time of day between 07:00 and 17:59.
fn clinic_minute(rng: &mut Rng) -> u32 {
    7 * 60 + rng.below(11 * 60) as u32
}
