//! The `holds` command line, run as a real process: every exit code, the `--json` shapes, relative paths,
//! and `watch` following other processes. Each test has its own temporary store (SQLite via `HOLDS_STORE`,
//! or a fresh nats-server via `--nats`), home, XDG directories and working directory.

mod auth;
mod bad_input;
mod cross_process;
mod exit_codes;
mod guard;
mod hook;
mod json;
mod mcp;
mod paths;
mod patterns;
mod pipes;
mod replay;
mod safety;
mod secrets;
mod support;
mod watch;
mod workflow;
mod worktrees;

use crate::support::CliEnv;
use holds_nats_fixture::NatsServer;
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// A backend the CLI tests run on; the server (if any) lives as long as the environment. Cases taking one
/// run on both (`sqlite::`, `jetstream::`) through `holds_test_support::matrix!`.
pub struct Backend {
    pub env: CliEnv,
    _server: Option<NatsServer>,
}

impl Backend {
    pub fn sqlite() -> Self {
        Backend {
            env: CliEnv::sqlite(),
            _server: None,
        }
    }

    pub fn jetstream() -> Self {
        let server = NatsServer::start();
        Backend {
            env: CliEnv::nats(server.url()),
            _server: Some(server),
        }
    }
}

impl std::ops::Deref for Backend {
    type Target = CliEnv;
    fn deref(&self) -> &CliEnv {
        &self.env
    }
}

/// `holds announce FILE --agent AGENT --ttl TTL --json`, which must succeed; returns the claim JSON.
#[track_caller]
pub fn announce(env: &CliEnv, file: &str, agent: &str, ttl: &str) -> Value {
    let run = env.run(["--json", "announce", file, "--agent", agent, "--ttl", ttl]);
    run.assert_code(0);
    run.json()
}

/// An RFC 3339 timestamp field.
#[track_caller]
pub fn time(v: &Value) -> SystemTime {
    let text = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    humantime::parse_rfc3339(text).unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {text}"))
}

/// Checks the shape of a claim object `{file, revision, hold: {agent_id, claimed_at, expires_at,
/// checkout_path, ttl}}` and its values.
#[track_caller]
pub fn assert_claim(claim: &Value, file: &str, agent: &str, ttl: Duration, checkout: &str) {
    let obj = claim
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {claim}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["file", "hold", "revision", "scope"], "{claim}");
    assert_eq!(claim["file"], file, "{claim}");
    assert_eq!(claim["scope"], "file", "{claim}");
    assert!(claim["revision"].as_u64().is_some_and(|r| r > 0), "{claim}");
    let hold = claim["hold"]
        .as_object()
        .unwrap_or_else(|| panic!("hold is not an object: {claim}"));
    let mut keys: Vec<&str> = hold.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "agent_id",
            "checkout_path",
            "claimed_at",
            "expires_at",
            "mode",
            "ttl"
        ],
        "{claim}"
    );
    assert_eq!(claim["hold"]["agent_id"], agent, "{claim}");
    assert_eq!(claim["hold"]["checkout_path"], checkout, "{claim}");
    assert_eq!(
        claim["hold"]["ttl"].as_u64(),
        Some(ttl.as_nanos() as u64),
        "ttl in nanoseconds: {claim}"
    );
    let claimed_at = time(&claim["hold"]["claimed_at"]);
    let expires_at = time(&claim["hold"]["expires_at"]);
    assert_eq!(
        expires_at.duration_since(claimed_at).ok(),
        Some(ttl),
        "{claim}"
    );
    let age = SystemTime::now()
        .duration_since(claimed_at)
        .unwrap_or_default();
    assert!(
        age < Duration::from_secs(60),
        "claimed {age:?} ago: {claim}"
    );
}

/// `<cwd>/<relative>`, as `holds` resolves a relative FILE.
pub fn abs(env: &CliEnv, relative: &str) -> String {
    format!("{}/{relative}", env.cwd().display())
}
