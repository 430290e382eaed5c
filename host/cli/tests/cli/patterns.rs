//! Directory, glob and shared holds through every command: what they cover and refuse, how `check`,
//! `who-has`, `list`, `watch`, `release`, `release --force`, `run` and `--wait` treat them, and that a
//! refusal leaves the store as it was.

use crate::support::{CALL_TIMEOUT, wait_output};
use crate::{Backend, abs};
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant};

holds_test_support::matrix! {
    fn {
        directory_and_glob_holds_refuse_what_they_cover_and_name_the_pattern,
        shared_holds_coexist_and_an_exclusive_one_is_refused_naming_every_holder,
        patterns_and_files_are_claimed_all_or_nothing,
        check_passes_through_an_own_pattern_and_fails_through_another_or_a_shared_one,
        list_and_watch_show_scope_and_mode,
        force_release_of_a_pattern_removes_every_agents_hold_on_it,
        a_wait_for_a_file_ends_when_the_pattern_over_it_is_released,
        run_holds_a_pattern_while_the_command_runs,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}

/// `holds --json announce ARGS... --agent AGENT --ttl 1m`.
fn announce(b: &Backend, args: &[&str], agent: &str) -> crate::support::Run {
    let mut all = vec!["--json", "announce"];
    all.extend(args);
    all.extend(["--agent", agent, "--ttl", "1m"]);
    b.run(&all)
}

/// The refusal's holders as `(file, scope, agent, mode)`.
fn holders(run: &crate::support::Run) -> Vec<(String, String, String, String)> {
    let error = &run.json()["error"];
    let list = match error["holders"].as_array() {
        Some(list) => list.clone(),
        None => vec![error["holder"].clone()],
    };
    list.iter()
        .map(|c| {
            (
                c["file"].as_str().unwrap_or_default().to_string(),
                c["scope"].as_str().unwrap_or_default().to_string(),
                c["hold"]["agent_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                c["hold"]["mode"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn held(file: &str, scope: &str, agent: &str, mode: &str) -> (String, String, String, String) {
    (file.into(), scope.into(), agent.into(), mode.into())
}

/// Every live hold as `(file, scope, agent, mode)`, sorted.
fn live(b: &Backend) -> Vec<(String, String, String, String)> {
    let mut all: Vec<_> = b
        .list_json()
        .iter()
        .map(|c| {
            held(
                c["file"].as_str().unwrap(),
                c["scope"].as_str().unwrap(),
                c["hold"]["agent_id"].as_str().unwrap(),
                c["hold"]["mode"].as_str().unwrap(),
            )
        })
        .collect();
    all.sort();
    all
}

fn directory_and_glob_holds_refuse_what_they_cover_and_name_the_pattern(b: &Backend) {
    let dir = announce(b, &["src/auth/"], "a");
    dir.assert_code(0);
    assert_eq!(dir.json()["file"], abs(b, "src/auth/"), "{dir}");
    assert_eq!(dir.json()["scope"], "directory", "{dir}");
    let glob = announce(b, &["docs/**/*.md"], "a");
    glob.assert_code(0);
    assert_eq!(glob.json()["scope"], "glob", "{glob}");
    let before = live(b);
    for covered in [
        "src/auth/login.rs",
        "src/auth/deep/x.rs",
        "src/",
        "src/auth/",
    ] {
        let run = announce(b, &[covered], "b");
        run.assert_code(3);
        assert_eq!(
            holders(&run),
            [held(&abs(b, "src/auth/"), "directory", "a", "exclusive")],
            "{covered}: {run}"
        );
        // The text form names the pattern too.
        let text = b.run(["announce", covered, "--agent", "b"]);
        text.assert_code(3);
        assert!(text.stderr.contains(&abs(b, "src/auth/")), "{text}");
    }
    for covered in ["docs/guide/intro.md", "docs/a.md", "docs/guide/"] {
        let run = announce(b, &[covered], "b");
        run.assert_code(3);
        assert_eq!(
            holders(&run),
            [held(&abs(b, "docs/**/*.md"), "glob", "a", "exclusive")],
            "{covered}: {run}"
        );
    }
    assert_eq!(live(b), before, "refusals wrote nothing");
    // A sibling sharing the directory's name prefix, and a path no glob matches, are free.
    for free in ["src/authz.rs", "docs/guide/intro.rs"] {
        announce(b, &[free], "b").assert_code(0);
    }
    // The same agent's holds never conflict.
    announce(b, &["src/auth/login.rs"], "a").assert_code(0);
}

fn shared_holds_coexist_and_an_exclusive_one_is_refused_naming_every_holder(b: &Backend) {
    let shared = |args: &[&str], agent: &str| {
        let mut all = args.to_vec();
        all.push("--shared");
        announce(b, &all, agent)
    };
    let one = shared(&["src/api.rs"], "a");
    one.assert_code(0);
    assert_eq!(one.json()["hold"]["mode"], "shared", "{one}");
    shared(&["src/"], "b").assert_code(0);
    let refused = announce(b, &["src/api.rs"], "c");
    refused.assert_code(3);
    let mut names = holders(&refused);
    names.sort();
    assert_eq!(
        names,
        [
            held(&abs(b, "src/"), "directory", "b", "shared"),
            held(&abs(b, "src/api.rs"), "file", "a", "shared"),
        ],
        "{refused}"
    );
    // An exclusive pattern over a shared hold is refused as well.
    announce(b, &["src/**"], "c").assert_code(3);
    // who-has names every hold that covers the file.
    let who = b.run(["--json", "who-has", "src/api.rs"]);
    who.assert_code(0);
    let who_json = who.json();
    let agents: Vec<&str> = who_json["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["hold"]["agent_id"].as_str().unwrap())
        .collect();
    assert_eq!(agents.len(), 2, "{who}");
    assert!(agents.contains(&"a") && agents.contains(&"b"), "{who}");
}

fn patterns_and_files_are_claimed_all_or_nothing(b: &Backend) {
    announce(b, &["src/b.rs"], "b").assert_code(0);
    let before = live(b);
    let refused = announce(b, &["lib/", "src/b.rs", "docs/*.md"], "a");
    refused.assert_code(3);
    assert_eq!(
        holders(&refused),
        [held(&abs(b, "src/b.rs"), "file", "b", "exclusive")],
        "{refused}"
    );
    assert_eq!(live(b), before, "nothing of the refused claim stays");
    let claimed = announce(b, &["lib/", "docs/*.md", "src/c.rs"], "a");
    claimed.assert_code(0);
    let claimed_json = claimed.json();
    let scopes: Vec<(&str, &str)> = claimed_json["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["file"].as_str().unwrap(), c["scope"].as_str().unwrap()))
        .collect();
    let (lib, docs, c) = (abs(b, "lib/"), abs(b, "docs/*.md"), abs(b, "src/c.rs"));
    assert_eq!(
        scopes,
        [
            (docs.as_str(), "glob"),
            (lib.as_str(), "directory"),
            (c.as_str(), "file")
        ],
        "{claimed}"
    );
}

fn check_passes_through_an_own_pattern_and_fails_through_another_or_a_shared_one(b: &Backend) {
    announce(b, &["src/"], "a").assert_code(0);
    announce(b, &["lib/", "--shared"], "a").assert_code(0);
    let states = |agent: &str, file: &str, code: i32| -> Value {
        let run = b.run(["--json", "check", "--agent", agent, file]);
        run.assert_code(code);
        b.run(["check", "--agent", agent, file]).assert_code(code);
        run.json()["files"][0].clone()
    };
    let mine = states("a", "src/deep/x.rs", 0);
    assert_eq!(mine["state"], "held", "{mine}");
    let theirs = states("b", "src/deep/x.rs", 3);
    assert_eq!(theirs["state"], "held-by-another", "{theirs}");
    // Only shared: nobody may change it, its holder included.
    let shared = states("a", "lib/y.rs", 3);
    assert_eq!(shared["state"], "shared", "{shared}");
    states("a", "elsewhere.rs", 4);
}

fn list_and_watch_show_scope_and_mode(b: &Backend) {
    let mut watch = b.watch();
    announce(b, &["src/", "--shared"], "a").assert_code(0);
    let event = watch.next_event(Duration::from_secs(10));
    assert_eq!(event["kind"], "announced", "{event}");
    assert_eq!(event["file"], abs(b, "src/"), "{event}");
    assert_eq!(event["scope"], "directory", "{event}");
    assert_eq!(event["hold"]["mode"], "shared", "{event}");
    assert_eq!(live(b), [held(&abs(b, "src/"), "directory", "a", "shared")]);
    let text = b.run(["list"]);
    text.assert_code(0);
    assert!(
        text.stdout.contains(&format!(
            "{} (directory) is held shared by a",
            abs(b, "src/")
        )),
        "{text}"
    );
    b.run(["release", "src/", "--agent", "a"]).assert_code(0);
    let event = watch.next_event(Duration::from_secs(10));
    assert_eq!(event["kind"], "released", "{event}");
    assert_eq!(event["scope"], "directory", "{event}");
    assert!(live(b).is_empty());
}

fn force_release_of_a_pattern_removes_every_agents_hold_on_it(b: &Backend) {
    announce(b, &["src/", "--shared"], "a").assert_code(0);
    announce(b, &["src/", "--shared"], "b").assert_code(0);
    announce(b, &["src/x.rs", "--shared"], "c").assert_code(0);
    let run = b.run(["--json", "release", "--force", "src/", "--by", "ops"]);
    run.assert_code(0);
    assert_eq!(run.json()["released"], true, "{run}");
    assert_eq!(
        live(b),
        [held(&abs(b, "src/x.rs"), "file", "c", "shared")],
        "the file's own shared hold is not the pattern's"
    );
    // The release log names the pattern, not its key.
    let log = b.run(["log"]);
    log.assert_code(0);
    let forced: Vec<&str> = log
        .stdout
        .lines()
        .filter(|l| l.contains("force-released"))
        .collect();
    assert_eq!(forced.len(), 2, "{log}");
    for line in forced {
        assert!(
            line.contains(&format!("force-released {} ", abs(b, "src/"))),
            "{log}"
        );
        assert!(!line.contains("_hx."), "{log}");
    }
}

fn a_wait_for_a_file_ends_when_the_pattern_over_it_is_released(b: &Backend) {
    announce(b, &["src/"], "a").assert_code(0);
    let mut cmd = b.command([
        "--json", "announce", "src/x.rs", "--agent", "b", "--wait", "25s",
    ]);
    let waiter = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn holds announce --wait");
    std::thread::sleep(Duration::from_millis(500));
    b.run(["release", "src/", "--agent", "a"]).assert_code(0);
    // A wait that ran out would exit 3.
    let run = wait_output(waiter, CALL_TIMEOUT, "announce --wait");
    run.assert_code(0);
    assert_eq!(run.json()["hold"]["agent_id"], "b", "{run}");
}

fn run_holds_a_pattern_while_the_command_runs(b: &Backend) {
    let marker = b.dir().join("started");
    let script = format!("touch {}; sleep 3", marker.display());
    let mut cmd = b.command([
        "run", "--agent", "a", "--ttl", "30s", "src/", "--", "sh", "-c", &script,
    ]);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn holds run");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    announce(b, &["src/x.rs"], "b").assert_code(3);
    let run = wait_output(child, CALL_TIMEOUT, "holds run");
    run.assert_code(0);
    assert!(live(b).is_empty(), "released when the command ended: {run}");
}
