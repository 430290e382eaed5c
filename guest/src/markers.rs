//! What a stored JetStream message is, from its headers: the server's and the
//! KV clients' markers, and holds' own note that a sweep (not a release) left
//! the marker. Hosts match headers against this table; the rule is here once.

use crate::model::Operation;

/// A header value that makes a message a marker of `operation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkerHeader {
    pub name: &'static str,
    pub value: &'static str,
    pub operation: Operation,
}

const fn rule(name: &'static str, value: &'static str, operation: Operation) -> MarkerHeader {
    MarkerHeader {
        name,
        value,
        operation,
    }
}

/// First match wins; a message matching none is a put. A sweep's delete
/// carries `Holds-Removal: expired` beside `KV-Operation: DEL`, so that rule
/// comes first; the server's limit markers (`Nats-Marker-Reason`) come last.
pub const MARKER_HEADERS: [MarkerHeader; 6] = [
    rule("Holds-Removal", "expired", Operation::Expire),
    rule("KV-Operation", "DEL", Operation::Delete),
    rule("KV-Operation", "PURGE", Operation::Purge),
    rule("Nats-Marker-Reason", "MaxAge", Operation::Expire),
    rule("Nats-Marker-Reason", "Remove", Operation::Delete),
    rule("Nats-Marker-Reason", "Purge", Operation::Purge),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// A host's matcher over the table: the first rule whose header a message
    /// carries with that value; none, a put.
    fn operation_of<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Operation {
        MARKER_HEADERS
            .iter()
            .find(|rule| {
                headers
                    .clone()
                    .into_iter()
                    .any(|(name, value)| name == rule.name && value == rule.value)
            })
            .map_or(Operation::Put, |rule| rule.operation)
    }

    #[test]
    fn a_sweeps_delete_is_an_expiry_and_a_plain_delete_a_release() {
        let swept = [("KV-Operation", "DEL"), ("Holds-Removal", "expired")];
        assert_eq!(operation_of(swept), Operation::Expire);
        assert_eq!(operation_of([("KV-Operation", "DEL")]), Operation::Delete);
        assert_eq!(operation_of([("KV-Operation", "PURGE")]), Operation::Purge);
    }

    #[test]
    fn server_limit_markers_are_read_by_their_reason() {
        let reason = |r| operation_of([("Nats-Marker-Reason", r)]);
        assert_eq!(reason("MaxAge"), Operation::Expire);
        assert_eq!(reason("Remove"), Operation::Delete);
        assert_eq!(reason("Purge"), Operation::Purge);
        assert_eq!(reason("Other"), Operation::Put);
    }

    #[test]
    fn a_message_without_marker_headers_is_a_put() {
        assert_eq!(operation_of([]), Operation::Put);
        assert_eq!(operation_of([("Nats-TTL", "30s")]), Operation::Put);
        assert_eq!(
            operation_of([("kv-operation", "DEL")]),
            Operation::Put,
            "names are exact"
        );
    }
}
