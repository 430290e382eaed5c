//! `holds announce FILE... [--agent ID] [--ttl DURATION] [--wait DURATION] [--checkout PATH]`

use crate::args::{AgentTtl, Global, duration};
use crate::failure::{Outcome, exit};
use crate::files::Named;
use crate::{output, store};
use clap::Args;
use holds::Claim;
use serde::Serialize;
use std::time::Duration;

#[derive(Args, Debug)]
#[command(after_help = "\
Several FILEs are claimed all or nothing: on any refusal nothing stays held and
the error names every holder (exit 3). With --wait, a held file is waited for
(woken when it is released or expires, then competing normally); exit 3 when the
wait runs out.

A FILE ending in / holds every path beneath that directory; one with *, ? or [
is a glob (git's wildmatch: ** spans directories; quote it so the shell does not
expand it). Any hold conflicts with another agent's hold on an overlapping path,
unless both are --shared.

Examples:
  holds announce src/lib.rs --agent a1 --ttl 30s
  HOLDS_AGENT=a1 holds announce src/lib.rs src/main.rs --wait 1m
  holds announce src/auth/ 'docs/**/*.md' --agent a1
  holds announce src/api.rs --shared --agent a2
  holds --json announce /repo/README.md --agent a2 --ttl 5m

In a git worktree a FILE is held as the same path in the repository's main
worktree, so agents in different worktrees of one repository contend for it;
the hold shows the worktree it was taken from.")]
pub struct Opts {
    /// The files, directories (ending in /) or globs to hold (relative paths
    /// start at the working directory).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    #[command(flatten)]
    pub agent: AgentTtl,
    /// Wait up to DURATION for held files to become free.
    #[arg(long, value_parser = duration, value_name = "DURATION", allow_hyphen_values = true)]
    pub wait: Option<Duration>,
}

/// Several files' claims: `atomic` says whether the store took them in one write.
#[derive(Serialize)]
struct ClaimsJson {
    claims: Vec<output::ClaimJson>,
    atomic: bool,
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    let place = global.place()?;
    // Waiting needs the watch's events; a plain announce does not.
    let holds = store::open_with_replica(global, o.wait.is_some()).await?;
    let named = Named::new(&holds, &o.files, &place).await?;
    let files = named.files();
    let announce = o.agent.announce(named.checkout());
    let (claims, atomic): (Vec<Claim>, bool) = match (files.as_slice(), o.wait) {
        ([file], None) => (vec![holds.announce(file, &announce).await?], true),
        (_, None) => {
            let claimed = holds.claim(&files, &announce).await?;
            (claimed.claims, claimed.atomic)
        }
        (_, Some(wait)) => {
            let claimed = holds.claim_wait(&files, &announce, wait).await?;
            (claimed.claims, claimed.atomic)
        }
    };
    holds.close().await;
    if global.json {
        // One file: the claim itself, as before several were possible.
        match claims.as_slice() {
            [claim] if o.files.len() == 1 => output::print_json(&output::claim_json(claim)),
            _ => output::print_json(&ClaimsJson {
                claims: claims.iter().map(output::claim_json).collect(),
                atomic,
            }),
        }
    } else {
        for claim in &claims {
            output::print(output::describe_claim(claim));
        }
    }
    Ok(exit::OK)
}
