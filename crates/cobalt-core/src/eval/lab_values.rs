//! A laboratory result's value as the report writes it, and its numeric or qualitative part.

use crate::case::{LabResult, LabValue, Qualitative, Quantity};
use crate::units::{display_number, Unit};

/// A number with its unit, for messages.
pub(super) fn q(v: f64, unit: Unit) -> String {
    format!("{} {}", display_number(v, 2), unit.ucum())
}

/// The result as reported (comparator, number and unit, or the qualitative result).
pub(super) fn reported(l: &LabResult) -> String {
    match l.value {
        LabValue::Numeric(qty) => format!(
            "{}{}",
            qty.comparator.map_or("", |c| c.symbol()),
            q(qty.value, qty.unit)
        ),
        LabValue::Qualitative(r) => match r {
            Qualitative::Positive => "positive".into(),
            Qualitative::Negative => "negative".into(),
            Qualitative::Equivocal => "equivocal".into(),
        },
    }
}

/// The numeric part of a result.
pub(super) fn numeric(l: &LabResult) -> Option<Quantity> {
    match l.value {
        LabValue::Numeric(q) => Some(q),
        LabValue::Qualitative(_) => None,
    }
}

/// The qualitative part of a result.
pub(super) fn qualitative(l: &LabResult) -> Option<Qualitative> {
    match l.value {
        LabValue::Qualitative(r) => Some(r),
        LabValue::Numeric(_) => None,
    }
}
