//! `holds release FILE [--agent ID]`, or `holds release --force FILE --by ID`

use crate::args::Global;
use crate::failure::{Failure, Outcome, exit};
use crate::files;
use crate::{output, store};
use clap::Args;
use holds::Release;
use serde::Serialize;

#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  holds release src/lib.rs --agent a1
  holds release --force src/lib.rs --by ops-oncall   # whoever holds it; its lease stops")]
pub struct Opts {
    /// The file to release.
    pub file: String,
    /// The agent releasing its hold.
    #[arg(
        long,
        env = "HOLDS_AGENT",
        value_name = "ID",
        required_unless_present = "force"
    )]
    pub agent: Option<String>,
    /// Release whoever holds FILE (an operator's tool): subscribers see who forced it.
    #[arg(long, requires = "by")]
    pub force: bool,
    /// Who is forcing the release (with --force).
    #[arg(long, value_name = "ID", requires = "force")]
    pub by: Option<String>,
}

#[derive(Serialize)]
struct ReleaseJson {
    file: String,
    released: bool,
    revision: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forced_by: Option<String>,
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    let place = global.place()?;
    let holds = store::open_to_read(global).await?;
    let file = files::one(&holds, &o.file, &place).await?.file;
    // clap requires --by with --force, and --agent without it.
    let outcome = match (&o.by, &o.agent) {
        (Some(by), _) => holds.force_release(&file, by).await?,
        (None, Some(agent)) => holds.release(&file, agent).await?,
        (None, None) => return Err(Failure::usage(anyhow::anyhow!("--agent is required"))),
    };
    let revision = match outcome {
        Release::Released { revision } => Some(revision),
        Release::NotHeld => None,
    };
    if global.json {
        output::print_json(&ReleaseJson {
            file,
            released: revision.is_some(),
            revision,
            // Only a release that happened was forced by anyone.
            forced_by: revision.and(o.by.clone()),
        });
    } else {
        match revision {
            Some(r) => match &o.by {
                Some(by) => output::print(format_args!(
                    "released {file} (revision {r}), forced by {by}"
                )),
                None => output::print(format_args!("released {file} (revision {r})")),
            },
            None => match (&o.by, &o.agent) {
                (None, Some(agent)) => output::print(format_args!(
                    "{agent} holds no live hold on {file}: nothing to release"
                )),
                _ => output::print(format_args!("nobody holds {file} live: nothing to release")),
            },
        }
    }
    Ok(exit::OK)
}
