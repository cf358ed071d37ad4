//! Units of measure as types, and conversion between them.
//!
//! Laboratory results arrive in UCUM units; [`Unit::parse`] is the only way in. A concentration
//! is not a list of units but a rule: a prefixed gram or mole over a prefixed litre or a prefixed
//! metre cubed (`pg/mL`, `ug/L`, `umol/L`, `ng/dL`, `mmol/m3`), with any decimal prefix of UCUM
//! from kilo down ([`Prefix`]). Every such unit is an exact power of ten of its dimension's base
//! unit (g/L or mol/L), so conversion within a dimension is exact. A unit keeps the prefixes the
//! laboratory wrote: `pg/mL` and `ng/L` are equal in size but are two values that print as
//! themselves. Conversion between a mass and a molar concentration needs the analyte's molar
//! mass, which the knowledge base owns and cites (`knowledge/analytes.toml`); which dimensions an
//! analyte takes is `Analyte::accepts`. Cell volume (`fL`, also spelt `um3`) and the filtration
//! rate per body surface area are single units.

mod prefix;

pub use prefix::Prefix;
use std::fmt;
use std::sync::OnceLock;

/// A unit of measure that cobalt accepts for a laboratory value.
///
/// The units the code names have constants (`Unit::PgPerMl`, ...); any other concentration comes
/// from [`Unit::parse`] or [`Unit::per_litre`] and [`Unit::per_cubic_metre`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Unit(Kind);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    /// A prefixed gram or mole over a volume.
    Concentration(Amount, Prefix, Volume),
    /// fL.
    CellVolume,
    /// mL/min/{1.73_m2}.
    FiltrationRate,
}

/// What a concentration counts: mass (gram) or amount of substance (mole).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Amount {
    Gram,
    Mole,
}

/// The volume a concentration is per: a prefixed litre or a prefixed metre cubed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Volume {
    Litre(Prefix),
    CubicMetre(Prefix),
}

impl Volume {
    /// The power of ten of the volume in litres (1 m³ = 10³ L; (10ᵖ m)³ = 10³ᵖ⁺³ L).
    fn exponent(self) -> i32 {
        match self {
            Volume::Litre(p) => p.exponent(),
            Volume::CubicMetre(p) => 3 * p.exponent() + 3,
        }
    }
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

impl Dimension {
    /// What a unit of this dimension measures, for messages ("a mass concentration").
    pub fn describe(self) -> &'static str {
        match self {
            Dimension::MassConcentration => "a mass concentration",
            Dimension::MolarConcentration => "a molar concentration",
            Dimension::CellVolume => "a cell volume",
            Dimension::FiltrationRate => "a filtration rate per body surface area",
        }
    }

    /// Whether this is a mass or a molar concentration.
    pub fn is_concentration(self) -> bool {
        matches!(
            self,
            Dimension::MassConcentration | Dimension::MolarConcentration
        )
    }
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

const fn mass(amount: Prefix, litre: Prefix) -> Unit {
    Unit(Kind::Concentration(
        Amount::Gram,
        amount,
        Volume::Litre(litre),
    ))
}

const fn molar(amount: Prefix, litre: Prefix) -> Unit {
    Unit(Kind::Concentration(
        Amount::Mole,
        amount,
        Volume::Litre(litre),
    ))
}

/// The units the code names. Their names are those of the enum they replace.
#[allow(non_upper_case_globals)]
impl Unit {
    /// pg/mL (mass concentration; numerically equal to ng/L).
    pub const PgPerMl: Unit = mass(Prefix::PICO, Prefix::MILLI);
    /// ng/L.
    pub const NgPerL: Unit = mass(Prefix::NANO, Prefix::NONE);
    /// ng/mL (equal to µg/L).
    pub const NgPerMl: Unit = mass(Prefix::NANO, Prefix::MILLI);
    /// µg/L.
    pub const UgPerL: Unit = mass(Prefix::MICRO, Prefix::NONE);
    /// mg/L.
    pub const MgPerL: Unit = mass(Prefix::MILLI, Prefix::NONE);
    /// mg/dL.
    pub const MgPerDl: Unit = mass(Prefix::MILLI, Prefix::DECI);
    /// g/L.
    pub const GPerL: Unit = mass(Prefix::NONE, Prefix::NONE);
    /// g/dL.
    pub const GPerDl: Unit = mass(Prefix::NONE, Prefix::DECI);
    /// pmol/L.
    pub const PmolPerL: Unit = molar(Prefix::PICO, Prefix::NONE);
    /// nmol/L.
    pub const NmolPerL: Unit = molar(Prefix::NANO, Prefix::NONE);
    /// µmol/L.
    pub const UmolPerL: Unit = molar(Prefix::MICRO, Prefix::NONE);
    /// mmol/L.
    pub const MmolPerL: Unit = molar(Prefix::MILLI, Prefix::NONE);
    /// mol/L.
    pub const MolPerL: Unit = molar(Prefix::NONE, Prefix::NONE);
    /// fL (femtolitre; cell volume).
    pub const Fl: Unit = Unit(Kind::CellVolume);
    /// mL/min/{1.73_m2} (glomerular filtration rate per body surface area).
    pub const MlPerMinPer173M2: Unit = Unit(Kind::FiltrationRate);
}

impl Unit {
    /// A prefixed gram (`MassConcentration`) or mole (`MolarConcentration`) per prefixed litre;
    /// `None` for a dimension that is not a concentration.
    pub fn per_litre(dimension: Dimension, amount: Prefix, litre: Prefix) -> Option<Unit> {
        Some(Unit(Kind::Concentration(
            Amount::of(dimension)?,
            amount,
            Volume::Litre(litre),
        )))
    }

    /// A prefixed gram or mole per prefixed metre cubed (`ng/cm3`, `mmol/m3`); `None` for a
    /// dimension that is not a concentration.
    pub fn per_cubic_metre(dimension: Dimension, amount: Prefix, metre: Prefix) -> Option<Unit> {
        Some(Unit(Kind::Concentration(
            Amount::of(dimension)?,
            amount,
            Volume::CubicMetre(metre),
        )))
    }

    /// The UCUM code of the unit, with the prefixes it was written with (`u` for micro).
    pub fn ucum(self) -> &'static str {
        match self.0 {
            Kind::Concentration(amount, p, volume) => {
                let (v, vp) = match volume {
                    Volume::Litre(vp) => (0, vp),
                    Volume::CubicMetre(vp) => (1, vp),
                };
                let i = ((amount as usize * Prefix::COUNT + p.index()) * 2 + v) * Prefix::COUNT
                    + vp.index();
                &spellings()[i]
            }
            Kind::CellVolume => "fL",
            Kind::FiltrationRate => "mL/min/{1.73_m2}",
        }
    }

    /// Parses a UCUM unit code. Matching ignores case and white space, as UCUM's
    /// case-insensitive codes do (the prefixes cobalt reads do not clash: see [`Prefix`]), and
    /// reads `µ` or `μ` as `u`. A concentration is a prefixed `g` or `mol`, then `/` and a
    /// prefixed `L` or `m3` (`ng/mL`, `ug/dL`, `pmol/mL`, `mg/cm3`; also written `ng.mL-1`).
    /// A cell volume is `fL` or `um3`; the filtration rate `mL/min/{1.73_m2}`, also spelt
    /// `mL/min/1.73m2` and `mL/min/1.73 m2`. Anything else is `None`: unknown symbols, counts,
    /// `%`, units with a numeric factor (`g/100mL`), a mass alone (`ug`).
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
        match norm.as_str() {
            "fl" | "um3" | "um^3" => return Some(Unit::Fl),
            "ml/min/{1.73_m2}" | "ml/min/1.73m2" | "ml/min/1.73m^2" | "ml/min/{1.73m2}" => {
                return Some(Unit::MlPerMinPer173M2)
            }
            _ => {}
        }
        let (num, den) = norm.split_once('/').or_else(|| {
            let (num, den) = norm.strip_suffix("-1")?.split_once('.')?;
            Some((num, den))
        })?;
        let (amount, p) = match num.strip_suffix("mol") {
            Some(p) => (Amount::Mole, p),
            None => (Amount::Gram, num.strip_suffix('g')?),
        };
        let volume = match den.strip_suffix('l') {
            Some(vp) => Volume::Litre(Prefix::parse(vp)?),
            None => Volume::CubicMetre(Prefix::parse(den.strip_suffix("m3")?)?),
        };
        Some(Unit(Kind::Concentration(amount, Prefix::parse(p)?, volume)))
    }

    /// The dimension the unit measures.
    pub fn dimension(self) -> Dimension {
        match self.0 {
            Kind::Concentration(Amount::Gram, ..) => Dimension::MassConcentration,
            Kind::Concentration(Amount::Mole, ..) => Dimension::MolarConcentration,
            Kind::CellVolume => Dimension::CellVolume,
            Kind::FiltrationRate => Dimension::FiltrationRate,
        }
    }

    /// The power of ten from this unit to its dimension's base unit: g/L for mass, mol/L for
    /// molar units (`ng/mL` is 10⁻⁶ g/L), 0 for fL and the filtration rate.
    pub fn power_of_ten(self) -> i32 {
        match self.0 {
            Kind::Concentration(_, p, volume) => p.exponent() - volume.exponent(),
            Kind::CellVolume | Kind::FiltrationRate => 0,
        }
    }

    /// Whether the two units are the same size, however they are written (`pg/mL` and `ng/L`,
    /// `pmol/mL` and `nmol/L`): a number in one is the same number in the other.
    pub fn same_size(self, other: Unit) -> bool {
        self.dimension() == other.dimension() && self.power_of_ten() == other.power_of_ten()
    }
}

impl Amount {
    fn of(dimension: Dimension) -> Option<Amount> {
        match dimension {
            Dimension::MassConcentration => Some(Amount::Gram),
            Dimension::MolarConcentration => Some(Amount::Mole),
            _ => None,
        }
    }
}

/// The UCUM code of every concentration, built once, so that [`Unit::ucum`] lends a `&'static
/// str` as the enum it replaces did. Indexed by amount, prefix, volume kind and volume prefix.
fn spellings() -> &'static [String] {
    static SPELLINGS: OnceLock<Vec<String>> = OnceLock::new();
    SPELLINGS.get_or_init(|| {
        let mut out = Vec::with_capacity(2 * Prefix::COUNT * 2 * Prefix::COUNT);
        for amount in ["g", "mol"] {
            for p in Prefix::all() {
                for volume in ["L", "m3"] {
                    for vp in Prefix::all() {
                        out.push(format!("{}{amount}/{}{volume}", p.symbol(), vp.symbol()));
                    }
                }
            }
        }
        out
    })
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ucum())
    }
}

impl fmt::Debug for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Unit({})", self.ucum())
    }
}

/// `x` times 10^`k`, dividing for a negative `k` so that the factor is an exact power of ten
/// (10ᵏ is exact in binary floating point up to 10²²; 10⁻ᵏ is not).
fn times_power_of_ten(x: f64, k: i32) -> f64 {
    if k >= 0 {
        x * 10f64.powi(k)
    } else {
        x / 10f64.powi(-k)
    }
}

/// Converts `value` from one unit to another. `molar_mass` (g/mol) is needed only between mass
/// and molar units. Within a dimension the factor is a power of ten. The result is rounded to 9
/// significant digits so that a value converted from a threshold's own figure compares equal to
/// it (no 179.99999999 for 180).
pub fn convert(
    value: f64,
    from: Unit,
    to: Unit,
    molar_mass: Option<f64>,
) -> Result<f64, ConversionError> {
    if from == to {
        return Ok(value);
    }
    let in_base = match (from.dimension(), to.dimension()) {
        (a, b) if a == b => value,
        (Dimension::MassConcentration, Dimension::MolarConcentration) => {
            value / molar_mass.ok_or(ConversionError::NoMolarMass { from, to })?
        }
        (Dimension::MolarConcentration, Dimension::MassConcentration) => {
            value * molar_mass.ok_or(ConversionError::NoMolarMass { from, to })?
        }
        _ => return Err(ConversionError::Incompatible { from, to }),
    };
    let converted = times_power_of_ten(in_base, from.power_of_ten() - to.power_of_ten());
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
mod tests;
