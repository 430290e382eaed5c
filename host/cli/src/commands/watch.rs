//! `holds watch`: current holds, then live changes, until Ctrl-C.

use crate::args::Global;
use crate::failure::{Failure, Outcome, exit};
use crate::{output, store};
use clap::Args;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Args, Debug)]
#[command(
    after_help = "Prints one line per event (JSON lines with --json): announced, released, expired.\nEnds cleanly (exit 0) on Ctrl-C or SIGTERM, or as soon as its reader goes away (a closed pipe)."
)]
pub struct Opts {}

pub async fn run(global: &Global, _: Opts) -> Outcome {
    // Listen before anything else, and once: a signal arriving while the store opens or while an event is
    // printed is kept for the loop below, never lost.
    let mut interrupt = signal(SignalKind::interrupt()).map_err(Failure::store)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(Failure::store)?;
    let opening = async {
        let holds = store::open(global).await?;
        let events = holds.subscribe().await?;
        Ok::<_, Failure>((holds, events))
    };
    let (holds, mut events) = tokio::select! {
        biased;
        _ = interrupt.recv() => return Ok(exit::OK),
        _ = terminate.recv() => return Ok(exit::OK),
        opened = opening => opened?,
    };
    let gone = output::stdout_gone();
    tokio::pin!(gone);
    loop {
        tokio::select! {
            biased;
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            // Nobody is left to watch for: end now, not at the next event.
            _ = &mut gone => break,
            next = events.next() => match next {
                // Each line is flushed as it is printed (watchers are often piped); once the reader is
                // gone there is nobody left to watch for.
                Some(Ok(event)) => {
                    if output::event(&event, global.json).is_err() {
                        break;
                    }
                }
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
        }
    }
    holds.close().await;
    Ok(exit::OK)
}
