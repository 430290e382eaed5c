//! `holds check`, a commit gate: exit 0 when the agent holds every file live (at the tokens, if given), 3
//! when any is held by another (or at another token), else 4 when any is vacant; `--json` lists each file.

use crate::{Backend, abs};
use serde_json::Value;

holds_test_support::matrix! {
    fn {
        check_exit_codes_and_json,
        check_tokens_refuse_a_moved_hold,
        check_takes_the_agent_from_holds_agent,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}

/// `holds --json announce FILE... --agent AGENT --ttl 1m`: the claims, in the order printed.
#[track_caller]
fn claim_all(b: &Backend, files: &[&str], agent: &str) -> Vec<Value> {
    let mut args = vec!["--json", "announce"];
    args.extend(files);
    args.extend(["--agent", agent, "--ttl", "1m"]);
    let run = b.run(&args);
    run.assert_code(0);
    run.json()["claims"].as_array().expect("claims").clone()
}

/// The claim for `file` among `claims`.
fn claim_of<'a>(claims: &'a [Value], file: &str) -> &'a Value {
    claims
        .iter()
        .find(|c| c["file"] == file)
        .unwrap_or_else(|| panic!("no claim for {file} in {claims:?}"))
}

/// `holds [--json] check --agent AGENT FILE... [--fence N]...` with its exit code checked.
#[track_caller]
fn check(
    b: &Backend,
    agent: &str,
    files: &[&str],
    tokens: &[u64],
    code: i32,
) -> crate::support::Run {
    let tokens: Vec<String> = tokens.iter().map(u64::to_string).collect();
    let mut args = vec!["--json", "check", "--agent", agent];
    args.extend(files);
    for t in &tokens {
        args.extend(["--fence", t]);
    }
    let run = b.run(&args);
    run.assert_code(code);
    // The text form agrees on the exit code.
    b.run(&args[1..]).assert_code(code);
    run
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    k.sort();
    k
}

fn check_exit_codes_and_json(b: &Backend) {
    let claims = claim_all(b, &["a.rs", "b.rs"], "a");

    let run = check(b, "a", &["a.rs", "b.rs"], &[], 0);
    let out = run.json();
    assert_eq!(keys(&out), ["agent_id", "files", "held"], "{run}");
    assert_eq!(out["agent_id"], "a");
    assert_eq!(out["held"], true);
    let files = out["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{run}");
    // In the order asked for, each with the claim that holds it.
    for (entry, name) in files.iter().zip(["a.rs", "b.rs"]) {
        let file = abs(b, name);
        assert_eq!(keys(entry), ["file", "hold", "revision", "state"], "{run}");
        assert_eq!(entry["file"], file.as_str(), "{run}");
        assert_eq!(entry["state"], "held", "{run}");
        let claim = claim_of(&claims, &file);
        assert_eq!(entry["revision"], claim["revision"], "{run}");
        assert_eq!(entry["hold"], claim["hold"], "{run}");
    }

    // Another agent: 3, each file held by another (a).
    let run = check(b, "b", &["a.rs", "b.rs"], &[], 3);
    let out = run.json();
    assert_eq!(out["held"], false);
    for entry in out["files"].as_array().unwrap() {
        assert_eq!(entry["state"], "held-by-another", "{run}");
        assert_eq!(entry["hold"]["agent_id"], "a", "{run}");
    }

    // One vacant file: 4; the vacant entry has no revision and no hold.
    let run = check(b, "a", &["a.rs", "vacant.rs"], &[], 4);
    let out = run.json();
    assert_eq!(out["held"], false);
    let vacant = &out["files"][1];
    assert_eq!(keys(vacant), ["file", "state"], "{run}");
    assert_eq!(vacant["state"], "vacant", "{run}");
    assert_eq!(vacant["file"], abs(b, "vacant.rs").as_str(), "{run}");

    // Held by another beats vacant: 3.
    check(b, "b", &["vacant.rs", "a.rs"], &[], 3);
    // Text lines name each state.
    let text = b.run(["check", "--agent", "b", "a.rs", "vacant.rs"]);
    text.assert_code(3);
    assert!(text.stdout.contains("held by a"), "{text}");
    assert!(text.stdout.contains("nobody holds"), "{text}");

    // Released: 4.
    b.run(["release", "b.rs", "--agent", "a"]).assert_code(0);
    check(b, "a", &["a.rs", "b.rs"], &[], 4);
}

/// Tokens are per FILE, in order: the current revisions pass; a hold renewed or re-taken since (a new
/// revision) is refused as `token-moved` (exit 3), and the other file still shows `held`.
fn check_tokens_refuse_a_moved_hold(b: &Backend) {
    let claims = claim_all(b, &["x.rs", "y.rs"], "a");
    let rx = claim_of(&claims, &abs(b, "x.rs"))["revision"]
        .as_u64()
        .unwrap();
    let ry = claim_of(&claims, &abs(b, "y.rs"))["revision"]
        .as_u64()
        .unwrap();
    check(b, "a", &["x.rs", "y.rs"], &[rx, ry], 0);
    // Swapped: each token belongs to the other file.
    check(b, "a", &["x.rs", "y.rs"], &[ry, rx], 3);

    // x.rs renewed by the same agent: a new revision, the old token moved.
    let renewed = crate::announce(b, "x.rs", "a", "1m");
    let rx2 = renewed["revision"].as_u64().unwrap();
    assert!(rx2 > rx);
    let run = check(b, "a", &["x.rs", "y.rs"], &[rx, ry], 3);
    let out = run.json();
    assert_eq!(out["files"][0]["state"], "token-moved", "{run}");
    assert_eq!(
        out["files"][0]["revision"], rx2,
        "the revision it is at: {run}"
    );
    assert_eq!(out["files"][1]["state"], "held", "{run}");
    check(b, "a", &["x.rs", "y.rs"], &[rx2, ry], 0);

    // Force-released and taken again by the same agent: still a moved token.
    b.run(["release", "--force", "y.rs", "--by", "ops"])
        .assert_code(0);
    check(b, "a", &["x.rs", "y.rs"], &[rx2, ry], 4);
    let again = crate::announce(b, "y.rs", "a", "1m");
    check(b, "a", &["x.rs", "y.rs"], &[rx2, ry], 3);
    check(
        b,
        "a",
        &["x.rs", "y.rs"],
        &[rx2, again["revision"].as_u64().unwrap()],
        0,
    );

    // One token for two files: a usage error.
    let run = b.run([
        "check",
        "--agent",
        "a",
        "x.rs",
        "y.rs",
        "--fence",
        &rx2.to_string(),
    ]);
    run.assert_code(2);
    assert!(run.one_line_stderr().contains("--fence"), "{run}");
}

fn check_takes_the_agent_from_holds_agent(b: &Backend) {
    claim_all(b, &["e.rs", "f.rs"], "env-agent");
    for (agent, code) in [("env-agent", 0), ("someone-else", 3)] {
        let mut cmd = b.command(["check", "e.rs", "f.rs"]);
        cmd.env("HOLDS_AGENT", agent);
        let run = super::Background::spawn(cmd).finish();
        run.assert_code(code);
    }
    // An explicit --agent wins over the environment.
    let mut cmd = b.command(["check", "--agent", "someone-else", "e.rs"]);
    cmd.env("HOLDS_AGENT", "env-agent");
    super::Background::spawn(cmd).finish().assert_code(3);
    // Neither: a usage error naming --agent.
    let run = b.run(["check", "e.rs"]);
    run.assert_code(2);
    assert!(run.one_line_stderr().contains("--agent"), "{run}");
}
