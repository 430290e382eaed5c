//! `holds release --force FILE --by ID`: releases whoever holds FILE; the JSON and a running `holds watch`
//! say who forced it. `--force` and `--by` only come together: otherwise a usage error that changes nothing.

use super::{SETTLE, holder};
use crate::{Backend, abs, announce};

holds_test_support::matrix! {
    fn {
        force_release_frees_another_agents_hold_and_watch_says_who,
        force_and_by_only_come_together,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}

fn force_release_frees_another_agents_hold_and_watch_says_who(b: &Backend) {
    let file = abs(b, "stale.rs");
    let claim = announce(b, "stale.rs", "gone-agent", "5m");
    let mut watch = b.watch();
    let current = watch.next_event(SETTLE);
    assert_eq!(current["revision"], claim["revision"], "{current}");

    let run = b.run([
        "--json",
        "release",
        "--force",
        "stale.rs",
        "--by",
        "ops-oncall",
    ]);
    run.assert_code(0);
    let out = run.json();
    let mut keys: Vec<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["file", "forced_by", "released", "revision"], "{run}");
    assert_eq!(out["file"], file.as_str(), "{run}");
    assert_eq!(out["released"], true, "{run}");
    assert_eq!(out["forced_by"], "ops-oncall", "{run}");
    let revision = out["revision"].as_u64().unwrap();
    assert!(revision > claim["revision"].as_u64().unwrap(), "{run}");

    let event = watch.next_event(SETTLE);
    assert_eq!(event["kind"], "released", "{event}");
    assert_eq!(event["file"], file.as_str(), "{event}");
    assert_eq!(event["revision"], revision, "{event}");
    assert_eq!(event["forced_by"], "ops-oncall", "{event}");
    assert_eq!(holder(b, "stale.rs"), None);

    // Another agent takes it; a plain release shows no forced_by.
    announce(b, "stale.rs", "new-agent", "1m");
    assert_eq!(watch.next_event(SETTLE)["kind"], "announced");
    b.run(["release", "stale.rs", "--agent", "new-agent"])
        .assert_code(0);
    let plain = watch.next_event(SETTLE);
    assert_eq!(plain["kind"], "released", "{plain}");
    assert!(plain.get("forced_by").is_none(), "{plain}");

    // The text form, and a vacant file: nothing to release (exit 0, released false).
    announce(b, "stale.rs", "third", "1m");
    let text = b.run(["release", "--force", "stale.rs", "--by", "ops"]);
    text.assert_code(0);
    assert!(text.stdout.contains("forced by ops"), "{text}");
    let vacant = b.run(["--json", "release", "--force", "stale.rs", "--by", "ops"]);
    vacant.assert_code(0);
    assert_eq!(vacant.json()["released"], false, "{vacant}");
    assert_eq!(
        vacant.json()["revision"],
        serde_json::Value::Null,
        "{vacant}"
    );
    assert!(
        vacant.json().get("forced_by").is_none(),
        "nothing was forced: {vacant}"
    );
}

fn force_and_by_only_come_together(b: &Backend) {
    let held = announce(b, "held.rs", "a", "5m");
    // Each with the option the message must name.
    let cases: &[(&[&str], &str)] = &[
        (&["release", "--force", "held.rs"], "--by"),
        (&["release", "held.rs", "--by", "ops"], "--force"),
        (
            &["release", "held.rs", "--agent", "a", "--by", "ops"],
            "--force",
        ),
        (&["release", "--force", "held.rs", "--by"], "--by"),
        (&["release", "--force", "held.rs", "--by", ""], "invalid by"),
    ];
    for (args, names) in cases {
        for json in [false, true] {
            let mut all: Vec<&str> = if json { vec!["--json"] } else { Vec::new() };
            all.extend_from_slice(args);
            let run = b.run(&all);
            run.assert_code(2);
            let said = run.one_line_stderr();
            assert!(said.contains(names), "names {names}: {run}");
            if json {
                let kind = &run.json()["error"]["kind"];
                assert!(kind == "usage" || kind == "invalid-input", "{run}");
            }
            assert_eq!(
                b.list_json(),
                std::slice::from_ref(&held),
                "{args:?} changed the store: {run}"
            );
        }
    }
}
