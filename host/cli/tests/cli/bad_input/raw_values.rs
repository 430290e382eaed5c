//! Values another client wrote raw into the bucket: corrupt ones are exit 1 naming the key, zero values read
//! as no hold, unknown fields are ignored, a hold claimed before 1970 prints, and `watch` survives them all.

use super::{cli_store, expect, raw_entry, rfc3339};
use crate::support::CliEnv;
use holds_test_support::inputs::corrupt_values;
use holds_test_support::raw;
use std::time::{Duration, SystemTime};

/// Raw values the CLI meets in the bucket: corrupt ones are exit 1 naming the key; zero values read as no
/// hold; unknown fields are ignored.
pub async fn cli_raw_values(env: &CliEnv) {
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
        let entry = raw_entry(&kv, &key).await;
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
                raw_entry(&kv, &key).await,
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
        let entry = raw_entry(&kv, &key).await;
        expect(&env.run(["who-has", relative.as_str()]), 4, &[]);
        let released = env.run(["--json", "release", relative.as_str(), "--agent", "ghost"]);
        expect(&released, 0, &[]);
        assert_eq!(released.json()["released"], false, "{released}");
        assert_eq!(raw_entry(&kv, &key).await, entry, "{name}");
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
