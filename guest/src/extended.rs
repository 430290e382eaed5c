//! Holds stored under keys of their own: a shared hold, or a hold on a
//! directory or glob. An exclusive hold on one file keeps Go's key and bytes;
//! any other hold is written at `_hx.<escaped pattern>.<escaped agent>`, a key
//! no file has (every file key starts with `=2F`), so a Go agent never reads it
//! as a hold on a real file. Its value is Go's hold JSON with four more fields:
//! `mode`, `pattern`, and the hold's tenure: `tenure`, the revision its first
//! version was written at (0 in that first version: its own revision), and
//! `since`, that version's `claimed_at`. The tenure is what the judgement of
//! conflicting holds orders them by (see `judge.rs`).

use crate::codec;
use crate::key::{MAX_KEY, decode, escape};
use crate::model::{Claim, Error, Hold, Mode, Scope, Timestamp};
use crate::pattern::Coverage;
use crate::timestamp;
use serde::Deserialize;

/// Where every shared or pattern hold's key starts.
pub const PREFIX: &str = "_hx.";

/// Whether `key` is a shared or pattern hold's.
pub fn is_extended(key: &str) -> bool {
    key.starts_with(PREFIX)
}

/// Whether a hold on `coverage` in `mode` is stored as Go stores holds.
pub fn is_plain(coverage: &Coverage, mode: Mode) -> bool {
    coverage.is_file() && mode == Mode::Exclusive
}

/// The key of `agent`'s shared or pattern hold on `coverage`.
pub fn key_for(coverage: &Coverage, agent: &str) -> Result<String, Error> {
    let text = coverage.text();
    // Escaping never shortens: refuse what cannot fit before escaping it.
    if PREFIX.len() + text.len() + 1 + agent.len() > MAX_KEY {
        return Err(too_long(PREFIX.len() + text.len() + 1 + agent.len()));
    }
    // The agent's dots are escaped too, so the last `.` splits the key.
    let key = format!(
        "{PREFIX}{}.{}",
        escape(&text),
        escape(agent).replace('.', "=2E")
    );
    if key.len() > MAX_KEY {
        return Err(too_long(key.len()));
    }
    Ok(key)
}

fn too_long(bytes: usize) -> Error {
    Error::invalid(
        "file",
        format!(
            "the pattern and agent id are too long: their key is at least {bytes} bytes, over the {MAX_KEY}-byte limit"
        ),
    )
}

/// Where the keys of every agent's shared or pattern hold on `coverage` start
/// (other patterns' keys may start so too).
pub fn key_prefix(coverage: &Coverage) -> String {
    format!("{PREFIX}{}.", escape(&coverage.text()))
}

/// The file or pattern any hold's key names, and which it is.
pub fn named_by_key(key: &str) -> Result<(String, Scope), Error> {
    if !is_extended(key) {
        return crate::key::file_for_key(key).map(|file| (file, Scope::File));
    }
    coverage_for_key(key)
        .map(|c| (c.text(), c.scope()))
        .ok_or_else(|| Error::invalid("key", format!("{key:?} names no pattern")))
}

/// What a shared or pattern hold's key covers, when it is one.
pub fn coverage_for_key(key: &str) -> Option<Coverage> {
    let rest = key.strip_prefix(PREFIX)?;
    let (pattern, _agent) = rest.rsplit_once('.')?;
    let text = decode(pattern).ok()?;
    let coverage = Coverage::parse(&text).ok()?;
    (coverage.text() == text).then_some(coverage)
}

/// A tenure: the revision a hold's first version was written at, and its
/// `claimed_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tenure {
    pub revision: u64,
    pub since: Timestamp,
}

/// The stored value of a shared or pattern hold. `tenure` is `None` in a
/// hold's first version.
pub fn encode(hold: &Hold, pattern: &str, tenure: Option<Tenure>) -> Vec<u8> {
    let mut out = codec::encode(hold);
    out.pop();
    out.extend_from_slice(match hold.mode {
        Mode::Exclusive => b",\"mode\":\"exclusive\",\"pattern\":",
        Mode::Shared => b",\"mode\":\"shared\",\"pattern\":",
    });
    codec::string(&mut out, pattern);
    let (revision, since) = match tenure {
        Some(t) => (t.revision, t.since),
        None => (0, hold.claimed_at),
    };
    out.extend_from_slice(format!(",\"tenure\":{revision},\"since\":\"").as_bytes());
    timestamp::format_into(since, &mut out);
    out.extend_from_slice(b"\"}");
    out
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireExt {
    mode: Option<String>,
    pattern: Option<String>,
    tenure: Option<u64>,
    since: Option<String>,
}

/// A shared or pattern hold read back: the claim (its `file` the pattern) and
/// its tenure, given the revision it was read at.
pub fn decode_at(value: &[u8], revision: u64) -> Result<(Claim, Coverage, Tenure), String> {
    let mut hold = codec::decode(value)?;
    let wire: WireExt =
        serde_json::from_slice(value).map_err(|e| format!("not a shared or pattern hold: {e}"))?;
    hold.mode = match wire.mode.as_deref() {
        Some("shared") => Mode::Shared,
        Some("exclusive") => Mode::Exclusive,
        other => return Err(format!("not a shared or pattern hold: mode {other:?}")),
    };
    let pattern = wire
        .pattern
        .ok_or("not a shared or pattern hold: no pattern")?;
    let coverage = Coverage::parse(&pattern).map_err(|e| format!("pattern: {e:?}"))?;
    if coverage.text() != pattern {
        return Err(format!("pattern {pattern:?} is not cleaned"));
    }
    let tenure = match wire.tenure {
        None | Some(0) => Tenure {
            revision,
            since: hold.claimed_at,
        },
        Some(first) => Tenure {
            revision: first,
            since: match wire.since {
                Some(text) => timestamp::parse(&text).map_err(|e| format!("since: {e}"))?,
                None => i64::MIN,
            },
        },
    };
    Ok((
        Claim {
            file: pattern,
            scope: coverage.scope(),
            hold,
            revision,
        },
        coverage,
        tenure,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(mode: Mode) -> Hold {
        Hold {
            agent_id: "a.1".into(),
            claimed_at: 1_000,
            expires_at: 2_000,
            checkout_path: "/co".into(),
            ttl: 1_000,
            mode,
        }
    }

    #[test]
    fn keys_are_never_file_keys_and_name_their_coverage() {
        let dir = Coverage::parse("/r/src/auth/").unwrap();
        let key = key_for(&dir, "a.1").unwrap();
        assert_eq!(key, "_hx.=2Fr=2Fsrc=2Fauth=2F.a=2E1");
        assert!(is_extended(&key) && !key.starts_with("=2F"));
        assert_eq!(coverage_for_key(&key), Some(dir));
        let glob = Coverage::parse("/r/docs/**/*.md").unwrap();
        let key = key_for(&glob, "b").unwrap();
        assert_eq!(coverage_for_key(&key), Some(glob));
        let file = Coverage::parse("/r/a.b.rs").unwrap();
        assert_eq!(
            coverage_for_key(&key_for(&file, "x.y").unwrap()),
            Some(file)
        );
        assert_eq!(coverage_for_key("=2Fr=2Fa"), None);
    }

    #[test]
    fn a_value_keeps_the_go_fields_and_reads_back_with_its_tenure() {
        let value = encode(&hold(Mode::Shared), "/r/src/", None);
        let text = String::from_utf8(value.clone()).unwrap();
        assert!(
            text.starts_with("{\"agent_id\":\"a.1\",\"claimed_at\":"),
            "{text}"
        );
        assert!(text.contains("\"mode\":\"shared\",\"pattern\":\"/r/src/\",\"tenure\":0"));
        let go = codec::decode(&value).unwrap();
        assert_eq!(go.agent_id, "a.1", "a Go reader sees the agent");
        let (claim, coverage, tenure) = decode_at(&value, 7).unwrap();
        assert_eq!(
            (claim.file.as_str(), claim.hold.mode),
            ("/r/src/", Mode::Shared)
        );
        assert_eq!(coverage, Coverage::Dir("/r/src/".into()));
        assert_eq!(
            tenure,
            Tenure {
                revision: 7,
                since: 1_000
            }
        );
        let later = encode(&hold(Mode::Exclusive), "/r/src/", Some(tenure));
        let (_, _, kept) = decode_at(&later, 9).unwrap();
        assert_eq!(kept, tenure, "a renewal keeps its tenure");
        assert!(decode_at(&codec::encode(&hold(Mode::Shared)), 3).is_err());
    }
}
