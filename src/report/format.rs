//! How the brief writes numbers and times: the same in every format, so a test can find a
//! figure by the text it computes independently.

/// A whole number with thousands separators (`12,345`); other values with one decimal.
pub fn number(value: f64) -> String {
    if value.fract() != 0.0 {
        return pct(value, 1);
    }
    let digits = format!("{}", value.abs() as u64);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// A value with `decimals` decimals.
pub fn pct(value: f64, decimals: usize) -> String {
    format!("{value:.decimals$}")
}

/// A value with its sign (`+0.12`, `-0.30`).
pub fn signed(value: f64, decimals: usize) -> String {
    format!("{value:+.decimals$}")
}

/// A relative change: `+12.5%`, `-3.0%`, or `new` when there was nothing before.
pub fn change(change_pct: Option<f64>) -> String {
    change_pct.map_or_else(|| "new".into(), |c| format!("{c:+.1}%"))
}

/// An RFC 3339 time as `2021-01-28 14:05`.
pub fn when(rfc3339: &str) -> String {
    let text = rfc3339.trim_end_matches('Z');
    match text.split_once('T') {
        Some((day, time)) => format!("{day} {}", time.get(..5).unwrap_or(time)),
        None => rfc3339.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_times() {
        assert_eq!(number(1234567.0), "1,234,567");
        assert_eq!(number(999.0), "999");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(-1200.0), "-1,200");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(change(Some(12.345)), "+12.3%");
        assert_eq!(change(None), "new");
        assert_eq!(signed(-0.3, 2), "-0.30");
        assert_eq!(when("2021-01-28T14:05:00Z"), "2021-01-28 14:05");
    }
}
