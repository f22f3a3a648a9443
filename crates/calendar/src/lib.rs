//! Calendar arithmetic in UTC, without a time library: epoch milliseconds to and from RFC 3339
//! text and civil dates. Shared by the engine, the lake and the brief, so they agree on every
//! day boundary and every timestamp they print or parse.

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Formats epoch milliseconds as RFC 3339 UTC (`2021-01-28T14:05:00Z`, with `.sss` only when
/// the milliseconds are not zero).
pub fn format_rfc3339_ms(at_ms: i64) -> String {
    if at_ms == i64::MIN {
        return "-infinity".to_string();
    }
    let seconds = at_ms.div_euclid(1000);
    let millis = at_ms.rem_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (
        second_of_day / 3600,
        (second_of_day / 60) % 60,
        second_of_day % 60,
    );
    if millis == 0 {
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01 (inverse of [`civil_from_days`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses RFC 3339 (`2021-01-28T14:03:11Z`, fractions, `+hh:mm` offsets, `t`/space separator)
/// to epoch milliseconds (fractions beyond ms are truncated).
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let mut value = 0i64;
        for &c in b.get(range)? {
            if !c.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(c - b'0');
        }
        Some(value)
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let month_days = [
        31,
        28 + i64::from(is_leap(year)),
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day > month_days[(month - 1) as usize] {
        return None;
    }
    let mut index = 19;
    let mut millis = 0i64;
    if b[index] == b'.' {
        index += 1;
        let start = index;
        while index < b.len() && b[index].is_ascii_digit() {
            if index - start < 3 {
                millis = millis * 10 + i64::from(b[index] - b'0');
            }
            index += 1;
        }
        if index == start {
            return None;
        }
        for _ in (index - start)..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match b.get(index)? {
        b'Z' | b'z' if index + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if index + 6 == b.len() && b[index + 3] == b':' => {
            let hours = digits(index + 1..index + 3)?;
            let minutes = digits(index + 4..index + 6)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = hours * 60 + minutes;
            if *sign == b'+' {
                total
            } else {
                -total
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_minutes * 60;
    let at_ms = seconds * 1000 + millis;
    // An offset can carry 9999-12-31 past year 9999 in UTC (or 0000-01-01 before year 0),
    // where [`format_rfc3339_ms`] would print a year RFC 3339 cannot hold: refused (found by
    // fuzz/fuzz_targets/week_range.rs).
    let utc_years = days_from_civil(0, 1, 1) * DAY_MS..days_from_civil(10_000, 1, 1) * DAY_MS;
    utc_years.contains(&at_ms).then_some(at_ms)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339_ms(1_611_842_591_000), "2021-01-28T14:03:11Z");
        assert_eq!(
            format_rfc3339_ms(1_611_842_591_250),
            "2021-01-28T14:03:11.250Z"
        );
        assert_eq!(format_rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn civil_round_trip() {
        for days in -800_000..800_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn parses_rfc3339_variants() {
        assert_eq!(
            parse_rfc3339_ms("2021-01-28T14:03:11Z"),
            Some(1_611_842_591_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2021-01-28t14:03:11z"),
            Some(1_611_842_591_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2021-01-28 14:03:11Z"),
            Some(1_611_842_591_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2021-01-28T14:03:11.123456Z"),
            Some(1_611_842_591_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2021-01-28T15:03:11+01:00"),
            Some(1_611_842_591_000)
        );
        assert_eq!(parse_rfc3339_ms("2021-01-28T14:03:11"), None);
        assert_eq!(parse_rfc3339_ms("2021-13-28T14:03:11Z"), None);
        assert_eq!(
            parse_rfc3339_ms("2020-02-29T00:00:00Z"),
            Some(1_582_934_400_000)
        );
        assert_eq!(parse_rfc3339_ms("2021-02-29T00:00:00Z"), None);
        // Offsets that leave years 0000-9999 in UTC (fuzz regressions: the result would not
        // format back to RFC 3339).
        assert_eq!(parse_rfc3339_ms("9999-12-31T23:59:59-05:30"), None);
        assert_eq!(parse_rfc3339_ms("0000-01-01T00:00:00+00:01"), None);
        let last = parse_rfc3339_ms("9999-12-31T23:59:59.999Z").unwrap();
        assert_eq!(format_rfc3339_ms(last), "9999-12-31T23:59:59.999Z");
        let first = parse_rfc3339_ms("0000-01-01T00:00:00Z").unwrap();
        assert_eq!(format_rfc3339_ms(first), "0000-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339_ms("2021-01-28T14:03:11.Z"), None);
    }
}
