//! The decimal prefixes of UCUM that cobalt reads in a unit (`m` in `mg/dL`, `p` in `pmol/L`).

/// A decimal prefix of UCUM, or none: kilo and every prefix below it, each an exact power of ten.
///
/// UCUM also defines deka (`da`), hecto (`h`) and the prefixes from mega (`M`) up. Those above
/// kilo are left out on purpose: cobalt reads units without regard to case (as UCUM's
/// case-insensitive codes do), and in that reading mega would be milli, peta pico and giga the
/// gram; no laboratory reports a concentration in them. UCUM's binary prefixes (`Ki`, `Mi`, ...)
/// are not powers of ten and are not prefixes of a concentration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    /// The power of ten; always one of `PREFIXES`.
    exponent: i8,
}

/// Every prefix cobalt reads: its symbol (UCUM's case-sensitive code, with `u` for micro) and
/// its power of ten.
const PREFIXES: [(&str, i8); 14] = [
    ("k", 3),
    ("h", 2),
    ("da", 1),
    ("", 0),
    ("d", -1),
    ("c", -2),
    ("m", -3),
    ("u", -6),
    ("n", -9),
    ("p", -12),
    ("f", -15),
    ("a", -18),
    ("z", -21),
    ("y", -24),
];

impl Prefix {
    /// No prefix (a factor of 1).
    pub const NONE: Prefix = Prefix { exponent: 0 };
    /// kilo, 10³.
    pub const KILO: Prefix = Prefix { exponent: 3 };
    /// deci, 10⁻¹.
    pub const DECI: Prefix = Prefix { exponent: -1 };
    /// milli, 10⁻³.
    pub const MILLI: Prefix = Prefix { exponent: -3 };
    /// micro, 10⁻⁶.
    pub const MICRO: Prefix = Prefix { exponent: -6 };
    /// nano, 10⁻⁹.
    pub const NANO: Prefix = Prefix { exponent: -9 };
    /// pico, 10⁻¹².
    pub const PICO: Prefix = Prefix { exponent: -12 };
    /// femto, 10⁻¹⁵.
    pub const FEMTO: Prefix = Prefix { exponent: -15 };

    /// Every prefix, from kilo down to yocto (`NONE` among them).
    pub fn all() -> impl Iterator<Item = Prefix> {
        PREFIXES.iter().map(|&(_, exponent)| Prefix { exponent })
    }

    /// The prefix whose symbol is `s`, read without regard to case (`µ` and `μ` are micro).
    pub fn parse(s: &str) -> Option<Prefix> {
        let s = s.replace(['µ', 'μ'], "u").to_ascii_lowercase();
        PREFIXES
            .iter()
            .find(|(symbol, _)| *symbol == s)
            .map(|&(_, exponent)| Prefix { exponent })
    }

    /// UCUM's symbol (`u` for micro; empty for none).
    pub fn symbol(self) -> &'static str {
        PREFIXES[self.index()].0
    }

    /// The power of ten the prefix stands for.
    pub fn exponent(self) -> i32 {
        i32::from(self.exponent)
    }

    /// The position in `PREFIXES`, for tables indexed by prefix.
    pub(super) fn index(self) -> usize {
        PREFIXES
            .iter()
            .position(|&(_, e)| e == self.exponent)
            .expect("a Prefix is always one of PREFIXES")
    }

    /// How many prefixes there are (`NONE` included).
    pub(super) const COUNT: usize = PREFIXES.len();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_parse_back_and_exponents_are_distinct() {
        let mut seen = std::collections::BTreeSet::new();
        for p in Prefix::all() {
            assert_eq!(Prefix::parse(p.symbol()), Some(p));
            assert_eq!(Prefix::parse(&p.symbol().to_ascii_uppercase()), Some(p));
            assert!(seen.insert(p.exponent()), "{p:?}");
        }
        assert_eq!(seen.len(), Prefix::COUNT);
        assert_eq!(Prefix::parse("µ"), Some(Prefix::MICRO));
        assert_eq!(Prefix::parse("μ"), Some(Prefix::MICRO));
        assert_eq!(
            Prefix::parse("da"),
            Prefix::all().find(|p| p.exponent() == 1)
        );
    }

    #[test]
    fn refuses_prefixes_above_kilo_and_non_prefixes() {
        for s in ["G", "T", "E", "Ki", "mc", "10", "x"] {
            assert_eq!(Prefix::parse(s), None, "{s}");
        }
        // Without regard to case `M` is milli, as in UCUM's case-insensitive codes.
        assert_eq!(Prefix::parse("M"), Some(Prefix::MILLI));
    }
}
