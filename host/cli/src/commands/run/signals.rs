//! The signals `holds run` passes on to CMD's process group.

use crate::failure::Failure;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The signals holds run passes on to CMD.
pub struct Forwarded {
    streams: Vec<(libc::c_int, Signal)>,
}

impl Forwarded {
    pub fn listen() -> Result<Self, Failure> {
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

    /// The next signal holds run got. CMD's group is never holds run's, so none
    /// of them reached CMD: each is to be passed on (or, before CMD runs, acted on).
    pub async fn recv(&mut self) -> libc::c_int {
        first_of(&mut self.streams).await
    }
}

/// Signals whose default action ends a process: before CMD runs, they end holds run.
pub fn ends_a_process(signal: libc::c_int) -> bool {
    matches!(
        signal,
        libc::SIGHUP | libc::SIGINT | libc::SIGQUIT | libc::SIGTERM
    )
}

pub fn signal_name(signal: libc::c_int) -> &'static str {
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
