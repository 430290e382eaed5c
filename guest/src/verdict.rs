//! Expiry verdicts and the announce decision table, as pure functions.

use crate::codec;
use crate::model::{Claim, CorruptEntry, Entry, Error, Hold, Scope, Timestamp};

/// Whether `hold` is expired at `now`. A hold expiring exactly now is still live
/// (the Go package's rule).
pub fn is_expired(hold: &Hold, now: Timestamp) -> bool {
    hold.expires_at < now
}

/// The first instant at which `hold` is expired (see [`is_expired`]).
pub fn expired_from(hold: &Hold) -> Timestamp {
    hold.expires_at.saturating_add(1)
}

/// What announce does with a key's latest entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Write the new hold if the key's latest revision is still `expected`.
    Write { expected: u64 },
    /// Another agent's live hold.
    Refuse(Claim),
}

/// Decode the hold of a value entry; markers and missing keys are `None`.
pub fn hold_of(key: &str, file: &str, entry: &Entry) -> Result<Option<Claim>, Error> {
    if !entry.is_value() {
        return Ok(None);
    }
    if crate::extended::is_extended(key) {
        return crate::extended::decode_at(&entry.value, entry.revision)
            .map(|(claim, _, _)| Some(claim))
            .map_err(|reason| {
                Error::CorruptEntry(CorruptEntry {
                    key: key.to_string(),
                    revision: entry.revision,
                    reason,
                })
            });
    }
    codec::decode(&entry.value)
        .map(|hold| {
            Some(Claim {
                file: file.to_string(),
                scope: Scope::File,
                hold,
                revision: entry.revision,
            })
        })
        .map_err(|reason| {
            Error::CorruptEntry(CorruptEntry {
                key: key.to_string(),
                revision: entry.revision,
                reason,
            })
        })
}

/// The Go decision table: vacant -> create; same agent -> renew (even if expired);
/// another agent strictly expired -> take over; otherwise refuse.
pub fn decide_announce(
    current: Option<Claim>,
    agent: &str,
    now: Timestamp,
    entry: &Entry,
) -> Decision {
    match current {
        None => Decision::Write {
            expected: entry.revision,
        },
        Some(claim) if claim.hold.agent_id == agent || is_expired(&claim.hold, now) => {
            Decision::Write {
                expected: entry.revision,
            }
        }
        Some(claim) => Decision::Refuse(claim),
    }
}

/// The claim `agent` may release: its own hold, still live.
pub fn releasable(current: Option<Claim>, agent: &str, now: Timestamp) -> Option<Claim> {
    current.filter(|c| c.hold.agent_id == agent && !is_expired(&c.hold, now))
}

/// The live claim, if any.
pub fn live(current: Option<Claim>, now: Timestamp) -> Option<Claim> {
    current.filter(|c| !is_expired(&c.hold, now))
}

/// Agent ids must be non-empty and not only whitespace.
pub fn check_agent(agent: &str) -> Result<(), Error> {
    if agent.trim().is_empty() {
        return Err(Error::invalid(
            "agent-id",
            "the agent id is empty or only whitespace",
        ));
    }
    Ok(())
}

/// `0 < ttl <= ttl_max`, with a maximum above zero.
pub fn check_ttl(ttl: u64, ttl_max: u64) -> Result<(), Error> {
    if ttl_max == 0 {
        return Err(Error::invalid("ttl-max", "the maximum TTL is zero"));
    }
    if ttl == 0 {
        return Err(Error::invalid("ttl", "the TTL is zero"));
    }
    if ttl > ttl_max {
        return Err(Error::invalid(
            "ttl",
            format!(
                "the TTL {:?} is above the maximum {:?}",
                std::time::Duration::from_nanos(ttl),
                std::time::Duration::from_nanos(ttl_max)
            ),
        ));
    }
    Ok(())
}

/// A new hold of `agent` announced at `now` for `ttl` (ns).
pub fn new_hold(agent: &str, checkout_path: &str, ttl: u64, now: Timestamp) -> Hold {
    Hold {
        agent_id: agent.to_string(),
        claimed_at: now,
        expires_at: now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
        checkout_path: checkout_path.to_string(),
        ttl,
        mode: crate::model::Mode::Exclusive,
    }
}

/// Whole seconds of a TTL for stores that expire entries themselves: rounded up,
/// at least one.
pub fn ttl_seconds(ttl_ns: u64) -> u32 {
    let secs = ttl_ns.div_ceil(1_000_000_000).max(1);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Operation;

    fn claim(agent: &str, expires_at: Timestamp) -> Option<Claim> {
        Some(Claim {
            file: "/f".into(),
            scope: Scope::File,
            hold: Hold {
                agent_id: agent.into(),
                expires_at,
                ..Hold::default()
            },
            revision: 7,
        })
    }

    fn value_entry() -> Entry {
        Entry {
            found: true,
            value: vec![],
            revision: 7,
            operation: Operation::Put,
        }
    }

    #[test]
    fn decision_table() {
        let e = value_entry();
        assert_eq!(
            decide_announce(None, "a", 100, &e),
            Decision::Write { expected: 7 }
        );
        assert_eq!(
            decide_announce(claim("a", 50), "a", 100, &e),
            Decision::Write { expected: 7 },
            "renewal, even of an expired hold"
        );
        assert_eq!(
            decide_announce(claim("b", 99), "a", 100, &e),
            Decision::Write { expected: 7 },
            "take-over of an expired hold"
        );
        assert!(
            matches!(
                decide_announce(claim("b", 100), "a", 100, &e),
                Decision::Refuse(_)
            ),
            "a hold expiring exactly now is live"
        );
        assert!(matches!(
            decide_announce(claim("b", 101), "a", 100, &e),
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn a_hold_is_expired_from_the_instant_after_it_expires() {
        let hold = Hold {
            expires_at: 100,
            ..Hold::default()
        };
        assert_eq!(expired_from(&hold), 101);
        assert!(!is_expired(&hold, expired_from(&hold) - 1));
        assert!(is_expired(&hold, expired_from(&hold)));
        let end = Hold {
            expires_at: i64::MAX,
            ..Hold::default()
        };
        assert_eq!(expired_from(&end), i64::MAX, "saturates");
    }

    #[test]
    fn ttl_seconds_round_up_to_at_least_one() {
        assert_eq!(ttl_seconds(1), 1);
        assert_eq!(ttl_seconds(1_000_000_000), 1);
        assert_eq!(ttl_seconds(1_000_000_001), 2);
        assert_eq!(ttl_seconds(30_000_000_000), 30);
        assert_eq!(ttl_seconds(u64::MAX), u32::MAX);
    }

    #[test]
    fn whitespace_agents_are_invalid() {
        assert!(check_agent("").is_err());
        assert!(check_agent(" \t").is_err());
        assert!(check_agent("a").is_ok());
    }
}
