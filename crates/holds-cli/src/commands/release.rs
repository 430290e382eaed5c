//! `holds release FILE --agent ID`

use crate::args::{Global, absolute};
use crate::failure::{Outcome, exit};
use crate::{output, store};
use clap::Args;
use holds::Release;
use serde::Serialize;

#[derive(Args, Debug)]
pub struct Opts {
    /// The file to release.
    pub file: String,
    /// The agent releasing its hold.
    #[arg(long, value_name = "ID")]
    pub agent: String,
}

#[derive(Serialize)]
struct ReleaseJson {
    file: String,
    released: bool,
    revision: Option<u64>,
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    let file = absolute(&o.file)?;
    let holds = store::open(global).await?;
    let outcome = holds.release(&file, &o.agent).await?;
    // The path the hold is keyed by, for the message.
    let file = holds.canonical_path(&file).await?;
    let revision = match outcome {
        Release::Released { revision } => Some(revision),
        Release::NotHeld => None,
    };
    if global.json {
        output::print_json(&ReleaseJson {
            file,
            released: revision.is_some(),
            revision,
        });
    } else {
        match revision {
            Some(r) => output::print(format_args!("released {file} (revision {r})")),
            None => output::print(format_args!(
                "{} holds no live hold on {file}: nothing to release",
                o.agent
            )),
        }
    }
    Ok(exit::OK)
}
