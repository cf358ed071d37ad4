//! FHIR `date`, `dateTime` and `instant` values: checked against the R4 formats and reduced to
//! the calendar date they fall on (the date as written, in its own time zone). A partial date
//! (`YYYY` or `YYYY-MM`) stands for its first day; ages from a partial birth date are counted
//! from that day too.

use cobalt_core::InputError;
use time::{Date, Month};

/// The calendar date of a FHIR `date`, `dateTime` or `instant`, or an error naming `path`.
pub fn parse(path: &str, s: &str) -> Result<Date, InputError> {
    parse_opt(s).ok_or_else(|| {
        InputError::new(
            path,
            format!(
                "`{s}` is not a FHIR date or dateTime; expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz"
            ),
        )
    })
}

fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn parse_opt(s: &str) -> Option<Date> {
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let year = digits(parts.next()?, 4)?;
    let month = parts.next().map(|m| digits(m, 2)).unwrap_or(Some(1))?;
    let day = parts.next().map(|d| digits(d, 2)).unwrap_or(Some(1))?;
    if parts.next().is_some() {
        return None;
    }
    let full_date = date.len() == 10;
    if let Some(t) = time {
        if !full_date || !valid_time(t) {
            return None;
        }
    }
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()
}

/// `hh:mm:ss(.fraction)?(Z|(+|-)hh:mm)`, as FHIR requires when a time is given.
fn valid_time(t: &str) -> bool {
    let (clock, zone) = if let Some(c) = t.strip_suffix('Z') {
        (c, None)
    } else if t.len() > 6 && matches!(t.as_bytes()[t.len() - 6], b'+' | b'-') {
        (&t[..t.len() - 6], Some(&t[t.len() - 5..]))
    } else {
        return false;
    };
    if let Some(z) = zone {
        let Some((h, m)) = z.split_once(':') else {
            return false;
        };
        if !matches!((digits(h, 2), digits(m, 2)), (Some(h), Some(m)) if h <= 14 && m < 60) {
            return false;
        }
    }
    let (hms, frac) = match clock.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (clock, None),
    };
    if frac.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let mut it = hms.split(':');
    let (Some(h), Some(m), Some(sec), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return false;
    };
    matches!(
        (digits(h, 2), digits(m, 2), digits(sec, 2)),
        (Some(h), Some(m), Some(s)) if h < 24 && m < 60 && s < 61
    )
}

/// Whole years from `birth` to `on` (negative when `birth` is later).
pub fn age_years(birth: Date, on: Date) -> i32 {
    let mut years = on.year() - birth.year();
    if (on.month() as u8, on.day()) < (birth.month() as u8, birth.day()) {
        years -= 1;
    }
    years
}

/// Months between two dates as the contract counts them: days / 30.4375, one decimal.
pub fn months_between(start: Date, end: Date) -> f64 {
    let days = (end - start).whole_days() as f64;
    (days / 30.4375 * 10.0).round() / 10.0
}

/// `YYYY-MM-DD`.
pub fn format(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<String> {
        parse_opt(s).map(format)
    }

    #[test]
    fn reads_every_fhir_precision() {
        assert_eq!(d("2024").as_deref(), Some("2024-01-01"));
        assert_eq!(d("2024-05").as_deref(), Some("2024-05-01"));
        assert_eq!(d("2024-05-17").as_deref(), Some("2024-05-17"));
        assert_eq!(d("2024-05-17T09:30:00Z").as_deref(), Some("2024-05-17"));
        assert_eq!(
            d("2024-05-17T23:30:00.123+01:00").as_deref(),
            Some("2024-05-17")
        );
        for bad in [
            "",
            "24",
            "2024-5",
            "2024-13-01",
            "2024-02-30",
            "2024-05-17T09:30",
            "2024-05T10:00:00Z",
            "17/05/2024",
            "2024-05-17T25:00:00Z",
            "2024-05-17 09:30:00Z",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    #[test]
    fn ages_and_months() {
        let p = |s| parse_opt(s).unwrap();
        assert_eq!(age_years(p("1980-06-15"), p("2026-06-14")), 45);
        assert_eq!(age_years(p("1980-06-15"), p("2026-06-15")), 46);
        assert_eq!(months_between(p("2024-01-01"), p("2025-01-01")), 12.0);
        assert_eq!(months_between(p("2025-01-01"), p("2025-01-16")), 0.5);
    }
}
