//! Running the real `holds` binary, isolated: a temporary store, cache, home and working directory.
//!
//! The binary is the one cargo built for these tests (`CARGO_BIN_EXE_holds`), or `$HOLDS_BIN` to test
//! another build.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long one CLI call may take before the test fails (a hang is a bug).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The `holds` binary under test.
/// who-has's JSON: the oldest holder's claim, without the list of every holder.
pub fn first_holder(mut who: serde_json::Value) -> serde_json::Value {
    if let Some(fields) = who.as_object_mut() {
        fields.remove("holders");
    }
    who
}

pub fn holds_bin() -> PathBuf {
    match std::env::var_os("HOLDS_BIN").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_BIN_EXE_holds")),
    }
}

/// Variables that would leak the caller's configuration into a test's `holds`.
const INHERITED: &[&str] = &[
    "NATS_URL",
    "NATS_CREDS",
    "NATS_USER",
    "NATS_PASSWORD",
    "NATS_TOKEN",
    "NATS_CA",
    "NATS_CERT",
    "NATS_KEY",
    "HOLDS_STORE",
    "HOLDS_BUCKET",
    "HOLDS_TTL_MAX",
    "HOLDS_AGENT",
    "HOLDS_TTL",
    "HOLDS_CACHE_DIR",
    "HOLDS_LOG",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
];

/// One compiled-component cache per test process: isolated from the user's, shared by its calls.
fn cache_dir() -> &'static Path {
    static DIR: OnceLock<TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("holds-cache-")
            .tempdir()
            .expect("a temporary cache directory")
    })
    .path()
}

/// Compiles the holds component into this test process's cache once (with a throwaway SQLite store), so
/// that later calls start in milliseconds: processes meant to race then reach the store together instead of
/// one compile (most of a second of CPU) apart.
pub fn warm_cache() {
    static WARM: OnceLock<()> = OnceLock::new();
    WARM.get_or_init(|| {
        let env = CliEnv::sqlite();
        env.run(["probe"]).assert_code(0);
    });
}

/// Where a test's `holds` calls keep their holds.
#[derive(Clone, Debug)]
pub enum Store {
    /// The embedded SQLite database `<dir>/holds.db` (passed as `HOLDS_STORE`).
    Sqlite,
    /// JetStream at this URL (passed as `--nats URL`).
    Nats(String),
}

/// An isolated environment for `holds` calls: a temporary directory holding the SQLite database, `HOME`,
/// the XDG directories and a working directory (`<dir>/work`).
pub struct CliEnv {
    dir: TempDir,
    store: Store,
}

impl CliEnv {
    /// The embedded SQLite store in a fresh temporary directory.
    pub fn sqlite() -> Self {
        Self::new(Store::Sqlite)
    }

    /// JetStream at `url` (a fresh bucket per server, so use one server per environment).
    pub fn nats(url: impl Into<String>) -> Self {
        Self::new(Store::Nats(url.into()))
    }

    pub fn new(store: Store) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("holds-cli-")
            .tempdir()
            .expect("a temporary directory");
        for sub in ["work", "home", "data", "config", "state"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("create a test directory");
        }
        Self { dir, store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The SQLite database file (used only by the SQLite store).
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("holds.db")
    }

    /// The working directory `holds` runs in (canonical, so it matches the paths `holds` prints).
    pub fn cwd(&self) -> PathBuf {
        self.dir
            .path()
            .join("work")
            .canonicalize()
            .expect("canonical work directory")
    }

    /// A `holds` command with this environment (store, isolated cache and home, working directory).
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(holds_bin());
        for var in INHERITED {
            cmd.env_remove(var);
        }
        let d = self.dir.path();
        cmd.env("HOME", d.join("home"))
            .env("XDG_DATA_HOME", d.join("data"))
            .env("XDG_CONFIG_HOME", d.join("config"))
            .env("XDG_STATE_HOME", d.join("state"))
            .env("XDG_CACHE_HOME", cache_dir())
            .env("HOLDS_CACHE_DIR", cache_dir())
            .current_dir(self.cwd());
        match &self.store {
            Store::Sqlite => {
                cmd.env("HOLDS_STORE", self.db_path());
            }
            Store::Nats(url) => {
                cmd.arg("--nats").arg(url);
            }
        }
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs `holds ARGS` to completion (at most [`CALL_TIMEOUT`]).
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = self.command(args);
        let shown = format!("{cmd:?}");
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
        wait_output(child, CALL_TIMEOUT, &shown)
    }

    /// Runs `holds ARGS` with `input` on stdin and `envs` set, to completion (at most [`CALL_TIMEOUT`]).
    pub fn run_with_input<I, S>(&self, args: I, input: &str, envs: &[(&str, &str)]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = self.command(args);
        cmd.envs(envs.iter().copied());
        run_command_with_input(cmd, input)
    }

    /// `holds --json list`, parsed: one JSON object per live hold.
    pub fn list_json(&self) -> Vec<serde_json::Value> {
        let run = self.run(["--json", "list"]);
        run.assert_code(0);
        run.json_lines()
    }

    /// Spawns `holds --json watch` with its stdout read line by line.
    pub fn watch(&self) -> Watcher {
        let mut cmd = self.command(["--json", "watch"]);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn holds watch");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = thread::spawn(move || read_all(stderr));
        Watcher {
            child: Some(child),
            lines,
            stderr: Some(stderr),
        }
    }
}

/// The outcome of one `holds` call.
#[derive(Debug)]
pub struct Run {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// The exit code (panics if the process died of a signal).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("{} died of a signal: {self}", self.command))
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.status.code(), Some(code), "wrong exit code: {self}");
        self
    }

    /// stdout as exactly one JSON object.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        let lines = self.json_lines();
        assert_eq!(lines.len(), 1, "expected one JSON line: {self}");
        lines.into_iter().next().unwrap()
    }

    /// stdout as JSON lines.
    #[track_caller]
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}: {self}"))
            })
            .collect()
    }

    /// stderr, which must be one line: the error sentence.
    #[track_caller]
    pub fn one_line_stderr(&self) -> &str {
        let text = self.stderr.trim_end_matches('\n');
        assert!(
            !text.is_empty() && !text.contains('\n'),
            "expected one line on stderr: {self}"
        );
        text
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} -> {} in {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.command, self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

fn read_all(mut r: impl Read) -> String {
    let mut buf = Vec::new();
    let _ = r.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// `program` with `base`'s environment (set and removed variables) and working directory: another program
/// run as `base` would be (git running the hooks' `holds`, a wrapper between a test and `holds`).
pub fn like(base: &Command, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (key, value) in base.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    if let Some(dir) = base.get_current_dir() {
        cmd.current_dir(dir);
    }
    cmd
}

/// Runs `cmd` with `input` on stdin, to completion (at most [`CALL_TIMEOUT`]).
pub fn run_command_with_input(mut cmd: Command, input: &str) -> Run {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_owned();
    // A thread, so a child that stops reading early cannot block the test.
    let writer = thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(input.as_bytes());
    });
    let run = wait_output(child, CALL_TIMEOUT, &shown);
    let _ = writer.join();
    run
}

/// Waits for a child whose stdout and stderr are piped; kills it after `timeout`.
pub fn wait_output(mut child: Child, timeout: Duration, shown: &str) -> Run {
    let start = Instant::now();
    let stdout = child
        .stdout
        .take()
        .map(|s| thread::spawn(move || read_all(s)));
    let stderr = child
        .stderr
        .take()
        .map(|s| thread::spawn(move || read_all(s)));
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{shown} did not finish within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let join = |h: Option<thread::JoinHandle<String>>| {
        h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
    };
    Run {
        command: shown.to_string(),
        status,
        stdout: join(stdout),
        stderr: join(stderr),
        elapsed,
    }
}

/// A running `holds --json watch`; killed on drop if still running.
pub struct Watcher {
    child: Option<Child>,
    lines: Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
}

impl Watcher {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The next stdout line, parsed as JSON, within `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> serde_json::Value {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("watch printed a non-JSON line ({e}): {line:?}")),
            Err(RecvTimeoutError::Timeout) => panic!("watch printed nothing within {timeout:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                // It ended (or is ending): say how, and what it said.
                let (status, _, stderr) = self.wait(Duration::from_secs(5));
                panic!("watch closed its stdout (status {status}, stderr {stderr:?})");
            }
        }
    }

    /// Asserts no line arrives within `quiet`.
    pub fn assert_quiet(&mut self, quiet: Duration) {
        if let Ok(line) = self.lines.recv_timeout(quiet) {
            panic!("watch printed an unexpected line: {line}");
        }
    }

    /// Sends `signal` (e.g. "INT") with `kill -SIGNAL PID`.
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// Whether the process has ended, watched for up to `within` (returns as soon as it ends).
    pub fn ended_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().expect("running");
        loop {
            if child.try_wait().expect("try_wait").is_some() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the process to end within `timeout`; returns its status, how long it took, and what it
    /// wrote to stderr. Lines not yet read stay readable with [`Watcher::next_event`].
    pub fn wait(&mut self, timeout: Duration) -> (ExitStatus, Duration, String) {
        let start = Instant::now();
        let child = self.child.as_mut().expect("running");
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("holds watch did not end within {timeout:?}");
            }
            thread::sleep(Duration::from_millis(5));
        };
        let elapsed = start.elapsed();
        self.child = None;
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        (status, elapsed, stderr)
    }

    /// Drops the read end of stdout (the reader of a pipe going away, like `holds watch | head -1`).
    pub fn close_stdout(&mut self) {
        let (_, rx) = mpsc::channel();
        self.lines = rx;
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `kill -SIGNAL PID`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed: {status}");
}

/// The checked-in trace of 16 agents racing on JetStream (in the library's tests).
pub fn fixture_trace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/contention.trace.jsonl")
}
