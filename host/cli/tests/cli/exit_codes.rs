//! Every exit code of `holds`: 0 success, 1 store or runtime error, 2 invalid input or usage, 3 held by
//! another agent, 4 `who-has`: nobody. Bad input must leave the store exactly as it was.

use crate::support::CliEnv;
use crate::{Backend, abs, announce};
use holds::{Backend as StoreBackend, Config, Manager};
use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

holds_test_support::matrix! {
    fn {
        every_command_succeeds_with_exit_0,
        held_by_another_is_exit_3_naming_the_holder_and_expiry,
        who_has_nobody_is_exit_4,
        invalid_input_is_exit_2_and_changes_nothing,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}

fn every_command_succeeds_with_exit_0(b: &Backend) {
    let file = abs(b, "a.rs");
    let claim = announce(b, "a.rs", "a1", "30s");
    b.run(["who-has", "a.rs"]).assert_code(0);
    let listed = b.run(["list"]);
    listed.assert_code(0);
    assert!(listed.stdout.contains(&file), "{listed}");
    assert!(listed.stdout.contains("a1"), "{listed}");
    // The same agent announcing again renews.
    let renewed = announce(b, "a.rs", "a1", "1m");
    assert!(renewed["revision"].as_u64() > claim["revision"].as_u64());
    let probe = b.run(["probe"]);
    probe.assert_code(0);
    assert!(probe.stdout.starts_with("ok:"), "{probe}");
    let released = b.run(["release", "a.rs", "--agent", "a1"]);
    released.assert_code(0);
    assert!(released.stdout.contains("released"), "{released}");
    // Releasing what one does not hold is a no-op, still a success.
    let again = b.run(["release", "a.rs", "--agent", "a1"]);
    again.assert_code(0);
    assert!(again.stdout.contains("nothing to release"), "{again}");
    b.run(["who-has", "a.rs"]).assert_code(4);
    // An empty list is a success too (its note goes to stderr, stdout stays empty).
    let empty = b.run(["list"]);
    empty.assert_code(0);
    assert_eq!(empty.stdout, "", "{empty}");
}

fn held_by_another_is_exit_3_naming_the_holder_and_expiry(b: &Backend) {
    let claim = announce(b, "src/lib.rs", "agent-1", "1m");
    let before = b.list_json();
    let refused = b.run([
        "announce",
        "src/lib.rs",
        "--agent",
        "agent-2",
        "--ttl",
        "30s",
    ]);
    refused.assert_code(3);
    assert_eq!(refused.stdout, "", "{refused}");
    let sentence = refused.one_line_stderr();
    assert!(
        sentence.contains("\"agent-1\""),
        "names the holder: {refused}"
    );
    let expires_at = claim["hold"]["expires_at"].as_str().unwrap();
    assert!(
        sentence.contains(expires_at),
        "names the expiry {expires_at}: {refused}"
    );
    assert!(
        sentence.contains(&abs(b, "src/lib.rs")),
        "names the file: {refused}"
    );
    // The holder's own release is the only one that counts; another agent's changes nothing.
    b.run(["release", "src/lib.rs", "--agent", "agent-2"])
        .assert_code(0);
    assert_eq!(b.list_json(), before, "the refused agent changed the store");
    let who = b.run(["--json", "who-has", "src/lib.rs"]);
    who.assert_code(0);
    assert_eq!(crate::support::first_holder(who.json()), claim);
}

fn who_has_nobody_is_exit_4(b: &Backend) {
    let nobody = b.run(["who-has", "never/held.rs"]);
    nobody.assert_code(4);
    assert_eq!(
        nobody.stdout.trim_end(),
        format!("nobody holds {}", abs(b, "never/held.rs")),
        "{nobody}"
    );
    assert_eq!(
        nobody.stderr, "",
        "exit 4 is an answer, not an error: {nobody}"
    );
    // A released hold is nobody's either.
    announce(b, "gone.rs", "a1", "30s");
    b.run(["release", "gone.rs", "--agent", "a1"])
        .assert_code(0);
    b.run(["who-has", "gone.rs"]).assert_code(4);
}

/// Each of these must exit 2 with a message on stderr and change nothing.
const INVALID: &[&[&str]] = &[
    // empty and whitespace agents
    &["announce", "x.rs", "--agent", "", "--ttl", "30s"],
    &["announce", "x.rs", "--agent", "   ", "--ttl", "30s"],
    &["announce", "x.rs", "--agent", "\t", "--ttl", "30s"],
    &["release", "held.rs", "--agent", ""],
    &["release", "held.rs", "--agent", "  "],
    // durations
    &["announce", "x.rs", "--agent", "a1", "--ttl", "1x"],
    &["announce", "x.rs", "--agent", "a1", "--ttl", "0s"],
    &["announce", "x.rs", "--agent", "a1", "--ttl", "0"],
    &["announce", "x.rs", "--agent", "a1", "--ttl", "-5s"],
    &["announce", "x.rs", "--agent", "a1", "--ttl", "6m"],
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
    &["--ttl-max", "1x", "list"],
    &["--ttl-max", "0s", "list"],
    // bucket names
    &["--bucket", "a.b", "list"],
    &[
        "--bucket", "a.b", "announce", "x.rs", "--agent", "a1", "--ttl", "30s",
    ],
    &["--bucket", "", "who-has", "x.rs"],
    &["--bucket", "a b", "probe"],
    &["--bucket", "a*", "watch"],
    // usage
    &["frobnicate"],
    &[],
    &["announce", "x.rs", "--ttl", "30s"],
    &["announce", "x.rs", "--agent", "a1", "--ttl", "soon"],
    &["check"],
    &["check", "x.rs"],
    &["run", "x.rs", "--agent", "a1"],
    &["run", "--agent", "a1", "--", "true"],
    &["release", "--force", "held.rs"],
    &["release", "held.rs", "--agent", "a1", "--by", "ops"],
    &["announce", "--agent", "a1", "--ttl", "30s"],
    &["release", "held.rs"],
    &["who-has"],
    &["list", "extra"],
    &[
        "announce", "x.rs", "--agent", "a1", "--ttl", "30s", "--bogus",
    ],
    // empty FILE
    &["announce", "", "--agent", "a1", "--ttl", "30s"],
    &["release", "", "--agent", "a1"],
    &["who-has", ""],
];

fn invalid_input_is_exit_2_and_changes_nothing(b: &Backend) {
    let held = announce(b, "held.rs", "a1", "2m");
    let before = b.list_json();
    assert_eq!(before, std::slice::from_ref(&held));
    for args in INVALID {
        for json in [false, true] {
            let mut all: Vec<&str> = Vec::new();
            if json {
                all.push("--json");
            }
            all.extend_from_slice(args);
            let run = b.run(&all);
            run.assert_code(2);
            assert!(!run.stderr.trim().is_empty(), "says why on stderr: {run}");
            assert!(!run.stderr.contains("panicked"), "{run}");
            assert_eq!(b.list_json(), before, "{args:?} changed the store: {run}");
        }
    }
    // Nothing was written at all: the next write takes the very next revision.
    let next = announce(b, "after.rs", "a1", "30s");
    assert_eq!(
        next["revision"].as_u64(),
        Some(held["revision"].as_u64().unwrap() + 1),
        "a rejected call wrote something"
    );
}

#[test]
fn help_documents_every_exit_code() {
    let env = CliEnv::sqlite();
    let help = env.run(["--help"]);
    help.assert_code(0);
    let text = &help.stdout;
    for (code, words) in [
        (0, "success"),
        (1, "store"),
        (2, "invalid input"),
        (3, "held by another"),
        (4, "nobody"),
    ] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{code} ")))
            .unwrap_or_else(|| panic!("no line for exit code {code} in --help:\n{text}"));
        assert!(line.contains(words), "exit {code}: {line:?}");
    }
    for command in [
        "announce",
        "release",
        "who-has",
        "list",
        "watch",
        "probe",
        "--nats",
        "--store",
        "--bucket",
        "--ttl-max",
        "--json",
    ] {
        assert!(text.contains(command), "--help does not mention {command}");
    }
    for command in ["announce", "release", "who-has", "list", "watch", "probe"] {
        env.run([command, "--help"]).assert_code(0);
    }
    env.run(["--version"]).assert_code(0);
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    listener.local_addr().unwrap().port()
}

#[test]
fn unreachable_nats_is_exit_1_within_seconds() {
    let env = CliEnv::sqlite();
    let url = format!("nats://127.0.0.1:{}", closed_port());
    for args in [
        vec!["--nats", &url, "probe"],
        vec![
            "--nats", &url, "announce", "x.rs", "--agent", "a1", "--ttl", "30s",
        ],
        vec!["--nats", &url, "who-has", "x.rs"],
        vec!["--nats", &url, "watch"],
    ] {
        let start = Instant::now();
        let run = env.run(&args);
        let elapsed = start.elapsed();
        run.assert_code(1);
        assert!(
            elapsed < Duration::from_secs(10),
            "{args:?} took {elapsed:?}"
        );
        let sentence = run.one_line_stderr();
        assert!(sentence.contains(&url), "names the server: {run}");
    }
    let json = env.run(["--json", "--nats", &url, "probe"]);
    json.assert_code(1);
    let error = &json.json()["error"];
    assert_eq!(error["exit_code"], 1, "{json}");
    assert!(error["message"].as_str().unwrap().contains(&url), "{json}");
    // NATS_URL works as well as --nats.
    let mut cmd = env.command(["probe"]);
    cmd.env("NATS_URL", &url);
    let status = cmd.status().expect("run holds");
    assert_eq!(status.code(), Some(1));
}

#[test]
fn unreachable_sqlite_store_is_exit_1() {
    let env = CliEnv::sqlite();
    // A directory cannot be opened as a database, nor can a path under a regular file.
    let dir = env.dir().to_str().unwrap().to_string();
    let under_file = env.dir().join("file");
    std::fs::write(&under_file, "not a directory").unwrap();
    let under_file = under_file.join("holds.db");
    for store in [dir.as_str(), under_file.to_str().unwrap()] {
        let run = env.run(["--store", store, "probe"]);
        run.assert_code(1);
        run.one_line_stderr();
    }
}

#[test]
fn corrupt_entry_is_exit_1() {
    let env = CliEnv::sqlite();
    let file = abs(&env, "bad.rs");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let revision = rt.block_on(async {
        let m = Manager::open(
            Config::new("holds", Duration::from_secs(300)),
            StoreBackend::Sqlite(env.db_path()),
        )
        .await
        .expect("open the CLI's database");
        let key = m.key_for_test(&file).await.unwrap();
        let revision = holds_test_support::raw::put(&*m.kv_for_test(), &key, &b"{not a hold"[..])
            .await
            .unwrap();
        m.close().await;
        revision
    });
    let run = env.run(["who-has", "bad.rs"]);
    run.assert_code(1);
    let sentence = run.one_line_stderr();
    assert!(sentence.contains("corrupt"), "{run}");
    let json = env.run(["--json", "who-has", "bad.rs"]);
    json.assert_code(1);
    let error = &json.json()["error"];
    assert_eq!(error["kind"], "corrupt-entry", "{json}");
    assert_eq!(error["exit_code"], 1, "{json}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains(&format!("revision {revision}")),
        "{json}"
    );
    // Announce and release refuse to touch it too.
    env.run(["announce", "bad.rs", "--agent", "a1", "--ttl", "30s"])
        .assert_code(1);
    env.run(["release", "bad.rs", "--agent", "a1"])
        .assert_code(1);
}
