//! The Go package's JSON for a hold, written by the runner itself (not through
//! the component), as `go_hold` specifies: encoding/json's field order, no
//! spaces, instants as time.RFC3339Nano in UTC.

use serde_json::{Map, Value};
use std::time::{Duration, SystemTime};

/// time.RFC3339Nano in UTC: fractional seconds without trailing zeros.
fn rfc3339_nano(ns: i64) -> String {
    holds::rfc3339(
        SystemTime::UNIX_EPOCH + Duration::from_nanos(u64::try_from(ns).expect("after 1970")),
    )
}

pub fn go_hold_json(
    agent_id: &str,
    claimed_at: i64,
    ttl: u64,
    checkout_path: &str,
    extra: Option<&Map<String, Value>>,
) -> Vec<u8> {
    let text = |s: &str| Value::from(s).to_string();
    let mut fields = vec![
        ("agent_id".to_string(), text(agent_id)),
        ("claimed_at".to_string(), text(&rfc3339_nano(claimed_at))),
        (
            "expires_at".to_string(),
            text(&rfc3339_nano(
                claimed_at + i64::try_from(ttl).expect("a ttl fits"),
            )),
        ),
        ("checkout_path".to_string(), text(checkout_path)),
        ("ttl".to_string(), ttl.to_string()),
    ];
    for (key, value) in extra.into_iter().flatten() {
        fields.push((key.clone(), value.to_string()));
    }
    let body: Vec<String> = fields
        .into_iter()
        .map(|(k, v)| format!("{}:{v}", Value::from(k)))
        .collect();
    format!("{{{}}}", body.join(",")).into_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn instants_are_go_rfc3339_nano() {
        assert_eq!(
            super::rfc3339_nano(1_764_130_866_500_000_000),
            "2025-11-26T04:21:06.5Z"
        );
        assert_eq!(
            super::rfc3339_nano(1_764_130_866_000_000_000),
            "2025-11-26T04:21:06Z"
        );
    }
}
