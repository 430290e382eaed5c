//! `holds run FILE... [--agent ID] [--ttl D] [--wait D] [--grace D] -- CMD [ARGS...]`:
//! CMD runs while the files are held; it is stopped when a hold is lost.

use crate::args::{AgentTtl, Global, duration};
use crate::failure::{Failure, Outcome, exit};
use crate::files::Named;
use crate::{output, store};
use clap::Args;
use holds::{Announce, Lease};
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::signal::unix::{Signal, SignalKind, signal};

#[derive(Args, Debug)]
#[command(after_help = "\
Claims every FILE (all or nothing; exit 3 naming the holders), runs CMD with
HOLDS_AGENT set, renews the holds at a third of the TTL and releases them when
CMD exits, exiting with CMD's exit code (128+N when a signal N ended it).

When a hold is lost (force-released, taken over after an expiry, released by
another process, or not renewable for longer than the TTL), CMD gets SIGTERM,
then SIGKILL after --grace, and holds run exits 6. Signals sent to holds run
(HUP, INT, QUIT, TERM, USR1, USR2, WINCH) are forwarded to CMD; a terminal's
Ctrl-C already reaches CMD, so it is not sent twice. HUP, INT, QUIT or TERM
arriving before CMD starts (while claiming or waiting) ends holds run with
128+N, holding nothing and never starting CMD. CMD is sent SIGTERM if holds run
itself dies. Exit 127 when CMD is not found, 126 when it cannot be started.

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
    let announce = Announce::new(o.agent.agent.clone(), o.agent.ttl).checkout(named.checkout());
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
            signal = signals.recv_any() => {
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
    let mut child = match spawn(&o.command, &o.agent.agent) {
        Ok(child) => child,
        Err(e) => {
            release(lease).await;
            return Err(e);
        }
    };
    let pid = child.id().expect("a child not yet waited for has a pid");
    for signal in kept {
        send(pid, signal);
    }
    let outcome = loop {
        tokio::select! {
            status = child.wait() => break Ok(exit_code(status.map_err(Failure::store)?)),
            signal = signals.recv() => send(pid, signal),
            lost = lease.lost() => {
                let cmd = &o.command[0];
                output::print_err(format_args!(
                    "holds: {lost}: sending {cmd:?} SIGTERM (SIGKILL in {})",
                    humantime::format_duration(o.grace)
                ));
                stop(&mut child, pid, o.grace, &mut signals).await;
                break Err(Failure::with_code(exit::LOST, anyhow::anyhow!("{cmd:?} was stopped: {lost}")));
            }
        }
    };
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

fn spawn(command: &[OsString], agent: &str) -> Result<Child, Failure> {
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]).env("HOLDS_AGENT", agent);
    // If holds run dies (even by SIGKILL), CMD must not go on editing unheld
    // files. This runs on the thread that spawns: block_on's, the main thread,
    // which lives as long as the process.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound => exit::NOT_FOUND,
            _ => exit::CANNOT_RUN,
        };
        Failure::with_code(code, anyhow::anyhow!("cannot run {:?}: {e}", command[0]))
    })
}

/// SIGTERM, then SIGKILL after `grace`; signals sent meanwhile are still forwarded.
async fn stop(child: &mut Child, pid: u32, grace: Duration, signals: &mut Forwarded) {
    send(pid, libc::SIGTERM);
    let deadline = tokio::time::sleep(grace);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = child.wait() => return,
            signal = signals.recv() => send(pid, signal),
            _ = &mut deadline => break,
        }
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
}

fn send(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a pid this process spawned and has not yet reaped.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
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

/// The signals holds run passes on to CMD.
struct Forwarded {
    streams: Vec<(libc::c_int, Signal)>,
}

impl Forwarded {
    fn listen() -> Result<Self, Failure> {
        let signals = [
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGTERM,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGWINCH,
        ];
        let streams = signals
            .into_iter()
            .map(|n| Ok((n, signal(SignalKind::from_raw(n)).map_err(Failure::store)?)))
            .collect::<Result<_, Failure>>()?;
        Ok(Forwarded { streams })
    }

    /// The next signal to forward (terminal signals that CMD got itself are not).
    async fn recv(&mut self) -> libc::c_int {
        loop {
            let next = first_of(&mut self.streams).await;
            if !(from_terminal(next) && in_foreground()) {
                return next;
            }
        }
    }

    /// The next signal, whoever sent it (before CMD runs, a terminal's Ctrl-C is
    /// for holds run alone).
    async fn recv_any(&mut self) -> libc::c_int {
        first_of(&mut self.streams).await
    }
}

/// Signals whose default action ends a process: before CMD runs, they end holds run.
fn ends_a_process(signal: libc::c_int) -> bool {
    matches!(
        signal,
        libc::SIGHUP | libc::SIGINT | libc::SIGQUIT | libc::SIGTERM
    )
}

fn signal_name(signal: libc::c_int) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGWINCH => "SIGWINCH",
        _ => "a signal",
    }
}

/// Wait for whichever stream yields first.
async fn first_of(streams: &mut [(libc::c_int, Signal)]) -> libc::c_int {
    std::future::poll_fn(|cx| {
        for (n, stream) in streams.iter_mut() {
            if stream.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(*n);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Signals a terminal sends to its whole foreground process group (CMD included).
fn from_terminal(signal: libc::c_int) -> bool {
    matches!(signal, libc::SIGINT | libc::SIGQUIT | libc::SIGWINCH)
}

/// holds run (and so CMD, in its process group) is the terminal's foreground job.
fn in_foreground() -> bool {
    // SAFETY: plain queries on stdin's descriptor and this process.
    unsafe {
        libc::isatty(libc::STDIN_FILENO) == 1
            && libc::tcgetpgrp(libc::STDIN_FILENO) == libc::getpgrp()
    }
}
