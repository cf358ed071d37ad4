//! `case::CHOICES` lists exactly the values each closed field of the case format accepts: every
//! listed value deserialises, and every enum variant is listed (the exhaustive matches below stop
//! compiling when a variant is added, so the list cannot silently fall behind).

use cobalt_core::case::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

fn listed(field: &str) -> Vec<String> {
    CHOICES
        .iter()
        .find(|(f, _)| *f == field)
        .unwrap_or_else(|| panic!("{field} is not in CHOICES"))
        .1
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn check<T: Serialize + DeserializeOwned>(field: &str, all: &[T]) {
    let names: Vec<String> = all
        .iter()
        .map(|v| {
            serde_json::to_value(v)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(listed(field), names, "{field}");
    for n in &names {
        serde_json::from_value::<T>(serde_json::Value::String(n.clone()))
            .unwrap_or_else(|e| panic!("{field}: {n}: {e}"));
    }
}

#[test]
fn choices_match_the_enums() {
    use Comparator as C;
    use Course as Co;
    use Laterality as L;
    use Region as R;
    let _ = |v: Sex| match v {
        Sex::Female | Sex::Male | Sex::Other | Sex::Unknown => (),
    };
    check(
        "patient.sex",
        &[Sex::Female, Sex::Male, Sex::Other, Sex::Unknown],
    );
    let _ = |v: Diet| match v {
        Diet::Omnivore
        | Diet::Pescatarian
        | Diet::Vegetarian
        | Diet::Vegan
        | Diet::LowAnimalFood
        | Diet::Unknown => (),
    };
    check(
        "diet",
        &[
            Diet::Omnivore,
            Diet::Pescatarian,
            Diet::Vegetarian,
            Diet::Vegan,
            Diet::LowAnimalFood,
            Diet::Unknown,
        ],
    );
    let _ = |v: L| match v {
        L::BilateralSymmetric | L::BilateralAsymmetric | L::Left | L::Right | L::Unknown => (),
    };
    check(
        "findings.laterality",
        &[
            L::BilateralSymmetric,
            L::BilateralAsymmetric,
            L::Left,
            L::Right,
            L::Unknown,
        ],
    );
    let _ = |v: R| match v {
        R::Feet
        | R::Legs
        | R::Hands
        | R::Arms
        | R::Trunk
        | R::Face
        | R::Eyes
        | R::Tongue
        | R::Bladder
        | R::Bowel
        | R::WholeBody => (),
    };
    check(
        "findings.regions",
        &[
            R::Feet,
            R::Legs,
            R::Hands,
            R::Arms,
            R::Trunk,
            R::Face,
            R::Eyes,
            R::Tongue,
            R::Bladder,
            R::Bowel,
            R::WholeBody,
        ],
    );
    let _ = |v: Onset| match v {
        Onset::Sudden | Onset::Subacute | Onset::Insidious => (),
    };
    check(
        "findings.onset",
        &[Onset::Sudden, Onset::Subacute, Onset::Insidious],
    );
    let _ = |v: Co| match v {
        Co::Progressive | Co::RelapsingRemitting | Co::Stable | Co::Improving => (),
    };
    check(
        "findings.course",
        &[
            Co::Progressive,
            Co::RelapsingRemitting,
            Co::Stable,
            Co::Improving,
        ],
    );
    let _ = |v: Qualitative| match v {
        Qualitative::Positive | Qualitative::Negative | Qualitative::Equivocal => (),
    };
    check(
        "labs.result",
        &[
            Qualitative::Positive,
            Qualitative::Negative,
            Qualitative::Equivocal,
        ],
    );
    let _ = |v: C| match v {
        C::Lt | C::Le | C::Ge | C::Gt => (),
    };
    check("labs.comparator", &[C::Lt, C::Le, C::Ge, C::Gt]);
    let _ = |v: Site| match v {
        Site::Periventricular
        | Site::CorticalJuxtacortical
        | Site::Infratentorial
        | Site::SpinalCord
        | Site::OpticNerve
        | Site::DeepWhiteMatter => (),
    };
    check(
        "mri.lesions.site",
        &[
            Site::Periventricular,
            Site::CorticalJuxtacortical,
            Site::Infratentorial,
            Site::SpinalCord,
            Site::OpticNerve,
            Site::DeepWhiteMatter,
        ],
    );
    let _ = |v: OligoclonalBands| match v {
        OligoclonalBands::CsfSpecific
        | OligoclonalBands::Absent
        | OligoclonalBands::MatchedInSerum => (),
    };
    check(
        "csf.oligoclonal_bands",
        &[
            OligoclonalBands::CsfSpecific,
            OligoclonalBands::Absent,
            OligoclonalBands::MatchedInSerum,
        ],
    );
    let _ = |v: MsStatus| match v {
        MsStatus::None
        | MsStatus::Suspected
        | MsStatus::ClinicallyIsolatedSyndrome
        | MsStatus::RelapsingRemitting
        | MsStatus::PrimaryProgressive
        | MsStatus::SecondaryProgressive
        | MsStatus::RadiologicallyIsolatedSyndrome => (),
    };
    check(
        "ms.status",
        &[
            MsStatus::None,
            MsStatus::Suspected,
            MsStatus::ClinicallyIsolatedSyndrome,
            MsStatus::RelapsingRemitting,
            MsStatus::PrimaryProgressive,
            MsStatus::SecondaryProgressive,
            MsStatus::RadiologicallyIsolatedSyndrome,
        ],
    );
    let _ = |v: ReplacementStatus| match v {
        ReplacementStatus::None | ReplacementStatus::Oral | ReplacementStatus::Intramuscular => (),
    };
    check(
        "b12_replacement.status",
        &[
            ReplacementStatus::None,
            ReplacementStatus::Oral,
            ReplacementStatus::Intramuscular,
        ],
    );
    assert_eq!(CHOICES.len(), 12, "every list is checked above");
}

#[test]
fn a_value_outside_the_list_is_refused() {
    assert!(serde_json::from_value::<Site>(serde_json::json!("cerebellum")).is_err());
    assert!(serde_json::from_value::<Diet>(serde_json::json!("keto")).is_err());
}
