//! What to do: route and regimen, urgency, referrals, folate, follow-up, the diet plan and what
//! the evidence says about B12 in MS.

use super::causes::Causes;
use super::labs::LabFacts;
use super::{Ctx, Facts};
use crate::assessment::{
    B12Status, DietPlan, FoodOut, Management, Picture, Regimen, Route, Treatment,
};
use crate::case::{Diet, ReplacementStatus};
use crate::units::display_number;

const MALABSORPTION: &[&str] = &["malabsorption", "autoimmune"];

pub(crate) fn plan<'kb>(
    ctx: &mut Ctx<'kb, '_>,
    facts: &Facts,
    lab: &LabFacts,
    causes: &Causes,
    picture: Picture,
) -> (Treatment, Vec<&'static str>, Management<'kb>) {
    let mut m = Management::default();
    let mut referrals: Vec<&'static str> = Vec::new();
    let status = lab.status;
    let neuro = facts.neuro();
    let malabsorption = MALABSORPTION.iter().any(|x| causes.has_mechanism(x));
    let diet_cause = causes.has_mechanism("diet");
    let drug_cause = causes.has_mechanism("drug");

    // Treatment is indicated when deficiency is shown, or indeterminate with neurological
    // symptoms (do not delay treatment when the clinical features are strong).
    let treat = match status {
        B12Status::Deficient | B12Status::FunctionalDeficiency => true,
        B12Status::Indeterminate if neuro => {
            ctx.fire(
                "TX-014",
                "B12 is indeterminate and there are neurological symptoms or signs: do not delay treatment while waiting for further tests, to avoid lasting nerve damage.",
                Some("Take the blood for MMA before the first injection.".into()),
            );
            true
        }
        _ => false,
    };

    let route = if !treat {
        match status {
            B12Status::NotDeficient => {
                ctx.fire(
                    "TX-016",
                    "B12 deficiency is unlikely on the results: B12 replacement is not indicated, and there is no evidence that extra B12 changes MS in people with normal levels.",
                    None,
                );
                Route::None
            }
            _ => {
                ctx.missing(
                    "treatment.route",
                    vec!["labs[].total_b12", "labs[].active_b12", "labs[].mma"],
                    vec!["total_b12"],
                    "The route depends on whether deficiency is confirmed and on its cause.",
                );
                Route::Undetermined
            }
        }
    } else if facts.nitrous_oxide {
        let r = if neuro || facts.replacement == Some(ReplacementStatus::Intramuscular) {
            Route::Intramuscular
        } else {
            Route::Oral
        };
        ctx.fire(
            "TX-005",
            "Nitrous oxide has inactivated B12: stop nitrous oxide. Either intramuscular or oral replacement can be offered, by the person's preference; with neurological involvement the intramuscular regimen is used here.",
            Some("Stopping nitrous oxide is part of the treatment; offer support to stop.".into()),
        );
        if r == Route::Intramuscular {
            m.regimen = Some(im_neuro());
            ctx.fire("TX-001", "Neurological involvement: hydroxocobalamin 1 mg intramuscularly on alternate days until there is no further improvement, then 1 mg every 2 months.", None);
        } else {
            m.regimen = Some(oral_1mg("TX-005"));
        }
        r
    } else if neuro {
        ctx.fire(
            "TX-001",
            "Neurological involvement: hydroxocobalamin 1 mg intramuscularly on alternate days until there is no further improvement, then 1 mg every 2 months.",
            None,
        );
        m.regimen = Some(im_neuro());
        Route::Intramuscular
    } else if malabsorption || (!diet_cause && !drug_cause) {
        let why = if malabsorption {
            "The cause is malabsorption"
        } else {
            "No dietary or medicine cause is evident, so malabsorption (most often autoimmune gastritis) is assumed until shown otherwise"
        };
        ctx.fire(
            "TX-002",
            format!("{why}: hydroxocobalamin 1 mg intramuscularly three times a week for 2 weeks, then 1 mg every 2 to 3 months, for life while the cause persists."),
            Some("If oral treatment is chosen instead, give at least 1 mg a day.".into()),
        );
        m.regimen = Some(Regimen {
            rule: "TX-002",
            product: "hydroxocobalamin, intramuscular",
            initial: "1 mg three times a week for 2 weeks".into(),
            maintenance: "1 mg every 2 to 3 months".into(),
            alternative: Some("oral cyanocobalamin at least 1 mg a day (TX-003)".into()),
        });
        Route::Intramuscular
    } else if drug_cause {
        ctx.fire(
            "TX-003",
            "Medicine-related deficiency without neurological involvement: oral cyanocobalamin at least 1 mg a day, as for malabsorption; review whether the medicine is still needed, but do not stop it without weighing its benefit.",
            None,
        );
        m.regimen = Some(oral_1mg("TX-003"));
        Route::Oral
    } else {
        ctx.fire(
            "TX-004",
            "Diet-related deficiency without neurological involvement: oral cyanocobalamin 50 to 150 micrograms a day, with advice on B12-rich and fortified foods.",
            Some("Once levels are restored, a supplement or fortified foods for as long as the diet continues.".into()),
        );
        m.regimen = Some(Regimen {
            rule: "TX-004",
            product: "cyanocobalamin, oral",
            initial: "50 to 150 micrograms a day".into(),
            maintenance: "a supplement or fortified foods for as long as the diet continues".into(),
            alternative: None,
        });
        Route::Oral
    };

    // Already on replacement.
    if let Some(r) = facts.replacement {
        let dose = ctx.case.b12_replacement.and_then(|r| r.daily_dose_mcg);
        let text = match r {
            ReplacementStatus::Oral => format!(
                "B12 replacement has been started by mouth{}.",
                dose.map(|d| format!(" ({} micrograms a day)", display_number(d, 0)))
                    .unwrap_or_default()
            ),
            _ => "B12 replacement has been started by injection.".to_string(),
        };
        let suggestion = (r == ReplacementStatus::Oral && neuro).then(|| {
            "With neurological involvement, intramuscular hydroxocobalamin is the regimen; consider switching from oral.".to_string()
        });
        ctx.fire("TX-015", text, suggestion);
    }

    // Urgency.
    let urgent = (treat || (status == B12Status::Indeterminate && facts.pregnant))
        && (neuro || facts.pregnant);
    if urgent {
        let why = match (neuro, facts.pregnant) {
            (true, true) => "neurological involvement in pregnancy",
            (true, false) => "neurological involvement",
            _ => "pregnancy",
        };
        ctx.fire(
            "TX-006",
            format!("Urgent: {why}. Nerve damage from B12 deficiency can become permanent if treatment is delayed."),
            Some("Start treatment now and seek specialist advice the same day.".into()),
        );
    }

    // Referrals.
    if (treat || status == B12Status::Indeterminate) && neuro {
        ctx.fire(
            "TX-007",
            "Neurological involvement with B12 deficiency: seek urgent specialist advice from haematology, and neurology for the neurological assessment.",
            None,
        );
        referrals.push("haematology");
        referrals.push("neurology");
    } else if facts.demyelination_considered && facts.neuro() {
        ctx.fire(
            "TX-017",
            "MS or another demyelinating disease is being considered: the work-up belongs with neurology.",
            None,
        );
        referrals.push("neurology");
    }
    if facts.pregnant && (treat || status == B12Status::Indeterminate) {
        ctx.fire(
            "TX-008",
            "Pregnant with possible or confirmed B12 deficiency: involve the obstetric team.",
            None,
        );
        referrals.push("obstetrics");
    }
    if status.shown() || status == B12Status::Indeterminate {
        let gi: Vec<&str> = [
            "autoimmune_gastritis",
            "coeliac_disease",
            "crohns_disease",
            "atrophic_gastritis",
        ]
        .into_iter()
        .filter(|c| causes.has(c))
        .collect();
        if !gi.is_empty() {
            let labels: Vec<String> = gi.iter().map(|c| ctx.label(c)).collect();
            ctx.fire(
                "TX-009",
                format!(
                    "{}: gastroenterology to confirm and manage the cause of malabsorption.",
                    labels.join(", ")
                ),
                None,
            );
            referrals.push("gastroenterology");
        }
    }
    if facts.nitrous_oxide_recreational {
        ctx.fire(
            "TX-010",
            "Recreational nitrous oxide use: offer referral to drug and alcohol services; continued use undoes treatment.",
            None,
        );
        referrals.push("addiction_services");
    }
    if diet_cause && (treat || status == B12Status::Indeterminate) {
        ctx.fire(
            "TX-011",
            "Diet-related deficiency: a dietitian can plan B12 intake from fortified foods and supplements that suit the diet.",
            None,
        );
        referrals.push("dietetics");
    }

    // Folate.
    let b12_not_excluded = matches!(
        status,
        B12Status::Deficient
            | B12Status::FunctionalDeficiency
            | B12Status::Indeterminate
            | B12Status::NotTested
    );
    if (facts.folic_acid_current || lab.folate_low == Some(true))
        && b12_not_excluded
        && !facts.on_replacement()
    {
        let msg = if facts.folic_acid_current {
            "Folic acid is being taken while B12 deficiency is present or not excluded: folic acid alone can correct the anaemia while the nerve damage of B12 deficiency progresses."
        } else {
            "Folate is low while B12 deficiency is present or not excluded: give folic acid only after B12 replacement has started."
        };
        ctx.fire(
            "TX-012",
            msg,
            Some("Start B12 first (or exclude deficiency), then folic acid.".into()),
        );
        m.cautions.push("Do not give folic acid alone while B12 deficiency is present or not excluded; start B12 first.".into());
    }
    if route == Route::Intramuscular || route == Route::Oral {
        let (when, why) = if facts.pregnant || facts.breastfeeding {
            ("after 1 month", "pregnant or breastfeeding")
        } else {
            ("after 3 months", "standard review")
        };
        ctx.fire(
            "TX-013",
            format!("Review symptoms and the blood count {when} of treatment ({why}); symptoms can take weeks to months to settle. Do not re-test B12 on long-term replacement."),
            None,
        );
        m.follow_up = Some(format!("Review {when} of treatment ({why}). Do not re-test B12 while on long-term replacement."));
    }

    // Diet plan.
    m.diet_plan = diet_plan(ctx, facts, status);

    // Evidence on B12 in MS.
    let ms_relevant = facts.demyelination_considered
        || matches!(picture, Picture::MultipleSclerosis | Picture::Mixed);
    if ms_relevant {
        ctx.fire(
            "EVID-001",
            "B12 treats B12 deficiency, including in people with MS. There is no evidence that B12 prevents, slows or treats MS in people whose B12 is normal: meta-analyses found no difference in B12 levels between people with MS and controls (homocysteine was higher), and a small trial of B12 with folic acid improved quality of life but not MS itself.",
            None,
        );
        if status.shown() || picture == Picture::Mixed {
            ctx.fire(
                "EVID-002",
                "MS and B12 deficiency can coexist: a confirmed MS diagnosis does not exclude B12 deficiency, and treating the deficiency does not treat MS.",
                None,
            );
        }
    }

    (Treatment { route, urgent }, referrals, m)
}

fn im_neuro() -> Regimen {
    Regimen {
        rule: "TX-001",
        product: "hydroxocobalamin, intramuscular",
        initial: "1 mg on alternate days until no further improvement".into(),
        maintenance: "1 mg every 2 months".into(),
        alternative: None,
    }
}

fn oral_1mg(rule: &'static str) -> Regimen {
    Regimen {
        rule,
        product: "cyanocobalamin, oral",
        initial: "at least 1 mg a day".into(),
        maintenance: "at least 1 mg a day while the cause persists".into(),
        alternative: Some("hydroxocobalamin 1 mg intramuscularly (TX-002)".into()),
    }
}

fn diet_plan<'kb>(
    ctx: &mut Ctx<'kb, '_>,
    facts: &Facts,
    status: B12Status,
) -> Option<DietPlan<'kb>> {
    let kb = ctx.kb;
    let age = facts.age?;
    let stage = if facts.breastfeeding {
        kb.intake
            .iter()
            .find(|i| i.condition.as_deref() == Some("lactation"))
    } else if facts.pregnant {
        kb.intake
            .iter()
            .find(|i| i.condition.as_deref() == Some("pregnancy"))
    } else {
        None
    }
    .or_else(|| {
        kb.intake.iter().find(|i| {
            i.condition.is_none()
                && i.min_age_years.is_none_or(|lo| lo <= age)
                && i.max_age_years.is_none_or(|hi| age < hi)
        })
    })?;
    let diet = ctx.case.diet;
    let vegan = diet == Some(Diet::Vegan);
    let vegetarian = matches!(diet, Some(Diet::Vegetarian));
    let mut foods: Vec<FoodOut<'kb>> = kb
        .foods
        .iter()
        .filter(|f| f.mcg > 0.0)
        .filter(|f| {
            if vegan {
                f.vegan
            } else if vegetarian {
                f.vegetarian
            } else {
                true
            }
        })
        .map(|f| FoodOut {
            name: f.name.as_str(),
            serving: f.serving.as_str(),
            mcg: f.mcg,
            mcg_high: f.mcg_high,
            percent_of_intake: (f.mcg / stage.mcg_per_day * 100.0).round(),
        })
        .collect();
    foods.sort_by(|a, b| b.mcg.total_cmp(&a.mcg));
    foods.truncate(8);
    ctx.fire(
        "DIET-001",
        format!(
            "Recommended intake for {}: {} micrograms a day ({}).",
            stage.stage,
            display_number(stage.mcg_per_day, 1),
            stage.measure
        ),
        None,
    );
    if !foods.is_empty() {
        let top: Vec<String> = foods
            .iter()
            .take(3)
            .map(|f| {
                format!(
                    "{} ({} mcg per {})",
                    f.name,
                    display_number(f.mcg, 1),
                    f.serving
                )
            })
            .collect();
        ctx.fire(
            "DIET-002",
            format!("Good sources that suit the diet: {}.", top.join("; ")),
            None,
        );
    }
    let mut advice = Vec::new();
    if vegan || vegetarian || diet == Some(Diet::LowAnimalFood) {
        let msg = "B12 is found naturally only in animal foods: a vegan, vegetarian or low-animal-food diet needs fortified foods (plant milks, breakfast cereals, nutritional yeast) or a B12 supplement.";
        ctx.fire("DIET-003", msg, None);
        advice.push(msg.to_string());
    }
    if age >= 50.0 {
        let msg = "Over 50: absorption of the B12 bound in food falls with age, so most of the intake should come from fortified foods or a supplement.";
        ctx.fire("DIET-004", msg, None);
        advice.push(msg.to_string());
    }
    if status.shown() {
        advice.push("Food alone does not correct a confirmed deficiency; it keeps levels up once treatment has restored them.".to_string());
    }
    Some(DietPlan {
        stage: stage.stage.as_str(),
        intake_mcg_per_day: stage.mcg_per_day,
        measure: stage.measure.as_str(),
        foods,
        advice,
    })
}
