//! Bad input through the CLI: invalid bucket names, agents, TTLs and paths, paths with every special
//! character, non-UTF-8 arguments, values another client wrote raw into the bucket, and broken traces. Each
//! case gets a clear error naming the problem and the right exit code, never a panic, and leaves the store as
//! it was. On SQLite (a temporary `HOLDS_STORE`), a subset on JetStream.

use crate::support::{CliEnv, Run, Store, fixture_trace};
use holds::kv::KvStore;
use holds::{Backend, Config, Manager};
use holds_nats_fixture::NatsServer;
use holds_test_support::inputs::{BAD_BUCKETS, clean, corrupt_values, special_paths, stream_names};
use holds_test_support::raw;
use serde_json::Value;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A key's raw entry: (revision, value), or none.
type RawEntry = Option<(u64, Vec<u8>)>;

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_nanos(at).to_string()
}

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
        Store::Sqlite => Backend::Sqlite(env.db_path()),
        Store::Nats(url) => Backend::JetStream(async_nats::connect(url.as_str()).await.unwrap()),
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
        let run = crate::support::wait_output(
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
            crate::support::CALL_TIMEOUT,
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
        let revision = raw::put(&*kv, &key, value.clone()).await.unwrap();
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
        raw::put(&*kv, &key, value.as_bytes().to_vec())
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
    let revision = raw::put(&*kv, &key, value).await.unwrap();
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
    raw::put(&*kv, &key, value).await.unwrap();
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
        rt.block_on(raw::put(&*kv, &key, value)).unwrap();
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
