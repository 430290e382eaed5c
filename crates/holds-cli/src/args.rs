//! The command line's shape: the options every command takes, the subcommands,
//! exit codes and failures.

use crate::commands::{announce, bench, component, list, probe, release, replay, watch, who_has};
use crate::output;
use clap::{Args, Parser, Subcommand};
use holds::Error;
use std::path::PathBuf;
use std::time::Duration;

/// Exit codes, as documented in `holds --help` and the README.
pub mod exit {
    pub const OK: u8 = 0;
    pub const STORE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const HELD: u8 = 3;
    pub const NOBODY: u8 = 4;
    pub const DIVERGED: u8 = 5;
}

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  store or runtime error (unreachable store, corrupt entry, guest failure)
  2  invalid input or usage (empty agent, bad duration, TTL 0 or over the max,
     bad bucket name, relative or empty path, unknown command)
  3  held by another agent (the message names the holder and when it expires)
  4  who-has: nobody holds the file
  5  replay: the guest diverged from the trace (the first diverging step is printed)

Without --nats, holds uses an embedded SQLite database (--store) that every
process on this machine shares. FILE may be relative: it is resolved against the
working directory and cleaned. Durations: 30s, 5m, 250ms, 1h30m.";

/// File-level holds (leases) for fleets of coding agents editing one workspace.
#[derive(Parser, Debug)]
#[command(name = "holds", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Args, Debug)]
pub struct Global {
    /// NATS server URL(s): use the JetStream backend instead of the embedded store.
    #[arg(long, env = "NATS_URL", global = true, value_name = "URL")]
    pub nats: Option<String>,
    /// The embedded SQLite database [default: holds.db in the user's data directory]
    #[arg(long, env = "HOLDS_STORE", global = true, value_name = "PATH")]
    pub store: Option<PathBuf>,
    /// The bucket holding the holds.
    #[arg(
        long,
        env = "HOLDS_BUCKET",
        global = true,
        default_value = "holds",
        value_name = "NAME"
    )]
    pub bucket: String,
    /// The longest hold allowed (also the bucket's max age).
    #[arg(long, env = "HOLDS_TTL_MAX", global = true, default_value = "5m", value_parser = duration, value_name = "DURATION", allow_hyphen_values = true)]
    pub ttl_max: Duration,
    /// Copies of a JetStream bucket this call creates (1 to 5; 3 on a 3-node
    /// cluster). An existing bucket keeps its own.
    #[arg(
        long,
        env = "HOLDS_REPLICAS",
        global = true,
        default_value_t = 1,
        value_name = "N"
    )]
    pub replicas: usize,
    /// Machine-readable output: one JSON object per result, JSON lines for streams.
    #[arg(long, global = true)]
    pub json: bool,
    /// Record every guest call of this command (arguments, import calls, results)
    /// as a trace in FILE, for `holds replay`.
    #[arg(long, global = true, value_name = "FILE")]
    pub record: Option<PathBuf>,
    #[command(flatten)]
    pub auth: NatsAuth,
}

/// NATS authentication, with the nats CLI's variable names.
#[derive(Args, Debug, Default)]
pub struct NatsAuth {
    /// NATS credentials file (JWT and nkey seed).
    #[arg(long, env = "NATS_CREDS", global = true, value_name = "FILE")]
    pub creds: Option<PathBuf>,
    /// NATS user name.
    #[arg(long, env = "NATS_USER", global = true)]
    pub user: Option<String>,
    /// NATS password.
    #[arg(long, env = "NATS_PASSWORD", global = true)]
    pub password: Option<String>,
    /// NATS token.
    #[arg(long, env = "NATS_TOKEN", global = true)]
    pub token: Option<String>,
    /// NATS user nkey seed file (the `SU...` seed, alone or decorated as nsc writes it).
    #[arg(long, env = "NATS_NKEY", global = true, value_name = "FILE")]
    pub nkey: Option<PathBuf>,
    /// CA certificate to verify the NATS server's TLS certificate.
    #[arg(long, env = "NATS_CA", global = true, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// Client certificate for TLS.
    #[arg(long, env = "NATS_CERT", global = true, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// Client key for TLS.
    #[arg(long, env = "NATS_KEY", global = true, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Place or renew a hold on FILE; prints the claim.
    Announce(announce::Opts),
    /// Release AGENT's hold on FILE (a no-op when it holds none).
    Release(release::Opts),
    /// Who holds FILE (exit 4 when nobody does).
    WhoHas(who_has::Opts),
    /// Every live hold.
    List(list::Opts),
    /// Stream events: current holds first, then live changes, until interrupted.
    Watch(watch::Opts),
    /// Check the store is reachable; fails within seconds when it is not.
    Probe(probe::Opts),
    /// Replay a recorded trace against the embedded (or another) guest build.
    Replay(replay::Opts),
    /// Write the embedded holds:core component, for other runtimes (jco, wasmtime-py).
    Component(component::Opts),
    /// Measure holds against raw async-nats baselines (see BENCHMARKS.md).
    Bench(bench::Opts),
}

/// Parse a humantime duration (`30s`, `5m`, `250ms`).
pub fn duration(text: &str) -> Result<Duration, String> {
    if let Some(magnitude) = text.trim_start().strip_prefix('-')
        && humantime::parse_duration(magnitude.trim_start()).is_ok()
    {
        return Err(format!("{text:?} is negative; a duration must be positive"));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration like 30s, 5m or 250ms: {e}"))
}

/// A failure of a command, with its exit code.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
    /// The structured error, for `--json`.
    pub holds: Option<Error>,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::InvalidInput { .. } | Error::Config(_) => exit::USAGE,
            Error::HeldByAnother(_) => exit::HELD,
            _ => exit::STORE,
        };
        Failure {
            code,
            error: anyhow::Error::new(e.clone()),
            holds: Some(e),
        }
    }
}

impl Failure {
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: exit::USAGE,
            error: error.into(),
            holds: None,
        }
    }

    pub fn store(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: exit::STORE,
            error: error.into(),
            holds: None,
        }
    }
}

pub type Outcome = Result<u8, Failure>;

/// Resolve a relative FILE against the working directory; the guest checks and
/// cleans the result (an empty FILE is passed on for the guest to reject).
pub fn absolute(file: &str) -> Result<String, Failure> {
    if file.is_empty() || file.starts_with('/') {
        return Ok(file.to_string());
    }
    let cwd = std::env::current_dir().map_err(|e| {
        Failure::usage(anyhow::anyhow!(
            "cannot resolve {file:?}: no working directory: {e}"
        ))
    })?;
    let cwd = cwd
        .to_str()
        .ok_or_else(|| Failure::usage(anyhow::anyhow!("the working directory is not UTF-8")))?;
    Ok(format!("{cwd}/{file}"))
}

/// Report a command-line parsing error: its first paragraph, as one sentence.
pub fn usage_error(clap_text: &str, json: bool) {
    let sentence = clap_text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let sentence = sentence.strip_prefix("error: ").unwrap_or(&sentence);
    let failure = Failure::usage(anyhow::anyhow!("{sentence} (see holds --help)"));
    output::failure(&failure, json);
}
