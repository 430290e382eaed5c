//! Closed pipes: a reader that goes away (`holds replay t.jsonl | true`, `holds watch | head -1`) or a
//! closed stderr never makes holds panic; the exit code still says what the command did.

use crate::support::{CALL_TIMEOUT, CliEnv, fixture_trace, wait_output};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

/// Runs `args` with stdout a pipe whose reader is already gone; returns the exit code and stderr.
fn with_stdout_closed(env: &CliEnv, args: &[&str]) -> (Option<i32>, String) {
    let mut child = env
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn holds");
    drop(child.stdout.take());
    let run = wait_output(child, CALL_TIMEOUT, &args.join(" "));
    (run.status.code(), run.stderr)
}

#[test]
fn every_command_exits_with_its_own_code_when_stdout_is_a_closed_pipe() {
    let env = CliEnv::sqlite();
    let trace = fixture_trace();
    let trace = trace.to_str().unwrap();
    let cases: &[(&[&str], i32)] = &[
        (&["replay", trace], 0),
        (&["--json", "replay", trace], 0),
        (&["announce", "a.rs", "--agent", "a1", "--ttl", "30s"], 0),
        (
            &[
                "--json", "announce", "b.rs", "--agent", "a1", "--ttl", "30s",
            ],
            0,
        ),
        (&["who-has", "a.rs"], 0),
        (&["who-has", "nobody.rs"], 4),
        (&["list"], 0),
        (&["--json", "list"], 0),
        (&["probe"], 0),
        (&["announce", "a.rs", "--agent", "a2", "--ttl", "30s"], 3),
        (
            &["--json", "announce", "a.rs", "--agent", "", "--ttl", "30s"],
            2,
        ),
        (&["release", "a.rs", "--agent", "a1"], 0),
        (&["--help"], 0),
        (&["no-such-command"], 2),
    ];
    for (args, code) in cases {
        let (got, stderr) = with_stdout_closed(&env, args);
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert_eq!(got, Some(*code), "{args:?}: stderr {stderr:?}");
    }
    // The announce whose report was lost still took effect.
    assert_eq!(env.list_json().len(), 1);
}

#[test]
fn a_closed_stderr_never_turns_a_failure_into_a_panic() {
    let env = CliEnv::sqlite();
    for (args, code) in [
        (vec!["announce", "a.rs", "--agent", "", "--ttl", "30s"], 2),
        (vec!["no-such-command"], 2),
        (vec!["who-has", "nobody.rs"], 4),
        (vec!["list"], 0),
    ] {
        let mut child = env
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn holds");
        drop(child.stderr.take());
        let run = wait_output(child, CALL_TIMEOUT, &args.join(" "));
        assert_eq!(run.status.code(), Some(code), "{args:?}: {run}");
    }
}

/// `holds watch | head -1` on a quiet bucket: watch notices its reader left at once, not at the next
/// event (which may never come).
#[test]
fn watch_ends_as_soon_as_its_reader_goes_away() {
    let env = CliEnv::sqlite();
    env.run(["announce", "a.rs", "--agent", "a1", "--ttl", "30s"])
        .assert_code(0);
    let mut child = env
        .command(["--json", "watch"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn holds watch");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("announced"), "{first}");
    drop(stdout);
    // No event follows: before, watch waited for one forever.
    let run = wait_output(child, Duration::from_secs(5), "holds watch");
    assert!(!run.stderr.contains("panicked"), "{run}");
    assert_eq!(run.status.code(), Some(0), "{run}");
}
