//! The linter: every file parsed with the real parser, every problem reported at once.

use super::*;
use crate::units::Unit;
use crate::vocab::{Kind, Vocabulary};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default)]
pub(super) struct Linter {
    pub(super) problems: Vec<Problem>,
}

/// Words that mark an internal note rather than bibliographic data, such as `(exact title not
/// retrieved)` or `Authors not retrieved`: a reference's title must be the work's title and its
/// issuer its authors or publisher, since reports print both to clinicians. Caveats go in `note`.
const INTERNAL_NOTES: &[&str] = &[
    "not retrieved",
    "to be filled",
    "exact title",
    "title unknown",
    "authors unknown",
    "todo",
    "tbd",
];

/// The internal note in a reference's title or issuer, if there is one.
pub(super) fn internal_note(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    INTERNAL_NOTES.iter().copied().find(|n| {
        lower.match_indices(n).any(|(i, _)| {
            // Whole words only, so that "todo" does not match "Todorov".
            let before = lower[..i].chars().next_back();
            let after = lower[i + n.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

pub(super) fn rule_id_ok(id: &str) -> bool {
    let Some((prefix, num)) = id.split_once('-') else {
        return false;
    };
    !prefix.is_empty()
        && prefix.chars().all(|c| c.is_ascii_uppercase())
        && num.len() == 3
        && num.chars().all(|c| c.is_ascii_digit())
}

impl Linter {
    pub(super) fn problem(&mut self, file: &str, item: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            file: file.into(),
            item: item.into(),
            message: message.into(),
        });
    }

    pub(super) fn parse<T: serde::de::DeserializeOwned>(
        &mut self,
        file: &str,
        text: &str,
    ) -> Option<T> {
        match toml::from_str(text) {
            Ok(v) => Some(v),
            Err(e) => {
                let at = e
                    .span()
                    .map(|s| {
                        let line = text[..s.start.min(text.len())].lines().count().max(1);
                        format!("line {line}: ")
                    })
                    .unwrap_or_default();
                self.problem(file, "", format!("{at}{}", e.message()));
                None
            }
        }
    }

    pub(super) fn cites(
        &mut self,
        file: &str,
        item: &str,
        cites: &[Cite],
        refs: &BTreeMap<String, Reference>,
        used: &mut BTreeSet<String>,
    ) {
        if cites.is_empty() {
            self.problem(file, item, "cites no source");
        }
        for c in cites {
            if refs.contains_key(&c.key) {
                used.insert(c.key.clone());
            } else {
                self.problem(file, item, format!("unresolved source `{}`", c.key));
            }
        }
    }

    pub(super) fn load(&mut self, files: &[SourceFile<'_>], builtins: &[&str]) -> KnowledgeBase {
        let mut kb = KnowledgeBase::default();
        let find = |name: &str| files.iter().find(|f| f.path == name);
        let mut used_refs = BTreeSet::new();

        // Metadata.
        match find("kb.toml") {
            Some(f) => {
                if let Some(m) = self.parse::<Meta>(f.path, f.text) {
                    kb.meta = m;
                }
            }
            None => self.problem("kb.toml", "", "missing file"),
        }

        // Vocabulary.
        match find("concepts.tsv") {
            Some(f) => {
                let (vocab, problems) = Vocabulary::parse_tsv(f.text);
                for p in problems {
                    self.problem(f.path, &format!("line {}", p.line), p.message);
                }
                kb.vocab = vocab;
            }
            None => self.problem("concepts.tsv", "", "missing file"),
        }

        // References.
        match find("references.toml") {
            Some(f) => {
                if let Some(rf) = self.parse::<ReferenceFile>(f.path, f.text) {
                    for mut r in rf.reference {
                        r.link = r.make_link();
                        if !matches!(r.checked.as_str(), "primary" | "secondary") {
                            self.problem(f.path, &r.key, "`checked` must be primary or secondary");
                        }
                        for (field, text) in [("title", &r.title), ("issuer", &r.issuer)] {
                            if let Some(n) = internal_note(text) {
                                self.problem(
                                    f.path,
                                    &r.key,
                                    format!("{field} holds an internal note (`{n}`); reports print it: move it to `note`"),
                                );
                            }
                        }
                        if r.url.as_deref().unwrap_or("").is_empty()
                            && r.doi.is_none()
                            && !r.key.starts_with("seed-")
                        {
                            self.problem(f.path, &r.key, "has neither url nor doi");
                        }
                        if kb.references.insert(r.key.clone(), r.clone()).is_some() {
                            self.problem(f.path, &r.key, "duplicate reference key");
                        }
                    }
                }
            }
            None => self.problem("references.toml", "", "missing file"),
        }
        self.code_tables(files, &mut kb, &mut used_refs);

        // Analytes.
        match find("analytes.toml") {
            Some(f) => self.analytes(f, &mut kb, &mut used_refs),
            None => self.problem("analytes.toml", "", "missing file"),
        }
        for c in kb.vocab.concepts() {
            if c.kind == Kind::Lab && c.id != "full_blood_count" && kb.analytes.get(&c.id).is_none()
            {
                self.problem(
                    "analytes.toml",
                    &c.id,
                    "lab concept without an analyte entry",
                );
            }
        }

        // Finding groups.
        match find("findings.toml") {
            Some(f) => {
                if let Some(ff) = self.parse::<FindingFile>(f.path, f.text) {
                    for g in ff.group {
                        for c in &g.concepts {
                            if kb.vocab.get(c).map(|c| c.kind) != Some(Kind::Finding) {
                                self.problem(
                                    f.path,
                                    &g.id,
                                    format!("`{c}` is not a finding concept"),
                                );
                            }
                        }
                        self.cites(f.path, &g.id, &g.sources, &kb.references, &mut used_refs);
                        if kb.finding_groups.insert(g.id.clone(), g.clone()).is_some() {
                            self.problem(f.path, &g.id, "duplicate group id");
                        }
                    }
                }
            }
            None => self.problem("findings.toml", "", "missing file"),
        }

        // Diet.
        match find("diet.toml") {
            Some(f) => self.diet(f, &mut kb, &mut used_refs),
            None => self.problem("diet.toml", "", "missing file"),
        }

        // Rules.
        let mut any_rules = false;
        for f in files.iter().filter(|f| f.path.starts_with("rules/")) {
            any_rules = true;
            let Some(rf) = self.parse::<RuleFile>(f.path, f.text) else {
                continue;
            };
            for r in rf.rule {
                let id = r.id.clone();
                if !rule_id_ok(&id) {
                    self.problem(f.path, &id, "id is not PREFIX-NNN");
                }
                if kb.rule_index.contains_key(&RuleKey::of(&id)) {
                    self.problem(f.path, &id, "duplicate rule id");
                    continue;
                }
                if !CATEGORIES.contains(&r.category.as_str()) {
                    self.problem(f.path, &id, format!("unknown category `{}`", r.category));
                }
                for (field, text) in [
                    ("title", &r.title),
                    ("checks", &r.checks),
                    ("why", &r.why),
                    ("inputs", &r.inputs),
                    ("limitations", &r.limitations),
                    (
                        "unverified",
                        r.unverified.as_ref().unwrap_or(&"-".to_string()),
                    ),
                ] {
                    if text.trim().is_empty() {
                        self.problem(f.path, &id, format!("empty `{field}`"));
                    }
                }
                self.cites(f.path, &id, &r.sources, &kb.references, &mut used_refs);
                if r.status == RuleStatus::Active {
                    if !r.tests.iter().any(|t| t.fires) {
                        self.problem(f.path, &id, "active rule without a test where it fires");
                    }
                    if !r.tests.iter().any(|t| !t.fires) {
                        self.problem(
                            f.path,
                            &id,
                            "active rule without a test where it does not fire",
                        );
                    }
                    if !builtins.contains(&id.as_str()) {
                        self.problem(
                            f.path,
                            &id,
                            "active rule that the evaluator does not implement",
                        );
                    }
                }
                for t in &r.tests {
                    if let Err(e) = serde_json::from_str::<serde_json::Value>(&t.case) {
                        self.problem(
                            f.path,
                            &id,
                            format!("test `{}`: case is not JSON: {e}", t.name),
                        );
                    }
                }
                if let Some(c) = &r.cause {
                    if kb.vocab.get(&c.concept).is_none() {
                        self.problem(
                            f.path,
                            &id,
                            format!("cause concept `{}` is not in the vocabulary", c.concept),
                        );
                    }
                    if !matches!(
                        c.mechanism.as_str(),
                        "diet"
                            | "malabsorption"
                            | "autoimmune"
                            | "associated"
                            | "drug"
                            | "exposure"
                    ) {
                        self.problem(f.path, &id, format!("unknown mechanism `{}`", c.mechanism));
                    }
                }
                if let Some(p) = &r.picture {
                    if !(1..=3).contains(&p.weight) {
                        self.problem(f.path, &id, "picture weight must be 1, 2 or 3");
                    }
                }
                let mut r = r;
                r.category_order = CATEGORIES
                    .iter()
                    .position(|c| *c == r.category)
                    .unwrap_or(CATEGORIES.len());
                r.resolved = r
                    .sources
                    .iter()
                    .filter_map(|c| {
                        let refr = kb.references.get(&c.key)?;
                        Some(ResolvedCite {
                            key: refr.key.clone(),
                            at: c.at.clone(),
                            title: refr.title.clone(),
                            citation: refr.citation(),
                            patient_information: refr.kind == "consumer-article",
                            url: refr.link.clone(),
                        })
                    })
                    .collect();
                let sets_numbers =
                    r.thresholds.is_some() || !r.params.is_empty() || r.regimen.is_some();
                if sets_numbers
                    && !r.resolved.is_empty()
                    && r.resolved.iter().all(|c| c.patient_information)
                {
                    self.problem(
                        f.path,
                        &id,
                        "a threshold, parameter or dose rests only on patient-information articles",
                    );
                }
                kb.rule_index.insert(RuleKey::of(&id), kb.rules.len());
                kb.rules.push(r);
            }
        }
        if !any_rules {
            self.problem("rules/", "", "no rule files");
        }
        for (rule, name) in crate::eval::BUILTIN_PARAMS {
            match kb.rule(rule) {
                Some(r) if r.params.get(*name).is_some_and(|v| v.is_finite()) => {}
                Some(_) => self.problem(
                    "rules/",
                    rule,
                    format!("missing parameter `params.{name}` that the evaluator reads"),
                ),
                None => {}
            }
        }
        for rule in crate::eval::BUILTIN_REGIMENS {
            if kb.rule(rule).is_some_and(|r| r.regimen.is_none()) {
                self.problem(
                    "rules/",
                    rule,
                    "missing the `regimen` table that the evaluator reads",
                );
            }
        }
        for r in &kb.rules {
            if r.regimen.is_some() && !crate::eval::BUILTIN_REGIMENS.contains(&r.id.as_str()) {
                self.problem("rules/", &r.id, "`regimen` is read by nothing");
            }
            for name in r.params.keys() {
                if !crate::eval::BUILTIN_PARAMS.contains(&(r.id.as_str(), name.as_str())) {
                    self.problem(
                        "rules/",
                        &r.id,
                        format!("parameter `params.{name}` is read by nothing"),
                    );
                }
            }
        }
        for b in builtins {
            if !kb.rule_index.contains_key(&RuleKey::of(b)) {
                self.problem(
                    "rules/",
                    b,
                    "the evaluator implements a rule that no rule file documents",
                );
            }
        }

        // Profiles.
        for f in files.iter().filter(|f| f.path.starts_with("profiles/")) {
            let Some(mut p) = self.parse::<Profile>(f.path, f.text) else {
                continue;
            };
            let expected = f
                .path
                .trim_start_matches("profiles/")
                .trim_end_matches(".toml");
            if p.id != expected {
                self.problem(
                    f.path,
                    &p.id,
                    format!("profile id does not match the file name `{expected}`"),
                );
            }
            self.check_profile_used(
                f.path,
                &mut p,
                &kb.references,
                &kb.analytes,
                &kb.vocab,
                &mut used_refs,
            );
            kb.profiles.insert(p.id.clone(), p);
        }
        if !kb.profiles.contains_key(&kb.meta.default_profile) {
            self.problem(
                "kb.toml",
                "default_profile",
                format!("no profile `{}`", kb.meta.default_profile),
            );
        }

        // Every code system used by the vocabulary cites its sources.
        for c in kb.vocab.concepts() {
            for (sys, _) in &c.codes {
                if !kb
                    .meta
                    .code_system
                    .iter()
                    .any(|cs| cs.system == sys.as_str())
                {
                    self.problem("kb.toml", sys.as_str(), "code system used by concepts.tsv without a [[code_system]] entry citing its sources");
                }
            }
        }
        let code_systems = kb.meta.code_system.clone();
        for cs in &code_systems {
            if crate::vocab::CodeSystem::parse(&cs.system).is_none() {
                self.problem("kb.toml", &cs.system, "unknown code system");
            }
            self.cites(
                "kb.toml",
                &cs.system,
                &cs.sources,
                &kb.references,
                &mut used_refs,
            );
        }

        for key in kb.references.keys() {
            if !used_refs.contains(key) {
                self.problem("references.toml", key, "reference cited by nothing");
            }
        }
        kb
    }

    pub(super) fn check_profile(
        &mut self,
        file: &str,
        p: &mut Profile,
        refs: &BTreeMap<String, Reference>,
        analytes: &Analytes,
        vocab: &Vocabulary,
    ) {
        let mut used = BTreeSet::new();
        self.check_profile_used(file, p, refs, analytes, vocab, &mut used);
    }

    pub(super) fn check_profile_used(
        &mut self,
        file: &str,
        p: &mut Profile,
        refs: &BTreeMap<String, Reference>,
        analytes: &Analytes,
        vocab: &Vocabulary,
        used: &mut BTreeSet<String>,
    ) {
        for (test, c) in p.tests.iter_mut() {
            let item = format!("{}.{test}", p.id);
            if vocab.get(test).map(|c| c.kind) != Some(Kind::Lab) {
                self.problem(file, &item, "not a lab concept");
            }
            match Unit::parse(&c.unit) {
                Some(u) => {
                    c.parsed_unit = Some(u);
                    if let Some(a) = analytes.get(test) {
                        if !a.accepts(u) {
                            self.problem(
                                file,
                                &item,
                                format!("unit `{}` is not a unit of this test", c.unit),
                            );
                        }
                    }
                }
                None => self.problem(file, &item, format!("unknown unit `{}`", c.unit)),
            }
            let bounds = [
                c.deficient_below,
                c.indeterminate_up_to,
                c.raised_above,
                c.low_below,
                c.high_above,
                c.anaemia_below_male,
                c.anaemia_below_female,
                c.anaemia_below_pregnant,
            ];
            if bounds.iter().all(Option::is_none) {
                self.problem(file, &item, "sets no bound");
            }
            for b in bounds.into_iter().flatten() {
                if !b.is_finite() || b < 0.0 {
                    self.problem(file, &item, format!("impossible bound {b}"));
                }
            }
            if let (Some(d), Some(i)) = (c.deficient_below, c.indeterminate_up_to) {
                if d > i {
                    self.problem(
                        file,
                        &item,
                        format!(
                            "inverted range: deficient_below {d} is above indeterminate_up_to {i}"
                        ),
                    );
                }
            }
            if let (Some(h), Some(top)) =
                (c.high_above, c.indeterminate_up_to.or(c.deficient_below))
            {
                if h <= top {
                    self.problem(file, &item, format!("overlapping ranges: high_above {h} is not above the deficiency ranges ({top})"));
                }
            }
            if c.indeterminate_up_to.is_some() && c.deficient_below.is_none() {
                self.problem(file, &item, "indeterminate_up_to without deficient_below");
            }
            if (c.deficient_below.is_some() || c.raised_above.is_some())
                && (c.deficient_below.is_some() as u8
                    + c.raised_above.is_some() as u8
                    + c.low_below.is_some() as u8)
                    > 1
            {
                self.problem(file, &item, "overlapping ranges: a test is either deficient_below, raised_above or low_below");
            }
            self.cites(file, &item, &c.sources, refs, used);
        }
        let item = format!("{}.csf", p.id);
        match &p.csf {
            Some(c) => {
                let v = c.kappa_flc_index_positive_from;
                if !(v.is_finite() && v > 0.0) {
                    self.problem(file, &item, format!("impossible bound {v}"));
                }
                self.cites(file, &item, &c.sources, refs, used);
            }
            None => self.problem(
                file,
                &item,
                "missing: kappa_flc_index_positive_from (McDonald 2024)",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn rule_ids_have_a_fixed_shape() {
        assert!(rule_id_ok("LAB-001"));
        assert!(rule_id_ok("TX-010"));
        assert!(!rule_id_ok("lab-001"));
        assert!(!rule_id_ok("LAB-01"));
        assert!(!rule_id_ok("LAB001"));
    }

    #[test]
    fn a_title_or_issuer_may_not_hold_an_internal_note() {
        for note in [
            "Spine MR imaging (Ann Clin Biochem 2018; exact title not retrieved)",
            "Authors not retrieved (Eur Spine J)",
            "Title to be filled in",
            "Guideline (TBD)",
        ] {
            assert!(internal_note(note).is_some(), "{note}");
        }
        for title in [
            "Spine MR imaging features of subacute combined degeneration patients",
            "Eur Spine J",
            "Outdated and retrieved: a history of titles",
        ] {
            assert_eq!(internal_note(title), None, "{title}");
        }
    }
}
