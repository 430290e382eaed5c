//! RFC 3339 timestamps as Go's `time.RFC3339Nano` writes them in UTC:
//! `2026-11-26T04:21:06.5Z`, nanoseconds with trailing zeros dropped.

use crate::model::Timestamp;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Format `ns` (nanoseconds since the Unix epoch) as Go does.
pub fn format(ns: Timestamp) -> String {
    let mut out = Vec::with_capacity(30);
    format_into(ns, &mut out);
    String::from_utf8(out).expect("a timestamp is ASCII")
}

/// [`format`], appended to `out`: digits written directly (no `core::fmt`,
/// which was a tenth of an announce's time in the sandbox).
pub fn format_into(ns: Timestamp, out: &mut Vec<u8>) {
    let secs = ns.div_euclid(NANOS_PER_SEC);
    let nanos = ns.rem_euclid(NANOS_PER_SEC) as u32;
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
    let (year, month, day) = civil_from_days(days);
    // Every i64 nanosecond count is in years 1677..=2262: four digits.
    digits(out, year as u32, 4);
    out.push(b'-');
    digits(out, month, 2);
    out.push(b'-');
    digits(out, day, 2);
    out.push(b'T');
    digits(out, of_day / 3600, 2);
    out.push(b':');
    digits(out, of_day / 60 % 60, 2);
    out.push(b':');
    digits(out, of_day % 60, 2);
    if nanos != 0 {
        out.push(b'.');
        let start = out.len();
        digits(out, nanos, 9);
        while out.last() == Some(&b'0') {
            out.pop();
        }
        debug_assert!(out.len() > start);
    }
    out.push(b'Z');
}

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// `n` in `width` decimal digits, zero-padded.
fn digits(out: &mut Vec<u8>, mut n: u32, width: usize) {
    let at = out.len();
    out.resize(at + width, b'0');
    for slot in out[at..].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = i64::from(if month > 2 { month - 3 } else { month + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parse an RFC 3339 timestamp (any offset) into nanoseconds since the Unix epoch.
/// Instants outside the i64 range saturate, so Go's zero time
/// (`0001-01-01T00:00:00Z`, "long expired") stays in the past.
pub fn parse(text: &str) -> Result<Timestamp, String> {
    if let Some(ns) = parse_utc(text.as_bytes()) {
        return Ok(ns);
    }
    let at = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp: {e}"))?;
    let ns = at.unix_timestamp_nanos();
    Ok(ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// The form holds and Go write (`YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, a valid date
/// and time of day), read directly; `None` for anything else, which the full
/// RFC 3339 parser then judges.
fn parse_utc(b: &[u8]) -> Option<Timestamp> {
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let mut n = 0u32;
        for &c in b.get(range)? {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u32::from(c - b'0');
        }
        Some(n)
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
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
    // Leap seconds (:60) and anything out of range go to the full parser.
    if !(1..=12).contains(&month)
        || day == 0
        || day > month_days[month as usize - 1]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut nanos = 0u32;
    let rest = &b[19..];
    let rest = match rest.split_first() {
        Some((b'.', fraction)) => {
            let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 || digits > 9 {
                return None;
            }
            nanos = num(20..20 + digits)? * 10u32.pow(9 - digits as u32);
            &fraction[digits..]
        }
        _ => rest,
    };
    if rest != b"Z" {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    let ns = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    Some(ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_like_go_rfc3339nano() {
        // 2026-11-26T04:21:06.5Z
        let base = 1_795_666_866_i64 * 1_000_000_000;
        assert_eq!(format(base + 500_000_000), "2026-11-26T04:21:06.5Z");
        assert_eq!(format(base), "2026-11-26T04:21:06Z");
        assert_eq!(format(base + 1), "2026-11-26T04:21:06.000000001Z");
        assert_eq!(format(base + 120_000), "2026-11-26T04:21:06.00012Z");
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(format(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn parses_offsets_and_go_zero_time() {
        let base = 1_795_666_866_i64 * 1_000_000_000;
        assert_eq!(parse("2026-11-26T04:21:06.5Z").unwrap(), base + 500_000_000);
        assert_eq!(
            parse("2026-11-26T05:21:06.5+01:00").unwrap(),
            base + 500_000_000
        );
        assert_eq!(parse("0001-01-01T00:00:00Z").unwrap(), i64::MIN);
        assert!(parse("yesterday").is_err());
        assert!(parse("").is_err());
    }

    /// What `time` says of `text`, the reference the direct paths must match.
    fn reference_parse(text: &str) -> Option<i64> {
        let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        Some(
            at.unix_timestamp_nanos()
                .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
        )
    }

    fn reference_format(ns: i64) -> String {
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).unwrap();
        let mut out = std::format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        if at.nanosecond() != 0 {
            out.push('.');
            out.push_str(std::format!("{:09}", at.nanosecond()).trim_end_matches('0'));
        }
        out.push('Z');
        out
    }

    #[test]
    fn the_direct_parser_leaves_what_it_does_not_know_to_time() {
        for text in [
            "2026-02-29T00:00:00Z",
            "2024-02-29T23:59:60Z",
            "2026-13-01T00:00:00Z",
            "2026-11-26T04:21:06.Z",
            "2026-11-26T04:21:06.1234567890Z",
            "2026-11-26t04:21:06Z",
            "2026-11-26T04:21:06z",
            "2026-11-26T04:21:06+00:00",
            "+2026-11-26T04:21:06Z",
        ] {
            assert_eq!(parse_utc(text.as_bytes()), None, "{text}");
            assert_eq!(parse(text).ok(), reference_parse(text), "{text}");
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ns in any::<i64>()) {
            prop_assert_eq!(parse(&format(ns)).unwrap(), ns);
        }

        #[test]
        fn formats_as_the_time_crate_does(ns in any::<i64>()) {
            prop_assert_eq!(format(ns), reference_format(ns));
        }

        #[test]
        fn parses_as_the_time_crate_does(
            y in 0u32..10000, mo in 0u32..14, d in 0u32..33, h in 0u32..25, mi in 0u32..61,
            s in 0u32..62, frac in proptest::option::of("[0-9]{1,10}"),
        ) {
            let text = std::format!(
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{}Z",
                frac.map(|f| std::format!(".{f}")).unwrap_or_default()
            );
            prop_assert_eq!(parse(&text).ok(), reference_parse(&text), "{}", text);
        }
    }
}
