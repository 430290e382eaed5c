//! The Go package's stored value, written out here from its documentation
//! (`encoding/json` of `Hold`: fields in declaration order, none omitted, RFC 3339
//! timestamps with trailing zeros dropped, `ttl` as integer nanoseconds, `<`, `>`,
//! `&`, U+2028 and U+2029 escaped): an oracle independent of the guest's codec,
//! for staging values another client wrote.

use holds::Hold;

/// The bytes a Go agent stores for `hold`.
pub fn value(hold: &Hold) -> Vec<u8> {
    format!(
        r#"{{"agent_id":{},"claimed_at":"{}","expires_at":"{}","checkout_path":{},"ttl":{}}}"#,
        string(&hold.agent_id),
        holds::rfc3339(hold.claimed_at),
        holds::rfc3339(hold.expires_at),
        string(&hold.checkout_path),
        hold.ttl.as_nanos()
    )
    .into_bytes()
}

/// A JSON string as Go's encoder writes it (HTML-safe).
fn string(s: &str) -> String {
    let json = serde_json::to_string(s).expect("strings serialize");
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn writes_the_documented_example() {
        let claimed = UNIX_EPOCH + Duration::from_nanos(1_795_666_866_500_000_000);
        let hold = Hold {
            agent_id: "a1".into(),
            claimed_at: claimed,
            expires_at: claimed + Duration::from_secs(30),
            checkout_path: "/tmp/co".into(),
            ttl: Duration::from_secs(30),
            mode: holds::Mode::Exclusive,
        };
        assert_eq!(
            String::from_utf8(value(&hold)).unwrap(),
            r#"{"agent_id":"a1","claimed_at":"2026-11-26T04:21:06.5Z","expires_at":"2026-11-26T04:21:36.5Z","checkout_path":"/tmp/co","ttl":30000000000}"#
        );
    }
}
