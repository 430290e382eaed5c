//! Bad agents, TTLs and paths, and arguments that are not UTF-8: exit 2 naming the problem, changing
//! nothing.

use super::{expect, os};
use crate::support::CliEnv;
use std::ffi::OsString;

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
