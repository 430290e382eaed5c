//! `holds announce FILE --agent ID --ttl DURATION [--checkout PATH]`

use crate::args::{Global, absolute, duration};
use crate::failure::{Outcome, exit};
use crate::{output, store};
use clap::Args;
use holds::Announce;
use std::time::Duration;

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  holds announce src/lib.rs --agent a1 --ttl 30s\n  holds --json announce /repo/README.md --agent a2 --ttl 5m --checkout /tmp/co-a2"
)]
pub struct Opts {
    /// The file to hold (relative paths are resolved against the working directory).
    pub file: String,
    /// The agent taking the hold.
    #[arg(long, value_name = "ID")]
    pub agent: String,
    /// How long the hold lasts unless renewed (at most --ttl-max).
    #[arg(long, value_parser = duration, value_name = "DURATION", allow_hyphen_values = true)]
    pub ttl: Duration,
    /// The agent's checkout, stored with the hold.
    #[arg(long, value_name = "PATH", default_value = "")]
    pub checkout: String,
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    let file = absolute(&o.file)?;
    let holds = store::open(global).await?;
    let claim = holds
        .announce(&file, &Announce::new(o.agent, o.ttl).checkout(o.checkout))
        .await?;
    if global.json {
        output::print_json(&output::claim_json(&claim));
    } else {
        output::print(output::describe_claim(&claim));
    }
    Ok(exit::OK)
}
