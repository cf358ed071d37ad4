//! The diet plan fits the person: no liver in pregnancy, tuna and oily fish limited there, no
//! meat for pescatarians, and plant-based diets told that they need fortified foods or a supplement.

use serde_json::json;

fn plan(case: serde_json::Value) -> (Vec<(String, bool)>, Vec<String>) {
    let (kb, problems) = cobalt_kb::load_with_problems();
    assert!(problems.is_empty(), "{problems:?}");
    let mut c = json!({"format": "cobalt.case/1", "as_of": "2026-12-01"});
    c.as_object_mut()
        .unwrap()
        .extend(case.as_object().unwrap().clone());
    let case = cobalt_core::parse_case(&c.to_string(), &kb.vocab, &kb.analytes).unwrap();
    let date = cobalt_core::case::parse_date("2026-12-01").unwrap();
    let a = cobalt_core::evaluate(&kb, &kb.profiles[&kb.meta.default_profile], &case, date);
    let d = a.management.diet_plan.expect("a diet plan");
    let kind = |name: &str| {
        kb.foods
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.kind.clone())
            .unwrap()
    };
    (
        d.foods
            .iter()
            .map(|f| (kind(f.name), f.caution.is_some()))
            .collect(),
        d.advice,
    )
}

#[test]
fn pregnancy_leaves_liver_out_and_limits_tuna_and_oily_fish() {
    let (foods, advice) = plan(
        json!({"patient": {"age_years": 30, "sex": "female", "pregnant": true}, "diet": "omnivore"}),
    );
    assert!(!foods.iter().any(|(k, _)| k == "liver"), "{foods:?}");
    for (k, caution) in &foods {
        assert_eq!(*caution, k == "tuna" || k == "oily_fish", "{k}");
    }
    assert!(foods.iter().any(|(k, _)| k == "tuna"));
    assert!(advice.iter().any(|a| a.contains("vitamin A")), "{advice:?}");
    assert!(advice.iter().any(|a| a.contains("mercury")), "{advice:?}");
}

#[test]
fn without_pregnancy_liver_heads_the_list_with_no_caution() {
    let (foods, advice) =
        plan(json!({"patient": {"age_years": 30, "sex": "female"}, "diet": "omnivore"}));
    assert_eq!(foods[0].0, "liver");
    assert!(foods.iter().all(|(_, c)| !c));
    assert!(!advice.iter().any(|a| a.contains("vitamin A")));
}

#[test]
fn breastfeeding_is_not_treated_as_pregnancy() {
    let (foods, _) = plan(
        json!({"patient": {"age_years": 30, "sex": "female", "breastfeeding": true}, "diet": "omnivore"}),
    );
    assert_eq!(foods[0].0, "liver");
}

#[test]
fn pescatarians_get_no_meat_or_liver() {
    for pregnant in [false, true] {
        let (foods, _) = plan(
            json!({"patient": {"age_years": 40, "sex": "female", "pregnant": pregnant}, "diet": "pescatarian"}),
        );
        assert!(
            foods.iter().all(|(k, _)| k != "meat" && k != "liver"),
            "{foods:?}"
        );
        assert!(foods
            .iter()
            .any(|(k, _)| k == "shellfish" || k == "fish" || k == "tuna"));
    }
}

#[test]
fn vegans_and_vegetarians_are_told_they_need_fortified_foods_or_a_supplement() {
    for diet in ["vegan", "vegetarian"] {
        let (foods, advice) = plan(json!({"patient": {"age_years": 40}, "diet": diet}));
        assert!(
            advice
                .iter()
                .any(|a| a.contains("needs fortified foods") && a.contains("supplement")),
            "{diet}: {advice:?}"
        );
        let allowed: &[&str] = if diet == "vegan" {
            &["fortified", "plant"]
        } else {
            &["fortified", "plant", "dairy", "egg"]
        };
        assert!(
            foods.iter().all(|(k, _)| allowed.contains(&k.as_str())),
            "{diet}: {foods:?}"
        );
    }
}
