//! Linting `knowledge/diet.toml`: intake by life stage (ages that neither overlap nor invert),
//! foods (cited, with a kind that agrees with their vegetarian and vegan flags) and the cautions
//! in pregnancy.

use super::lint::Linter;
use super::{DietFile, Food, KnowledgeBase, SourceFile, FOOD_KINDS};
use std::collections::BTreeSet;

impl Linter {
    /// Parses and checks `diet.toml` into the knowledge base.
    pub(super) fn diet(
        &mut self,
        f: &SourceFile<'_>,
        kb: &mut KnowledgeBase,
        used_refs: &mut BTreeSet<String>,
    ) {
        let Some(df) = self.parse::<DietFile>(f.path, f.text) else {
            return;
        };
        for i in &df.intake {
            self.cites(f.path, &i.stage, &i.sources, &kb.references, used_refs);
            if let (Some(lo), Some(hi)) = (i.min_age_years, i.max_age_years) {
                if lo >= hi {
                    self.problem(f.path, &i.stage, "inverted age range");
                }
            }
        }
        let ages: Vec<_> = df
            .intake
            .iter()
            .filter(|i| i.condition.is_none())
            .map(|i| {
                (
                    i.min_age_years.unwrap_or(0.0),
                    i.max_age_years.unwrap_or(f64::INFINITY),
                    &i.stage,
                )
            })
            .collect();
        for (a, x) in ages.iter().enumerate() {
            for y in &ages[a + 1..] {
                if x.0 < y.1 && y.0 < x.1 {
                    self.problem(f.path, x.2, format!("age range overlaps `{}`", y.2));
                }
            }
        }
        for food in &df.food {
            self.cites(f.path, &food.name, &food.sources, &kb.references, used_refs);
            if food.vegan && !food.vegetarian {
                self.problem(f.path, &food.name, "vegan but not vegetarian");
            }
            self.food_kind(f.path, food);
            if !metric_serving(&food.serving) {
                self.problem(
                    f.path,
                    &food.name,
                    "a serving gives grams or mL in brackets, such as `3 oz (85 g)`, or says the weight is on the label",
                );
            }
        }
        for c in &df.pregnancy {
            let item = format!("pregnancy.{}", c.kind);
            if !FOOD_KINDS.contains(&c.kind.as_str()) {
                self.problem(f.path, &item, "unknown food kind");
            }
            if !matches!(c.advice.as_str(), "avoid" | "limit") {
                self.problem(f.path, &item, "advice must be avoid or limit");
            }
            self.cites(f.path, &item, &c.sources, &kb.references, used_refs);
        }
        kb.intake = df.intake;
        kb.foods = df.food;
        kb.pregnancy_cautions = df.pregnancy;
    }

    /// A food's kind is known and agrees with its vegetarian and vegan flags.
    fn food_kind(&mut self, file: &str, food: &Food) {
        let animal = matches!(
            food.kind.as_str(),
            "meat" | "liver" | "fish" | "oily_fish" | "tuna" | "shellfish"
        );
        if !FOOD_KINDS.contains(&food.kind.as_str()) {
            self.problem(file, &food.name, format!("unknown kind `{}`", food.kind));
        } else if animal && food.vegetarian {
            self.problem(file, &food.name, "a meat or fish kind marked vegetarian");
        } else if matches!(food.kind.as_str(), "dairy" | "egg") && (food.vegan || !food.vegetarian)
        {
            self.problem(file, &food.name, "dairy and eggs are vegetarian, not vegan");
        } else if (food.kind == "fortified") != food.fortified {
            self.problem(
                file,
                &food.name,
                "kind `fortified` exactly when fortified = true",
            );
        }
    }
}

/// Whether a serving states its metric weight or volume (`… (85 g)`, `… (240 mL)`), points at
/// the label (fortified foods vary by brand), or is `any` (foods with no B12).
fn metric_serving(serving: &str) -> bool {
    serving == "any"
        || serving.contains("on the label")
        || serving
            .rsplit_once('(')
            .and_then(|(_, rest)| rest.strip_suffix(')'))
            .and_then(|m| m.strip_suffix(" g").or_else(|| m.strip_suffix(" mL")))
            .is_some_and(|n| n.parse::<f64>().is_ok_and(|v| v > 0.0))
}

#[cfg(test)]
mod tests {
    use super::metric_serving;

    #[test]
    fn servings_need_a_metric_measure() {
        for ok in [
            "3 oz (85 g)",
            "1 cup (240 mL)",
            "1 serving (the weight is on the label)",
            "any",
        ] {
            assert!(metric_serving(ok), "{ok}");
        }
        for bad in [
            "1 cup",
            "1.5 oz",
            "6 oz container",
            "1 cup (a mug)",
            "3 oz (0 g)",
            "(g)",
        ] {
            assert!(!metric_serving(bad), "{bad}");
        }
    }
}
