//! `holds run`: the hold lives while CMD runs (renewed past its TTL), is released when CMD exits, and
//! `holds run` exits with CMD's code; a command that cannot run is 126/127; a refused claim is exit 3
//! naming the holder, holds nothing and never starts CMD.

use super::{Background, SETTLE, holder, report, run_command, scratch, sh, until_exists};
use crate::{Backend, abs, announce};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

holds_test_support::matrix! {
    fn {
        run_keeps_the_hold_past_three_ttls_and_releases_at_exit,
        run_exits_with_the_commands_code,
        run_exits_127_and_126_when_the_command_cannot_run,
        run_refused_names_the_holder_and_never_starts_the_command,
        run_holds_every_file_while_the_command_runs,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}

/// With a 1 s TTL, CMD runs for more than 3.5 s; another process sees agent a hold the file all along (at
/// ever newer revisions: renewals) and at the end, and a watcher sees it released, not expired, at exit.
fn run_keeps_the_hold_past_three_ttls_and_releases_at_exit(b: &Backend) {
    let file = abs(b, "kept.rs");
    let started = scratch(b, "started");
    let finish = scratch(b, "finish");
    let script = format!(
        "{}; {}; exit 0",
        report(&started, "$HOLDS_AGENT"),
        until_exists(&finish)
    );
    let mut watch = b.watch();
    let mut run = Background::spawn(run_command(
        b,
        &["--agent", "a", "--ttl", "1s", "kept.rs"],
        &sh(&script),
    ));
    assert_eq!(
        run.wait_for_report(&started, SETTLE),
        "a",
        "CMD's HOLDS_AGENT"
    );

    // Time passing is the subject: more than three TTLs, the file held at every look.
    let since = Instant::now();
    let mut revisions = Vec::new();
    while since.elapsed() < Duration::from_millis(3500) {
        let who = b.run(["--json", "who-has", "kept.rs"]);
        who.assert_code(0);
        let claim = who.json();
        assert_eq!(claim["hold"]["agent_id"], "a", "{who}");
        let revision = claim["revision"].as_u64().unwrap();
        if revisions.last() != Some(&revision) {
            revisions.push(revision);
        }
    }
    b.run(["check", "--agent", "a", "kept.rs"]).assert_code(0);
    assert!(
        revisions.len() >= 3,
        "renewed about every 333 ms, so several revisions over 3.5 s: {revisions:?}"
    );

    std::fs::write(&finish, "").unwrap();
    let done = run.finish();
    done.assert_code(0);
    assert_eq!(holder(b, "kept.rs"), None, "{done}");
    // The watcher's first event for the file that is not a renewal: the release at exit.
    let end = loop {
        let event = watch.next_event(SETTLE);
        if event["file"] == file.as_str() && event["kind"] != "announced" {
            break event;
        }
    };
    assert_eq!(
        end["kind"], "released",
        "released at exit, not left to expire: {end}"
    );
    assert!(end.get("forced_by").is_none(), "{end}");
}

/// CMD's exit code, and 128+N for a signal N, as shells report it; the hold is released every time (the
/// next run takes the file again, TTL 30 s).
fn run_exits_with_the_commands_code(b: &Backend) {
    let cases = [
        ("exit 0", 0),
        ("exit 7", 7),
        ("exit 255", 255),
        ("kill -KILL $$", 128 + 9),
        ("kill -TERM $$", 128 + 15),
    ];
    for (script, code) in cases {
        let run = b.run(
            [
                "run", "--agent", "a", "--ttl", "30s", "code.rs", "--", "sh", "-c", script,
            ]
            .iter()
            .copied(),
        );
        run.assert_code(code);
        assert!(!run.stderr.contains("panicked"), "{run}");
        assert_eq!(
            holder(b, "code.rs"),
            None,
            "released after {script:?}: {run}"
        );
    }
}

/// 127 when CMD does not exist, 126 when it exists but cannot be executed; the message names CMD and the
/// claim is released (TTL 30 s, so not by expiry).
fn run_exits_127_and_126_when_the_command_cannot_run(b: &Backend) {
    let not_executable = scratch(b, "not-executable.sh");
    std::fs::write(&not_executable, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&not_executable, std::fs::Permissions::from_mode(0o644)).unwrap();
    let not_executable = not_executable.to_str().unwrap().to_string();
    let directory = b.dir().to_str().unwrap().to_string();
    let cases: [(&str, i32); 3] = [
        ("holds-test-no-such-command", 127),
        (&not_executable, 126),
        (&directory, 126),
    ];
    for (cmd, code) in cases {
        let run = b.run(["run", "--agent", "a", "--ttl", "30s", "c.rs", "--", cmd]);
        run.assert_code(code);
        let said = run.one_line_stderr();
        assert!(said.contains(&format!("{cmd:?}")), "names CMD: {run}");
        assert_eq!(holder(b, "c.rs"), None, "released: {run}");
    }
}

/// One of the files is held by another agent: exit 3 naming it, the other files not held, CMD never ran.
fn run_refused_names_the_holder_and_never_starts_the_command(b: &Backend) {
    let held = announce(b, "held.rs", "other", "1m");
    let ran = scratch(b, "ran");
    let touch = sh(&format!("touch '{}'", ran.display()));
    for json in [false, true] {
        let mut args: Vec<String> = if json {
            vec!["--json".into()]
        } else {
            Vec::new()
        };
        for a in [
            "run", "--agent", "a", "--ttl", "30s", "free.rs", "held.rs", "--",
        ] {
            args.push(a.into());
        }
        args.extend(touch.iter().cloned());
        let cmd = b.command(args);
        let run = Background::spawn(cmd).finish();
        run.assert_code(3);
        assert!(run.stderr.contains("\"other\""), "names the holder: {run}");
        assert!(
            run.stderr.contains(&abs(b, "held.rs")),
            "names the file: {run}"
        );
        if json {
            let error = &run.json()["error"];
            assert_eq!(error["kind"], "held-by-others", "{run}");
            assert_eq!(error["holders"], serde_json::json!([held]), "{run}");
        }
        assert!(
            !ran.exists(),
            "CMD ran although the claim was refused: {run}"
        );
        assert_eq!(holder(b, "free.rs"), None, "all or nothing: {run}");
        assert_eq!(holder(b, "held.rs").as_deref(), Some("other"), "{run}");
    }
}

/// Three files at once: all held by agent a while CMD runs, all released at its exit.
fn run_holds_every_file_while_the_command_runs(b: &Backend) {
    let started = scratch(b, "started");
    let finish = scratch(b, "finish");
    let script = format!("{}; {}", report(&started, "up"), until_exists(&finish));
    let files = ["one.rs", "src/two.rs", "three.rs"];
    let mut args = vec!["--agent", "a", "--ttl", "30s"];
    args.extend(files);
    let mut run = Background::spawn(run_command(b, &args, &sh(&script)));
    run.wait_for_report(&started, SETTLE);
    let mut check = vec!["check", "--agent", "a"];
    check.extend(files);
    b.run(&check).assert_code(0);
    // Another agent can take none of them.
    for file in files {
        b.run(["announce", file, "--agent", "b", "--ttl", "30s"])
            .assert_code(3);
    }
    std::fs::write(&finish, "").unwrap();
    run.finish().assert_code(0);
    for file in files {
        assert_eq!(holder(b, file), None, "{file} released");
    }
}
