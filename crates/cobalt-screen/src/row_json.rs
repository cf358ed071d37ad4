//! The compact row as JSON, written field by field: the text `serde_json::to_string` writes for
//! a [`Row`], without its machinery (a screening run writes one row per patient).

use crate::row::Row;

/// Appends the row's compact JSON to `out`, as `serde_json::to_string(row)` would write it.
pub(crate) fn write(row: &Row, out: &mut String) {
    let mut w = Fields { out, first: true };
    w.out.push('{');
    w.string("id", &row.id);
    w.string("as_of", &row.as_of);
    w.string("knowledge_version", &row.knowledge_version);
    w.string("profile", &row.profile);
    w.string("b12_status", &row.b12_status);
    w.string("picture", &row.picture);
    w.bool("test_indicated", Some(row.test_indicated));
    w.list("next_tests", &row.next_tests);
    w.list("causes", &row.causes);
    w.string("route", &row.route);
    w.bool("urgent", Some(row.urgent));
    w.list("referrals", &row.referrals);
    w.bool("mcdonald_2017_dis", row.mcdonald_2017_dis);
    w.bool("mcdonald_2017_dit", row.mcdonald_2017_dit);
    w.bool("mcdonald_2017_met", row.mcdonald_2017_met);
    w.list("flags", &row.flags);
    w.list("rules", &row.rules);
    w.optional("b12_test", row.b12_test.as_deref());
    w.key("b12_value");
    match row.b12_value {
        // Numbers are written by serde_json itself, so that they read back the same.
        Some(v) => w
            .out
            .push_str(&serde_json::to_string(&v).unwrap_or_else(|_| "null".into())),
        None => w.out.push_str("null"),
    }
    w.optional("b12_comparator", row.b12_comparator.as_deref());
    w.optional("b12_unit", row.b12_unit.as_deref());
    w.optional("b12_date", row.b12_date.as_deref());
    w.number("refused_lines", Some(row.refused_lines));
    w.number(
        "mcdonald_2024_regions",
        row.mcdonald_2024_regions.map(u32::from),
    );
    w.bool("mcdonald_2024_dis", row.mcdonald_2024_dis);
    w.bool("mcdonald_2024_dit", row.mcdonald_2024_dit);
    w.bool("mcdonald_2024_csf_positive", row.mcdonald_2024_csf_positive);
    w.bool("mcdonald_2024_cvs_select6", row.mcdonald_2024_cvs_select6);
    w.bool("mcdonald_2024_met", row.mcdonald_2024_met);
    w.number("skipped_resources", Some(row.skipped_resources));
    w.out.push('}');
}

struct Fields<'a> {
    out: &'a mut String,
    first: bool,
}

impl Fields<'_> {
    fn key(&mut self, k: &str) {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
        self.out.push('"');
        self.out.push_str(k);
        self.out.push_str("\":");
    }

    fn text(&mut self, s: &str) {
        // serde_json escapes `"`, `\` and control characters, and nothing else.
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.out.push('"');
            self.out.push_str(s);
            self.out.push('"');
        } else {
            self.out
                .push_str(&serde_json::to_string(s).unwrap_or_else(|_| "null".into()));
        }
    }

    fn string(&mut self, k: &str, s: &str) {
        self.key(k);
        self.text(s);
    }

    fn optional(&mut self, k: &str, s: Option<&str>) {
        self.key(k);
        match s {
            Some(s) => self.text(s),
            None => self.out.push_str("null"),
        }
    }

    fn bool(&mut self, k: &str, b: Option<bool>) {
        self.key(k);
        self.out.push_str(match b {
            Some(true) => "true",
            Some(false) => "false",
            None => "null",
        });
    }

    fn number(&mut self, k: &str, n: Option<u32>) {
        self.key(k);
        let Some(n) = n else {
            self.out.push_str("null");
            return;
        };
        let mut digits = [0u8; 20];
        for &d in crate::partition::decimal(u64::from(n), &mut digits) {
            self.out.push(char::from(d));
        }
    }

    fn list(&mut self, k: &str, items: &[String]) {
        self.key(k);
        self.out.push('[');
        for (i, s) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.text(s);
        }
        self.out.push(']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_0-9-]{0,12}",
            any::<String>(),
            Just("quote \" back \\ tab \t nul \u{0} del \u{7f} é".to_string()),
        ]
    }

    prop_compose! {
        fn rows()(
            s in proptest::collection::vec(text(), 8),
            lists in proptest::collection::vec(proptest::collection::vec(text(), 0..3), 5),
            bools in proptest::collection::vec(any::<Option<bool>>(), 10),
            o in proptest::collection::vec(proptest::option::of(text()), 4),
            value in proptest::option::of(prop_oneof![any::<f64>(), -1e6f64..1e6, Just(0.1), Just(148.0)]),
            n in any::<(u32, u32)>(),
            regions in any::<Option<u8>>(),
            flags in any::<(bool, bool)>(),
        ) -> Row {
            Row {
                id: s[0].clone(), as_of: s[1].clone(), knowledge_version: s[2].clone(),
                profile: s[3].clone(), b12_status: s[4].clone(), picture: s[5].clone(),
                test_indicated: flags.0, next_tests: lists[0].clone(), causes: lists[1].clone(),
                route: s[6].clone(), urgent: flags.1, referrals: lists[2].clone(),
                mcdonald_2017_dis: bools[0], mcdonald_2017_dit: bools[1], mcdonald_2017_met: bools[2],
                flags: lists[3].clone(), rules: lists[4].clone(), b12_test: o[0].clone(),
                b12_value: value, b12_comparator: o[1].clone(), b12_unit: o[2].clone(),
                b12_date: o[3].clone(), refused_lines: n.0,
                mcdonald_2024_regions: regions, mcdonald_2024_dis: bools[3],
                mcdonald_2024_dit: bools[4], mcdonald_2024_csf_positive: bools[5],
                mcdonald_2024_cvs_select6: bools[6], mcdonald_2024_met: bools[7],
                skipped_resources: n.1,
            }
        }
    }

    proptest! {
        /// Written by hand, a row is the text serde_json writes for it, byte for byte.
        #[test]
        fn rows_are_written_as_serde_json_writes_them(row in rows()) {
            let mut out = String::new();
            write(&row, &mut out);
            prop_assert_eq!(out, serde_json::to_string(&row).unwrap());
        }
    }
}
