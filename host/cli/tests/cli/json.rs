//! The `--json` output shapes: one object per result, JSON lines for `list` and `watch`, and errors as
//! `{"error": {kind, message, exit_code, ...}}` on stdout with one sentence on stderr.

use crate::{Backend, abs, assert_claim};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

holds_test_support::matrix! {
    fn {
        announce_and_who_has_print_the_claim,
        release_prints_released_and_revision,
        who_has_nobody_prints_a_null_hold,
        list_prints_one_line_per_live_hold,
        errors_are_json_on_stdout_and_one_sentence_on_stderr,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}

fn announce_and_who_has_print_the_claim(b: &Backend) {
    let file = abs(b, "src/main.rs");
    let run = b.run([
        "--json",
        "announce",
        "src/main.rs",
        "--agent",
        "agent-7",
        "--ttl",
        "90s",
        "--checkout",
        "/tmp/co-7",
    ]);
    run.assert_code(0);
    assert_eq!(run.stderr, "", "{run}");
    let claim = run.json();
    assert_claim(
        &claim,
        &file,
        "agent-7",
        Duration::from_secs(90),
        "/tmp/co-7",
    );

    let who = b.run(["--json", "who-has", "src/main.rs"]);
    who.assert_code(0);
    assert_eq!(
        crate::support::first_holder(who.json()),
        claim,
        "who-has prints the same claim"
    );

    // Without --checkout the checkout path is empty; a sub-second ttl keeps its nanoseconds.
    let short = b.run([
        "--json", "announce", "other.rs", "--agent", "agent-8", "--ttl", "1s 250ms",
    ]);
    short.assert_code(0);
    assert_claim(
        &short.json(),
        &abs(b, "other.rs"),
        "agent-8",
        Duration::from_millis(1250),
        "",
    );
}

fn release_prints_released_and_revision(b: &Backend) {
    let file = abs(b, "r.rs");
    let claim = crate::announce(b, "r.rs", "a1", "30s");
    let run = b.run(["--json", "release", "r.rs", "--agent", "a1"]);
    run.assert_code(0);
    let out = run.json();
    assert_eq!(out["file"], file.as_str());
    assert_eq!(out["released"], true);
    let revision = out["revision"].as_u64().expect("a revision");
    assert!(revision > claim["revision"].as_u64().unwrap(), "{out}");
    assert_eq!(out.as_object().unwrap().len(), 3, "{out}");

    let again = b.run(["--json", "release", "r.rs", "--agent", "a1"]);
    again.assert_code(0);
    assert_eq!(
        again.json(),
        json!({"file": file, "released": false, "revision": null})
    );
}

fn who_has_nobody_prints_a_null_hold(b: &Backend) {
    let run = b.run(["--json", "who-has", "nobody.rs"]);
    run.assert_code(4);
    assert_eq!(run.stderr, "", "{run}");
    assert_eq!(
        run.json(),
        json!({"file": abs(b, "nobody.rs"), "hold": null, "holders": []})
    );
}

fn list_prints_one_line_per_live_hold(b: &Backend) {
    let run = b.run(["--json", "list"]);
    run.assert_code(0);
    assert_eq!(run.stdout, "", "an empty list is no lines: {run}");

    let mut expected = BTreeMap::new();
    for (i, agent) in ["a0", "a1", "a2", "a3"].into_iter().enumerate() {
        let file = format!("dir/f{i}.rs");
        let claim = crate::announce(b, &file, agent, "1m");
        expected.insert(abs(b, &file), claim);
    }
    b.run(["release", "dir/f2.rs", "--agent", "a2"])
        .assert_code(0);
    expected.remove(&abs(b, "dir/f2.rs"));

    let run = b.run(["--json", "list"]);
    run.assert_code(0);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 3, "{run}");
    let listed: BTreeMap<String, Value> = lines
        .into_iter()
        .map(|claim| (claim["file"].as_str().unwrap().to_string(), claim))
        .collect();
    assert_eq!(listed, expected);
}

fn errors_are_json_on_stdout_and_one_sentence_on_stderr(b: &Backend) {
    let claim = crate::announce(b, "e.rs", "a1", "1m");

    let held = b.run([
        "--json", "announce", "e.rs", "--agent", "a2", "--ttl", "30s",
    ]);
    held.assert_code(3);
    let error = error_object(&held);
    assert_eq!(error["kind"], "held-by-another");
    assert_eq!(error["exit_code"], 3);
    assert_eq!(error["holder"], claim, "the holder is the current claim");
    assert_eq!(
        held.one_line_stderr(),
        format!("holds: {}", error["message"].as_str().unwrap())
    );

    let invalid = b.run(["--json", "announce", "e.rs", "--agent", " ", "--ttl", "30s"]);
    invalid.assert_code(2);
    let error = error_object(&invalid);
    assert_eq!(error["kind"], "invalid-input");
    assert_eq!(error["exit_code"], 2);
    assert!(error["field"].is_string(), "names the field: {invalid}");
    assert!(error.get("holder").is_none(), "{invalid}");
    invalid.one_line_stderr();

    let ttl = b.run([
        "--json", "announce", "e.rs", "--agent", "a1", "--ttl", "10m",
    ]);
    ttl.assert_code(2);
    let error = error_object(&ttl);
    assert_eq!(error["kind"], "invalid-input");
    assert_eq!(error["exit_code"], 2);
    ttl.one_line_stderr();

    let bucket = b.run(["--json", "--bucket", "a.b", "list"]);
    bucket.assert_code(2);
    let error = error_object(&bucket);
    assert_eq!(error["kind"], "invalid-config");
    assert_eq!(error["exit_code"], 2);
    bucket.one_line_stderr();
}

/// The `error` member of a failed call's only stdout line, with its required fields checked.
#[track_caller]
fn error_object(run: &crate::support::Run) -> Value {
    let out = run.json();
    let obj = out.as_object().expect("an object");
    assert_eq!(obj.len(), 1, "only an error member: {run}");
    let error = out["error"].clone();
    assert!(error["kind"].is_string(), "{run}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty() && !m.contains('\n')),
        "{run}"
    );
    assert!(error["exit_code"].is_u64(), "{run}");
    error
}
