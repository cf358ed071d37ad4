//! Threshold classification with inclusive and exclusive bounds, for exact and censored values.
//!
//! Bounds follow the names in the profiles: `_below` is strict (`value < x`), `_up_to` inclusive
//! (`value <= x`), `_above` strict (`value > x`). A censored value (`<60`, `>1000`) is classed
//! only when every value it could be falls in one class.

use crate::case::Comparator;
use crate::kb::Cutoffs;

/// Where a B12 result falls in a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// In the deficiency range.
    Deficient,
    /// In the indeterminate range (or censored across two ranges).
    Indeterminate,
    /// Deficiency unlikely.
    NotDeficient,
}

/// Whether a (possibly censored) value is above `limit`: `Some(true)`, `Some(false)`, or `None`
/// when the censoring leaves it open.
pub fn above(v: f64, cmp: Option<Comparator>, limit: f64) -> Option<bool> {
    match cmp {
        None => Some(v > limit),
        Some(Comparator::Lt) | Some(Comparator::Le) => (v <= limit).then_some(false),
        Some(Comparator::Gt) => (v >= limit).then_some(true),
        Some(Comparator::Ge) => (v > limit).then_some(true),
    }
}

/// Whether a (possibly censored) value is below `limit`.
pub fn below(v: f64, cmp: Option<Comparator>, limit: f64) -> Option<bool> {
    match cmp {
        None => Some(v < limit),
        Some(Comparator::Lt) => (v <= limit).then_some(true),
        Some(Comparator::Le) => (v < limit).then_some(true),
        Some(Comparator::Gt) | Some(Comparator::Ge) => (v >= limit).then_some(false),
    }
}

/// Classifies a B12 value, already in the cut-offs' unit. A censored value whose range spans
/// two classes is indeterminate: it neither confirms nor excludes deficiency. `None` when the
/// cut-offs have no deficiency bound.
pub fn classify_b12(v: f64, cmp: Option<Comparator>, c: &Cutoffs) -> Option<Class> {
    let d = c.deficient_below?;
    match below(v, cmp, d) {
        Some(true) => return Some(Class::Deficient),
        None => return Some(Class::Indeterminate),
        Some(false) => {}
    }
    match c.indeterminate_up_to {
        None => Some(Class::NotDeficient),
        Some(i) => match above(v, cmp, i) {
            Some(true) => Some(Class::NotDeficient),
            _ => Some(Class::Indeterminate),
        },
    }
}
