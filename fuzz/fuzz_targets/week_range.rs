//! The report's period parsers on any text: `--week` (an ISO week: Monday 00:00 UTC to the
//! next Monday) and `--from`/`--to` (RFC 3339, which formats back to the same instant).
#![no_main]

use chatter_lake::read::TimeRange;
use libfuzzer_sys::fuzz_target;

const DAY_MS: i64 = 86_400_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(range) = TimeRange::iso_week(text) {
        let (from, to) = (range.from_ms.unwrap(), range.to_ms.unwrap());
        assert_eq!(to - from, 7 * DAY_MS);
        assert_eq!(from.rem_euclid(DAY_MS), 0);
        // 1970-01-01 was a Thursday: Mondays are 4 days later, modulo a week.
        assert_eq!(
            (from / DAY_MS - 4).rem_euclid(7),
            0,
            "{text:?} starts on a Monday"
        );
    }
    if let Some(ms) = calendar::parse_rfc3339_ms(text) {
        let again = calendar::format_rfc3339_ms(ms);
        assert_eq!(
            calendar::parse_rfc3339_ms(&again),
            Some(ms),
            "{text:?} → {again}"
        );
    }
});
