//! Checking assessments against expectations: the rule tests kept with each rule, and the
//! `expect` blocks of the published cases (`tests/published/`). One checker serves both.

use cobalt_core::assessment::Assessment;
use cobalt_core::kb::{KnowledgeBase, Rule};
use serde_json::Value;

/// The date rule tests are assessed on when their case has no `as_of`.
pub const TEST_AS_OF: &str = "2026-01-01";

/// Checks an assessment against an `expect` block (the keys listed in `tests/published/README.md`).
/// Returns one message per unmet expectation; an unknown key is also a failure.
pub fn check_expect(a: &Assessment<'_>, expect: &Value) -> Vec<String> {
    let mut fails = Vec::new();
    let Some(map) = expect.as_object() else {
        return vec!["expect is not an object".into()];
    };
    let c = &a.conclusions;
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (key, want) in map {
        // TOML has no null: the string "null" stands for it (not enough data).
        let null = Value::Null;
        let want = if want.as_str() == Some("null") {
            &null
        } else {
            want
        };
        let ok =
            match key.as_str() {
                "b12_status" => want.as_str() == Some(c.b12_status.as_str()),
                "causes_include" => strs(want).iter().all(|w| c.causes.contains(w)),
                "causes_exclude" => strs(want).iter().all(|w| !c.causes.contains(w)),
                "picture" => want.as_str() == Some(c.picture.as_str()),
                "picture_not" => want.as_str() != Some(c.picture.as_str()),
                "mcdonald_dis" => {
                    *want == serde_json::to_value(c.mcdonald_2017.dis).unwrap_or(Value::Null)
                }
                "mcdonald_dit" => {
                    *want == serde_json::to_value(c.mcdonald_2017.dit).unwrap_or(Value::Null)
                }
                "mcdonald_met" => {
                    *want == serde_json::to_value(c.mcdonald_2017.met).unwrap_or(Value::Null)
                }
                "mcdonald_met_not_true" => c.mcdonald_2017.met != Some(true),
                k if k.starts_with("mcdonald_2024_") => {
                    let m = serde_json::to_value(c.mcdonald_2024).unwrap_or(Value::Null);
                    match &k["mcdonald_2024_".len()..] {
                        "met_not_true" => c.mcdonald_2024.met != Some(true),
                        field @ ("regions" | "dis" | "dit" | "csf_positive" | "cvs_select6"
                        | "met") => m.get(field) == Some(want),
                        _ => {
                            fails.push(format!("unknown expect key `{k}`"));
                            continue;
                        }
                    }
                }
                "route" => want.as_str() == Some(c.treatment.route.as_str()),
                "route_any_of" => strs(want).iter().any(|w| w == c.treatment.route.as_str()),
                "urgent" => want.as_bool() == Some(c.treatment.urgent),
                "test_indicated" => want.as_bool() == Some(c.test_indicated),
                "next_tests_include_any" => strs(want)
                    .iter()
                    .any(|w| c.next_tests.contains(&w.as_str())),
                "next_tests_include" => strs(want)
                    .iter()
                    .all(|w| c.next_tests.contains(&w.as_str())),
                "next_tests_exclude" => strs(want)
                    .iter()
                    .all(|w| !c.next_tests.contains(&w.as_str())),
                "next_tests" => {
                    strs(want)
                        == c.next_tests
                            .iter()
                            .map(|s| s.to_string())
                            .collect::<Vec<_>>()
                }
                "referrals_include" => strs(want).iter().all(|w| c.referrals.contains(&w.as_str())),
                "referrals_exclude" => strs(want)
                    .iter()
                    .all(|w| !c.referrals.contains(&w.as_str())),
                "fired" => strs(want).iter().all(|w| a.fired(w)),
                "not_fired" => strs(want).iter().all(|w| !a.fired(w)),
                other => {
                    fails.push(format!("unknown expect key `{other}`"));
                    continue;
                }
            };
        if !ok {
            let got = match key.as_str() {
                "b12_status" => c.b12_status.as_str().to_string(),
                "causes_include" | "causes_exclude" => format!("{:?}", c.causes),
                "picture" | "picture_not" => c.picture.as_str().to_string(),
                k if k.starts_with("mcdonald_2024") => format!("{:?}", c.mcdonald_2024),
                k if k.starts_with("mcdonald") => format!("{:?}", c.mcdonald_2017),
                "route" | "route_any_of" => c.treatment.route.as_str().to_string(),
                "urgent" => c.treatment.urgent.to_string(),
                "test_indicated" => c.test_indicated.to_string(),
                k if k.starts_with("next_tests") => format!("{:?}", c.next_tests),
                k if k.starts_with("referrals") => format!("{:?}", c.referrals),
                _ => a
                    .findings
                    .iter()
                    .map(|f| f.rule)
                    .collect::<Vec<_>>()
                    .join(","),
            };
            fails.push(format!("{key}: expected {want}, got {got}"));
        }
    }
    fails
}

/// Builds the full case document of a rule test from its fragment.
pub fn test_case_json(fragment: &str) -> Result<Value, String> {
    let mut v: Value =
        serde_json::from_str(fragment).map_err(|e| format!("case is not JSON: {e}"))?;
    let obj = v.as_object_mut().ok_or("case is not a JSON object")?;
    obj.entry("format")
        .or_insert_with(|| Value::String("cobalt.case/1".into()));
    obj.entry("as_of")
        .or_insert_with(|| Value::String(TEST_AS_OF.into()));
    Ok(v)
}

/// Runs one rule's tests on the default profile; returns one message per failure.
pub fn run_rule_tests(kb: &KnowledgeBase, rule: &Rule) -> Vec<String> {
    let mut fails = Vec::new();
    let profile = match kb.profiles.get(&kb.meta.default_profile) {
        Some(p) => p,
        None => return vec!["no default profile".into()],
    };
    for t in &rule.tests {
        let doc = match test_case_json(&t.case) {
            Ok(d) => d,
            Err(e) => {
                fails.push(format!("{} / {}: {e}", rule.id, t.name));
                continue;
            }
        };
        let case = match cobalt_core::parse_case_value(doc, &kb.vocab, &kb.analytes) {
            Ok(c) => c,
            Err(e) => {
                fails.push(format!("{} / {}: invalid case: {e}", rule.id, t.name));
                continue;
            }
        };
        let as_of = case
            .as_of
            .or_else(|| cobalt_core::case::parse_date(TEST_AS_OF))
            .expect("valid test date");
        let a = cobalt_core::evaluate(kb, profile, &case, as_of);
        if a.fired(&rule.id) != t.fires {
            let fired: Vec<&str> = a.findings.iter().map(|f| f.rule).collect();
            fails.push(format!(
                "{} / {}: expected the rule {}to fire; fired: {}",
                rule.id,
                t.name,
                if t.fires { "" } else { "not " },
                fired.join(", ")
            ));
        }
        if let Some(expect) = &t.expect {
            let v = serde_json::to_value(expect).unwrap_or(Value::Null);
            for f in check_expect(&a, &v) {
                fails.push(format!("{} / {}: {f}", rule.id, t.name));
            }
        }
    }
    fails
}
