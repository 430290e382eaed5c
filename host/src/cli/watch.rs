//! `holds watch`: current holds, then live changes, until Ctrl-C.

use super::{Failure, Global, Outcome, exit, output, store};
use clap::Args;
use std::io::Write;

#[derive(Args, Debug)]
#[command(
    after_help = "Prints one line per event (JSON lines with --json): announced, released, expired.\nEnds cleanly (exit 0) on Ctrl-C or SIGTERM."
)]
pub struct Opts {}

pub async fn run(global: &Global, _: Opts) -> Outcome {
    let holds = store::open(global).await?;
    let mut events = holds.subscribe().await?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(Failure::store)?;
    loop {
        tokio::select! {
            next = events.next() => match next {
                Some(Ok(event)) => {
                    output::event(&event, global.json);
                    // Watchers are often piped: each event must reach the reader now.
                    if std::io::stdout().flush().is_err() {
                        break;
                    }
                }
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        }
    }
    holds.close().await;
    Ok(exit::OK)
}
