//! `holds hook claude-code` as Claude Code runs it: a process fed a recorded PreToolUse event
//! (tests/fixtures/claude-code, written from the hooks reference) on stdin, judged by its exact stdout
//! and exit code.

use crate::support::{CliEnv, Run, run_command_with_input};
use crate::{Backend, abs, announce};
use serde_json::{Value, json};
use std::path::Path;

holds_test_support::matrix! {
    fn {
        a_vacant_file_is_taken_silently,
        a_file_held_by_another_is_denied_naming_holder_and_expiry,
        an_edit_under_another_agents_pattern_or_shared_hold_is_denied_naming_it,
    }
    on {
        sqlite: &Backend::sqlite(),
        jetstream: &Backend::jetstream(),
    }
}

/// A fixture with `$CWD` and `$SESSION` filled in.
fn event(env: &CliEnv, name: &str, session: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/claude-code")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.replace("$CWD", &env.cwd().display().to_string())
        .replace("$SESSION", session)
}

/// The agent id holds gives a `holds` this test process starts with no HOLDS_AGENT: this process, the
/// agent tool (its name, pid and start time).
pub fn this_tool() -> String {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux has /proc");
    let (open, close) = (stat.find('(').unwrap(), stat.rfind(')').unwrap());
    let comm: String = stat[open + 1..close]
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let start: u64 = stat[close + 2..]
        .split(' ')
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    let mut digits = Vec::new();
    let mut n = start;
    loop {
        digits.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    format!(
        "{comm}-{}-{}",
        std::process::id(),
        String::from_utf8(digits).unwrap()
    )
}

/// `cmd` run under another agent tool: a `timeout` process between this test and it.
pub fn under_another_tool(cmd: std::process::Command) -> std::process::Command {
    let mut wrapped = crate::support::like(&cmd, "timeout");
    wrapped
        .arg("120")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    wrapped
}

fn hook(env: &CliEnv, input: &str, envs: &[(&str, &str)], flags: &[&str]) -> Run {
    let mut args = vec!["hook", "claude-code"];
    args.extend_from_slice(flags);
    env.run_with_input(args, input, envs)
}

/// Exit 0 with nothing on stdout or stderr: Claude Code's own rules decide.
#[track_caller]
fn assert_silent(run: &Run) {
    run.assert_code(0);
    assert_eq!(run.stdout, "", "{run}");
    assert_eq!(run.stderr, "", "{run}");
}

/// Exit 0 with exactly the documented deny on stdout (one line); returns the reason.
#[track_caller]
fn assert_denied(run: &Run) -> String {
    run.assert_code(0);
    assert!(
        run.stdout.ends_with('\n') && run.stdout.trim_end().lines().count() == 1,
        "one JSON line: {run}"
    );
    let out = run.json();
    let reason = out["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap_or_else(|| panic!("no reason: {run}"))
        .to_string();
    assert_eq!(
        out,
        json!({"hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        }}),
        "{run}"
    );
    reason
}

/// The reason the hook gives for a file held by `claim`'s agent.
fn held_reason(claim: &Value) -> String {
    format!(
        "{} is held by agent {:?} until {} (fencing token {}): another agent is editing it. \
         Work on another file, or wait until it is released or expires.",
        claim["file"].as_str().unwrap(),
        claim["hold"]["agent_id"].as_str().unwrap(),
        claim["hold"]["expires_at"].as_str().unwrap(),
        claim["revision"]
    )
}

fn holder(env: &CliEnv, file: &str) -> Option<Value> {
    env.list_json().into_iter().find(|c| c["file"] == file)
}

fn a_vacant_file_is_taken_silently(b: &Backend) {
    let run = hook(b, &event(b, "edit.json", "sess-a"), &[], &[]);
    assert_silent(&run);
    let claim = holder(b, &abs(b, "src/lib.rs")).expect("the edit took the file");
    // No HOLDS_AGENT: the agent tool that ran the hook (this test) is the agent; HOLDS_TTL's default is 30s.
    assert_eq!(claim["hold"]["agent_id"], this_tool());
    assert_eq!(claim["hold"]["ttl"], 30_000_000_000u64);
}

fn a_file_held_by_another_is_denied_naming_holder_and_expiry(b: &Backend) {
    let theirs = announce(b, "src/lib.rs", "agent-b", "5m");
    for fixture in ["edit.json", "write.json", "multi_edit.json"] {
        let run = hook(b, &event(b, fixture, "sess-a"), &[], &[]);
        assert_eq!(assert_denied(&run), held_reason(&theirs), "{fixture}");
        assert_eq!(run.stderr, "", "{run}");
    }
    // The refusal wrote nothing: agent-b's hold is as it was.
    assert_eq!(holder(b, &abs(b, "src/lib.rs")), Some(theirs));
}

/// An edit needs the file exclusively: another agent's directory, glob or shared hold over it denies it,
/// and the reason names the hold it goes through.
fn an_edit_under_another_agents_pattern_or_shared_hold_is_denied_naming_it(b: &Backend) {
    let file = abs(b, "src/lib.rs");
    let cases: [(&[&str], &str, String); 3] = [
        (
            &["src/"],
            "directory",
            format!(" (through its exclusive hold on {})", abs(b, "src/")),
        ),
        (
            &["**/*.rs", "--shared"],
            "glob",
            format!(" (through its shared hold on {})", abs(b, "**/*.rs")),
        ),
        (
            &["src/lib.rs", "--shared"],
            "file",
            " (shared hold)".to_string(),
        ),
    ];
    for (args, scope, through) in cases {
        let mut all = vec!["--json", "announce"];
        all.extend_from_slice(args);
        all.extend(["--agent", "agent-b", "--ttl", "5m"]);
        let theirs = b.run(&all);
        theirs.assert_code(0);
        let theirs = theirs.json();
        assert_eq!(theirs["scope"], scope, "{theirs}");
        let run = hook(b, &event(b, "edit.json", "sess-a"), &[], &[]);
        let reason = assert_denied(&run);
        assert_eq!(
            reason,
            format!(
                "{file} is held by agent \"agent-b\"{through} until {} (fencing token {}): another agent is \
                 editing it. Work on another file, or wait until it is released or expires.",
                theirs["hold"]["expires_at"].as_str().unwrap(),
                theirs["revision"]
            ),
            "{scope}"
        );
        let holders: Vec<Value> = b.list_json();
        assert!(
            holders.iter().all(|c| c["hold"]["agent_id"] == "agent-b"),
            "the denied edit took nothing: {holders:?}"
        );
        let mut release = vec!["release"];
        release.push(args[0]);
        release.extend(["--agent", "agent-b"]);
        b.run(&release).assert_code(0);
    }
}

#[test]
fn holds_agent_names_the_agent_over_the_session() {
    let env = CliEnv::sqlite();
    let run = hook(
        &env,
        &event(&env, "edit.json", "sess-a"),
        &[("HOLDS_AGENT", "agent-a"), ("HOLDS_TTL", "2m")],
        &[],
    );
    assert_silent(&run);
    let claim = holder(&env, &abs(&env, "src/lib.rs")).unwrap();
    assert_eq!(claim["hold"]["agent_id"], "agent-a");
    assert_eq!(claim["hold"]["ttl"], 120_000_000_000u64);
}

#[test]
fn the_agents_own_hold_is_silent_and_left_as_it_is() {
    let env = CliEnv::sqlite();
    let mine = announce(&env, "src/lib.rs", "agent-a", "5m");
    let run = hook(
        &env,
        &event(&env, "edit.json", "sess-a"),
        &[("HOLDS_AGENT", "agent-a")],
        &[],
    );
    assert_silent(&run);
    // Held for longer than an edit's TTL: nothing written (a lease elsewhere keeps its TTL and token).
    assert_eq!(holder(&env, &abs(&env, "src/lib.rs")), Some(mine));
}

#[test]
fn the_agents_own_hold_expiring_sooner_than_an_edit_is_extended() {
    let env = CliEnv::sqlite();
    let mine = announce(&env, "src/lib.rs", "agent-a", "5s");
    let run = hook(
        &env,
        &event(&env, "write.json", "sess-a"),
        &[("HOLDS_AGENT", "agent-a")],
        &[],
    );
    assert_silent(&run);
    let now = holder(&env, &abs(&env, "src/lib.rs")).unwrap();
    assert_eq!(now["hold"]["agent_id"], "agent-a");
    assert!(
        now["revision"].as_u64() > mine["revision"].as_u64(),
        "{now}"
    );
    assert_eq!(now["hold"]["ttl"], 30_000_000_000u64);
}

#[test]
fn tools_that_write_no_known_file_are_left_alone() {
    let env = CliEnv::sqlite();
    // Held by another, so a hook that judged these calls would deny them.
    let theirs = announce(&env, "src/lib.rs", "agent-b", "5m");
    for fixture in ["bash.json", "mcp_tool.json"] {
        let run = hook(&env, &event(&env, fixture, "sess-a"), &[], &[]);
        assert_silent(&run);
    }
    let post = event(&env, "edit.json", "sess-a").replace("\"PreToolUse\"", "\"PostToolUse\"");
    assert_silent(&hook(&env, &post, &[], &[]));
    assert_eq!(env.list_json(), vec![theirs]);
}

#[test]
fn notebook_edit_is_judged_by_its_notebook_path() {
    let env = CliEnv::sqlite();
    let notebook = abs(&env, "analysis.ipynb");
    let run = hook(&env, &event(&env, "notebook_edit.json", "sess-a"), &[], &[]);
    assert_silent(&run);
    assert_eq!(
        holder(&env, &notebook).unwrap()["hold"]["agent_id"],
        this_tool()
    );
    // Another agent tool's session.
    let mut cmd = under_another_tool(env.command(["hook", "claude-code"]));
    cmd.env_remove("HOLDS_AGENT");
    let run = run_command_with_input(cmd, &event(&env, "notebook_edit.json", "sess-b"));
    let theirs = holder(&env, &notebook).unwrap();
    assert_eq!(assert_denied(&run), held_reason(&theirs));
}

#[test]
fn a_relative_path_is_resolved_against_the_events_cwd() {
    let env = CliEnv::sqlite();
    // The hook runs elsewhere: only the event's cwd can resolve the path.
    let elsewhere = env.dir().join("home");
    let mut cmd = env.command(["hook", "claude-code"]);
    cmd.current_dir(&elsewhere);
    let input = event(&env, "write_relative.json", "sess-a");
    let run = crate::support::run_command_with_input(cmd, &input);
    assert_silent(&run);
    let claim = holder(&env, &abs(&env, "src/main.rs")).expect("held at cwd/src/main.rs");
    assert_eq!(claim["hold"]["agent_id"], this_tool());
}

/// A SQLite path under a regular file: the store cannot be opened.
fn unreachable_store(env: &CliEnv) -> String {
    let file = env.dir().join("not-a-directory");
    std::fs::write(&file, "x").unwrap();
    file.join("holds.db").display().to_string()
}

#[test]
fn an_unreachable_store_fails_open_by_default_with_a_warning() {
    let env = CliEnv::sqlite();
    let store = unreachable_store(&env);
    for flags in [&[][..], &["--fail-open"][..]] {
        let run = hook(
            &env,
            &event(&env, "edit.json", "sess-a"),
            &[("HOLDS_STORE", &store)],
            flags,
        );
        run.assert_code(0);
        assert_eq!(run.stdout, "", "{run}");
        let warning = run.one_line_stderr();
        assert!(
            warning.contains(&format!("cannot check {}", abs(&env, "src/lib.rs")))
                && warning.ends_with("edit allowed unchecked (--fail-open)"),
            "{run}"
        );
    }
}

#[test]
fn an_unreachable_store_fails_closed_with_a_deny() {
    let env = CliEnv::sqlite();
    let store = unreachable_store(&env);
    let run = hook(
        &env,
        &event(&env, "edit.json", "sess-a"),
        &[("HOLDS_STORE", &store)],
        &["--fail-closed"],
    );
    let reason = assert_denied(&run);
    assert!(
        reason.starts_with(&format!(
            "holds cannot check {} against its store (",
            abs(&env, "src/lib.rs")
        )) && reason.ends_with("edit denied (--fail-closed)"),
        "{reason}"
    );
}

#[test]
fn an_unreachable_nats_server_fails_closed_with_a_deny() {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = CliEnv::nats(format!("nats://127.0.0.1:{port}"));
    let run = hook(
        &env,
        &event(&env, "edit.json", "sess-a"),
        &[],
        &["--fail-closed"],
    );
    let reason = assert_denied(&run);
    assert!(reason.contains("cannot connect to NATS"), "{reason}");
}

#[test]
fn input_that_is_not_a_pretooluse_event_is_exit_2_and_changes_nothing() {
    let env = CliEnv::sqlite();
    let cases = [
        (event(&env, "truncated.json", "sess-a"), "the hook input is not JSON"),
        ("".to_string(), "the hook input is not JSON"),
        ("[]".to_string(), "not a JSON object"),
        (r#"{"tool_input":{}}"#.to_string(), "no tool_name"),
        (r#"{"session_id":"s","tool_name":"Edit","tool_input":{}}"#.to_string(), "Edit: the hook input has no tool_input.file_path"),
        (r#"{"session_id":"s","tool_name":"NotebookEdit","tool_input":{"file_path":"/a.ipynb"}}"#.to_string(), "no tool_input.notebook_path"),
        (r#"{"session_id":"s","tool_name":"Write","tool_input":{"file_path":"a.rs"}}"#.to_string(), "is relative and the event has no absolute cwd"),
    ];
    for (input, expected) in cases {
        let run = hook(&env, &input, &[], &[]);
        run.assert_code(2);
        assert_eq!(run.stdout, "", "{run}");
        let message = run.one_line_stderr();
        assert!(
            message.starts_with("holds: ") && message.contains(expected),
            "{expected}: {run}"
        );
    }
    assert_eq!(env.list_json(), Vec::<Value>::new());
}
