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

/// A row's sentiment cells: this period's mean, the previous one, the change (`—` where
/// there is none).
pub fn sentiment(row: &super::data::EntityRow) -> [String; 3] {
    let (now, then) = (row.sentiment_mean, row.previous_sentiment_mean);
    let show = |v: Option<f64>| v.map_or("—".into(), |v| signed(v, 2));
    let delta = now.zip(then).map(|(a, b)| signed(a - b, 2));
    [show(now), show(then), delta.unwrap_or("—".into())]
}

/// The dead letters as the footer writes them: `12 (bad_json 3, …)`, each reason passed
/// through the format's `text` (escaping, or the PDF's glyph check).
pub fn dead_letters(
    counts: &std::collections::BTreeMap<String, u64>,
    text: impl Fn(&str) -> String,
) -> String {
    let total: u64 = counts.values().sum();
    let reasons: Vec<String> = (counts.iter())
        .map(|(reason, n)| format!("{} {}", text(reason), number(*n as f64)))
        .collect();
    match reasons.is_empty() {
        true => number(total as f64),
        false => format!("{} ({})", number(total as f64), reasons.join(", ")),
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
