//! What to do: route and regimen, urgency, referrals, folate, follow-up, the diet plan and what
//! the evidence says about B12 in MS.

use super::causes::Causes;
use super::labs::LabFacts;
use super::{Ctx, Facts};
use crate::assessment::{B12Status, DietPlan, FoodOut, Management, Picture, Route, Treatment};
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

    // After nitrous oxide a normal B12 level does not exclude deficiency at the cell: only a
    // normal homocysteine or MMA does.
    let n2o_unresolved = facts.nitrous_oxide && lab.mma.is_none() && lab.hcy.is_none();
    let route = if !treat {
        match status {
            _ if facts.on_replacement() => match facts.replacement {
                Some(ReplacementStatus::Intramuscular) => Route::Intramuscular,
                Some(ReplacementStatus::Oral) => Route::Oral,
                _ => Route::Undetermined,
            },
            B12Status::NotDeficient if !n2o_unresolved => {
                let ms = if facts.demyelination_considered {
                    ", and there is no evidence that extra B12 changes MS in people with normal levels"
                } else {
                    ""
                };
                ctx.fire(
                    "TX-016",
                    msg!(ctx, "B12 deficiency is unlikely on the results: B12 replacement is not indicated{ms}."),
                    None,
                );
                Route::None
            }
            _ => {
                ctx.missing(
                    "treatment.route",
                    vec!["labs[].total_b12", "labs[].active_b12", "labs[].mma"],
                    if facts.nitrous_oxide {
                        vec!["homocysteine", "mma"]
                    } else if facts.pregnant {
                        vec!["active_b12"]
                    } else if status == B12Status::Indeterminate {
                        vec!["mma"]
                    } else {
                        vec!["total_b12", "active_b12"]
                    },
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
        let (what, support) = if facts.nitrous_oxide_recreational {
            (
                "stop using nitrous oxide. ",
                Some(
                    "Stopping nitrous oxide is part of the treatment; offer support to stop."
                        .to_string(),
                ),
            )
        } else {
            ("avoid further nitrous oxide anaesthesia. ", None)
        };
        ctx.fire(
            "TX-005",
            msg!(ctx, "Nitrous oxide has inactivated B12: {what}Either intramuscular or oral replacement can be offered, by the person's preference; with neurological involvement the intramuscular regimen is used here."),
            support,
        );
        if r == Route::Intramuscular {
            m.regimen = ctx.regimen("TX-001");
            fire_regimen(ctx, "TX-001", "Neurological involvement");
        } else {
            m.regimen = ctx.regimen("TX-003");
            fire_regimen(ctx, "TX-003", "Oral treatment chosen after nitrous oxide");
        }
        r
    } else if neuro {
        fire_regimen(ctx, "TX-001", "Neurological involvement");
        m.regimen = ctx.regimen("TX-001");
        Route::Intramuscular
    } else if malabsorption || (!diet_cause && !drug_cause) {
        let why = if malabsorption {
            "The cause is malabsorption"
        } else {
            "No dietary or medicine cause is evident, so malabsorption (most often autoimmune gastritis) is assumed until shown otherwise"
        };
        fire_regimen(ctx, "TX-002", why);
        m.regimen = ctx.regimen("TX-002");
        Route::Intramuscular
    } else if drug_cause {
        fire_regimen(ctx, "TX-003", "Medicine-related deficiency without neurological involvement; review whether the medicine is still needed, but do not stop it without weighing its benefit");
        m.regimen = ctx.regimen("TX-003");
        Route::Oral
    } else {
        fire_regimen(ctx, "TX-004", "Diet-related deficiency without neurological involvement; add B12-rich and fortified foods");
        m.regimen = ctx.regimen("TX-004");
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
            msg!(ctx, "Urgent: {why}. Nerve damage from B12 deficiency can become permanent if treatment is delayed."),
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
            let labels: Vec<&str> = gi.iter().map(|c| ctx.label(c)).collect();
            ctx.fire(
                "TX-009",
                msg!(
                    ctx,
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
            "Folate is low while B12 deficiency is present or not excluded: give folic acid only once B12 deficiency has been excluded or B12 replacement has started."
        };
        ctx.fire(
            "TX-012",
            msg,
            Some("Start B12 first (or exclude deficiency), then folic acid.".into()),
        );
        m.cautions.push("Do not give folic acid alone while B12 deficiency is present or not excluded; start B12 first.".into());
    }
    if route == Route::Intramuscular || route == Route::Oral {
        let (months, why) = if facts.pregnant || facts.breastfeeding {
            (
                param!(ctx, "TX-013", "review_months_pregnant_or_breastfeeding"),
                "pregnant or breastfeeding",
            )
        } else {
            (param!(ctx, "TX-013", "review_months"), "standard review")
        };
        let when = msg!(
            ctx,
            "after {} month{}",
            display_number(months, 0),
            if months == 1.0 { "" } else { "s" }
        );
        ctx.fire(
            "TX-013",
            msg!(ctx, "Review symptoms and the blood count {when} of treatment ({why}); symptoms can take weeks to months to settle. Do not re-test B12 on long-term replacement."),
            None,
        );
        if ctx.detail {
            m.follow_up = Some(format!("Review {when} of treatment ({why}). Do not re-test B12 while on long-term replacement."));
        }
        m.follow_up_months = Some(months);
    }

    // Diet plan.
    m.diet_plan = diet_plan(ctx, facts, status);

    // Evidence on B12 in MS.
    let ms_relevant = facts.demyelination_considered
        || matches!(picture, Picture::MultipleSclerosis | Picture::Mixed);
    if ms_relevant {
        ctx.fire(
            "EVID-001",
            "B12 treats B12 deficiency, including in people with MS. There is no evidence that B12 prevents, slows or treats MS in people whose B12 is normal: meta-analyses found no difference in B12 levels between people with MS and controls (homocysteine was higher), and a small trial of B12 with folic acid improved quality of life but did not measure MS activity.",
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

/// Fires a treatment rule with its regimen from the knowledge base.
fn fire_regimen(ctx: &mut Ctx<'_, '_>, rule: &'static str, why: &str) {
    if !ctx.detail {
        ctx.fire(rule, String::new(), None);
        return;
    }
    let text = match ctx.regimen(rule) {
        Some(r) => {
            let alt = r
                .alternative
                .map(|a| format!(" Alternative: {a}."))
                .unwrap_or_default();
            format!(
                "{why}: {}, {}, then {}.{alt}",
                r.product, r.initial, r.maintenance
            )
        }
        None => format!("{why}."),
    };
    ctx.fire(rule, text, None);
}

fn diet_plan<'kb>(
    ctx: &mut Ctx<'kb, '_>,
    facts: &Facts,
    status: B12Status,
) -> Option<DietPlan<'kb>> {
    let kb = ctx.kb;
    let diet = ctx.case.diet;
    let vegan = diet == Some(Diet::Vegan);
    let vegetarian = matches!(diet, Some(Diet::Vegetarian));
    let mut advice = Vec::new();
    if vegan || vegetarian || diet == Some(Diet::LowAnimalFood) {
        let msg = "B12 is found naturally only in animal foods: a vegan, vegetarian or low-animal-food diet needs fortified foods (plant milks, breakfast cereals, nutritional yeast) or a B12 supplement.";
        ctx.fire("DIET-003", msg, None);
        if ctx.detail {
            advice.push(msg.to_string());
        }
    }
    let older = param!(ctx, "DIET-004", "older_than_years");
    if facts.age.is_some_and(|a| a > older) {
        let msg = msg!(ctx, "Older than {}: absorption of the B12 bound in food falls with age, so most of the intake should come from fortified foods or a supplement.", display_number(older, 0));
        ctx.fire("DIET-004", msg.clone(), None);
        if ctx.detail {
            advice.push(msg);
        }
    }
    if status.shown() && ctx.detail {
        advice.push("Food alone does not correct a confirmed deficiency; it keeps levels up once treatment has restored them.".to_string());
    }
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
        let age = facts.age?;
        kb.intake.iter().find(|i| {
            i.condition.is_none()
                && i.min_age_years.is_none_or(|lo| lo <= age)
                && i.max_age_years.is_none_or(|hi| age < hi)
        })
    });
    let Some(stage) = stage else {
        ctx.missing(
            "management.diet_plan",
            vec!["patient.age_years"],
            vec![],
            "The recommended intake depends on age (or pregnancy or breastfeeding), which is not recorded.",
        );
        return None;
    };
    let pescatarian = diet == Some(Diet::Pescatarian);
    // In pregnancy, foods of a kind to avoid are left out and those to limit carry the limit.
    let caution = |kind: &str| {
        kb.pregnancy_cautions
            .iter()
            .find(|c| facts.pregnant && c.kind == kind)
    };
    let mut left_out: Vec<&'kb str> = Vec::new();
    let mut limited: Vec<&'kb str> = Vec::new();
    let mut foods: Vec<FoodOut<'kb>> = Vec::new();
    // Without prose (Detail::Conclusions) the rules fire as they would, and no plan is built.
    let mut any_food = false;
    for f in kb.foods.iter().filter(|f| f.mcg > 0.0) {
        let suits = if vegan {
            f.vegan
        } else if vegetarian {
            f.vegetarian
        } else if pescatarian {
            !matches!(f.kind.as_str(), "meat" | "liver")
        } else {
            true
        };
        if !suits {
            continue;
        }
        let c = caution(&f.kind);
        match c.map(|c| c.advice.as_str()) {
            Some("avoid") => {
                let reason = c.map_or("", |c| c.reason.as_str());
                if !left_out.contains(&reason) {
                    left_out.push(reason);
                }
                continue;
            }
            Some(_) => {
                let reason = c.map_or("", |c| c.reason.as_str());
                if !limited.contains(&reason) {
                    limited.push(reason);
                }
            }
            None => {}
        }
        any_food = true;
        if !ctx.detail {
            continue;
        }
        foods.push(FoodOut {
            name: f.name.as_str(),
            serving: f.serving.as_str(),
            mcg: f.mcg,
            mcg_high: f.mcg_high,
            percent_of_intake: (f.mcg / stage.mcg_per_day * 100.0).round(),
            caution: c.filter(|c| c.advice == "limit").map(|c| c.reason.as_str()),
        });
    }
    foods.sort_by(|a, b| b.mcg.total_cmp(&a.mcg));
    foods.truncate(8);
    let pregnancy: Vec<&'kb str> = left_out.iter().chain(&limited).copied().collect();
    if !pregnancy.is_empty() {
        ctx.fire(
            "DIET-005",
            msg!(ctx, "Pregnant: {}", pregnancy.join(" ")),
            None,
        );
        if ctx.detail {
            advice.extend(pregnancy.iter().map(|s| s.to_string()));
        }
    }
    ctx.fire(
        "DIET-001",
        msg!(
            ctx,
            "Recommended intake for {}: {} micrograms a day ({}).",
            stage.stage,
            display_number(stage.mcg_per_day, 1),
            stage.measure
        ),
        None,
    );
    if any_food {
        let top: Vec<String> = foods
            .iter()
            .take(3)
            .map(|f| {
                format!(
                    "{} ({} mcg per {}, {}% of the day's need)",
                    f.name,
                    display_number(f.mcg, 1),
                    f.serving,
                    f.percent_of_intake
                )
            })
            .collect();
        ctx.fire(
            "DIET-002",
            msg!(
                ctx,
                "Foods that suit the diet, most B12 per serving first: {}.",
                top.join("; ")
            ),
            None,
        );
    }
    if !ctx.detail {
        return None;
    }
    Some(DietPlan {
        stage: stage.stage.as_str(),
        intake_mcg_per_day: stage.mcg_per_day,
        measure: stage.measure.as_str(),
        foods,
        advice,
        pregnancy,
    })
}
