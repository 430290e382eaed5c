//! Real `nats-server` processes for integration tests.
//!
//! Modelled on the `nats-server` test crate of nats.rs: each test spawns its own server (JetStream on, bound
//! to 127.0.0.1 only, on free ports, with a store directory in a temporary directory the fixture owns), and
//! the server is killed when the fixture is dropped.
//!
//! The binary is found by [`nats_server_bin`]: `$NATS_SERVER_BIN`, else `<workspace>/.tools/bin/nats-server`
//! (what `scripts/install-nats-server` installs), else `nats-server` on `PATH`. Versions older than 2.11 are
//! refused, and a missing binary is a panic that says how to get one: tests never skip silently.
//!
//! Readiness: the server's stdout and stderr go to `<dir>/server.log`; a (re)start is ready when
//! 1. this process's log shows `Server is ready` (which also proves the ports are ours, not another test's),
//! 2. the monitor endpoint answers 200 on the health path (`/healthz?js-enabled-only=true` for a single
//!    server, `/healthz` for a cluster node, which also needs contact with a JetStream meta leader), and
//! 3. the client port accepts a TCP connection,
//!
//! all within the ready timeout (10 s by default, 30 s for cluster nodes). Otherwise the fixture panics with
//! the server's log.
//!
//! Every call blocks (std processes, sockets and sleeps). In an async test, a `restart()` while tasks keep
//! loading the server belongs in `tokio::task::spawn_blocking` (a `NatsServer` is `Send`), or those tasks
//! stall on a current-thread runtime.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Oldest accepted server: per-message TTL and the KV shapes the client expects need 2.11.
pub const MIN_NATS_SERVER_VERSION: (u32, u32, u32) = (2, 11, 0);

const HOW_TO_GET: &str = "run scripts/install-nats-server (or set NATS_SERVER_BIN)";
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// A restarted cluster node can take 5-7 s (raft timers) to hear from the meta leader again.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times a start is tried again when a port turned out to be taken.
const BIND_ATTEMPTS: usize = 5;
const READY_MARKER: &str = "Server is ready";
const ADDR_IN_USE: &str = "address already in use";

/// The nats-server binary the fixtures run (resolved once per test process).
///
/// Panics, naming how to get one, if none is found or the one found is older than 2.11.
pub fn nats_server_bin() -> &'static Path {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(find_bin) {
        Ok(path) => path,
        Err(msg) => panic!("{msg}"),
    }
}

/// The workspace root: the nearest directory above this crate holding `Cargo.lock`.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .expect("the fixture crate sits inside the workspace")
        .to_path_buf()
}

fn find_bin() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("NATS_SERVER_BIN").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        check_version(&path)
            .map_err(|e| format!("NATS_SERVER_BIN={}: {e}; {HOW_TO_GET}", path.display()))?;
        return Ok(path);
    }
    let local = workspace_root().join(".tools/bin/nats-server");
    if local.exists() {
        check_version(&local).map_err(|e| format!("{}: {e}; {HOW_TO_GET}", local.display()))?;
        return Ok(local);
    }
    if let Some(path) = find_on_path("nats-server") {
        check_version(&path).map_err(|e| {
            format!(
                "nats-server on PATH ({}): {e}; {HOW_TO_GET}",
                path.display()
            )
        })?;
        return Ok(path);
    }
    Err(format!(
        "no nats-server binary found (looked at $NATS_SERVER_BIN, {}, and PATH): {HOW_TO_GET}",
        local.display()
    ))
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

fn check_version(bin: &Path) -> Result<(u32, u32, u32), String> {
    let out = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{} --version`: {e}", bin.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let version = parse_version(&text)
        .ok_or_else(|| format!("cannot read a version from {:?}", text.trim()))?;
    if version < MIN_NATS_SERVER_VERSION {
        let (a, b, c) = version;
        let (x, y, z) = MIN_NATS_SERVER_VERSION;
        return Err(format!(
            "version {a}.{b}.{c} is older than {x}.{y}.{z}, the oldest these tests support"
        ));
    }
    Ok(version)
}

/// Reads `2.15.1` out of `nats-server: v2.15.1` (a pre-release suffix such as `-RC.1` is ignored).
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    text.split_whitespace().find_map(|token| {
        let token = token.strip_prefix('v').unwrap_or(token);
        let mut parts = token.splitn(3, '.');
        let number = |s: &str| -> Option<u32> {
            let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        let major = parts
            .next()
            .filter(|s| s.chars().all(|c| c.is_ascii_digit()))?;
        let minor = parts.next()?;
        let patch = parts.next()?;
        Some((number(major)?, number(minor)?, number(patch)?))
    })
}

/// `n` distinct free TCP ports on 127.0.0.1 (bound together, then released).
///
/// Another process may take one before the server binds it; the fixtures then start again on new ports.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect()
}

/// A plain HTTP/1.0 GET to `127.0.0.1:port`; returns the status code and the body.
pub fn http_get(port: u16, path: &str) -> io::Result<(u16, String)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad HTTP response: {text:?}"),
        )
    };
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_string()))
}

/// How a single server is started. Build one with [`NatsServer::builder`].
///
/// The fixture always passes `-a 127.0.0.1 -p <port> -m <monitor port>` and, with JetStream on (the default),
/// `-js -sd <store dir>`; command-line flags win over the same settings in a config file, except that `-sd` is
/// left out when the config text sets `store_dir` itself (nats-server refuses both): write
/// `jetstream { store_dir: "{{store_dir}}" }` so that [`NatsServer::store_dir`] stays right. A config text may
/// use the placeholders `{{port}}`, `{{monitor_port}}`, `{{store_dir}}` and `{{dir}}` (the fixture's temporary
/// directory), replaced before it is written to `<dir>/server.conf` and passed with `-c`.
#[derive(Clone, Debug)]
pub struct NatsServerBuilder {
    jetstream: bool,
    config: Option<String>,
    args: Vec<String>,
    port: Option<u16>,
    monitor_port: Option<u16>,
    health_path: Option<String>,
    ready_timeout: Duration,
    cpus: Option<Vec<usize>>,
}

impl Default for NatsServerBuilder {
    fn default() -> Self {
        Self {
            jetstream: true,
            config: None,
            args: Vec::new(),
            port: None,
            monitor_port: None,
            health_path: None,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            cpus: None,
        }
    }
}

impl NatsServerBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// JetStream on (default) or off.
    pub fn jetstream(mut self, on: bool) -> Self {
        self.jetstream = on;
        self
    }

    /// A nats-server config file text (`-c`), e.g. `authorization { user: a, password: b }` or a `tls {}` block.
    pub fn config(mut self, text: impl Into<String>) -> Self {
        self.config = Some(text.into());
        self
    }

    /// One extra command-line argument, appended after the fixture's own.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Extra command-line arguments, appended after the fixture's own.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// A fixed client port (default: a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// A fixed monitor port (default: a free one).
    pub fn monitor_port(mut self, port: u16) -> Self {
        self.monitor_port = Some(port);
        self
    }

    /// The monitor path that must answer 200 for the server to count as ready.
    /// Default: `/healthz?js-enabled-only=true` with JetStream, `/healthz` without.
    pub fn health_path(mut self, path: impl Into<String>) -> Self {
        self.health_path = Some(path.into());
        self
    }

    /// How long a (re)start may take to become ready (default 10 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Run the server on these CPUs only (Linux `sched_setaffinity`), e.g. to
    /// keep a benchmark's client off the server's core.
    pub fn cpus(mut self, cpus: &[usize]) -> Self {
        self.cpus = Some(cpus.to_vec());
        self
    }

    /// Spawns the server and waits until it is ready; panics with its log if it is not.
    pub fn start(self) -> NatsServer {
        let fixed_ports = self.port.is_some() && self.monitor_port.is_some();
        for attempt in 1..=BIND_ATTEMPTS {
            let mut server = self.clone().spawn();
            match server.wait_ready() {
                Ok(()) => return server,
                Err(StartError::AddrInUse) if attempt < BIND_ATTEMPTS => {
                    // Fixed ports: give their previous owner a moment to let go (the next attempt is the
                    // check). Free ports are picked afresh.
                    if fixed_ports {
                        thread::sleep(Duration::from_millis(200));
                    }
                }
                Err(e) => server.fail(&e),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Spawns the server without waiting for it; see [`NatsServer::wait_until_ready`].
    pub fn spawn(self) -> NatsServer {
        let bin = nats_server_bin().to_path_buf();
        let dir = tempfile::Builder::new()
            .prefix("nats-server-")
            .tempdir()
            .expect("create a temporary directory for nats-server");
        let store_dir = dir.path().join("store");
        fs::create_dir_all(&store_dir).expect("create the store directory");
        let ports = free_ports(2);
        let port = self.port.unwrap_or(ports[0]);
        let monitor_port = self.monitor_port.unwrap_or(ports[1]);
        let config_path = self.config.as_ref().map(|text| {
            let text = text
                .replace("{{port}}", &port.to_string())
                .replace("{{monitor_port}}", &monitor_port.to_string())
                .replace("{{store_dir}}", &store_dir.display().to_string())
                .replace("{{dir}}", &dir.path().display().to_string());
            let path = dir.path().join("server.conf");
            fs::write(&path, text).expect("write server.conf");
            path
        });
        let health_path = self.health_path.clone().unwrap_or_else(|| {
            if self.jetstream {
                "/healthz?js-enabled-only=true".to_string()
            } else {
                "/healthz".to_string()
            }
        });
        let mut server = NatsServer {
            bin,
            log_path: dir.path().join("server.log"),
            config_path,
            store_dir,
            dir,
            port,
            monitor_port,
            jetstream: self.jetstream,
            config_sets_store_dir: self
                .config
                .as_ref()
                .is_some_and(|text| text.contains("store_dir")),
            extra_args: self.args,
            health_path,
            ready_timeout: self.ready_timeout,
            cpus: self.cpus,
            child: None,
            log_offset: 0,
        };
        server.spawn_process();
        server
    }
}

#[derive(Debug)]
enum StartError {
    AddrInUse,
    Exited(ExitStatus),
    Timeout(String),
    Io(io::Error),
}

/// A running nats-server, killed (SIGKILL) and reaped on drop.
pub struct NatsServer {
    bin: PathBuf,
    dir: TempDir,
    store_dir: PathBuf,
    log_path: PathBuf,
    config_path: Option<PathBuf>,
    port: u16,
    monitor_port: u16,
    jetstream: bool,
    config_sets_store_dir: bool,
    extra_args: Vec<String>,
    health_path: String,
    ready_timeout: Duration,
    cpus: Option<Vec<usize>>,
    child: Option<Child>,
    /// Length of the log when the current process was spawned: readiness is read after it.
    log_offset: u64,
}

impl NatsServer {
    /// A JetStream server on free ports of 127.0.0.1, ready.
    pub fn start() -> Self {
        Self::builder().start()
    }

    /// A JetStream server run with this config file text (see [`NatsServerBuilder::config`]), ready.
    pub fn with_config(text: impl Into<String>) -> Self {
        Self::builder().config(text).start()
    }

    pub fn builder() -> NatsServerBuilder {
        NatsServerBuilder::new()
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HTTP monitor port.
    pub fn monitor_port(&self) -> u16 {
        self.monitor_port
    }

    /// `http://127.0.0.1:MONITOR_PORT`.
    pub fn monitor_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.monitor_port)
    }

    /// The directory given to `-sd` (JetStream keeps its data in `jetstream/` under it).
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// The fixture's temporary directory (store, log, config); removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The config file passed with `-c`, if any.
    pub fn config_path(&self) -> Option<&Path> {
        self.config_path.as_deref()
    }

    /// The file that receives the server's stdout and stderr, across restarts.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The whole log so far (all runs of this fixture).
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running (reaps it if it has exited).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => match child.try_wait() {
                Ok(None) => true,
                Ok(Some(_)) | Err(_) => {
                    self.child = None;
                    false
                }
            },
            None => false,
        }
    }

    /// GET a monitor endpoint (`/varz`, `/jsz`, `/routez`, `/healthz`...): status code and body.
    pub fn monitor_get(&self, path: &str) -> io::Result<(u16, String)> {
        http_get(self.monitor_port, path)
    }

    /// The distinct server names this server has routes to (from `/routez`; pooled routes count once).
    pub fn route_peers(&self) -> BTreeSet<String> {
        let Ok((200, body)) = self.monitor_get("/routez") else {
            return BTreeSet::new();
        };
        json_string_values(&body, "remote_name")
            .into_iter()
            .collect()
    }

    /// SIGKILL, then reap: a crash, for fault tests. No-op if not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Graceful stop (SIGTERM); SIGKILL if it has not exited within 10 s. No-op if not running.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let signalled = Command::new(&self.bin)
            .arg("--signal")
            .arg(format!("term={}", child.id()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if signalled {
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the server again on the same ports, config and store directory, and waits until it is ready.
    /// A running server is first stopped gracefully; call [`kill`](Self::kill) before for a crash.
    pub fn restart(&mut self) {
        self.stop();
        for attempt in 1..=BIND_ATTEMPTS {
            self.spawn_process();
            match self.wait_ready() {
                Ok(()) => return,
                Err(StartError::AddrInUse) if attempt < BIND_ATTEMPTS => {
                    // The same ports again: give their previous owner a moment to let go (the next
                    // attempt is the check).
                    thread::sleep(Duration::from_millis(200));
                }
                Err(e) => self.fail(&e),
            }
        }
    }

    /// Waits until a server made with [`NatsServerBuilder::spawn`] is ready; panics with its log if not.
    pub fn wait_until_ready(&mut self) {
        if let Err(e) = self.wait_ready() {
            self.fail(&e);
        }
    }

    fn command_line(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(config) = &self.config_path {
            args.extend(["-c".to_string(), config.display().to_string()]);
        }
        args.extend([
            "-a".to_string(),
            "127.0.0.1".to_string(),
            "-p".to_string(),
            self.port.to_string(),
            "-m".to_string(),
            self.monitor_port.to_string(),
        ]);
        if self.jetstream {
            args.push("-js".to_string());
            // nats-server refuses `-sd` when the config file sets `store_dir` too.
            if !self.config_sets_store_dir {
                args.extend(["-sd".to_string(), self.store_dir.display().to_string()]);
            }
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }

    fn spawn_process(&mut self) {
        assert!(self.child.is_none(), "nats-server is already running");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open the nats-server log");
        self.log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let stderr = log.try_clone().expect("clone the log file handle");
        let mut command = Command::new(&self.bin);
        command
            .args(self.command_line())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr));
        if let Some(cpus) = self.cpus.clone() {
            pin_child(&mut command, cpus);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", self.bin.display()));
        self.child = Some(child);
    }

    /// The log written by the current process (since the last spawn).
    fn current_log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(&self.log_path) {
            use std::io::{Seek, SeekFrom};
            if file.seek(SeekFrom::Start(self.log_offset)).is_ok() {
                let mut raw = Vec::new();
                let _ = file.read_to_end(&mut raw);
                text = String::from_utf8_lossy(&raw).into_owned();
            }
        }
        text
    }

    fn wait_ready(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + self.ready_timeout;
        let client = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            let Some(child) = self.child.as_mut() else {
                return Err(StartError::Io(io::Error::other(
                    "nats-server is not running",
                )));
            };
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Err(if self.current_log().contains(ADDR_IN_USE) {
                        StartError::AddrInUse
                    } else {
                        StartError::Exited(status)
                    });
                }
                Ok(None) => {}
                Err(e) => return Err(StartError::Io(e)),
            }
            let last = if !self.current_log().contains(READY_MARKER) {
                format!("no {READY_MARKER:?} in the log yet")
            } else {
                match self.monitor_get(&self.health_path) {
                    Ok((200, _)) => {
                        if TcpStream::connect_timeout(&client, Duration::from_millis(500)).is_ok() {
                            return Ok(());
                        }
                        format!("client port {} refused a connection", self.port)
                    }
                    Ok((status, body)) => {
                        format!("GET {} -> {status} {}", self.health_path, body.trim())
                    }
                    Err(e) => format!("GET {} failed: {e}", self.health_path),
                }
            };
            if Instant::now() >= deadline {
                // A server that lost a port race logs it and exits: wait (up to a second) for the exit.
                let exiting = Instant::now() + Duration::from_secs(1);
                loop {
                    if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                        self.child = None;
                        if self.current_log().contains(ADDR_IN_USE) {
                            return Err(StartError::AddrInUse);
                        }
                        break;
                    }
                    if Instant::now() >= exiting || !self.current_log().contains(ADDR_IN_USE) {
                        break;
                    }
                    thread::sleep(Duration::from_millis(10));
                }
                return Err(StartError::Timeout(last));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn fail(&mut self, error: &StartError) -> ! {
        self.kill();
        let why = match error {
            StartError::AddrInUse => format!(
                "a port stayed in use after {BIND_ATTEMPTS} attempts (client {}, monitor {})",
                self.port, self.monitor_port
            ),
            StartError::Exited(status) => format!("it exited with {status}"),
            StartError::Timeout(last) => {
                format!("not ready within {:?}: {last}", self.ready_timeout)
            }
            StartError::Io(e) => e.to_string(),
        };
        let config = self
            .config_path
            .as_ref()
            .and_then(|p| fs::read_to_string(p).ok())
            .map(|text| format!("\n--- config ---\n{text}"))
            .unwrap_or_default();
        panic!(
            "nats-server failed to start: {why}\ncommand: {} {}{config}\n--- log ({}) ---\n{}",
            self.bin.display(),
            self.command_line().join(" "),
            self.log_path.display(),
            self.log()
        );
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            eprintln!(
                "--- last lines of nats-server log on 127.0.0.1:{} ({}) ---\n{}",
                self.port,
                self.log_path.display(),
                tail.join("\n")
            );
        }
    }
}

/// The string values of every `"key": "value"` in a JSON text (enough for monitor endpoints, no parser).
fn json_string_values(json: &str, key: &str) -> Vec<String> {
    let needle = format!("\"{key}\":");
    json.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = json[i + needle.len()..].trim_start().strip_prefix('"')?;
            Some(rest[..rest.find('"')?].to_string())
        })
        .collect()
}

/// A cluster of nats-servers with JetStream, on 127.0.0.1, each with its own client, monitor and cluster
/// ports and store directory, and config files with `server_name`, `cluster { name, listen, routes }` and
/// `jetstream { store_dir }`.
pub struct NatsCluster {
    servers: Vec<NatsServer>,
}

impl NatsCluster {
    pub const NAME: &'static str = "holds-test";

    /// `n` servers, each with routes to the others; returns once every node is healthy (JetStream meta
    /// leader known) and has routes to all the others.
    pub fn start(n: usize) -> Self {
        Self::start_with(n, "")
    }

    /// Like [`start`](Self::start), with `extra_config` appended to every node's config file.
    pub fn start_with(n: usize, extra_config: &str) -> Self {
        assert!(n >= 1, "a cluster needs at least one node");
        'attempt: for attempt in 1..=BIND_ATTEMPTS {
            let ports = free_ports(3 * n);
            let (clients, rest) = ports.split_at(n);
            let (monitors, routes) = rest.split_at(n);
            let mut servers = Vec::with_capacity(n);
            for i in 0..n {
                let route_urls: Vec<String> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| format!("nats-route://127.0.0.1:{}", routes[j]))
                    .collect();
                let config = format!(
                    "server_name: n{i}\n\
                     jetstream {{ store_dir: \"{{{{store_dir}}}}\" }}\n\
                     cluster {{\n  name: {name}\n  listen: 127.0.0.1:{listen}\n  routes: [{routes}]\n}}\n\
                     {extra_config}\n",
                    name = Self::NAME,
                    listen = routes[i],
                    routes = route_urls.join(", "),
                );
                servers.push(
                    NatsServerBuilder::new()
                        .port(clients[i])
                        .monitor_port(monitors[i])
                        .config(config)
                        .health_path("/healthz")
                        .ready_timeout(CLUSTER_READY_TIMEOUT)
                        .spawn(),
                );
            }
            for server in &mut servers {
                match server.wait_ready() {
                    Ok(()) => {}
                    Err(StartError::AddrInUse) if attempt < BIND_ATTEMPTS => continue 'attempt,
                    Err(e) => server.fail(&e),
                }
            }
            let mut cluster = Self { servers };
            cluster.wait_routes(DEFAULT_READY_TIMEOUT);
            return cluster;
        }
        unreachable!("the last attempt returns or panics")
    }

    pub fn servers(&self) -> &[NatsServer] {
        &self.servers
    }

    pub fn server(&self, i: usize) -> &NatsServer {
        &self.servers[i]
    }

    pub fn server_mut(&mut self, i: usize) -> &mut NatsServer {
        &mut self.servers[i]
    }

    /// Every node's `nats://127.0.0.1:PORT`.
    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(NatsServer::url).collect()
    }

    /// The URLs joined with commas, as NATS clients accept them.
    pub fn url_list(&self) -> String {
        self.urls().join(",")
    }

    /// Graceful stop of node `i`.
    pub fn stop_node(&mut self, i: usize) {
        self.servers[i].stop();
    }

    /// SIGKILL of node `i`.
    pub fn kill_node(&mut self, i: usize) {
        self.servers[i].kill();
    }

    /// Starts node `i` again (same ports and store) and waits until the cluster has formed again.
    pub fn start_node(&mut self, i: usize) {
        self.servers[i].restart();
        self.wait_routes(DEFAULT_READY_TIMEOUT);
    }

    /// Waits until every running node has routes to exactly the other running nodes.
    pub fn wait_routes(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let running: Vec<usize> = (0..self.servers.len())
                .filter(|&i| self.servers[i].is_running())
                .collect();
            let missing: Vec<String> = running
                .iter()
                .filter_map(|&i| {
                    let peers = self.servers[i].route_peers();
                    let want: BTreeSet<String> = running
                        .iter()
                        .filter(|&&j| j != i)
                        .map(|j| format!("n{j}"))
                        .collect();
                    (peers != want).then(|| format!("n{i} has routes to {peers:?}, not {want:?}"))
                })
                .collect();
            if missing.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                let logs: Vec<String> = self
                    .servers
                    .iter()
                    .enumerate()
                    .map(|(i, s)| format!("--- log of n{i} ---\n{}", s.log()))
                    .collect();
                panic!(
                    "nats cluster did not form within {timeout:?}: {}\n{}",
                    missing.join("; "),
                    logs.join("\n")
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Pin `tid` (0: the calling thread) to `cpus`.
pub fn set_affinity(tid: libc::pid_t, cpus: &[usize]) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes inside it for
    // indices below CPU_SETSIZE, which is checked.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            if cpu >= libc::CPU_SETSIZE as usize {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cpu {cpu} is out of range"),
                ));
            }
            libc::CPU_SET(cpu, &mut set);
        }
        if libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The child runs on `cpus` from its first instruction.
fn pin_child(command: &mut Command, cpus: Vec<usize>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure only makes one system call
    // (sched_setaffinity) on memory it owns; it allocates nothing.
    unsafe {
        command.pre_exec(move || set_affinity(0, &cpus));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15, 1)));
        assert_eq!(parse_version("nats-server: v2.9.10"), Some((2, 9, 10)));
        assert_eq!(parse_version("nats-server: v2.11.0-RC.1"), Some((2, 11, 0)));
        assert_eq!(parse_version("nats-server: garbage"), None);
        assert!(parse_version("nats-server: v2.9.10").unwrap() < MIN_NATS_SERVER_VERSION);
    }

    #[test]
    fn reads_json_string_values() {
        let body = r#"{"routes": [{"remote_name": "n1", "x": 1}, {"remote_name":"n2"}, {"remote_name": "n1"}]}"#;
        let names: BTreeSet<String> = json_string_values(body, "remote_name")
            .into_iter()
            .collect();
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["n1", "n2"]);
    }
}
