//! Conversions between the WIT types of the bindings and the public types.

use crate::error::Error;
use crate::runtime::bindings::holds::core::types as wit;
use crate::types::{Claim, Event, EventKind, Hold, system_time};
use std::time::Duration;

pub(crate) fn hold(h: wit::Hold) -> Hold {
    Hold {
        agent_id: h.agent_id,
        claimed_at: system_time(h.claimed_at),
        expires_at: system_time(h.expires_at),
        checkout_path: h.checkout_path,
        ttl: Duration::from_nanos(h.ttl),
    }
}

pub(crate) fn claim(c: wit::Claim) -> Claim {
    Claim {
        file: c.file,
        hold: hold(c.hold),
        revision: c.revision,
    }
}

pub(crate) fn event(e: wit::Event) -> Event {
    Event {
        file: e.file,
        revision: e.revision,
        kind: match e.kind {
            wit::ChangeKind::Announced(h) => EventKind::Announced(hold(h)),
            wit::ChangeKind::Released => EventKind::Released,
            wit::ChangeKind::Expired => EventKind::Expired,
        },
    }
}

pub(crate) fn error(e: wit::Error) -> Error {
    match e {
        wit::Error::HeldByAnother(c) => Error::HeldByAnother(Box::new(claim(c))),
        wit::Error::InvalidInput(i) => Error::InvalidInput {
            field: i.field,
            reason: i.reason,
        },
        wit::Error::CasExhausted(n) => Error::CasExhausted(n),
        wit::Error::CorruptEntry(c) => Error::CorruptEntry {
            key: c.key,
            revision: c.revision,
            reason: c.reason,
        },
        wit::Error::Store(why) => Error::Store(why),
        wit::Error::Closed => Error::Closed,
    }
}

/// A duration as WIT nanoseconds, saturating.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A `SystemTime` as WIT nanoseconds since the epoch, saturating.
pub(crate) fn timestamp(at: std::time::SystemTime) -> i64 {
    match at.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}
