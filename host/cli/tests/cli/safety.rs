//! Safety holes found by trying to break holds, each reproduced here as a new user met it: a bucket that
//! drops live holds, inputs too big for one guest call, an edit hook that let edits through when the store
//! was busy or corrupt, read-only commands that changed the store, a warn-mode guard that blocked, control
//! characters printed raw, and a store readable by everyone.

use crate::support::{CliEnv, Run, run_command_with_input};
use crate::{Backend, abs, announce};
use holds::{Backend as StoreBackend, Config, Manager};
use holds_nats_fixture::NatsServer;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[track_caller]
fn assert_usage(run: &Run, words: &[&str]) {
    run.assert_code(2);
    for word in words {
        assert!(run.stderr.contains(word), "{word:?}: {run}");
    }
}

/// A bucket made by another tool with `max_msgs: 1, discard: old` would drop a live hold when the next
/// file is held: holds refuses it at open (exit 2, naming the setting) and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_drops_its_oldest_entries_is_refused_naming_the_setting() {
    use async_nats::jetstream::stream;
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.create_stream(stream::Config {
        name: "KV_holds".into(),
        subjects: vec!["$KV.holds.>".into()],
        max_messages: 1,
        discard: stream::DiscardPolicy::Old,
        max_messages_per_subject: 1,
        allow_direct: true,
        allow_rollup: true,
        deny_delete: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let env = CliEnv::nats(server.url());
    let run = env.run(["announce", "a.rs", "--agent", "a"]);
    assert_usage(&run, &["bucket holds", "max_msgs with discard old"]);
    let run = env.run(["--json", "announce", "b.rs", "--agent", "b"]);
    run.assert_code(2);
    assert_eq!(run.json()["error"]["kind"], "invalid-config", "{run}");
    let mut stream = js.get_stream("KV_holds").await.unwrap();
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        0,
        "nothing written"
    );

    // The library refuses it the same way.
    let client = async_nats::connect(server.url()).await.unwrap();
    match Manager::open(
        Config::new("holds", Duration::from_secs(300)),
        StoreBackend::JetStream(client),
    )
    .await
    {
        Err(holds::Error::Config(message)) => assert!(message.contains("max_msgs"), "{message}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

/// Thousands of files are answered, not turned into "out of fuel" store errors (exit 1): a check of 5,000
/// vacant files is exit 4, a claim of 10,000 is exit 2 naming the limit, and nothing is written.
#[test]
fn big_inputs_are_answered_within_the_guests_limits() {
    let env = CliEnv::sqlite();
    let files: Vec<String> = (0..5000).map(|i| format!("src/f{i:05}.rs")).collect();
    let mut args = vec!["check", "--agent", "a"];
    args.extend(files.iter().map(String::as_str));
    let run = env.run(&args);
    run.assert_code(4);
    assert_eq!(run.stdout.lines().count(), 5000, "one line per file");

    let files: Vec<String> = (0..10_000).map(|i| format!("src/g{i:05}.rs")).collect();
    let mut args = vec!["announce", "--agent", "a"];
    args.extend(files.iter().map(String::as_str));
    let run = env.run(&args);
    assert_usage(&run, &["files are more than the 16 one claim may take"]);
    assert_eq!(env.list_json(), Vec::<Value>::new());
}

/// A wait too long for the clock (`Instant + wait` overflowed: a panic, exit 101) is refused as bad input.
#[test]
fn an_absurd_duration_is_exit_2_not_a_panic() {
    let env = CliEnv::sqlite();
    for args in [
        vec![
            "announce",
            "f.rs",
            "--agent",
            "a",
            "--wait",
            "300000000000y",
        ],
        vec![
            "run",
            "f.rs",
            "--agent",
            "a",
            "--grace",
            "300000000000y",
            "--",
            "true",
        ],
    ] {
        let run = env.run(&args);
        assert_usage(&run, &["is too long"]);
    }
    assert_eq!(env.list_json(), Vec::<Value>::new());
}

/// The edit hook for a file another agent holds: denied at once while another process holds SQLite's write
/// lock (the hook used to wait 5 s on the lock at open, then let the edit through unchecked), and denied
/// when the file's entry is corrupt (it used to fail open on any error).
#[test]
fn the_edit_hook_denies_a_held_or_unjudgeable_file_whatever_else_goes_wrong() {
    let env = CliEnv::sqlite();
    announce(&env, "src/lib.rs", "agent-b", "5m");
    let db = env.db_path();
    let mut locker = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys, time\n\
             c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
             c.execute('BEGIN IMMEDIATE')\n\
             print('locked', flush=True)\n\
             time.sleep(8)",
        ])
        .arg(&db)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (with its sqlite3 module) runs the lock holder: install Python 3");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(locker.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    let event = json!({
        "session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Edit", "cwd": env.cwd(),
        "tool_input": {"file_path": abs(&env, "src/lib.rs"), "old_string": "a", "new_string": "b"},
    })
    .to_string();
    let started = Instant::now();
    let run = env.run_with_input(
        ["hook", "claude-code"],
        &event,
        &[("HOLDS_AGENT", "agent-a")],
    );
    let took = started.elapsed();
    let _ = locker.kill();
    let _ = locker.wait();
    run.assert_code(0);
    let out = run.json();
    assert_eq!(
        out["hookSpecificOutput"]["permissionDecision"], "deny",
        "{run}"
    );
    assert!(
        out["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains("agent-b"),
        "{run}"
    );
    assert!(
        took < Duration::from_secs(4),
        "the deny took {took:?}: {run}"
    );

    // A corrupt entry: no verdict is possible, so the edit is denied, naming the problem.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut config = Config::new("holds", Duration::from_secs(300));
        config.replica = false;
        let m = Manager::open(config, StoreBackend::Sqlite(db.clone()))
            .await
            .unwrap();
        let key = m.key_for_test(&abs(&env, "src/bad.rs")).await.unwrap();
        m.kv_for_test()
            .put(&key, "{not a hold".into())
            .await
            .unwrap();
        m.close().await;
    });
    let event = event.replace("src/lib.rs", "src/bad.rs");
    let run = env.run_with_input(
        ["hook", "claude-code"],
        &event,
        &[("HOLDS_AGENT", "agent-a")],
    );
    run.assert_code(0);
    let out = run.json();
    assert_eq!(
        out["hookSpecificOutput"]["permissionDecision"], "deny",
        "{run}"
    );
    let reason = out["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("corrupt"), "{reason}");
}

/// `holds --ttl-max 2s list` on a fresh store used to make the bucket with a 2 s max age, and every later
/// plain command failed (exit 2). Commands that only read make no bucket and change no setting.
#[test]
fn commands_that_only_read_change_nothing_in_the_store() {
    let env = CliEnv::sqlite();
    for args in [
        vec!["--ttl-max", "2s", "list"],
        vec!["--ttl-max", "2s", "who-has", "x.rs"],
        vec!["--ttl-max", "2s", "check", "x.rs", "--agent", "a"],
        vec!["--ttl-max", "2s", "probe"],
        vec!["--ttl-max", "2s", "log"],
    ] {
        let run = env.run(&args);
        assert!(matches!(run.code(), 0 | 4), "{run}");
    }
    assert!(!env.db_path().exists(), "no store was made");
    env.run(["list"]).assert_code(0);
    announce(&env, "x.rs", "a", "5m");
    env.run(["--ttl-max", "2s", "list"]).assert_code(0);
    announce(&env, "y.rs", "a", "5m");
}

/// On JetStream too, a command that only reads makes no bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_that_only_read_make_no_jetstream_bucket() {
    let server = NatsServer::start();
    let env = CliEnv::nats(server.url());
    env.run(["--ttl-max", "2s", "list"]).assert_code(0);
    env.run(["who-has", "x.rs"]).assert_code(4);
    env.run(["log"]).assert_code(0);
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    assert!(
        js.get_stream("KV_holds").await.is_err(),
        "no bucket was made"
    );
    announce(&env, "x.rs", "a", "5m");
    env.run(["log"]).assert_code(0);
    assert!(
        js.get_stream("HOLDS_RELEASES_holds").await.is_err(),
        "no release log was made before a release"
    );
}

/// A new store's file and directory are private (0600, 0700), as the compile cache is.
#[test]
fn a_new_store_is_readable_by_its_owner_alone() {
    let env = CliEnv::sqlite();
    let db = env.dir().join("fresh/sub/holds.db");
    let run = env.run_with_input(
        ["announce", "x.rs", "--agent", "a"],
        "",
        &[("HOLDS_STORE", db.to_str().unwrap())],
    );
    run.assert_code(0);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600, "{}", db.display());
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    assert_eq!(mode(&env.dir().join("fresh")), 0o700);
    for side in ["-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{side}", db.display()));
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
}

/// Agent ids and paths are other agents' free text: an escape sequence or a newline in them is printed
/// escaped, never raw (it coloured the terminal, or faked a second line), in text, in JSON and in the
/// edit hook's deny reason.
fn control_characters_are_printed_escaped(b: &Backend) {
    let agent = "evil\u{1b}[31m\nholds: fake line\u{202e}";
    let claim = announce(b, "ctl.rs", agent, "5m");
    assert_eq!(
        claim["hold"]["agent_id"], agent,
        "JSON keeps the value itself"
    );
    let run = b.run(["who-has", "ctl.rs"]);
    run.assert_code(0);
    assert_eq!(run.stdout.lines().count(), 1, "{run}");
    assert!(
        !run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{202e}'),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("evil\\x1b[31m\\x0aholds: fake line\\u{202e}"),
        "{run}"
    );
    let refused = b.run(["announce", "ctl.rs", "--agent", "other"]);
    refused.assert_code(3);
    assert_eq!(refused.stderr.lines().count(), 1, "{refused}");
    assert!(!refused.stderr.contains('\u{1b}'), "{refused}");
    let event = json!({
        "session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Write", "cwd": b.cwd(),
        "tool_input": {"file_path": abs(b, "ctl.rs"), "content": "x"},
    })
    .to_string();
    let mut cmd = b.command(["hook", "claude-code"]);
    cmd.env("HOLDS_AGENT", "other");
    let run = run_command_with_input(cmd, &event);
    let reason = run.json()["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap_or_else(|| panic!("no deny: {run}"))
        .to_string();
    assert!(
        !reason.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{reason:?}"
    );
}

holds_test_support::matrix! {
    fn {
        control_characters_are_printed_escaped,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}
