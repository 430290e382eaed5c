//! Edges of the workflow commands: non-ASCII file names through run, check, force-release and watch; a TTL
//! equal to the maximum (renewed past itself; one past it refused); `holds run` with its stdout a closed
//! pipe still runs CMD and exits with its code.

use super::{Background, SETTLE, holder, report, run_command, scratch, sh, until_exists};
use crate::support::{CliEnv, Run};
use crate::{Backend, abs};
use std::process::Stdio;
use std::time::{Duration, Instant};

holds_test_support::matrix! {
    fn {
        non_ascii_file_names_work_through_every_workflow_command,
        ttl_equal_to_the_maximum_is_renewed_and_one_past_it_refused,
        run_with_stdout_closed_still_runs_the_command,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}

fn non_ascii_file_names_work_through_every_workflow_command(b: &Backend) {
    let names = ["ünïcødé/日本語.rs", "emoji-🦀.rs", "mixed ü space.rs"];
    let paths: Vec<String> = names.iter().map(|n| abs(b, n)).collect();
    let started = scratch(b, "started");
    let finish = scratch(b, "finish");
    let mut watch = b.watch();
    let mut args = vec!["--agent", "ä-agent", "--ttl", "30s"];
    args.extend(names);
    let script = format!("{}; {}", report(&started, "up"), until_exists(&finish));
    let mut run = Background::spawn(run_command(b, &args, &sh(&script)));
    run.wait_for_report(&started, SETTLE);

    let mut check = vec!["--json", "check", "--agent", "ä-agent"];
    check.extend(names);
    let checked = b.run(&check);
    checked.assert_code(0);
    let files: Vec<String> = checked.json()["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(files, paths, "{checked}");

    // Force-release the CJK one: run loses it and exits 6; the watcher saw the name byte for byte.
    let forced = b.run(["--json", "release", "--force", names[0], "--by", "öps"]);
    forced.assert_code(0);
    assert_eq!(forced.json()["file"], paths[0].as_str(), "{forced}");
    let done = run.finish();
    done.assert_code(6);
    assert!(
        done.stderr.contains(&paths[0]),
        "names the lost file: {done}"
    );
    let released = loop {
        let event = watch.next_event(SETTLE);
        if event["kind"] == "released" && event["file"] == paths[0].as_str() {
            break event;
        }
    };
    assert_eq!(released["forced_by"], "öps", "{released}");
    for name in names {
        assert_eq!(holder(b, name), None, "{name} released");
    }
}

/// Every call in this environment passes `--ttl-max 2s` (the store keeps the maximum it was made with).
fn with_max(env: &CliEnv, args: &[&str]) -> Run {
    let mut all = vec!["--ttl-max", "2s"];
    all.extend_from_slice(args);
    env.run(&all)
}

fn ttl_equal_to_the_maximum_is_renewed_and_one_past_it_refused(b: &Backend) {
    let started = scratch(b, "started");
    let finish = scratch(b, "finish");
    let script = format!("{}; {}", report(&started, "up"), until_exists(&finish));
    let mut args: Vec<String> = [
        "--ttl-max",
        "2s",
        "run",
        "--agent",
        "a",
        "--ttl",
        "2s",
        "max.rs",
        "--",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(sh(&script));
    let mut run = Background::spawn(b.command(args));
    run.wait_for_report(&started, SETTLE);
    // Past the TTL (the subject): still held, renewed to a full 2 s each time.
    let since = Instant::now();
    while since.elapsed() < Duration::from_millis(2500) {
        let who = with_max(b, &["--json", "who-has", "max.rs"]);
        who.assert_code(0);
        assert_eq!(who.json()["hold"]["ttl"], 2_000_000_000u64, "{who}");
    }
    std::fs::write(&finish, "").unwrap();
    run.finish().assert_code(0);
    with_max(b, &["who-has", "max.rs"]).assert_code(4);

    let over = with_max(
        b,
        &["announce", "max.rs", "--agent", "a", "--ttl", "2001ms"],
    );
    over.assert_code(2);
    assert!(
        over.one_line_stderr().contains("above the maximum"),
        "{over}"
    );
    let ran = scratch(b, "ran");
    let over_run = with_max(
        b,
        &[
            "run",
            "--agent",
            "a",
            "--ttl",
            "2001ms",
            "max.rs",
            "--",
            "touch",
            ran.to_str().unwrap(),
        ],
    );
    over_run.assert_code(2);
    assert!(!ran.exists(), "CMD ran with a TTL over the maximum");
    with_max(b, &["who-has", "max.rs"]).assert_code(4);
}

/// `holds run ... | true`: the reader is gone before CMD starts. CMD that does not write runs and its code
/// comes back; CMD that writes meets the closed pipe (SIGPIPE, 128+13) like any pipeline member would.
fn run_with_stdout_closed_still_runs_the_command(b: &Backend) {
    let ran = scratch(b, "ran");
    let after = scratch(b, "after");
    let cases = [
        (format!("touch '{}'; exit 5", ran.display()), 5, Some(&ran)),
        (
            format!("echo hello; touch '{}'", after.display()),
            128 + 13,
            None,
        ),
    ];
    for (script, code, made) in cases {
        let mut cmd = run_command(
            b,
            &["--agent", "a", "--ttl", "30s", "pipe.rs"],
            &sh(&script),
        );
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn holds run");
        drop(child.stdout.take());
        let run = crate::support::wait_output(child, crate::support::CALL_TIMEOUT, &script);
        run.assert_code(code);
        assert!(!run.stderr.contains("panicked"), "{run}");
        if let Some(made) = made {
            assert!(made.exists(), "CMD ran: {run}");
        }
        assert_eq!(holder(b, "pipe.rs"), None, "released: {run}");
    }
    assert!(!after.exists(), "the echo into the closed pipe ended CMD");
}
