//! Bad input (issue 7): invalid bucket names, agents, TTLs and paths, paths with every special character,
//! non-UTF-8 arguments, values another client wrote raw into the bucket (corrupt, empty, huge, wrong-typed,
//! zero-valued, with unknown fields) and broken traces. Each case gets a clear error naming the problem and
//! the right exit code, never a panic, and leaves the store as it was (the raw entries' revisions and the
//! list are compared before and after; the next write takes the very next revision).
//!
//! The library cases, on SQLite and JetStream (a real nats-server); the CLI's are in `holds-cli`'s tests.

use holds::{Announce, Backend, Claim, Config, Error, Manager, Release};
use holds_test_support::harness::{Harness, Kind, TTL_MAX};
use holds_test_support::inputs::{BAD_BUCKETS, clean, corrupt_values, special_paths, stream_names};
use holds_test_support::raw;
use std::time::{Duration, SystemTime};

// ---------------------------------------------------------------------------------------------------------
// Library
// ---------------------------------------------------------------------------------------------------------

holds_test_support::matrix! {
    async fn {
        library_refuses_bad_configs_before_touching_any_store,
        library_refuses_bad_arguments_and_changes_nothing,
        library_paths_with_special_characters_round_trip,
        library_corrupt_values_are_corrupt_entries_naming_the_key,
        library_null_and_missing_fields_read_as_go_zero_values,
        library_unknown_fields_and_huge_values_read_fine,
        library_a_path_too_long_for_a_key_is_invalid_input,
    }
    on {
        sqlite: Kind::Sqlite,
        jetstream: Kind::JetStream,
    }
}

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
        let revision = raw::put(&*kv, &key, value).await.unwrap();
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
        let revision = raw::put(&*kv, &key, value.clone()).await.unwrap();
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
        let revision = raw::put(&*kv, &key, value).await.unwrap();
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
