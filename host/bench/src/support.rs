//! What the benchmark shares with the CLI's conventions: exit codes, failures,
//! output that never panics on a closed pipe, the connection settings.

use clap::Args;
use std::io::{self, Write};
use std::time::Duration;

/// Where to measure and how to print.
#[derive(Args, Debug)]
pub struct Global {
    /// The NATS server to measure against (instead of --spawn).
    #[arg(long, env = "NATS_URL", value_name = "URL")]
    pub nats: Option<String>,
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub mod exit {
    pub const OK: u8 = 0;
    pub const STORE: u8 = 1;
    pub const USAGE: u8 = 2;
}

/// A failure of the run, with its exit code.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: exit::USAGE,
            error: error.into(),
        }
    }

    pub fn store(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: exit::STORE,
            error: error.into(),
        }
    }
}

pub type Outcome = Result<u8, Failure>;

/// Parse a humantime duration (`30s`, `250ms`).
pub fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?} is not a duration: {e}"))
}

pub mod output {
    use super::*;

    pub fn print(text: impl std::fmt::Display) {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{text}").and_then(|()| out.flush());
    }

    pub fn print_err(text: impl std::fmt::Display) {
        let mut err = io::stderr().lock();
        let _ = writeln!(err, "{text}").and_then(|()| err.flush());
    }

    pub fn print_json(value: &impl serde::Serialize) {
        print(serde_json::to_string(value).expect("serializable"));
    }
}

pub mod store {
    use super::Failure;
    use std::time::Duration;

    /// Connect with the `holds` CLI's connection settings.
    pub async fn connect(url: &str) -> Result<async_nats::Client, Failure> {
        async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(3))
            .request_timeout(Some(Duration::from_secs(5)))
            .connect(url)
            .await
            .map_err(|e| Failure::store(anyhow::anyhow!("cannot connect to NATS at {url}: {e}")))
    }
}
