//! Whether the patient view accounts for every rule: read by id ([`super::RULES_READ`]), given
//! sentences in a `[[rule_sections]]` section, or given a line in `knowledge/plain.toml`'s
//! `[coverage]`.

use super::RULES_READ;

/// The sections a `[coverage]` line may name.
const COVERAGE_SECTIONS: &[&str] = &["results", "causes", "ms", "next", "food"];

/// Rules the patient view does not account for: neither read by id ([`RULES_READ`]) nor given a
/// line in `knowledge/plain.toml`'s `[coverage]`, and coverage lines that name no rule or no
/// section. `cobalt kb lint` prints these; an empty list means every rule reaches the patient
/// view or says why not.
pub fn coverage_problems<'a>(rules: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let w = super::wording();
    let rules: Vec<&str> = rules.into_iter().collect();
    let mut problems = Vec::new();
    for r in &rules {
        let read = RULES_READ.contains(r) || super::by_rule::has_sentences(w, r);
        match (read, w.coverage.get(*r)) {
            (false, None) => problems.push(format!(
                "{r}: no patient wording; the patient view neither reads this rule nor has a [coverage] line for it (name the section that carries it: {}, or `silent: why`)",
                COVERAGE_SECTIONS.join(", ")
            )),
            (true, Some(_)) => problems.push(format!(
                "{r}: has a [coverage] line but the patient view reads it by id or gives it sentences"
            )),
            _ => {}
        }
    }
    for s in &w.rule_sections {
        for r in s.rules.keys() {
            if !rules.contains(&r.as_str()) {
                problems.push(format!(
                    "[[rule_sections]] `{}` names `{r}`, which is not a rule",
                    s.id
                ));
            }
        }
    }
    for (r, v) in &w.coverage {
        if !rules.contains(&r.as_str()) {
            problems.push(format!("[coverage] names `{r}`, which is not a rule"));
        }
        if !(COVERAGE_SECTIONS.contains(&v.as_str()) || v.starts_with("silent: ")) {
            problems.push(format!(
                "{r}: `{v}` is neither a section ({}) nor `silent: why`",
                COVERAGE_SECTIONS.join(", ")
            ));
        }
    }
    problems
}
