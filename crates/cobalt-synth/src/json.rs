//! Hand-written JSON output into a byte buffer: raw fragments, integers, fixed-point decimals,
//! FHIR dates and dateTimes. Every string the generator writes is a constant or digits, so
//! nothing needs escaping.

use time::Date;

/// Appends a raw fragment.
#[inline]
pub fn raw(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(s.as_bytes());
}

/// Appends an unsigned integer in decimal.
pub fn uint(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Appends `n` zero-padded to at least `width` digits.
pub fn padded(buf: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = 1;
    let mut m = n;
    while m >= 10 {
        m /= 10;
        digits += 1;
    }
    for _ in digits..width {
        buf.push(b'0');
    }
    uint(buf, n);
}

/// Appends the fixed-point number `scaled / 10^places` with exactly `places` decimals
/// (`decimal(123, 1)` is `12.3`, `decimal(5, 2)` is `0.05`).
pub fn decimal(buf: &mut Vec<u8>, scaled: i64, places: u32) {
    if scaled < 0 {
        buf.push(b'-');
    }
    let n = scaled.unsigned_abs();
    if places == 0 {
        uint(buf, n);
        return;
    }
    let p = 10u64.pow(places);
    uint(buf, n / p);
    buf.push(b'.');
    padded(buf, n % p, places as usize);
}

/// Appends a FHIR date, `YYYY-MM-DD` (no quotes).
pub fn date(buf: &mut Vec<u8>, d: Date) {
    let (y, m, day) = d.to_calendar_date();
    padded(buf, u64::try_from(y).unwrap_or(0), 4);
    buf.push(b'-');
    padded(buf, u64::from(m as u8), 2);
    buf.push(b'-');
    padded(buf, u64::from(day), 2);
}

/// Appends a FHIR dateTime in UTC, `YYYY-MM-DDThh:mm:00Z` (no quotes); `minute` counts from
/// midnight.
pub fn date_time(buf: &mut Vec<u8>, d: Date, minute: u32) {
    date(buf, d);
    buf.push(b'T');
    padded(buf, u64::from(minute / 60 % 24), 2);
    buf.push(b':');
    padded(buf, u64::from(minute % 60), 2);
    raw(buf, ":00Z");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut b = Vec::new();
        f(&mut b);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn numbers() {
        assert_eq!(s(|b| uint(b, 0)), "0");
        assert_eq!(s(|b| uint(b, 18446744073709551615)), "18446744073709551615");
        assert_eq!(s(|b| padded(b, 123, 9)), "000000123");
        assert_eq!(s(|b| padded(b, 1234567890, 9)), "1234567890");
        assert_eq!(s(|b| decimal(b, 123, 1)), "12.3");
        assert_eq!(s(|b| decimal(b, 5, 2)), "0.05");
        assert_eq!(s(|b| decimal(b, 245, 0)), "245");
        assert_eq!(s(|b| decimal(b, -15, 1)), "-1.5");
    }

    #[test]
    fn dates() {
        let d = Date::from_calendar_date(2024, time::Month::March, 5).unwrap();
        assert_eq!(s(|b| date(b, d)), "2024-03-05");
        assert_eq!(s(|b| date_time(b, d, 9 * 60 + 7)), "2024-03-05T09:07:00Z");
    }
}
