//! Whether a medicine's course makes it a cause of B12 deficiency: how long it was taken
//! (against its cause rule's `long_term_months`), whether it is taken now, and how long ago it
//! was stopped. A course too short (CAUSE-027) or stopped long ago (CAUSE-028) is named and is
//! not a cause; a medicine taken now with no recorded duration stays a possible cause, and the
//! message says that the duration is missing.

use super::Ctx;
use crate::case::Medication;
use crate::kb::CauseSpec;
use crate::units::display_number;

/// Months between two days (a month of 30.4375 days).
pub(crate) fn months_between(a: time::Date, b: time::Date) -> f64 {
    (b - a).whole_days() as f64 / 30.4375
}

/// What a medicine's course makes of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Course {
    /// A cause (or a possible one, when the duration is not recorded).
    Counts,
    /// Taken for `long_term_months` or less.
    TooShort,
    /// Stopped more than CAUSE-028's `stopped_more_than_months` ago.
    StoppedLongAgo,
}

/// The course of one medicine entry against its cause rule.
pub(crate) fn course(ctx: &Ctx<'_, '_>, spec: &CauseSpec, m: &Medication) -> Course {
    if let (false, Some(ended)) = (m.current, m.ended) {
        let limit = param!(ctx, "CAUSE-028", "stopped_more_than_months");
        if ended <= ctx.as_of && months_between(ended, ctx.as_of) > limit {
            return Course::StoppedLongAgo;
        }
    }
    match (spec.long_term_months, m.months) {
        (Some(long), Some(months)) if months <= long => Course::TooShort,
        _ => Course::Counts,
    }
}

/// The cause message for a medicine that counts.
pub(crate) fn message(label: &str, effect: &str, spec: &CauseSpec, m: &Medication) -> String {
    let mut s = format!(
        "{label} {}",
        if m.current {
            "is taken"
        } else {
            "was taken in the past"
        }
    );
    if let Some(months) = m.months {
        s.push_str(&format!(" ({} months", display_number(months, 1)));
        if let Some(dose) = m.daily_dose_mg {
            s.push_str(&format!(", {} mg a day", display_number(dose, 1)));
        }
        s.push(')');
    } else if let Some(dose) = m.daily_dose_mg {
        s.push_str(&format!(" ({} mg a day)", display_number(dose, 1)));
    }
    if let (false, Some(ended)) = (m.current, m.ended) {
        s.push_str(&format!(", stopped on {}", super::format_date(ended)));
    }
    s.push_str(&format!(": {effect}."));
    if let Some(name) = &m.matched_by_name {
        s.push_str(&format!(
            " Matched by name (\"{name}\"): the record has no code cobalt knows."
        ));
    }
    if let (Some(long), None) = (spec.long_term_months, m.months) {
        s.push_str(&format!(
            " How long it {} taken is not recorded: it is a risk factor with use for more than {} months, so it counts as a possible cause{}.",
            if m.current { "has been" } else { "was" },
            display_number(long, 0),
            if m.current { " while it is taken" } else { "" }
        ));
    }
    if !m.current && m.ended.is_none() {
        s.push_str(" When it was stopped is not recorded.");
    }
    s
}

/// CAUSE-027: a course of `long_term_months` or less is not a cause.
pub(crate) fn too_short(ctx: &mut Ctx<'_, '_>, spec: &CauseSpec, m: &Medication) {
    let (Some(long), Some(months)) = (spec.long_term_months, m.months) else {
        return;
    };
    let label = ctx.label(&m.concept);
    let m_ = msg!(
        ctx,
        "{label} {} for {} months, not more than the {} months of use from which it is a risk factor: not counted as a cause{}.",
        if m.current { "has been taken" } else { "was taken" },
        display_number(months, 1),
        display_number(long, 0),
        if m.current {
            "; it becomes one if it is still taken after that"
        } else {
            ""
        }
    );
    ctx.fire("CAUSE-027", m_, None);
}

/// CAUSE-028: a medicine stopped long ago is not a cause.
pub(crate) fn stopped_long_ago(ctx: &mut Ctx<'_, '_>, m: &Medication) {
    let Some(ended) = m.ended else {
        return;
    };
    let limit = param!(ctx, "CAUSE-028", "stopped_more_than_months");
    let label = ctx.label(&m.concept);
    let m_ = msg!(
        ctx,
        "{label} was stopped on {}, {} months ago (more than {}): body stores have had time to recover, so it is not counted as a cause.",
        super::format_date(ended),
        display_number(months_between(ended, ctx.as_of), 0),
        display_number(limit, 0)
    );
    ctx.fire("CAUSE-028", m_, None);
}
