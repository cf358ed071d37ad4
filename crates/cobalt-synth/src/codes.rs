//! Every code the generator writes, in one place. Clinical codes are ones cobalt maps: the
//! vocabulary (`knowledge/concepts.tsv`) or the FHIR tables (`knowledge/fhir.toml`: pregnancy
//! status, qualitative results, routes, statuses). Units are UCUM codes that
//! `knowledge/analytes.toml` allows for the test, except the deliberately impossible ones used
//! for malformed lines.

/// LOINC.
pub const LOINC: &str = "http://loinc.org";
/// SNOMED CT.
pub const SNOMED: &str = "http://snomed.info/sct";
/// WHO ICD-10.
pub const ICD10: &str = "http://hl7.org/fhir/sid/icd-10";
/// WHO ATC.
pub const ATC: &str = "http://www.whocc.no/atc";
/// UCUM.
pub const UCUM: &str = "http://unitsofmeasure.org";
/// OMB race categories (US Core race extension).
pub const OMB_RACE: &str = "urn:oid:2.16.840.1.113883.6.238";

/// A unit: the text a laboratory prints and its UCUM code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    pub text: &'static str,
    pub ucum: &'static str,
}

const fn unit(text: &'static str, ucum: &'static str) -> Unit {
    Unit { text, ucum }
}

/// A quantitative result's unit, its number of decimals, and a unit the test cannot have.
#[derive(Debug, Clone, Copy)]
pub struct QuantitySpec {
    pub unit: Unit,
    pub places: u32,
    pub impossible: Unit,
}

/// A laboratory test as the generator writes it.
#[derive(Debug, Clone, Copy)]
pub struct LabSpec {
    pub loinc: &'static str,
    pub text: &'static str,
    /// `None` for a test whose value is a code.
    pub quantity: Option<QuantitySpec>,
}

/// The tests written, each in one unit (a test in two units is two entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    B12Mass,
    B12Molar,
    ActiveB12,
    MmaNmol,
    MmaUmol,
    Homocysteine,
    FolateMass,
    FolateMolar,
    HbGdl,
    HbGl,
    Mcv,
    CoeliacSerology,
    PregnancyStatus,
}

const fn q(unit: Unit, places: u32, impossible: Unit) -> Option<QuantitySpec> {
    Some(QuantitySpec {
        unit,
        places,
        impossible,
    })
}

const PG_ML: Unit = unit("pg/mL", "pg/mL");
const PMOL_L: Unit = unit("pmol/L", "pmol/L");
const NMOL_L: Unit = unit("nmol/L", "nmol/L");
const UMOL_L: Unit = unit("µmol/L", "umol/L");
const NG_ML: Unit = unit("ng/mL", "ng/mL");
const G_DL: Unit = unit("g/dL", "g/dL");
const G_L: Unit = unit("g/L", "g/L");
const FL: Unit = unit("fL", "fL");
const PERCENT: Unit = unit("%", "%");

const fn lab(loinc: &'static str, text: &'static str, quantity: Option<QuantitySpec>) -> LabSpec {
    LabSpec {
        loinc,
        text,
        quantity,
    }
}

impl Test {
    /// The test's code, label and unit.
    pub fn spec(self) -> &'static LabSpec {
        static B12_MASS: LabSpec = lab("2132-9", "Vitamin B12", q(PG_ML, 0, FL));
        static B12_MOLAR: LabSpec = lab("14685-2", "Vitamin B12", q(PMOL_L, 0, FL));
        static ACTIVE: LabSpec = lab("72160-5", "Active B12", q(PMOL_L, 0, G_L));
        static MMA_NMOL: LabSpec = lab("13964-2", "Methylmalonic acid", q(NMOL_L, 0, FL));
        static MMA_UMOL: LabSpec = lab("13964-2", "Methylmalonic acid", q(UMOL_L, 2, FL));
        static HCY: LabSpec = lab("13965-9", "Homocysteine", q(UMOL_L, 1, PERCENT));
        static FOL_MASS: LabSpec = lab("2284-8", "Serum folate", q(NG_ML, 1, FL));
        static FOL_MOLAR: LabSpec = lab("14732-2", "Serum folate", q(NMOL_L, 1, FL));
        static HB_GDL: LabSpec = lab("718-7", "Haemoglobin", q(G_DL, 1, FL));
        static HB_GL: LabSpec = lab("718-7", "Haemoglobin", q(G_L, 0, FL));
        static MCV: LabSpec = lab("787-2", "MCV", q(FL, 0, G_DL));
        static TTG: LabSpec = lab("31017-7", "Tissue transglutaminase IgA", None);
        static PREG: LabSpec = LabSpec {
            loinc: "82810-3",
            text: "Pregnancy status",
            quantity: None,
        };
        match self {
            Test::B12Mass => &B12_MASS,
            Test::B12Molar => &B12_MOLAR,
            Test::ActiveB12 => &ACTIVE,
            Test::MmaNmol => &MMA_NMOL,
            Test::MmaUmol => &MMA_UMOL,
            Test::Homocysteine => &HCY,
            Test::FolateMass => &FOL_MASS,
            Test::FolateMolar => &FOL_MOLAR,
            Test::HbGdl => &HB_GDL,
            Test::HbGl => &HB_GL,
            Test::Mcv => &MCV,
            Test::CoeliacSerology => &TTG,
            Test::PregnancyStatus => &PREG,
        }
    }
}

/// A coded value (a qualitative result, a pregnancy status, a route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coded {
    pub system: &'static str,
    pub code: &'static str,
    pub display: &'static str,
}

const fn coded(system: &'static str, code: &'static str, display: &'static str) -> Coded {
    Coded {
        system,
        code,
        display,
    }
}

pub const POSITIVE: Coded = coded(SNOMED, "10828004", "Positive");
pub const NEGATIVE: Coded = coded(SNOMED, "260385009", "Negative");
pub const PREGNANT: Coded = coded(LOINC, "LA15173-0", "Pregnant");
pub const NOT_PREGNANT: Coded = coded(LOINC, "LA26683-5", "Not pregnant");
pub const ROUTE_IM: Coded = coded(SNOMED, "78421000", "Intramuscular route");
pub const ROUTE_ORAL: Coded = coded(SNOMED, "26643006", "Oral route");

/// A condition or finding: its codings and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CondCode {
    pub codings: &'static [(&'static str, &'static str)],
    pub text: &'static str,
}

const fn cond(codings: &'static [(&'static str, &'static str)], text: &'static str) -> CondCode {
    CondCode { codings, text }
}

pub const MS_ICD: CondCode = cond(&[(ICD10, "G35")], "Multiple sclerosis");
pub const MS_SNOMED: CondCode = cond(&[(SNOMED, "24700007")], "Multiple sclerosis");
pub const MS_BOTH: CondCode = cond(
    &[(SNOMED, "24700007"), (ICD10, "G35")],
    "Multiple sclerosis",
);
pub const AUTOIMMUNE_GASTRITIS: CondCode = cond(&[(ICD10, "D51.0")], "Pernicious anaemia");
pub const COELIAC: CondCode = cond(&[(ICD10, "K90.0")], "Coeliac disease");
pub const CROHNS: CondCode = cond(&[(ICD10, "K50.9")], "Crohn's disease");
pub const TYPE_1_DIABETES: CondCode = cond(&[(ICD10, "E10.9")], "Type 1 diabetes");
pub const HYPOTHYROIDISM: CondCode = cond(&[(ICD10, "E03.9")], "Hypothyroidism");
pub const CKD: CondCode = cond(&[(ICD10, "N18.3")], "Chronic kidney disease stage 3");
pub const B12_DEFICIENCY: CondCode = cond(&[(ICD10, "D51.9")], "Vitamin B12 deficiency");
pub const PARAESTHESIA: CondCode = cond(&[(SNOMED, "91019004")], "Pins and needles");
pub const MUSCLE_WEAKNESS: CondCode = cond(&[(SNOMED, "26544005")], "Muscle weakness");
pub const COGNITIVE: CondCode = cond(&[(SNOMED, "386807006")], "Memory problems");

/// A medicine: ATC code and display, product text, and the route written in its dosage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drug {
    pub atc: &'static str,
    pub display: &'static str,
    pub text: &'static str,
    pub route: Option<Coded>,
}

const fn drug(atc: &'static str, display: &'static str, text: &'static str) -> Drug {
    Drug {
        atc,
        display,
        text,
        route: None,
    }
}

pub const METFORMIN: Drug = drug("A10BA02", "metformin", "Metformin 500mg tablets");
pub const OMEPRAZOLE: Drug = drug("A02BC01", "omeprazole", "Omeprazole 20mg capsules");
pub const PANTOPRAZOLE: Drug = drug("A02BC02", "pantoprazole", "Pantoprazole 40mg tablets");
pub const ESOMEPRAZOLE: Drug = drug("A02BC05", "esomeprazole", "Esomeprazole 20mg tablets");
pub const FAMOTIDINE: Drug = drug("A02BA03", "famotidine", "Famotidine 20mg tablets");
pub const FOLIC_ACID: Drug = drug("B03BB01", "folic acid", "Folic acid 5mg tablets");
pub const FOLIC_ACID_PREGNANCY: Drug =
    drug("B03BB01", "folic acid", "Folic acid 400microgram tablets");
pub const HYDROXOCOBALAMIN: Drug = Drug {
    route: Some(ROUTE_IM),
    ..drug(
        "B03BA03",
        "hydroxocobalamin",
        "Hydroxocobalamin 1mg/1ml injection",
    )
};
pub const CYANOCOBALAMIN: Drug = Drug {
    route: Some(ROUTE_ORAL),
    ..drug("B03BA01", "cyanocobalamin", "Cyanocobalamin 1mg tablets")
};

/// An operation (SNOMED CT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcCode {
    pub code: &'static str,
    pub text: &'static str,
}

pub const BARIATRIC: ProcCode = ProcCode {
    code: "430715008",
    text: "Bariatric surgery",
};
pub const GASTRECTOMY: ProcCode = ProcCode {
    code: "53442002",
    text: "Gastrectomy",
};

/// OMB race categories written in the US Core race extension: (code, display).
pub const RACES: [(&str, &str); 5] = [
    ("2106-3", "White"),
    ("2054-5", "Black or African American"),
    ("2028-9", "Asian"),
    ("1002-5", "American Indian or Alaska Native"),
    ("2076-8", "Native Hawaiian or Other Pacific Islander"),
];
