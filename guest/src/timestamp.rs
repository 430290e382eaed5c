//! RFC 3339 timestamps as Go's `time.RFC3339Nano` writes them in UTC:
//! `2026-11-26T04:21:06.5Z`, nanoseconds with trailing zeros dropped.

use crate::model::Timestamp;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Format `ns` (nanoseconds since the Unix epoch) as Go does.
pub fn format(ns: Timestamp) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .expect("every i64 nanosecond count is within time's range");
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    let nanos = at.nanosecond();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Parse an RFC 3339 timestamp (any offset) into nanoseconds since the Unix epoch.
/// Instants outside the i64 range saturate, so Go's zero time
/// (`0001-01-01T00:00:00Z`, "long expired") stays in the past.
pub fn parse(text: &str) -> Result<Timestamp, String> {
    let at = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp: {e}"))?;
    let ns = at.unix_timestamp_nanos();
    Ok(ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
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

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ns in any::<i64>()) {
            prop_assert_eq!(parse(&format(ns)).unwrap(), ns);
        }
    }
}
