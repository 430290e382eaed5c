//! The holds library's values and errors as the case language writes them
//! (`tests/cases/README.md`, "Operations and their results", "Errors").

use holds::{Claim, Claimed, Error, Event, EventKind, FileCheck, FileState, Hold, Release};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

/// Nanoseconds since the Unix epoch (negative before it).
pub fn ns(at: SystemTime) -> i64 {
    match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

pub fn hold(h: &Hold) -> Value {
    json!({
        "agent_id": h.agent_id,
        "claimed_at": ns(h.claimed_at),
        "expires_at": ns(h.expires_at),
        "checkout_path": h.checkout_path,
        "ttl": duration_ns(h.ttl),
        "mode": h.mode.as_str(),
    })
}

pub fn claim(c: &Claim) -> Value {
    json!({"file": c.file, "scope": c.scope.as_str(), "revision": c.revision, "hold": hold(&c.hold)})
}

pub fn maybe_claim(c: Option<&Claim>) -> Value {
    c.map_or(Value::Null, claim)
}

pub fn claimed(c: &Claimed) -> Value {
    json!({"claims": c.claims.iter().map(claim).collect::<Vec<_>>(), "atomic": c.atomic})
}

pub fn release(r: &Release) -> Value {
    match r {
        Release::Released { revision } => json!({"released": true, "revision": revision}),
        Release::NotHeld => json!({"released": false, "revision": null}),
    }
}

pub fn check(c: &FileCheck) -> Value {
    let (state, holder) = match &c.state {
        FileState::Held(claim) => ("held", Some(claim)),
        FileState::TokenMoved(claim) => ("token-moved", Some(claim)),
        FileState::HeldByAnother(claim) => ("held-by-another", Some(claim)),
        FileState::Shared(claim) => ("shared", Some(claim)),
        FileState::Vacant => ("vacant", None),
    };
    json!({"file": c.file, "state": state, "claim": maybe_claim(holder)})
}

pub fn event(e: &Event) -> Value {
    let mut out = json!({"file": e.file, "scope": e.scope.as_str(), "revision": e.revision});
    match &e.kind {
        EventKind::Announced(h) => {
            out["kind"] = json!("announced");
            out["hold"] = hold(h);
        }
        EventKind::Released { forced_by } => {
            out["kind"] = json!("released");
            if let Some(by) = forced_by {
                out["forced_by"] = json!(by);
            }
        }
        EventKind::Expired => out["kind"] = json!("expired"),
    }
    out
}

pub fn error(e: &Error) -> Value {
    match e {
        Error::HeldByAnother(c) => {
            json!({"error": "held-by-another", "holder": c.hold.agent_id, "claim": claim(c)})
        }
        Error::HeldByOthers(claims) => json!({
            "error": "held-by-others",
            "holders": claims.iter().map(|c| c.hold.agent_id.clone()).collect::<Vec<_>>(),
            "claims": claims.iter().map(claim).collect::<Vec<_>>(),
        }),
        Error::Lost(lost) => json!({
            "error": "lost",
            "file": lost.file,
            "revision": lost.revision,
            "holder": maybe_claim(lost.holder.as_ref()),
        }),
        Error::InvalidInput { field, reason } => {
            json!({"error": "invalid-input", "field": field, "reason": reason})
        }
        Error::Config(message) => json!({"error": "config", "message": message}),
        Error::CasExhausted(attempts) => json!({"error": "cas-exhausted", "attempts": attempts}),
        Error::CorruptEntry {
            key,
            revision,
            reason,
        } => {
            json!({"error": "corrupt-entry", "key": key, "revision": revision, "reason": reason})
        }
        Error::Store(cause) => json!({"error": "store", "message": cause.to_string()}),
        Error::Closed => json!({"error": "closed"}),
        Error::Guest(cause) => json!({"error": "guest", "message": cause.to_string()}),
        Error::Lagged(buffer) => json!({"error": "lagged", "buffer": buffer}),
    }
}
