//! Units of measure as types, and conversion between them.
//!
//! Laboratory results arrive in UCUM units. Every unit cobalt accepts is a variant of [`Unit`];
//! [`Unit::parse`] is the only way in. Conversion between a mass and a molar concentration needs
//! the analyte's molar mass, which the knowledge base owns and cites (`knowledge/analytes.toml`).

use std::fmt;

/// A unit of measure that cobalt accepts for a laboratory value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Unit {
    /// pg/mL (mass concentration; numerically equal to ng/L).
    PgPerMl,
    /// ng/L.
    NgPerL,
    /// ng/mL (equal to µg/L).
    NgPerMl,
    /// µg/L.
    UgPerL,
    /// mg/L.
    MgPerL,
    /// mg/dL.
    MgPerDl,
    /// g/L.
    GPerL,
    /// g/dL.
    GPerDl,
    /// pmol/L.
    PmolPerL,
    /// nmol/L.
    NmolPerL,
    /// µmol/L.
    UmolPerL,
    /// mmol/L.
    MmolPerL,
    /// fL (femtolitre; cell volume).
    Fl,
    /// mL/min/{1.73_m2} (glomerular filtration rate per body surface area).
    MlPerMinPer173M2,
}

/// The physical dimension of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// Mass per volume.
    MassConcentration,
    /// Amount of substance per volume.
    MolarConcentration,
    /// Volume of a cell.
    CellVolume,
    /// Filtration rate per body surface area.
    FiltrationRate,
}

/// Why a value could not be converted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConversionError {
    /// The two units measure different things (for example a volume and a concentration).
    #[error("cannot convert {from} to {to}: different dimensions")]
    Incompatible {
        /// The unit converted from.
        from: Unit,
        /// The unit converted to.
        to: Unit,
    },
    /// Mass and molar units need the analyte's molar mass, and none is known.
    #[error("cannot convert {from} to {to} without a molar mass")]
    NoMolarMass {
        /// The unit converted from.
        from: Unit,
        /// The unit converted to.
        to: Unit,
    },
}

const ALL: [Unit; 14] = [
    Unit::PgPerMl,
    Unit::NgPerL,
    Unit::NgPerMl,
    Unit::UgPerL,
    Unit::MgPerL,
    Unit::MgPerDl,
    Unit::GPerL,
    Unit::GPerDl,
    Unit::PmolPerL,
    Unit::NmolPerL,
    Unit::UmolPerL,
    Unit::MmolPerL,
    Unit::Fl,
    Unit::MlPerMinPer173M2,
];

impl Unit {
    /// Every unit, in a fixed order.
    pub fn all() -> &'static [Unit] {
        &ALL
    }

    /// The UCUM code of the unit.
    pub fn ucum(self) -> &'static str {
        match self {
            Unit::PgPerMl => "pg/mL",
            Unit::NgPerL => "ng/L",
            Unit::NgPerMl => "ng/mL",
            Unit::UgPerL => "ug/L",
            Unit::MgPerL => "mg/L",
            Unit::MgPerDl => "mg/dL",
            Unit::GPerL => "g/L",
            Unit::GPerDl => "g/dL",
            Unit::PmolPerL => "pmol/L",
            Unit::NmolPerL => "nmol/L",
            Unit::UmolPerL => "umol/L",
            Unit::MmolPerL => "mmol/L",
            Unit::Fl => "fL",
            Unit::MlPerMinPer173M2 => "mL/min/{1.73_m2}",
        }
    }

    /// Parses a UCUM unit code. Matching ignores case (the units cobalt accepts do not clash),
    /// reads `µ` or `μ` as `u`, accepts the common spellings `mL/min/1.73m2` and
    /// `mL/min/1.73 m2` for the filtration rate, and any spelling that UCUM defines as equal to
    /// one of these units (`um3` is fL, `pmol/mL` is nmol/L). Anything else is `None`.
    pub fn parse(s: &str) -> Option<Unit> {
        let norm: String = s
            .trim()
            .chars()
            .map(|c| match c {
                'µ' | 'μ' => 'u',
                c => c.to_ascii_lowercase(),
            })
            .filter(|c| !c.is_whitespace())
            .collect();
        let found = ALL
            .iter()
            .copied()
            .find(|u| u.ucum().to_ascii_lowercase() == norm);
        found
            .or(match norm.as_str() {
                "ml/min/1.73m2" | "ml/min/1.73m^2" | "ml/min/{1.73m2}" => {
                    Some(Unit::MlPerMinPer173M2)
                }
                _ => None,
            })
            .or_else(|| by_definition(&norm))
    }

    /// The dimension the unit measures.
    pub fn dimension(self) -> Dimension {
        match self {
            Unit::PgPerMl
            | Unit::NgPerL
            | Unit::NgPerMl
            | Unit::UgPerL
            | Unit::MgPerL
            | Unit::MgPerDl
            | Unit::GPerL
            | Unit::GPerDl => Dimension::MassConcentration,
            Unit::PmolPerL | Unit::NmolPerL | Unit::UmolPerL | Unit::MmolPerL => {
                Dimension::MolarConcentration
            }
            Unit::Fl => Dimension::CellVolume,
            Unit::MlPerMinPer173M2 => Dimension::FiltrationRate,
        }
    }

    /// The factor to the dimension's base unit: g/L for mass, mol/L for molar units, fL and
    /// mL/min/1.73 m² for the others.
    fn to_base(self) -> f64 {
        match self {
            Unit::PgPerMl | Unit::NgPerL => 1e-9,
            Unit::NgPerMl | Unit::UgPerL => 1e-6,
            Unit::MgPerL => 1e-3,
            Unit::MgPerDl => 1e-2,
            Unit::GPerL => 1.0,
            Unit::GPerDl => 10.0,
            Unit::PmolPerL => 1e-12,
            Unit::NmolPerL => 1e-9,
            Unit::UmolPerL => 1e-6,
            Unit::MmolPerL => 1e-3,
            Unit::Fl | Unit::MlPerMinPer173M2 => 1.0,
        }
    }
}

/// A unit written another way that UCUM defines as equal to one of cobalt's: a prefixed gram or
/// mole over a prefixed litre (`pmol/mL` = nmol/L, `ug/mL` = mg/L), or a prefixed metre cubed
/// for a cell volume (`um3` = fL). Only exact equality counts: `ng/dL` is no unit of cobalt's.
fn by_definition(norm: &str) -> Option<Unit> {
    fn prefix(p: &str) -> Option<f64> {
        Some(match p {
            "" => 1.0,
            "k" => 1e3,
            "d" => 1e-1,
            "c" => 1e-2,
            "m" => 1e-3,
            "u" => 1e-6,
            "n" => 1e-9,
            "p" => 1e-12,
            "f" => 1e-15,
            _ => return None,
        })
    }
    let (dimension, factor) = if let Some(p) = norm
        .strip_suffix("m3")
        .or_else(|| norm.strip_suffix("m^3"))
        .filter(|p| !p.contains('/'))
    {
        // (prefix · m)³ in litres (1 m³ = 1000 L), then in femtolitres.
        (Dimension::CellVolume, prefix(p)?.powi(3) * 1e3 / 1e-15)
    } else {
        let (num, den) = norm.split_once('/')?;
        let per_litre = prefix(den.strip_suffix('l')?)?;
        let (dimension, amount) = if let Some(p) = num.strip_suffix("mol") {
            (Dimension::MolarConcentration, prefix(p)?)
        } else {
            (
                Dimension::MassConcentration,
                prefix(num.strip_suffix('g')?)?,
            )
        };
        (dimension, amount / per_litre)
    };
    ALL.iter()
        .copied()
        .find(|u| u.dimension() == dimension && (u.to_base() - factor).abs() <= 1e-9 * factor.abs())
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ucum())
    }
}

/// Converts `value` from one unit to another. `molar_mass` (g/mol) is needed only between mass
/// and molar units. The result is rounded to 9 significant digits so that a value converted
/// from a threshold's own figure compares equal to it (no 179.99999999 for 180).
pub fn convert(
    value: f64,
    from: Unit,
    to: Unit,
    molar_mass: Option<f64>,
) -> Result<f64, ConversionError> {
    if from == to {
        return Ok(value);
    }
    let base = value * from.to_base();
    let converted = match (from.dimension(), to.dimension()) {
        (a, b) if a == b => base / to.to_base(),
        (Dimension::MassConcentration, Dimension::MolarConcentration) => {
            let mm = molar_mass.ok_or(ConversionError::NoMolarMass { from, to })?;
            base / mm / to.to_base()
        }
        (Dimension::MolarConcentration, Dimension::MassConcentration) => {
            let mm = molar_mass.ok_or(ConversionError::NoMolarMass { from, to })?;
            base * mm / to.to_base()
        }
        _ => return Err(ConversionError::Incompatible { from, to }),
    };
    Ok(round_sig(converted, 9))
}

/// Rounds to `digits` significant digits.
pub fn round_sig(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let magnitude = x.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits - 1 - magnitude);
    (x * scale).round() / scale
}

/// Rounds for display: at most `decimals` decimal places, trailing zeros removed.
pub fn display_number(x: f64, decimals: usize) -> String {
    let decimals = decimals.min(9);
    let scale = 10i64.pow(decimals as u32);
    let scaled = (x * scale as f64).round();
    if !scaled.is_finite() || scaled.abs() >= 1e15 {
        let s = format!("{x:.decimals$}");
        return if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
    }
    let n = scaled as i64;
    let mut out = String::with_capacity(12);
    if n < 0 {
        out.push('-');
    }
    let n = n.unsigned_abs();
    let (int, mut frac) = (n / scale as u64, n % scale as u64);
    out.push_str(&int.to_string());
    if frac > 0 {
        let mut width = decimals;
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        let digits = frac.to_string();
        out.push('.');
        for _ in digits.len()..width {
            out.push('0');
        }
        out.push_str(&digits);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const B12: f64 = 1355.37;

    #[test]
    fn b12_mass_to_molar_matches_contract_factor() {
        // 1 pmol/L = 1.3554 pg/mL (contract); 180 ng/L = 132.8 pmol/L (ucum-lhc oracle).
        let pmol = convert(180.0, Unit::NgPerL, Unit::PmolPerL, Some(B12)).unwrap();
        assert!((pmol - 132.80).abs() < 0.01, "{pmol}");
        let pg = convert(1.0, Unit::PmolPerL, Unit::PgPerMl, Some(B12)).unwrap();
        assert!((pg - 1.3554).abs() < 0.0001, "{pg}");
    }

    #[test]
    fn same_dimension_needs_no_molar_mass() {
        assert_eq!(
            convert(3.3, Unit::UmolPerL, Unit::NmolPerL, None).unwrap(),
            3300.0
        );
        assert_eq!(
            convert(10.3, Unit::GPerDl, Unit::GPerL, None).unwrap(),
            103.0
        );
        assert_eq!(
            convert(180.0, Unit::PgPerMl, Unit::NgPerL, None).unwrap(),
            180.0
        );
    }

    #[test]
    fn refuses_incompatible_and_missing_molar_mass() {
        assert!(matches!(
            convert(1.0, Unit::Fl, Unit::GPerL, None),
            Err(ConversionError::Incompatible { .. })
        ));
        assert!(matches!(
            convert(1.0, Unit::PgPerMl, Unit::PmolPerL, None),
            Err(ConversionError::NoMolarMass { .. })
        ));
    }

    #[test]
    fn display_number_rounds_and_trims() {
        assert_eq!(display_number(180.0, 2), "180");
        assert_eq!(display_number(132.8, 2), "132.8");
        assert_eq!(display_number(0.05, 2), "0.05");
        assert_eq!(display_number(0.005, 2), "0.01");
        assert_eq!(display_number(-1.23456, 3), "-1.235");
        assert_eq!(display_number(2.4, 1), "2.4");
        assert_eq!(display_number(99.999, 1), "100");
        assert_eq!(display_number(1e20, 2), "100000000000000000000");
    }

    #[test]
    fn parses_ucum_and_common_spellings() {
        assert_eq!(Unit::parse("pg/mL"), Some(Unit::PgPerMl));
        assert_eq!(Unit::parse("µmol/L"), Some(Unit::UmolPerL));
        assert_eq!(Unit::parse("umol/l"), Some(Unit::UmolPerL));
        assert_eq!(
            Unit::parse("mL/min/{1.73_m2}"),
            Some(Unit::MlPerMinPer173M2)
        );
        assert_eq!(Unit::parse("mL/min/1.73m2"), Some(Unit::MlPerMinPer173M2));
        assert_eq!(Unit::parse("mg"), None);
        assert_eq!(Unit::parse("pg/dL"), None);
        for u in Unit::all() {
            assert_eq!(Unit::parse(u.ucum()), Some(*u));
        }
    }
}
