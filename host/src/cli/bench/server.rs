//! `--spawn`: a private nats-server for the run.
//!
//! The binary is `$NATS_SERVER_BIN`, else `nats-server` on `PATH`, else the one
//! `scripts/install-nats-server` puts in this checkout's `.tools/bin`. It runs with
//! JetStream on, bound to 127.0.0.1 on a free port, its store in a temporary
//! directory, and is killed when [`Server`] is dropped (also on errors).

use anyhow::{Context, bail};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long the server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Start attempts (another process may take the free port first).
const ATTEMPTS: usize = 3;

pub struct Server {
    child: Child,
    port: u16,
    pub bin: PathBuf,
    pub version: String,
    dir: TempDir,
}

impl Server {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Find the binary, start it, and wait until it accepts connections.
pub fn spawn() -> anyhow::Result<Server> {
    let bin = find_bin()?;
    let version = Command::new(&bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} --version", bin.display()))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    if !supported(&version) {
        bail!(
            "{} is {version:?}; holds needs nats-server 2.11 or later (per-message TTL)",
            bin.display()
        );
    }
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        match start(&bin, &version) {
            Ok(server) => return Ok(server),
            Err(e) => last = format!("{e:#}"),
        }
    }
    bail!("could not start {}: {last}", bin.display())
}

fn start(bin: &Path, version: &str) -> anyhow::Result<Server> {
    let dir = tempfile::Builder::new()
        .prefix("holds-bench-nats")
        .tempdir()?;
    let port = free_port()?;
    let log = std::fs::File::create(dir.path().join("server.log"))?;
    let child = Command::new(bin)
        .args(["-js", "-sd"])
        .arg(dir.path().join("store"))
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut server = Server {
        child,
        port,
        bin: bin.to_path_buf(),
        version: version.to_string(),
        dir,
    };
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = server.child.try_wait()? {
            bail!("nats-server exited with {status}: {}", server.log());
        }
        // Ready: our own log says so (the port is ours) and the port accepts.
        if server.log().contains("Server is ready")
            && TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
        {
            return Ok(server);
        }
        if Instant::now() > deadline {
            bail!(
                "nats-server did not become ready within {READY_TIMEOUT:?}: {}",
                server.log()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `nats-server: v2.15.1` -> at least 2.11.
fn supported(version: &str) -> bool {
    let Some(number) = version.split_whitespace().last() else {
        return false;
    };
    let mut parts = number
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (2, 11)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn find_bin() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("NATS_SERVER_BIN").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("nats-server");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    // A development checkout: what scripts/install-nats-server installs.
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/nats-server");
    if local.is_file() {
        return Ok(local.canonicalize().unwrap_or(local));
    }
    bail!(
        "--spawn needs nats-server (>= 2.11): set NATS_SERVER_BIN, put it on PATH, \
         or run scripts/install-nats-server"
    )
}
