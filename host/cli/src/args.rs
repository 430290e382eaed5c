//! The options every command takes, and the shared argument parsers.

use crate::failure::Failure;
use clap::Args;
use holds::Place;
use std::path::PathBuf;
use std::time::Duration;

/// Options every command takes.
#[derive(Args, Debug)]
pub struct Global {
    /// NATS server URL(s): use the JetStream backend instead of the embedded store.
    #[arg(
        long,
        env = "NATS_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
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
    /// The shared workspace your checkout is a copy of, for checkouts git does
    /// not link (copies, jj or fossil checkouts); needs --checkout. Git worktrees
    /// need neither: their files are named under the main worktree.
    #[arg(long, env = "HOLDS_WORKSPACE", global = true, value_name = "DIR")]
    pub workspace: Option<String>,
    /// Your checkout: with --workspace, files under it are held as the same paths
    /// under the workspace; shown with your holds [default: the git worktree a
    /// file is in].
    #[arg(long, env = "HOLDS_CHECKOUT", global = true, value_name = "DIR")]
    pub checkout: Option<String>,
    #[command(flatten)]
    pub auth: NatsAuth,
}

impl Global {
    /// Where a caller in `cwd` stands, with the declared workspace and checkout.
    pub fn place_in(&self, cwd: impl Into<String>) -> Place {
        Place {
            cwd: cwd.into(),
            workspace: self.workspace.clone().unwrap_or_default(),
            checkout: self.checkout.clone().unwrap_or_default(),
        }
    }

    /// Where this process stands.
    pub fn place(&self) -> Result<Place, Failure> {
        let here = Place::here()?;
        Ok(self.place_in(here.cwd))
    }
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
    #[arg(long, env = "NATS_PASSWORD", global = true, hide_env_values = true)]
    pub password: Option<String>,
    /// NATS token.
    #[arg(long, env = "NATS_TOKEN", global = true, hide_env_values = true)]
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

/// Parse a humantime duration (`30s`, `5m`, `250ms`).
pub fn duration(text: &str) -> Result<Duration, String> {
    if let Some(magnitude) = text.trim_start().strip_prefix('-')
        && humantime::parse_duration(magnitude.trim_start()).is_ok()
    {
        return Err(format!("{text:?} is negative; a duration must be positive"));
    }
    let parsed = humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration like 30s, 5m or 250ms: {e}"))?;
    if parsed > MAX_DURATION {
        return Err(format!(
            "{text:?} is too long: durations go up to {}",
            humantime::format_duration(MAX_DURATION)
        ));
    }
    Ok(parsed)
}

/// The longest duration an option takes: far beyond any wait or lease, and far
/// from the clock arithmetic's limits.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Who is acting and for how long: set once in an agent's environment.
#[derive(Args, Debug)]
pub struct AgentTtl {
    /// The agent taking the hold.
    #[arg(long, env = "HOLDS_AGENT", value_name = "ID")]
    pub agent: String,
    /// How long the hold lasts unless renewed (at most --ttl-max).
    #[arg(long, env = "HOLDS_TTL", default_value = "30s", value_parser = duration, value_name = "DURATION", allow_hyphen_values = true)]
    pub ttl: Duration,
    /// Take shared holds: others' shared holds may cover the same paths, an
    /// exclusive hold may not (the default is exclusive).
    #[arg(long)]
    pub shared: bool,
}

impl AgentTtl {
    /// The hold these options ask for, taken from `checkout`.
    pub fn announce(&self, checkout: String) -> holds::Announce {
        let announce = holds::Announce::new(self.agent.clone(), self.ttl).checkout(checkout);
        if self.shared {
            announce.shared()
        } else {
            announce
        }
    }
}
