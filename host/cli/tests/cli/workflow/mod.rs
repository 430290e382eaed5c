//! The agent workflow commands of issue 13 as real processes: `holds run` (the hold lives while CMD runs,
//! exit codes passed through, loss stops CMD, signals forwarded), `holds check`, multi-file `holds announce`
//! with `--wait`, and `holds release --force --by`. On SQLite and JetStream (a real nats-server).
//!
//! One file per command or concern: `run_hold` (the hold's life and CMD's exit code), `run_lost` (a hold
//! lost stops CMD), `run_signals` (signals to `holds run` reach CMD), `check`, `announce_many` (several
//! files, waiting), `force_release`, and `edges` (non-ASCII names, the TTL at its maximum, a closed stdout).
//!
//! CMD is a small `sh` script that reports through files in the test's directory (started, which signal it
//! got, its `HOLDS_AGENT`) and runs until the test creates a file: the tests wait for files and lines, not
//! for time to pass.

mod announce_many;
mod check;
mod edges;
mod force_release;
mod release_log;
mod run_hold;
mod run_lost;
mod run_signals;

use crate::support::{CALL_TIMEOUT, CliEnv, Run, wait_output};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a process may take to start, or an event to arrive, on a loaded machine.
pub const SETTLE: Duration = Duration::from_secs(20);

/// Polls `done` every 5 ms until it holds; fails naming `what` after `within`.
#[track_caller]
pub fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for `path` to exist (a CMD's report), then returns its contents trimmed.
#[track_caller]
pub fn wait_for_file(path: &Path, within: Duration) -> String {
    wait_until(&format!("{} to appear", path.display()), within, || {
        path.exists()
    });
    // Written with one `echo` before the rename that made it appear (see `report`).
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// Shell text that writes `text` (shell-expanded) to `path` atomically: a reader never sees it half-written.
pub fn report(path: &Path, text: &str) -> String {
    let p = path.display();
    format!("echo \"{text}\" > '{p}.tmp' && mv '{p}.tmp' '{p}'")
}

/// Shell text that waits until `path` exists (the test's go-ahead).
pub fn until_exists(path: &Path) -> String {
    format!("while [ ! -e '{}' ]; do sleep 0.02; done", path.display())
}

/// `sh -c SCRIPT` as CMD arguments.
pub fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

/// A `holds` process running in the background, its stdout and stderr collected as they come.
pub struct Background {
    child: Option<Child>,
    shown: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<thread::JoinHandle<()>>,
    started: Instant,
}

fn collect(
    from: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<String>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut from = from;
        let mut buf = [0u8; 4096];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => into
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    })
}

impl Background {
    /// Spawns `cmd` (from [`CliEnv::command`]) with stdout and stderr piped.
    pub fn spawn(mut cmd: Command) -> Self {
        let shown = format!("{cmd:?}");
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Background {
            child: Some(child),
            shown,
            stdout,
            stderr,
            readers,
            started: Instant::now(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        let child = self.child.as_mut().expect("not yet waited for");
        child.try_wait().expect("try_wait").is_none()
    }

    /// What it wrote to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Asserts the process keeps running for `window`: it is blocked, not done (the window is the subject).
    #[track_caller]
    pub fn assert_running_for(&mut self, window: Duration) {
        let end = Instant::now() + window;
        while Instant::now() < end {
            assert!(
                self.running(),
                "{} ended within {window:?}: stderr {:?}",
                self.shown,
                self.stderr_so_far()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for CMD's report at `path`, as [`wait_for_file`] does, but fails at once
    /// (with this process's stderr) when the process ends first, and names what it
    /// wrote so far when `within` passes: a claim that failed or hung says why.
    #[track_caller]
    pub fn wait_for_report(&mut self, path: &Path, within: Duration) -> String {
        let deadline = Instant::now() + within;
        while !path.exists() {
            if !self.running() && !path.exists() {
                panic!(
                    "{} ended before {} appeared: stderr {:?}",
                    self.shown,
                    path.display(),
                    self.stderr_so_far()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} to appear: not within {within:?}; {} still runs, stderr so far {:?}",
                path.display(),
                self.shown,
                self.stderr_so_far()
            );
            thread::sleep(Duration::from_millis(5));
        }
        wait_for_file(path, within)
    }

    /// Waits for it to end (at most [`CALL_TIMEOUT`]); `elapsed` counts from the spawn.
    pub fn finish(mut self) -> Run {
        let child = self.child.take().expect("not yet waited for");
        let mut run = wait_output(child, CALL_TIMEOUT, &self.shown);
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        run.stdout = self.stdout.lock().unwrap().clone();
        run.stderr = self.stderr.lock().unwrap().clone();
        run.elapsed = self.started.elapsed();
        run
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `holds --json who-has FILE`: the holder's agent id, or none (exit 4).
#[track_caller]
pub fn holder(env: &CliEnv, file: &str) -> Option<String> {
    let run = env.run(["--json", "who-has", file]);
    match run.code() {
        0 => Some(
            run.json()["hold"]["agent_id"]
                .as_str()
                .unwrap_or_else(|| panic!("no agent id: {run}"))
                .to_string(),
        ),
        4 => None,
        _ => panic!("who-has failed: {run}"),
    }
}

/// A path in the test's temporary directory (outside the working directory holds resolves FILEs in).
pub fn scratch(env: &CliEnv, name: &str) -> PathBuf {
    env.dir().join(name)
}

/// `holds run ARGS -- CMD...` as a command to spawn.
pub fn run_command(env: &CliEnv, args: &[&str], cmd: &[String]) -> Command {
    let mut all: Vec<String> = vec!["run".into()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.push("--".into());
    all.extend(cmd.iter().cloned());
    env.command(all)
}
