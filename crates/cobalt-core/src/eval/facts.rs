//! Facts read once from the case: life stage, the findings present by group, exposures, current
//! replacement. Every later step reads these instead of the raw case.

use super::Ctx;
use crate::case::{Finding, Region, ReplacementStatus, Sex};
use crate::vocab::Kind;

/// Facts gathered from the case.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Age in years.
    pub age: Option<f64>,
    /// Sex.
    pub sex: Option<Sex>,
    /// Pregnant.
    pub pregnant: bool,
    /// Breastfeeding.
    pub breastfeeding: bool,
    /// Ethnicity given as a Black family background.
    pub black_family_background: bool,
    /// Finding concepts present that are common symptoms or signs of B12 deficiency.
    pub common_findings: Vec<String>,
    /// Finding concepts present that are neurological.
    pub neuro_findings: Vec<String>,
    /// Finding concepts present that are haematological signs (glossitis, pallor).
    pub haem_findings: Vec<String>,
    /// Any nitrous oxide exposure.
    pub nitrous_oxide: bool,
    /// Recreational nitrous oxide.
    pub nitrous_oxide_recreational: bool,
    /// MS or another demyelinating disease is being considered or known.
    pub demyelination_considered: bool,
    /// B12 replacement already started (route if known).
    pub replacement: Option<ReplacementStatus>,
    /// A B12 product among the current medicines.
    pub b12_product_current: bool,
    /// Folic acid taken now.
    pub folic_acid_current: bool,
}

impl Facts {
    pub(crate) fn gather(ctx: &Ctx<'_, '_>) -> Facts {
        let case = ctx.case;
        let kb = ctx.kb;
        let present = |group: &str| -> Vec<String> {
            let mut v: Vec<String> = ctx.findings_in(group).map(|f| f.concept.clone()).collect();
            v.dedup();
            v
        };
        let has_condition = |id: &str| case.conditions.iter().any(|c| c.concept == id);
        let ms_status = case.ms.and_then(|m| m.status);
        let demyelination_considered = matches!(
            ms_status,
            Some(s) if s != crate::case::MsStatus::None
        ) || has_condition("multiple_sclerosis")
            || case.mri.as_ref().is_some_and(|m| !m.lesions.is_empty())
            || case.csf_oligoclonal_bands == Some(crate::case::OligoclonalBands::CsfSpecific);
        let replacement = case
            .b12_replacement
            .map(|r| r.status)
            .filter(|s| *s != ReplacementStatus::None);
        let b12_product_current = case.medications.iter().any(|m| {
            m.current
                && kb
                    .vocab
                    .get(&m.concept)
                    .is_some_and(|c| c.kind == Kind::B12Product)
        });
        let ethnicity = case
            .patient
            .ethnicity
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        Facts {
            age: case.patient.age_years,
            sex: case.patient.sex,
            pregnant: case.patient.pregnant == Some(true),
            breastfeeding: case.patient.breastfeeding == Some(true),
            black_family_background: black_family_background(&ethnicity),
            common_findings: present("common_symptoms_signs"),
            neuro_findings: present("neurological"),
            haem_findings: present("haematological_signs"),
            nitrous_oxide: case
                .exposures
                .iter()
                .any(|e| e.concept.starts_with("nitrous_oxide")),
            nitrous_oxide_recreational: case
                .exposures
                .iter()
                .any(|e| e.concept == "nitrous_oxide_recreational"),
            demyelination_considered,
            replacement,
            b12_product_current,
            folic_acid_current: case
                .medications
                .iter()
                .any(|m| m.current && m.concept == "folic_acid"),
        }
    }

    /// Neurological involvement: at least one neurological symptom or sign.
    pub fn neuro(&self) -> bool {
        !self.neuro_findings.is_empty()
    }

    /// Replacement started by any route (including a B12 product among the medicines).
    pub fn on_replacement(&self) -> bool {
        self.replacement.is_some() || self.b12_product_current
    }
}

/// Whether free-text ethnicity names a Black family background ("Black British", "African-American",
/// "African", "Afro-Caribbean"), and not merely a place ("White South African", "North African").
fn black_family_background(ethnicity: &str) -> bool {
    let e = ethnicity.to_ascii_lowercase();
    e.contains("black")
        || e.contains("african american")
        || e.contains("african-american")
        || e.contains("afro")
        || e.trim() == "african"
        || e.contains("sub-saharan")
}

/// Whether a finding involves a limb region.
pub(crate) fn limb_regions(f: &Finding) -> (bool, bool) {
    let legs = f
        .regions
        .iter()
        .any(|r| matches!(r, Region::Legs | Region::Feet));
    let arms = f
        .regions
        .iter()
        .any(|r| matches!(r, Region::Arms | Region::Hands));
    (legs, arms)
}
