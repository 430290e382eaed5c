//! `holds mcp` as a process spoken to in raw JSON-RPC over stdio (newline-delimited, as MCP's stdio
//! transport is): the tool results' shapes, a refusal as a tool result, and the release at the end of a
//! session. The official Python SDK drives it too (tests/mcp, run by scripts/test-mcp).

use crate::support::{CALL_TIMEOUT, CliEnv};
use crate::{abs, announce};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;

struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    next_id: u64,
}

impl Session {
    /// `holds mcp` with HOLDS_AGENT=`name`, initialized as client `name`.
    fn start(env: &CliEnv, name: &str) -> Self {
        let mut cmd = env.command(["mcp"]);
        cmd.env("HOLDS_AGENT", name);
        Self::spawn(cmd, name)
    }

    /// `cmd` (a `holds mcp`), initialized as client `name`.
    fn spawn(mut cmd: std::process::Command, name: &str) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn holds mcp");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut s = Session {
            child,
            stdin,
            lines,
            next_id: 1,
        };
        let init = s.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": name, "version": "0"}}),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "holds", "{init}");
        s.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, message: Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{message}")
            .and_then(|()| stdin.flush())
            .expect("write to holds mcp");
    }

    /// Send a request and return its response (notifications in between are skipped).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let line = self
                .lines
                .recv_timeout(CALL_TIMEOUT)
                .unwrap_or_else(|e| panic!("no answer to {method}: {e}"));
            let message: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            if message["id"] == id {
                return message;
            }
        }
    }

    /// tools/call: the CallToolResult.
    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let response = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        assert!(
            response.get("error").is_none(),
            "a tool result, not a protocol error: {response}"
        );
        response["result"].clone()
    }

    /// Close stdin (the session ends) and wait for the process to exit; its exit code.
    fn end(mut self) -> i32 {
        drop(self.stdin.take());
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().expect("exited, not killed");
            }
            assert!(
                start.elapsed() < CALL_TIMEOUT,
                "holds mcp did not exit after stdin closed"
            );
            thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tools_are_listed_with_input_and_output_schemas() {
    let env = CliEnv::sqlite();
    let mut s = Session::start(&env, "agent-a");
    let tools = s.request("tools/list", json!({}));
    let mut names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["inputSchema"]["type"], "object", "{t}");
            assert_eq!(t["outputSchema"]["type"], "object", "{t}");
            t["name"].as_str().unwrap()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["announce", "check", "list", "release", "renew", "who_has"]
    );
}

#[test]
fn a_refusal_is_a_tool_result_naming_the_holder_and_the_session_end_releases() {
    let env = CliEnv::sqlite();
    let mut a = Session::start(&env, "agent-a");
    let mut b = Session::start(&env, "agent-b");
    let took = a.call("announce", json!({"files": ["src/a.rs"]}));
    assert_eq!(took["isError"], false, "{took}");
    let claim = &took["structuredContent"]["claims"][0];
    assert_eq!(claim["file"], abs(&env, "src/a.rs"));
    assert_eq!(claim["holder"], "agent-a");
    assert!(
        claim["fencing_token"].as_u64().is_some_and(|t| t > 0),
        "{claim}"
    );

    let refused = b.call("announce", json!({"files": ["src/a.rs"]}));
    assert_eq!(refused["isError"], true, "{refused}");
    let body = &refused["structuredContent"];
    assert_eq!(body["error"], "held-by-another", "{refused}");
    assert_eq!(body["holders"][0]["holder"], "agent-a", "{refused}");
    assert_eq!(
        body["holders"][0]["expires_at"], claim["expires_at"],
        "{refused}"
    );
    assert_eq!(
        body["message"],
        format!(
            "{} is held by agent \"agent-a\" until {}",
            abs(&env, "src/a.rs"),
            claim["expires_at"].as_str().unwrap()
        )
    );

    assert_eq!(a.end(), 0);
    assert_eq!(
        env.list_json(),
        Vec::<Value>::new(),
        "the session's hold is released"
    );
    let took = b.call("announce", json!({"files": ["src/a.rs"]}));
    assert_eq!(
        took["structuredContent"]["claims"][0]["holder"], "agent-b",
        "{took}"
    );
}

#[test]
fn a_hold_released_by_the_caller_or_taken_elsewhere_is_left_at_the_end() {
    let env = CliEnv::sqlite();
    let mut a = Session::start(&env, "agent-a");
    a.call("announce", json!({"files": ["src/a.rs", "src/b.rs"]}));
    let released = a.call("release", json!({"files": ["src/a.rs"]}));
    assert_eq!(
        released["structuredContent"]["files"][0]["released"], true,
        "{released}"
    );
    // The same agent holding another file from the command line: not this session's to release.
    announce(&env, "src/c.rs", "agent-a", "5m");
    let who = a.call("who_has", json!({"file": "src/a.rs"}));
    assert_eq!(who["structuredContent"]["claim"], Value::Null, "{who}");
    assert_eq!(a.end(), 0);
    let left: Vec<Value> = env
        .list_json()
        .into_iter()
        .map(|c| c["file"].clone())
        .collect();
    assert_eq!(left, vec![json!(abs(&env, "src/c.rs"))]);
}

#[test]
fn bad_arguments_are_tool_errors() {
    let env = CliEnv::sqlite();
    let mut a = Session::start(&env, "agent-a");
    let empty = a.call("announce", json!({"files": []}));
    assert_eq!(empty["isError"], true);
    assert_eq!(
        empty["structuredContent"]["error"], "invalid-input",
        "{empty}"
    );
    let missing = a.call("announce", json!({}));
    assert_eq!(missing["isError"], true, "{missing}");
    let zero = a.call("announce", json!({"files": ["x"], "ttl_seconds": 0}));
    assert_eq!(
        zero["structuredContent"]["message"], "ttl_seconds must be at least 1",
        "{zero}"
    );
    let long = a.call("announce", json!({"files": ["x"], "ttl_seconds": 3600}));
    assert_eq!(
        long["structuredContent"]["error"], "invalid-input",
        "{long}"
    );
    assert_eq!(env.list_json(), Vec::<Value>::new());
}

/// Two sessions of one agent tool name (two Claude Code processes, say), with no HOLDS_AGENT, are two
/// agents: the second is refused, and the first's end releases only its own holds.
#[test]
fn two_sessions_with_one_client_name_never_share_an_agent() {
    let env = CliEnv::sqlite();
    let session = || {
        let mut cmd = crate::hook::under_another_tool(env.command(["mcp"]));
        cmd.env_remove("HOLDS_AGENT");
        Session::spawn(cmd, "claude-code")
    };
    let mut a = session();
    let mut b = session();
    let took = a.call("announce", json!({"files": ["src/x.rs"]}));
    assert_eq!(took["isError"], false, "{took}");
    let a_agent = took["structuredContent"]["claims"][0]["holder"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(a_agent.starts_with("timeout-"), "the agent tool: {a_agent}");
    let refused = b.call("announce", json!({"files": ["src/x.rs"]}));
    assert_eq!(
        refused["isError"], true,
        "the same client name is not the same agent: {refused}"
    );
    assert_eq!(
        refused["structuredContent"]["holders"][0]["holder"],
        a_agent.as_str()
    );
    let took = b.call("announce", json!({"files": ["src/y.rs"]}));
    let b_agent = took["structuredContent"]["claims"][0]["holder"].clone();
    assert_ne!(b_agent, a_agent.as_str(), "{took}");
    // A's session ends: its hold goes, B's stays.
    a.end();
    let held: Vec<String> = env
        .list_json()
        .iter()
        .map(|c| c["hold"]["agent_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(held, [b_agent.as_str().unwrap()], "only B's hold is left");
}

/// The documented Claude Code setup, with no HOLDS_AGENT anywhere: the agent tool starts `holds mcp` and
/// runs the edit hook, and both name the same agent, so the agent's own MCP hold never denies its edit;
/// another tool's edit is denied.
#[test]
fn an_agent_tools_mcp_holds_and_its_edit_hook_agree_on_who_it_is() {
    let env = CliEnv::sqlite();
    let mut cmd = env.command(["mcp"]);
    cmd.env_remove("HOLDS_AGENT");
    let mut mcp = Session::spawn(cmd, "claude-code");
    let took = mcp.call("announce", json!({"files": ["src/a.rs"]}));
    assert_eq!(took["isError"], false, "{took}");
    assert_eq!(
        took["structuredContent"]["claims"][0]["holder"],
        crate::hook::this_tool()
    );
    let edit = json!({
        "session_id": "some-session", "hook_event_name": "PreToolUse", "tool_name": "Edit",
        "tool_input": {"file_path": abs(&env, "src/a.rs"), "old_string": "a", "new_string": "b"},
    })
    .to_string();
    // Claude Code runs hooks through a shell.
    let base = env.command(["hook", "claude-code"]);
    let mut hook = crate::support::like(&base, "sh");
    hook.arg("-c")
        .arg("\"$0\" hook claude-code")
        .arg(base.get_program());
    let own = crate::support::run_command_with_input(hook, &edit);
    own.assert_code(0);
    assert_eq!(
        own.stdout, "",
        "the agent's own MCP hold allows its edit: {own}"
    );
    let mut other = crate::hook::under_another_tool(env.command(["hook", "claude-code"]));
    other.env_remove("HOLDS_AGENT");
    let other = crate::support::run_command_with_input(other, &edit);
    other.assert_code(0);
    assert!(
        other.stdout.contains("\"deny\""),
        "another tool's edit is denied: {other}"
    );
}

/// `renew` keeps the checkout the hold was announced with (it used to write it empty).
#[test]
fn renew_keeps_the_checkout() {
    let env = CliEnv::sqlite();
    let mut s = Session::start(&env, "agent-r");
    let took = s.call(
        "announce",
        json!({"files": ["src/r.rs"], "checkout": "/co/agent-r"}),
    );
    assert_eq!(
        took["structuredContent"]["claims"][0]["checkout"], "/co/agent-r",
        "{took}"
    );
    let renewed = s.call("renew", json!({}));
    assert_eq!(renewed["isError"], false, "{renewed}");
    assert_eq!(
        renewed["structuredContent"]["claims"][0]["checkout"], "/co/agent-r",
        "{renewed}"
    );
    let listed = env.list_json();
    assert_eq!(listed[0]["hold"]["checkout_path"], "/co/agent-r");
}

/// A wait of 2^64-1 seconds (the server never answered) is a tool error naming the limit.
#[test]
fn an_absurd_wait_is_a_tool_error() {
    let env = CliEnv::sqlite();
    let mut s = Session::start(&env, "agent-w");
    let refused = s.call(
        "announce",
        json!({"files": ["src/w.rs"], "wait_seconds": u64::MAX}),
    );
    assert_eq!(refused["isError"], true, "{refused}");
    assert_eq!(
        refused["structuredContent"]["error"], "invalid-input",
        "{refused}"
    );
    assert!(
        refused["structuredContent"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 3600"),
        "{refused}"
    );
}
