//! Bad input (issue 7): invalid bucket names, agents, TTLs and paths, paths with every special character,
//! non-UTF-8 arguments, values another client wrote raw into the bucket (corrupt, empty, huge, wrong-typed,
//! zero-valued, with unknown fields) and broken traces. Each case gets a clear error naming the problem and
//! the right exit code, never a panic, and leaves the store as it was (the raw entries' revisions and the
//! list are compared before and after; the next write takes the very next revision).
//!
//! The library cases run on SQLite and JetStream (a real nats-server); the CLI cases on SQLite (a temporary
//! `HOLDS_STORE`), a subset on JetStream.

use holds::kv::KvStore;
use holds::{Announce, Backend, Claim, Config, Error, Manager, Release};
use holds_tests::NatsServer;
use holds_tests::cli::{CliEnv, Run};
use holds_tests::harness::{Harness, Kind, TTL_MAX};
use serde_json::Value;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Every printable ASCII punctuation mark.
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Bucket names JetStream (and so holds) refuses, with what each one tries.
const BAD_BUCKETS: &[(&str, &str)] = &[
    ("", "empty"),
    ("a.b", "a dot (a subject token separator)"),
    ("a b", "a space"),
    ("*", "a subject wildcard"),
    (">", "the full wildcard"),
    ("holds-é", "non-ASCII"),
    ("a/b", "a slash"),
];

/// Go's `path.Clean` of an absolute path, the oracle for the paths holds keys.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return "/".to_string();
    }
    parts.iter().map(|p| format!("/{p}")).collect()
}

/// Absolute spellings of files with special characters (all of which must work), under `root`.
fn special_paths(root: &str) -> Vec<String> {
    let mut paths: Vec<String> = PUNCTUATION
        .chars()
        .flat_map(|c| [format!("{root}/a{c}b"), format!("{root}/single/{c}")])
        .collect();
    let no_slash: String = PUNCTUATION.chars().filter(|&c| c != '/').collect();
    paths.extend([
        // every punctuation mark at once
        format!("{root}/{no_slash}"),
        // whitespace and control characters
        format!("{root}/with space/ two  spaces /x"),
        format!("{root}/tab\there"),
        format!("{root}/new\nline\n"),
        format!("{root}/cr\rlf\r\n"),
        format!("{root}/ctl\u{1}\u{1b}[31m\u{7f}"),
        // Unicode: accents, CJK, emoji, combining marks, NBSP, BOM, U+2028, right-to-left override
        format!("{root}/ünï/漢字/😀.rs"),
        format!("{root}/e\u{301}\u{a0}\u{feff}\u{2028}\u{2029}\u{202e}txt"),
        // dots: `..` and `.` segments, names made of or ending in dots
        format!("{root}/a/../b/./c"),
        format!("{root}/..."),
        format!("{root}/.hidden"),
        format!("{root}/a..b/c."),
        format!("{root}/..a/.b."),
        format!("{root}/deep/../../{}/up", root.trim_start_matches('/')),
        // trailing and repeated slashes
        format!("{root}/dir/"),
        format!("/{root}//double///slash//"),
        format!("{root}/x/./"),
    ]);
    paths
}

// ---------------------------------------------------------------------------------------------------------
// Library
// ---------------------------------------------------------------------------------------------------------

/// Runs each listed async test body on SQLite and on JetStream.
macro_rules! on_sqlite_and_jetstream {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(holds_tests::harness::Kind::Sqlite).await;
                }
            )*
        }
        mod jetstream {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(holds_tests::harness::Kind::JetStream).await;
                }
            )*
        }
    };
}

on_sqlite_and_jetstream!(
    library_refuses_bad_configs_before_touching_any_store,
    library_refuses_bad_arguments_and_changes_nothing,
    library_paths_with_special_characters_round_trip,
    library_corrupt_values_are_corrupt_entries_naming_the_key,
    library_null_and_missing_fields_read_as_go_zero_values,
    library_unknown_fields_and_huge_values_read_fine,
    library_a_path_too_long_for_a_key_is_invalid_input,
);

/// A key's raw entry: (revision, value), or none.
type RawEntry = Option<(u64, Vec<u8>)>;

/// What a store looked like: every live hold, and the raw entries of some keys.
#[derive(Debug, PartialEq)]
struct Snapshot {
    list: Vec<Claim>,
    raw: Vec<(String, RawEntry)>,
}

async fn snapshot(m: &Manager, keys: &[String]) -> Snapshot {
    let kv = m.kv_for_test();
    let mut raw = Vec::new();
    for key in keys {
        let entry = kv.get(key).await.expect("reading a raw entry");
        raw.push((key.clone(), entry.map(|e| (e.revision, e.value.to_vec()))));
    }
    Snapshot {
        list: m.list().await.expect("list"),
        raw,
    }
}

/// The highest revision among the snapshot's entries and holds.
fn top_revision(s: &Snapshot) -> u64 {
    let raw = s
        .raw
        .iter()
        .filter_map(|(_, e)| e.as_ref().map(|(r, _)| *r));
    let listed = s.list.iter().map(|c| c.revision);
    raw.chain(listed).max().unwrap_or(0)
}

/// Asserts a write now takes the very next revision: nothing was written since `before`.
async fn assert_nothing_written_since(m: &Manager, before: &Snapshot) {
    let probe = format!("/bad-input/next-{}", top_revision(before));
    let claim = m
        .announce(&probe, &Announce::new("checker", Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(
        claim.revision,
        top_revision(before) + 1,
        "a rejected call wrote something"
    );
    m.release(&probe, "checker").await.unwrap();
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, Error>, field: &str, words: &[&str]) {
    match result {
        Err(e @ Error::InvalidInput { .. }) => {
            let Error::InvalidInput { field: f, reason } = &e else {
                unreachable!()
            };
            assert_eq!(f, field, "{e}");
            let message = e.to_string();
            assert!(
                message.starts_with(&format!("invalid {field}: ")),
                "{message}"
            );
            for w in words {
                assert!(reason.contains(w), "the reason should say {w:?}: {reason}");
            }
        }
        other => panic!("expected InvalidInput on {field}, got {other:?}"),
    }
}

/// The names of the server's streams (JetStream), to show a refused config created no bucket.
async fn stream_names(url: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut names: Vec<String> = js.stream_names().try_collect().await.unwrap();
    names.sort();
    names
}

async fn library_refuses_bad_configs_before_touching_any_store(kind: Kind) {
    let h = Harness::new(kind).await;
    let m = h.manager().await;
    let held = m
        .announce(
            "/repo/held.rs",
            &Announce::new("a1", Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let keys = vec![m.key_for_test("/repo/held.rs").await.unwrap()];
    let before = snapshot(&m, &keys).await;
    assert_eq!(before.list, [held]);
    let streams = match kind {
        Kind::JetStream => stream_names(&h.url().unwrap()).await,
        _ => Vec::new(),
    };
    let fresh = tempfile::tempdir().unwrap();
    let fresh_db = fresh.path().join("fresh.db");
    let backend = || async {
        match kind {
            // A database that does not exist yet: a refused config must not even create it.
            Kind::Sqlite => Backend::Sqlite(fresh_db.clone()),
            _ => h.backend().await,
        }
    };
    for (bucket, what) in BAD_BUCKETS {
        let opened = Manager::open(Config::new(*bucket, TTL_MAX), backend().await).await;
        match opened {
            Err(Error::Config(message)) => {
                assert!(
                    message.contains(&format!("{bucket:?}")) && message.contains("[A-Za-z0-9_-]+"),
                    "{what}: {message}"
                );
            }
            other => panic!("bucket {bucket:?} ({what}): {:?}", other.err()),
        }
    }
    let mut zero = Config::new(h.bucket.clone(), Duration::ZERO);
    zero.replica = false;
    match Manager::open(zero, backend().await).await {
        Err(Error::Config(message)) => assert!(message.contains("hold_ttl_max"), "{message}"),
        other => panic!("ttl max 0: {:?}", other.err()),
    }
    let mut huge = Config::new(h.bucket.clone(), Duration::MAX);
    huge.replica = false;
    match Manager::open(huge, backend().await).await {
        Err(Error::Config(message)) => assert!(message.contains("hold_ttl_max"), "{message}"),
        other => panic!("ttl max Duration::MAX: {:?}", other.err()),
    }
    assert!(!fresh_db.exists(), "a refused config created the database");
    if kind == Kind::JetStream {
        assert_eq!(
            stream_names(&h.url().unwrap()).await,
            streams,
            "a refused config created a bucket"
        );
    }
    assert_eq!(snapshot(&m, &keys).await, before);
    assert_nothing_written_since(&m, &before).await;
}

async fn library_refuses_bad_arguments_and_changes_nothing(kind: Kind) {
    let h = Harness::new(kind).await;
    let m = h.manager().await;
    let held = m
        .announce(
            "/repo/held.rs",
            &Announce::new("a1", Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let keys = vec![m.key_for_test("/repo/held.rs").await.unwrap()];
    let before = snapshot(&m, &keys).await;
    let ttl = Duration::from_secs(30);
    let a = |agent: &str, ttl: Duration| Announce::new(agent, ttl);

    // Agents: empty or only whitespace, on announce and release (also of a held file).
    for agent in ["", " ", "   ", "\t", "\n\t \r"] {
        let words = ["empty or only whitespace"];
        assert_invalid(
            m.announce("/repo/x.rs", &a(agent, ttl)).await,
            "agent-id",
            &words,
        );
        assert_invalid(
            m.announce("/repo/held.rs", &a(agent, ttl)).await,
            "agent-id",
            &words,
        );
        assert_invalid(m.release("/repo/held.rs", agent).await, "agent-id", &words);
    }
    // TTLs: zero, one nanosecond over the maximum, far over it.
    assert_invalid(
        m.announce("/repo/x.rs", &a("a2", Duration::ZERO)).await,
        "ttl",
        &["zero"],
    );
    let over = TTL_MAX + Duration::from_nanos(1);
    assert_invalid(
        m.announce("/repo/x.rs", &a("a2", over)).await,
        "ttl",
        &["above the maximum", "60.000000001s", "60s"],
    );
    assert_invalid(
        m.announce("/repo/held.rs", &a("a1", Duration::from_secs(3600)))
            .await,
        "ttl",
        &["above the maximum"],
    );
    assert_invalid(
        m.announce("/repo/x.rs", &a("a2", Duration::MAX)).await,
        "ttl",
        &["above the maximum"],
    );
    // Paths: empty, relative, with a NUL byte; on every call that takes one.
    let bad_paths: &[(&str, &[&str])] = &[
        ("", &["empty"]),
        ("src/lib.rs", &["\"src/lib.rs\" is not absolute"]),
        ("./held.rs", &["\"./held.rs\" is not absolute"]),
        ("held.rs", &["not absolute"]),
        ("~/held.rs", &["not absolute"]),
        (" /repo/held.rs", &["not absolute"]),
        ("/repo/held\0.rs", &["NUL"]),
        ("/repo/held.rs\0", &["NUL"]),
        ("\0", &["not absolute"]),
    ];
    for (path, words) in bad_paths {
        assert_invalid(m.announce(path, &a("a2", ttl)).await, "file", words);
        assert_invalid(m.release(path, "a1").await, "file", words);
        assert_invalid(m.who_has(path).await, "file", words);
        assert_invalid(m.key_for_test(path).await, "file", words);
    }
    // The held file, all along: still a1's.
    assert_eq!(snapshot(&m, &keys).await, before);
    assert_eq!(m.who_has("/repo/held.rs").await.unwrap(), Some(held));
    assert_nothing_written_since(&m, &before).await;
}

async fn library_paths_with_special_characters_round_trip(kind: Kind) {
    let h = Harness::new(kind).await;
    let m = h.manager().await;
    // The oracle itself, on the cases that matter.
    for (path, cleaned) in [
        ("/p/a/../b/./c", "/p/b/c"),
        ("/p/dir/", "/p/dir"),
        ("//p//double///slash//", "/p/double/slash"),
        ("/p/../../..", "/"),
        ("/", "/"),
        ("//", "/"),
        ("/p/...", "/p/..."),
        ("/p/a..b/c.", "/p/a..b/c."),
    ] {
        assert_eq!(clean(path), cleaned, "{path:?}");
    }
    let mut paths = special_paths("/p");
    paths.extend(["/".to_string(), "//".to_string(), "/p/../../..".to_string()]);
    let ttl = Duration::from_secs(30);
    let mut held: Vec<Claim> = Vec::new();
    for path in &paths {
        let cleaned = clean(path);
        let claim = m
            .announce(path, &Announce::new("a1", ttl).checkout(path.as_str()))
            .await
            .unwrap_or_else(|e| panic!("announce {path:?}: {e}"));
        assert_eq!(claim.file, cleaned, "announce {path:?}");
        assert_eq!(
            claim.hold.checkout_path, *path,
            "checkout paths are stored as given"
        );
        for spelling in [path.as_str(), cleaned.as_str()] {
            let who = m.who_has(spelling).await.unwrap();
            assert_eq!(who.as_ref(), Some(&claim), "who-has {spelling:?}");
        }
        let key = m.key_for_test(path).await.unwrap();
        assert_eq!(
            m.file_for_key_for_test(&key).await.unwrap(),
            cleaned,
            "{key}"
        );
        let raw = m
            .kv_for_test()
            .get(&key)
            .await
            .unwrap()
            .expect("a raw entry");
        assert_eq!(raw.revision, claim.revision);
        // Another agent is refused on every spelling.
        match m.announce(&cleaned, &Announce::new("a2", ttl)).await {
            Err(Error::HeldByAnother(c)) => assert_eq!(*c, claim),
            other => panic!("{path:?}: {other:?}"),
        }
        held.retain(|c| c.file != cleaned);
        held.push(claim);
    }
    let mut listed = m.list().await.unwrap();
    listed.sort_by_key(|c| c.revision);
    held.sort_by_key(|c| c.revision);
    assert_eq!(listed, held, "list shows every cleaned path once");
    for claim in &held {
        match m.release(&claim.hold.checkout_path, "a1").await.unwrap() {
            Release::Released { revision } => assert!(revision > claim.revision),
            Release::NotHeld => panic!("{:?} was not released", claim.file),
        }
        assert_eq!(m.who_has(&claim.file).await.unwrap(), None);
    }
    assert_eq!(m.list().await.unwrap(), []);
}

/// Values another client writes raw into the bucket that are not holds, with a word of each reason.
fn corrupt_values() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut huge = br#"{"agent_id":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 900 * 1024));
    vec![
        ("unterminated", br#"{"agent_id":"a1""#.to_vec(), "EOF"),
        ("empty", Vec::new(), "EOF"),
        ("whitespace", b"  \n".to_vec(), "EOF"),
        ("huge-900kb", huge, "EOF"),
        (
            "agent-id-number",
            br#"{"agent_id":7}"#.to_vec(),
            "invalid type",
        ),
        ("array", b"[]".to_vec(), "array"),
        ("array-of-hold", br#"[{"agent_id":"a1"}]"#.to_vec(), "array"),
        ("string", br#""str""#.to_vec(), "invalid type"),
        ("number", b"42".to_vec(), "invalid type"),
        ("bool", b"true".to_vec(), "invalid type"),
        ("ttl-string", br#"{"ttl":"30s"}"#.to_vec(), "invalid type"),
        ("ttl-float", br#"{"ttl":1.5}"#.to_vec(), "invalid type"),
        (
            "ttl-over-i64",
            br#"{"ttl":18446744073709551616}"#.to_vec(),
            "invalid type",
        ),
        (
            "expires-tomorrow",
            br#"{"expires_at":"tomorrow"}"#.to_vec(),
            "expires_at",
        ),
        (
            "claimed-number",
            br#"{"claimed_at":1700000000}"#.to_vec(),
            "invalid type",
        ),
        (
            "checkout-object",
            br#"{"checkout_path":{}}"#.to_vec(),
            "invalid type",
        ),
        (
            "trailing-garbage",
            br#"{"agent_id":"a1"} x"#.to_vec(),
            "trailing",
        ),
        ("not-utf8", b"\xff\xfe{".to_vec(), "not a hold"),
        ("utf8-bom", b"\xef\xbb\xbf{}".to_vec(), "not a hold"),
    ]
}

async fn library_corrupt_values_are_corrupt_entries_naming_the_key(kind: Kind) {
    let h = Harness::new(kind).await;
    let m = h.manager().await;
    let kv = m.kv_for_test();
    let held = m
        .announce(
            "/repo/held.rs",
            &Announce::new("a1", Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let mut keys = vec![m.key_for_test("/repo/held.rs").await.unwrap()];
    let mut staged = Vec::new();
    for (name, value, _) in corrupt_values() {
        let file = format!("/corrupt/{name}");
        let key = m.key_for_test(&file).await.unwrap();
        let revision = kv.put(&key, value.into()).await.unwrap();
        keys.push(key.clone());
        staged.push((file, key, revision));
    }
    let before = snapshot(&m, &keys).await;
    assert_eq!(
        before.list,
        std::slice::from_ref(&held),
        "list skips what is not a hold"
    );
    for ((name, _, word), (file, key, revision)) in corrupt_values().into_iter().zip(&staged) {
        let check = |what: &str, result: Result<String, Error>| match result {
            Err(e @ Error::CorruptEntry { .. }) => {
                let Error::CorruptEntry {
                    key: k,
                    revision: r,
                    reason,
                } = &e
                else {
                    unreachable!()
                };
                assert_eq!((k, r), (key, revision), "{name} {what}: {e}");
                assert!(
                    reason.contains(word),
                    "{name} {what}: {reason:?} should say {word:?}"
                );
                let message = e.to_string();
                assert!(
                    message.contains(&format!("corrupt entry at key {key} (revision {revision})")),
                    "{message}"
                );
                assert!(
                    message.len() < 1024,
                    "{name} {what}: the message is {} bytes",
                    message.len()
                );
            }
            other => panic!("{name} {what}: expected a corrupt entry, got {other:?}"),
        };
        check("who-has", m.who_has(file).await.map(|c| format!("{c:?}")));
        check(
            "announce",
            m.announce(file, &Announce::new("a2", Duration::from_secs(30)))
                .await
                .map(|c| format!("{c:?}")),
        );
        check(
            "release",
            m.release(file, "a2").await.map(|r| format!("{r:?}")),
        );
        check(
            "release by nobody's agent",
            m.release(file, "a1").await.map(|r| format!("{r:?}")),
        );
    }
    // Another manager (another process) sees the same.
    let other = h.manager().await;
    let (file, key, revision) = &staged[0];
    match other.who_has(file).await {
        Err(Error::CorruptEntry {
            key: k,
            revision: r,
            ..
        }) => assert_eq!((&k, &r), (key, revision)),
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(&m, &keys).await, before);
    assert_nothing_written_since(&m, &before).await;
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_nanos(at).to_string()
}

async fn library_null_and_missing_fields_read_as_go_zero_values(kind: Kind) {
    let h = Harness::new(kind).await;
    // No watcher: on SQLite and memory a watching manager would (rightly) sweep
    // these expired zero holds in the background, and this test checks that the
    // calls themselves change nothing.
    let mut config = Config::new(&h.bucket, TTL_MAX);
    config.replica = false;
    let m = h.manager_with(config, None).await;
    let kv = m.kv_for_test();
    let now = SystemTime::now();
    let claimed = rfc3339(now);
    // Go unmarshals these into a zero Hold: no agent, expired at the zero time.
    let zero: Vec<(&str, String)> = vec![
        ("null", "null".into()),
        ("empty-object", "{}".into()),
        ("agent-only", r#"{"agent_id":"ghost"}"#.into()),
        (
            "no-expiry",
            format!(r#"{{"agent_id":"ghost","claimed_at":"{claimed}","ttl":30000000000}}"#),
        ),
        (
            "all-null",
            r#"{"agent_id":null,"claimed_at":null,"expires_at":null,"checkout_path":null,"ttl":null}"#
                .into(),
        ),
        (
            "unknown-only",
            r#"{"holder":"ghost","until":"2999-01-01T00:00:00Z"}"#.into(),
        ),
    ];
    for (name, value) in zero {
        let file = format!("/zero/{name}");
        let key = m.key_for_test(&file).await.unwrap();
        let revision = kv
            .put(&key, value.clone().into_bytes().into())
            .await
            .unwrap();
        let keys = vec![key.clone()];
        let before = snapshot(&m, &keys).await;
        assert!(before.list.iter().all(|c| c.file != file), "{name}: listed");
        assert_eq!(
            m.who_has(&file).await.unwrap(),
            None,
            "{name}: an expired zero hold"
        );
        assert_eq!(
            m.release(&file, "ghost").await.unwrap(),
            Release::NotHeld,
            "{name}: nothing live to release"
        );
        assert_eq!(
            m.release(&file, "a2").await.unwrap(),
            Release::NotHeld,
            "{name}"
        );
        assert_eq!(
            snapshot(&m, &keys).await,
            before,
            "{name}: changed by a no-op"
        );
        // Expired, so any agent takes it over at the next revision.
        let claim = m
            .announce(&file, &Announce::new("a2", Duration::from_secs(30)))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(claim.revision > revision, "{name}");
        assert_eq!(m.who_has(&file).await.unwrap(), Some(claim), "{name}");
        m.release(&file, "a2").await.unwrap();
    }
}

async fn library_unknown_fields_and_huge_values_read_fine(kind: Kind) {
    let h = Harness::new(kind).await;
    let m = h.manager().await;
    let kv = m.kv_for_test();
    let now = SystemTime::now();
    let (claimed, expires) = (rfc3339(now), rfc3339(now + Duration::from_secs(60)));
    let huge = "y".repeat(900 * 1024);
    let values: Vec<(&str, String)> = vec![
        (
            "extra-fields",
            format!(
                r#"{{"agent_id":"owner","claimed_at":"{claimed}","expires_at":"{expires}","checkout_path":"/co","ttl":60000000000,"extra":{{"nested":[1,2,{{"deep":null}}]}},"version":2,"agent":"not me"}}"#
            ),
        ),
        (
            "reordered-with-unknown-first",
            format!(
                r#"{{"zz":true,"ttl":60000000000,"expires_at":"{expires}","agent_id":"owner","checkout_path":"/co","claimed_at":"{claimed}"}}"#
            ),
        ),
        (
            "huge-unknown-field",
            format!(
                r#"{{"agent_id":"owner","claimed_at":"{claimed}","expires_at":"{expires}","checkout_path":"/co","ttl":60000000000,"padding":"{huge}"}}"#
            ),
        ),
        (
            "huge-agent-id",
            format!(
                r#"{{"agent_id":"owner{huge}","claimed_at":"{claimed}","expires_at":"{expires}","checkout_path":"/co","ttl":60000000000}}"#
            ),
        ),
    ];
    for (name, value) in values {
        let file = format!("/unknown/{name}");
        let key = m.key_for_test(&file).await.unwrap();
        let revision = kv.put(&key, value.into_bytes().into()).await.unwrap();
        let keys = vec![key.clone()];
        let before = snapshot(&m, &keys).await;
        let claim = m
            .who_has(&file)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap_or_else(|| panic!("{name}: a live hold reads as nobody's"));
        assert_eq!(claim.revision, revision, "{name}");
        assert!(claim.hold.agent_id.starts_with("owner"), "{name}");
        assert_eq!(claim.hold.checkout_path, "/co", "{name}");
        assert_eq!(claim.hold.ttl, Duration::from_secs(60), "{name}");
        assert_eq!(rfc3339(claim.hold.expires_at), expires, "{name}");
        assert!(before.list.contains(&claim), "{name}: not listed");
        match m
            .announce(&file, &Announce::new("intruder", Duration::from_secs(30)))
            .await
        {
            Err(Error::HeldByAnother(c)) => assert_eq!(*c, claim, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(
            m.release(&file, "intruder").await.unwrap(),
            Release::NotHeld
        );
        assert_eq!(snapshot(&m, &keys).await, before, "{name}");
        let owner = claim.hold.agent_id.clone();
        assert!(matches!(
            m.release(&file, &owner).await.unwrap(),
            Release::Released { .. }
        ));
    }
}

async fn library_a_path_too_long_for_a_key_is_invalid_input(kind: Kind) {
    let h = Harness::new(kind).await;
    let m = h.manager().await;
    // `~` escapes to three bytes (`=7E`): keys of about 3.9 KiB, 4 KiB and 4.5 KiB. Linux paths are at most
    // 4096 bytes, so all three are plausible inputs; each must either work (and round-trip) or be refused
    // as invalid input on `file` -- never reach the store as a key it cannot take (a store error, exit 1).
    let mut outcomes = Vec::new();
    for n in [1290, 1360, 1500] {
        let long = format!("/long/{}", "~".repeat(n));
        let key = m.key_for_test(&long).await;
        let key_len = key.as_ref().map(String::len).unwrap_or(0);
        let started = std::time::Instant::now();
        let announced = m
            .announce(&long, &Announce::new("a1", Duration::from_secs(30)))
            .await;
        let took = started.elapsed();
        let who = m.who_has(&long).await;
        let released = m.release(&long, "a1").await;
        let fine = match (&announced, &who, &released) {
            (Ok(c), Ok(Some(w)), Ok(Release::Released { .. })) => c == w && c.file == long,
            (
                Err(Error::InvalidInput { field: a, .. }),
                Err(Error::InvalidInput { field: b, .. }),
                Err(Error::InvalidInput { field: c, .. }),
            ) => a == "file" && b == "file" && c == "file" && key.is_err(),
            _ => false,
        };
        let short = |r: String| r.chars().take(120).collect::<String>();
        outcomes.push((
            fine,
            format!(
                "path of {} bytes, key of {key_len} bytes: announce {} (in {took:?}), who-has {}, release {}",
                long.len(),
                short(format!("{:?}", announced.map(|c| c.revision))),
                short(format!("{:?}", who.map(|c| c.map(|c| c.revision)))),
                short(format!("{released:?}")),
            ),
        ));
        assert!(
            took < Duration::from_secs(10),
            "{}",
            outcomes.last().unwrap().1
        );
    }
    // The manager keeps working.
    m.announce("/long/ok", &Announce::new("a1", Duration::from_secs(30)))
        .await
        .unwrap();
    let report: Vec<String> = outcomes
        .iter()
        .map(|(fine, line)| format!("{} {line}", if *fine { "ok " } else { "BAD" }))
        .collect();
    assert!(
        outcomes.iter().all(|(fine, _)| *fine),
        "long paths:\n{}",
        report.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_broken_traces_are_clear_errors() {
    use holds::trace::{self, TraceError};
    let text = std::fs::read_to_string(fixture_trace()).unwrap();
    let header_end = text.find('\n').unwrap();
    let rt = || holds::Runtime::embedded().unwrap();
    let replay = |bytes: Vec<u8>| {
        let runtime = rt();
        async move { trace::replay(std::io::Cursor::new(bytes), runtime).await }
    };
    // The header itself cut short.
    match replay(text.as_bytes()[..header_end / 2].to_vec()).await {
        Err(e @ TraceError::Format { line: 1, .. }) => {
            assert!(e.to_string().contains("not a holds trace header"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // Cut right after the header's newline: an empty recording, which replays as such.
    let empty = replay(text.as_bytes()[..=header_end].to_vec())
        .await
        .unwrap();
    assert_eq!((empty.calls, empty.steps), (0, 0));
    // Bytes that are not UTF-8.
    match replay(b"\xff\xfe\x00trace\n".to_vec()).await {
        Err(e @ TraceError::Io(_)) => assert!(e.to_string().contains("UTF-8"), "{e}"),
        other => panic!("{other:?}"),
    }
    // JSON, but not a header.
    match replay(b"{\"format\":\"something-else\"}\n".to_vec()).await {
        Err(e @ TraceError::Format { line: 1, .. }) => {
            assert!(e.to_string().contains("not a holds trace header"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

fn fixture_trace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/contention.trace.jsonl")
}

// ---------------------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------------------

/// Asserts `run` exited with `code`, did not panic, and (for errors) says each of `words` on stderr.
#[track_caller]
fn expect(run: &Run, code: i32, words: &[&str]) {
    assert_ne!(run.status.code(), Some(101), "panicked: {run}");
    assert!(!run.stderr.contains("panicked"), "panicked: {run}");
    run.assert_code(code);
    for w in words {
        assert!(run.stderr.contains(w), "stderr should say {w:?}: {run}");
    }
    if code == 1 || code == 3 {
        run.one_line_stderr();
    }
}

/// A library manager on the CLI's own store and bucket, to stage raw entries and read them back.
async fn cli_store(env: &CliEnv) -> Manager {
    let mut config = Config::new("holds", Duration::from_secs(300));
    config.replica = false;
    let backend = match env.store() {
        holds_tests::cli::Store::Sqlite => Backend::Sqlite(env.db_path()),
        holds_tests::cli::Store::Nats(url) => {
            Backend::JetStream(async_nats::connect(url.as_str()).await.unwrap())
        }
    };
    Manager::open(config, backend).await.unwrap()
}

/// The raw entry (revision, value) of `key`.
async fn raw(kv: &Arc<dyn KvStore>, key: &str) -> RawEntry {
    kv.get(key)
        .await
        .unwrap()
        .map(|e| (e.revision, e.value.to_vec()))
}

fn os(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

#[test]
fn cli_bad_bucket_names_are_exit_2_and_create_nothing() {
    let env = CliEnv::sqlite();
    for (bucket, what) in BAD_BUCKETS {
        for command in [
            &["list"][..],
            &["announce", "x.rs", "--agent", "a1", "--ttl", "30s"],
            &["who-has", "x.rs"],
            &["release", "x.rs", "--agent", "a1"],
            &["probe"],
            &["watch"],
        ] {
            let mut args = vec!["--bucket", bucket];
            args.extend_from_slice(command);
            let run = env.run(&args);
            expect(
                &run,
                2,
                &["bucket name", &format!("{bucket:?}"), "[A-Za-z0-9_-]+"],
            );
            assert!(
                !env.db_path().exists(),
                "{what}: {command:?} created the database: {run}"
            );
        }
        // The environment variable is checked the same way.
        let mut cmd = env.command(["list"]);
        cmd.env("HOLDS_BUCKET", bucket);
        let run = holds_tests::cli::wait_output(
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
            holds_tests::cli::CALL_TIMEOUT,
            "holds list (HOLDS_BUCKET)",
        );
        expect(&run, 2, &["bucket name"]);
    }
    assert!(!env.db_path().exists());
}

/// Bad agents, TTLs and paths, each with the words its message must contain.
const CLI_INVALID: &[(&[&str], &[&str])] = &[
    (
        &["announce", "x.rs", "--agent", "", "--ttl", "30s"],
        &["invalid agent-id", "empty or only whitespace"],
    ),
    (
        &["announce", "x.rs", "--agent", "  ", "--ttl", "30s"],
        &["invalid agent-id"],
    ),
    (
        &["announce", "held.rs", "--agent", "\t\n", "--ttl", "30s"],
        &["invalid agent-id"],
    ),
    (
        &["release", "held.rs", "--agent", ""],
        &["invalid agent-id"],
    ),
    (
        &["release", "held.rs", "--agent", " \t"],
        &["invalid agent-id"],
    ),
    (
        &["announce", "x.rs", "--agent", "a1", "--ttl", "0s"],
        &["invalid ttl", "zero"],
    ),
    (
        &["announce", "x.rs", "--agent", "a1", "--ttl", "0"],
        &["invalid ttl", "zero"],
    ),
    // `--ttl` takes hyphen values, so a negative duration reaches the parser and is named as such.
    (
        &["announce", "x.rs", "--agent", "a1", "--ttl", "-1s"],
        &["\"-1s\" is negative"],
    ),
    (
        &["announce", "x.rs", "--agent", "a1", "--ttl=-1s"],
        &["\"-1s\" is negative"],
    ),
    (
        &["announce", "x.rs", "--agent", "a1", "--ttl", "5x"],
        &["\"5x\" is not a duration like 30s"],
    ),
    (
        &["announce", "x.rs", "--agent", "a1", "--ttl", ""],
        &["is not a duration"],
    ),
    (
        &["announce", "x.rs", "--agent", "a1", "--ttl", "30"],
        &["\"30\" is not a duration"],
    ),
    (
        &["announce", "x.rs", "--agent", "a1", "--ttl", "forever"],
        &["\"forever\" is not a duration"],
    ),
    (
        &[
            "announce",
            "x.rs",
            "--agent",
            "a1",
            "--ttl",
            "99999999999999999999s",
        ],
        &["is not a duration"],
    ),
    (
        &["announce", "held.rs", "--agent", "a1", "--ttl", "6m"],
        &["invalid ttl", "above the maximum"],
    ),
    (
        &["announce", "x.rs", "--agent", "a1", "--ttl", "5m1ns"],
        &["invalid ttl", "above the maximum"],
    ),
    (
        &["--ttl-max", "0s", "list"],
        &["hold_ttl_max must be above zero"],
    ),
    (
        &[
            "--ttl-max",
            "0s",
            "announce",
            "x.rs",
            "--agent",
            "a1",
            "--ttl",
            "1s",
        ],
        &["hold_ttl_max"],
    ),
    (&["--ttl-max", "5x", "list"], &["\"5x\" is not a duration"]),
    (&["--ttl-max", "-5m", "list"], &["\"-5m\" is negative"]),
    (&["--ttl-max=-5m", "list"], &["\"-5m\" is negative"]),
    (
        &[
            "--ttl-max",
            "1m",
            "announce",
            "x.rs",
            "--agent",
            "a1",
            "--ttl",
            "2m",
        ],
        &["above the maximum"],
    ),
    (
        &["announce", "", "--agent", "a1", "--ttl", "30s"],
        &["invalid file", "empty"],
    ),
    (
        &["release", "", "--agent", "a1"],
        &["invalid file", "empty"],
    ),
    (&["who-has", ""], &["invalid file", "empty"]),
];

#[test]
fn cli_bad_agents_ttls_and_paths_are_exit_2_and_change_nothing() {
    let env = CliEnv::sqlite();
    let held = env.run([
        "--json", "announce", "held.rs", "--agent", "a1", "--ttl", "2m",
    ]);
    expect(&held, 0, &[]);
    let held = held.json();
    let before = env.list_json();
    for (args, words) in CLI_INVALID {
        for json in [false, true] {
            let mut all = Vec::new();
            if json {
                all.push("--json");
            }
            all.extend_from_slice(args);
            let run = env.run(&all);
            expect(&run, 2, words);
            if json && !run.stdout.is_empty() {
                let error = &run.json()["error"];
                assert_eq!(error["exit_code"], 2, "{run}");
                assert!(
                    error["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{run}"
                );
            }
            assert_eq!(env.list_json(), before, "{args:?} changed the store: {run}");
        }
    }
    let next = env.run([
        "--json", "announce", "after.rs", "--agent", "a1", "--ttl", "30s",
    ]);
    expect(&next, 0, &[]);
    assert_eq!(
        next.json()["revision"].as_u64(),
        Some(held["revision"].as_u64().unwrap() + 1),
        "a rejected call wrote something"
    );
}

#[test]
fn cli_relative_paths_resolve_against_the_working_directory() {
    let env = CliEnv::sqlite();
    let cwd = env.cwd().display().to_string();
    for (relative, cleaned) in [
        ("a.rs", format!("{cwd}/a.rs")),
        ("./src/../b.rs", format!("{cwd}/b.rs")),
        ("dir/", format!("{cwd}/dir")),
        (".", cwd.clone()),
        ("..", clean(&format!("{cwd}/.."))),
        ("../../../../../../../../../../..", "/".to_string()),
        ("-dash.rs", format!("{cwd}/-dash.rs")),
    ] {
        let run = env.run([
            "--json", "announce", "--agent", "a1", "--ttl", "30s", "--", relative,
        ]);
        expect(&run, 0, &[]);
        assert_eq!(run.json()["file"], cleaned.as_str(), "{relative:?}: {run}");
        let who = env.run(["--json", "who-has", cleaned.as_str()]);
        expect(&who, 0, &[]);
        assert_eq!(who.json(), run.json(), "{relative:?}");
    }
}

/// Special-character paths, relative and absolute, through announce -> who-has -> list -> release.
fn cli_special_paths_round_trip(env: &CliEnv, limit: Option<usize>) {
    let cwd = env.cwd().display().to_string();
    let mut paths = special_paths(&format!("{cwd}/p"));
    // The same names relative to the working directory.
    paths.extend(
        special_paths("p/rel")
            .into_iter()
            .map(|p| p.trim_start_matches('/').to_string()),
    );
    if let Some(n) = limit {
        paths.truncate(n);
    }
    let before = env.list_json();
    let mut held: Vec<Value> = before.clone();
    for path in &paths {
        let cleaned = if path.starts_with('/') {
            clean(path)
        } else {
            clean(&format!("{cwd}/{path}"))
        };
        let run = env.run([
            "--json", "announce", "--agent", "a1", "--ttl", "1m", "--", path,
        ]);
        expect(&run, 0, &[]);
        let claim = run.json();
        assert_eq!(claim["file"], cleaned.as_str(), "announce {path:?}: {run}");
        for spelling in [path.as_str(), cleaned.as_str()] {
            let who = env.run(["--json", "who-has", "--", spelling]);
            expect(&who, 0, &[]);
            assert_eq!(who.json(), claim, "who-has {spelling:?}");
        }
        // The text output names the file too.
        let text = env.run(["who-has", "--", path]);
        expect(&text, 0, &[]);
        assert!(text.stdout.contains(&cleaned), "{path:?}: {text}");
        held.retain(|c| c["file"] != cleaned.as_str());
        held.push(claim);
    }
    let mut listed = env.list_json();
    let by_revision = |v: &Value| v["revision"].as_u64();
    listed.sort_by_key(by_revision);
    held.sort_by_key(by_revision);
    assert_eq!(listed, held, "list shows every cleaned path once");
    for claim in held.iter().filter(|c| !before.contains(c)) {
        let file = claim["file"].as_str().unwrap();
        let run = env.run(["--json", "release", "--agent", "a1", "--", file]);
        expect(&run, 0, &[]);
        assert_eq!(run.json()["released"], true, "{file:?}: {run}");
        expect(&env.run(["who-has", "--", file]), 4, &[]);
    }
    assert_eq!(env.list_json(), before);
}

#[test]
fn cli_paths_with_special_characters_round_trip() {
    cli_special_paths_round_trip(&CliEnv::sqlite(), None);
}

#[test]
fn cli_non_utf8_arguments_are_exit_2() {
    let env = CliEnv::sqlite();
    expect(
        &env.run(["announce", "held.rs", "--agent", "a1", "--ttl", "1m"]),
        0,
        &[],
    );
    let before = env.list_json();
    let bad = os(b"caf\xe9.rs");
    let cases: Vec<Vec<OsString>> = vec![
        vec![
            "announce".into(),
            bad.clone(),
            "--agent".into(),
            "a1".into(),
            "--ttl".into(),
            "30s".into(),
        ],
        vec!["who-has".into(), bad.clone()],
        vec!["release".into(), bad.clone(), "--agent".into(), "a1".into()],
        vec![
            "announce".into(),
            "x.rs".into(),
            "--agent".into(),
            os(b"agent\xff"),
            "--ttl".into(),
            "30s".into(),
        ],
        vec![
            "release".into(),
            "held.rs".into(),
            "--agent".into(),
            os(b"a1\xc0"),
        ],
        vec![
            "announce".into(),
            "x.rs".into(),
            "--agent".into(),
            "a1".into(),
            "--ttl".into(),
            os(b"30\xffs"),
        ],
        vec![
            "announce".into(),
            "x.rs".into(),
            "--agent".into(),
            "a1".into(),
            "--ttl".into(),
            "30s".into(),
            "--checkout".into(),
            os(b"/co/\xfe"),
        ],
        vec!["--bucket".into(), os(b"holds\x80"), "list".into()],
        vec!["--ttl-max".into(), os(b"5\xffm"), "list".into()],
        vec![os(b"announce\xff")],
    ];
    for args in cases {
        for json in [false, true] {
            let mut all: Vec<OsString> = Vec::new();
            if json {
                all.push("--json".into());
            }
            all.extend(args.iter().cloned());
            let run = env.run(&all);
            // clap's own words; it does not say which argument.
            let words = if args.len() == 1 {
                "unrecognized subcommand"
            } else {
                "invalid UTF-8 was detected in one or more arguments"
            };
            expect(&run, 2, &[words]);
            assert_eq!(env.list_json(), before, "{args:?} changed the store");
        }
    }
}

/// Raw values the CLI meets in the bucket: corrupt ones are exit 1 naming the key; zero values read as no
/// hold; unknown fields are ignored.
async fn cli_raw_values(env: &CliEnv) {
    let m = cli_store(env).await;
    let kv = m.kv_for_test();
    expect(
        &env.run(["announce", "held.rs", "--agent", "a1", "--ttl", "2m"]),
        0,
        &[],
    );
    let before = env.list_json();
    let cwd = env.cwd().display().to_string();
    for (name, value, word) in corrupt_values() {
        let relative = format!("corrupt/{name}");
        let file = format!("{cwd}/{relative}");
        let key = m.key_for_test(&file).await.unwrap();
        let revision = kv.put(&key, value.clone().into()).await.unwrap();
        let entry = raw(&kv, &key).await;
        let needle = format!("corrupt entry at key {key} (revision {revision})");
        for args in [
            vec!["who-has", relative.as_str()],
            vec![
                "announce",
                relative.as_str(),
                "--agent",
                "a2",
                "--ttl",
                "30s",
            ],
            vec!["release", relative.as_str(), "--agent", "a2"],
        ] {
            let run = env.run(&args);
            expect(&run, 1, &[&needle, word]);
            assert!(
                run.stderr.len() < 2048,
                "{name}: a {} byte message",
                run.stderr.len()
            );
            let mut json_args = vec!["--json"];
            json_args.extend_from_slice(&args);
            let run = env.run(&json_args);
            expect(&run, 1, &[&needle]);
            let error = &run.json()["error"];
            assert_eq!(error["kind"], "corrupt-entry", "{run}");
            assert_eq!(error["exit_code"], 1, "{run}");
            assert_eq!(
                raw(&kv, &key).await,
                entry,
                "{name}: {args:?} changed the entry"
            );
        }
        assert_eq!(
            env.list_json(),
            before,
            "{name}: list skips what is not a hold"
        );
    }
    // Zero values (as Go reads null and missing fields): nobody holds the file, anyone may take it.
    for (name, value) in [
        ("null", "null"),
        ("empty-object", "{}"),
        ("agent-only", r#"{"agent_id":"ghost"}"#),
    ] {
        let relative = format!("zero/{name}");
        let file = format!("{cwd}/{relative}");
        let key = m.key_for_test(&file).await.unwrap();
        kv.put(&key, value.as_bytes().to_vec().into())
            .await
            .unwrap();
        let entry = raw(&kv, &key).await;
        expect(&env.run(["who-has", relative.as_str()]), 4, &[]);
        let released = env.run(["--json", "release", relative.as_str(), "--agent", "ghost"]);
        expect(&released, 0, &[]);
        assert_eq!(released.json()["released"], false, "{released}");
        assert_eq!(raw(&kv, &key).await, entry, "{name}");
        expect(
            &env.run([
                "announce",
                relative.as_str(),
                "--agent",
                "a2",
                "--ttl",
                "30s",
            ]),
            0,
            &[],
        );
        expect(
            &env.run(["release", relative.as_str(), "--agent", "a2"]),
            0,
            &[],
        );
    }
    // A live hold with unknown fields.
    let now = SystemTime::now();
    let value = format!(
        r#"{{"agent_id":"owner","claimed_at":"{}","expires_at":"{}","checkout_path":"","ttl":60000000000,"extra":[1,{{"x":null}}]}}"#,
        rfc3339(now),
        rfc3339(now + Duration::from_secs(60))
    );
    let file = format!("{cwd}/unknown.rs");
    let key = m.key_for_test(&file).await.unwrap();
    let revision = kv.put(&key, value.into_bytes().into()).await.unwrap();
    let who = env.run(["--json", "who-has", "unknown.rs"]);
    expect(&who, 0, &[]);
    assert_eq!(who.json()["hold"]["agent_id"], "owner", "{who}");
    assert_eq!(who.json()["revision"], revision, "{who}");
    expect(
        &env.run(["announce", "unknown.rs", "--agent", "a2", "--ttl", "30s"]),
        3,
        &["\"owner\""],
    );
    assert!(env.list_json().iter().any(|c| c["file"] == file.as_str()));
    expect(
        &env.run(["release", "unknown.rs", "--agent", "owner"]),
        0,
        &[],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_raw_values_on_sqlite() {
    cli_raw_values(&CliEnv::sqlite()).await;
}

/// A live hold another client wrote with a claimed_at before 1970 (Go's zero time, say): every command
/// that prints it must work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_prints_holds_claimed_before_1970() {
    let env = CliEnv::sqlite();
    let m = cli_store(&env).await;
    let kv = m.kv_for_test();
    let file = format!("{}/old.rs", env.cwd().display());
    let key = m.key_for_test(&file).await.unwrap();
    let expires = rfc3339(SystemTime::now() + Duration::from_secs(120));
    let value = format!(
        r#"{{"agent_id":"go-client","claimed_at":"0001-01-01T00:00:00Z","expires_at":"{expires}","checkout_path":"","ttl":60000000000}}"#
    );
    kv.put(&key, value.into_bytes().into()).await.unwrap();
    let claim = m.who_has(&file).await.unwrap().expect("a live hold");
    assert_eq!(claim.hold.agent_id, "go-client");
    for args in [
        &["who-has", "old.rs"][..],
        &["--json", "who-has", "old.rs"],
        &["list"],
        &["--json", "list"],
        &["announce", "old.rs", "--agent", "a2", "--ttl", "30s"],
        &[
            "--json", "announce", "old.rs", "--agent", "a2", "--ttl", "30s",
        ],
    ] {
        let run = env.run(args);
        let code = if args.contains(&"announce") { 3 } else { 0 };
        expect(&run, code, &[]);
    }
}

#[test]
fn cli_watch_survives_raw_values() {
    let env = CliEnv::sqlite();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let m = rt.block_on(cli_store(&env));
    let kv = m.kv_for_test();
    let mut watch = env.watch();
    let cwd = env.cwd().display().to_string();
    // Once the watch prints a hold made after it started, it is following live changes.
    expect(
        &env.run([
            "announce",
            "watch/ready.rs",
            "--agent",
            "a1",
            "--ttl",
            "30s",
        ]),
        0,
        &[],
    );
    let ready = watch.next_event(Duration::from_secs(10));
    assert_eq!(
        ready["file"],
        format!("{cwd}/watch/ready.rs").as_str(),
        "{ready}"
    );
    for (name, value) in [
        ("null", b"null".to_vec()),
        ("corrupt", b"{".to_vec()),
        ("array", b"[]".to_vec()),
    ] {
        let key = rt
            .block_on(m.key_for_test(&format!("{cwd}/watch/{name}")))
            .unwrap();
        rt.block_on(kv.put(&key, value.into())).unwrap();
    }
    let claim = env.run([
        "--json",
        "announce",
        "watch/after.rs",
        "--agent",
        "a1",
        "--ttl",
        "30s",
    ]);
    expect(&claim, 0, &[]);
    let file = format!("{cwd}/watch/after.rs");
    loop {
        let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            watch.next_event(Duration::from_secs(10))
        }));
        let Ok(event) = next else {
            let (status, _, stderr) = watch.wait(Duration::from_secs(5));
            panic!("holds watch died on raw values ({status}):\n{stderr}");
        };
        if event["file"] == file.as_str() {
            assert_eq!(event["kind"], "announced", "{event}");
            break;
        }
        // A zero hold may show as announced (and then expired); it must print, not crash.
        assert!(event["kind"].is_string(), "{event}");
    }
    watch.signal("INT");
    let (status, _, stderr) = watch.wait(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn cli_broken_traces_are_exit_2() {
    let env = CliEnv::sqlite();
    let dir = env.dir();
    let text = std::fs::read_to_string(fixture_trace()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The intact trace replays.
    let ok = env.run([std::ffi::OsStr::new("replay"), fixture_trace().as_os_str()]);
    expect(&ok, 0, &[]);
    assert!(ok.stdout.starts_with("identical"), "{ok}");
    let second_line = text.find('\n').unwrap() + 1;
    let cases: Vec<(&str, Vec<u8>, Vec<String>)> = vec![
        ("empty", Vec::new(), vec!["the trace is empty".into()]),
        (
            "cut-mid-record",
            text.as_bytes()[..text.len() - 40].to_vec(),
            vec![format!("line {}", lines.len()), "truncated".into()],
        ),
        (
            "cut-in-second-line",
            text.as_bytes()[..second_line + 10].to_vec(),
            vec!["line 2".into(), "truncated".into()],
        ),
        (
            "cut-in-header",
            text.as_bytes()[..30].to_vec(),
            vec!["line 1".into(), "not a holds trace header".into()],
        ),
        (
            "not-a-trace",
            b"hello, world\nthis is not a trace\n".to_vec(),
            vec!["line 1".into(), "not a holds trace header".into()],
        ),
        (
            "a-cargo-manifest",
            std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
                .unwrap(),
            vec!["line 1".into()],
        ),
        (
            "binary",
            b"\x7fELF\x02\x01\x01\x00\xff\xfe".to_vec(),
            vec!["UTF-8".into()],
        ),
        (
            "foreign-version",
            text.replacen("\"version\":1", "\"version\":99", 1)
                .into_bytes(),
            vec![
                "holds-trace v99".into(),
                "this host replays holds-trace v1".into(),
            ],
        ),
        (
            // A value as hex with a non-ASCII character in it (a panic once).
            "non-ascii-hex",
            {
                let at = lines
                    .iter()
                    .position(|l| l.contains(r#""value":""#))
                    .expect("the fixture records a written value");
                let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                edited[at] =
                    edited[at].replacen(r#""value":""#, r#""value":{"hex":"é0"},"was":""#, 1);
                format!("{}\n", edited.join("\n")).into_bytes()
            },
            vec!["is not hex".into(), "non-ASCII".into()],
        ),
        (
            "foreign-wit",
            text.replacen("holds:core@0.1.0", "holds:core@9.0.0", 1)
                .into_bytes(),
            vec!["holds:core@9.0.0".into()],
        ),
    ];
    for (name, bytes, words) in cases {
        let path = dir.join(format!("{name}.trace.jsonl"));
        std::fs::write(&path, bytes).unwrap();
        for json in [false, true] {
            let mut args: Vec<OsString> = Vec::new();
            if json {
                args.push("--json".into());
            }
            args.push("replay".into());
            args.push(path.clone().into());
            let run = env.run(&args);
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            expect(&run, 2, &words);
            run.one_line_stderr();
            assert!(
                run.stderr.contains(&path.display().to_string()),
                "names the file: {run}"
            );
        }
    }
    let missing = dir.join("missing.trace.jsonl");
    let run = env.run([std::ffi::OsStr::new("replay"), missing.as_os_str()]);
    expect(&run, 2, &["cannot open the trace", "No such file"]);
    let run = env.run([std::ffi::OsStr::new("replay"), dir.as_os_str()]);
    expect(&run, 2, &[]);
}

// JetStream: a few of the same cases through `--nats`.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_on_jetstream() {
    let server = NatsServer::start();
    let env = CliEnv::nats(server.url());
    let streams = stream_names(&server.url()).await;
    for (bucket, _) in BAD_BUCKETS {
        let run = env.run([
            "--bucket", bucket, "announce", "x.rs", "--agent", "a1", "--ttl", "30s",
        ]);
        expect(&run, 2, &["bucket name"]);
    }
    assert_eq!(
        stream_names(&server.url()).await,
        streams,
        "a refused bucket was created"
    );
    let held = env.run([
        "--json", "announce", "held.rs", "--agent", "a1", "--ttl", "2m",
    ]);
    expect(&held, 0, &[]);
    let before = env.list_json();
    for (args, words) in [
        (
            &["announce", "x.rs", "--agent", " ", "--ttl", "30s"][..],
            &["invalid agent-id"][..],
        ),
        (
            &["announce", "x.rs", "--agent", "a1", "--ttl", "6m"],
            &["above the maximum"],
        ),
        (
            &["announce", "x.rs", "--agent", "a1", "--ttl", "5x"],
            &["not a duration"],
        ),
        (&["--ttl-max", "0s", "list"], &["hold_ttl_max"]),
        (&["who-has", ""], &["invalid file"]),
    ] {
        expect(&env.run(args), 2, words);
    }
    let run = env.run([OsString::from("who-has"), os(b"\xff.rs")]);
    expect(&run, 2, &["UTF-8"]);
    assert_eq!(env.list_json(), before);
    cli_raw_values(&env).await;
    cli_special_paths_round_trip(&env, Some(12));
}
