//! `holds run FILE... [--agent ID] [--ttl D] [--wait D] [--grace D] -- CMD [ARGS...]`:
//! CMD runs while the files are held; it is stopped when a hold is lost.

use crate::args::{AgentTtl, Global, duration};
use crate::failure::{Failure, Outcome, exit};
use crate::files::Named;
use crate::{output, store};
use clap::Args;
use holds::Lease;
use job::Job;
use signals::{Forwarded, ends_a_process, signal_name};
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

mod job;
mod signals;

/// Secrets holds run was given that CMD must not inherit (NATS_URL loses its
/// user:password part instead).
const HIDDEN: &[&str] = &["NATS_PASSWORD", "NATS_TOKEN"];

#[derive(Args, Debug)]
#[command(after_help = "\
Claims every FILE (all or nothing; exit 3 naming the holders), runs CMD with
HOLDS_AGENT set, renews the holds at a third of the TTL and releases them when
CMD exits, exiting with CMD's exit code (128+N when a signal N ended it).

CMD runs as the leader of a process group of its own (the terminal's
foreground job when holds run was), without NATS_PASSWORD and NATS_TOKEN in its
environment. When a hold is lost (force-released, taken over after an expiry,
released by another process, the store file removed, or not renewable for
longer than the TTL), CMD's whole group gets SIGTERM, then SIGKILL after
--grace, and holds run exits 6. When CMD exits, what it left running in its
group is stopped the same way before the files are released. Signals sent to
holds run (HUP, INT, QUIT, TERM, USR1, USR2, WINCH) are forwarded to the group.
HUP, INT, QUIT or TERM arriving before CMD starts (while claiming or waiting)
ends holds run with 128+N, holding nothing and never starting CMD. If holds run
itself dies, even by SIGKILL, the kernel kills CMD. Exit 127 when CMD is not
found, 126 when it cannot be started.

Examples:
  holds run --agent a1 --ttl 30s src/lib.rs -- cargo test
  HOLDS_AGENT=a1 holds run --wait 2m src/lib.rs src/main.rs -- ./edit.sh")]
pub struct Opts {
    /// The files to hold while CMD runs.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    #[command(flatten)]
    pub agent: AgentTtl,
    /// Wait up to DURATION for held files to become free.
    #[arg(long, value_parser = duration, value_name = "DURATION", allow_hyphen_values = true)]
    pub wait: Option<Duration>,
    /// How long CMD has to exit after SIGTERM when a hold is lost.
    #[arg(long, default_value = "5s", value_parser = duration, value_name = "DURATION", allow_hyphen_values = true)]
    pub grace: Duration,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    let place = global.place()?;
    // Listen before anything else: a signal arriving while the files are claimed
    // is never lost. One that ends a process ends holds run there (CMD is not
    // started); the others are kept and forwarded once CMD runs.
    let mut signals = Forwarded::listen()?;
    let holds = store::open_with_replica(global, true).await?;
    let named = Named::new(&holds, &o.files, &place).await?;
    let files = named.files();
    let announce = o.agent.announce(named.checkout());
    let claim = async {
        match o.wait {
            Some(wait) => holds.hold_wait(&files, &announce, wait).await,
            None => holds.hold(&files, &announce).await,
        }
    };
    tokio::pin!(claim);
    let mut kept = Vec::new();
    let mut lease = loop {
        tokio::select! {
            lease = &mut claim => break lease?,
            signal = signals.recv() => {
                if !ends_a_process(signal) {
                    kept.push(signal);
                    continue;
                }
                // The claim may have been written just before it was dropped:
                // release what this agent holds of the files, as at CMD's exit.
                for file in &files {
                    let _ = holds.release(file, &o.agent.agent).await;
                }
                holds.close().await;
                return Err(Failure::with_code(
                    (128 + signal).min(255) as u8,
                    anyhow::anyhow!(
                        "{} while claiming the files: {:?} not started, nothing held",
                        signal_name(signal),
                        o.command[0]
                    ),
                ));
            }
        }
    };
    let url = std::env::var("NATS_URL")
        .ok()
        .map(|u| crate::secrets::redact_url(&u));
    let mut env = vec![("HOLDS_AGENT", o.agent.agent.as_str())];
    if let Some(url) = &url {
        env.push(("NATS_URL", url.as_str()));
    }
    let mut job = match Job::spawn(&o.command, &env, HIDDEN) {
        Ok(job) => job,
        Err(e) => {
            release(lease).await;
            return Err(e);
        }
    };
    for signal in kept {
        job.signal(signal);
    }
    let outcome = loop {
        tokio::select! {
            status = job.wait() => break Ok(exit_code(status.map_err(Failure::store)?)),
            signal = signals.recv() => job.signal(signal),
            lost = lease.lost() => {
                let cmd = &o.command[0];
                output::print_err(format_args!(
                    "holds: {lost}: sending {cmd:?} and its process group SIGTERM (SIGKILL in {})",
                    humantime::format_duration(o.grace)
                ));
                job.stop(o.grace, async || signals.recv().await).await;
                break Err(Failure::with_code(exit::LOST, anyhow::anyhow!("{cmd:?} was stopped: {lost}")));
            }
        }
    };
    // What CMD started and left behind stops before the files are released.
    job.end_group(o.grace, async || signals.recv().await).await;
    drop(job);
    release(lease).await;
    holds.close().await;
    outcome
}

/// Release what the lease still holds; a failure only shortens nothing (the
/// holds expire within their TTL), so it is reported, not fatal.
async fn release(lease: Lease) {
    if let Err(e) = lease.release().await {
        output::print_err(format_args!(
            "holds: releasing failed, the holds expire within their TTL: {e}"
        ));
    }
}

/// CMD's exit code; 128+N for a signal N, as shells report it.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(signal)) => (128 + signal).min(255) as u8,
        (None, None) => exit::STORE,
    }
}
