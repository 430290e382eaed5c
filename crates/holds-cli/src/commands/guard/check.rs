//! `holds guard check --hook pre-commit|pre-push --mode warn|block`: what the
//! installed hooks run.

use super::{Hook, Mode, git};
use crate::args::Global;
use crate::failure::{Outcome, exit};
use crate::{output, store};
use clap::Args;
use holds::{Claim, FileState, rfc3339};
use std::io::Read;
use std::path::Path;

#[derive(Args, Debug)]
#[command(after_help = "\
pre-commit: every staged path (both names of a rename); pre-push: every path
changed by the pushed commits (the refs git gives on stdin). Paths are resolved
against the repository root. A path held by an agent other than HOLDS_AGENT (any
holder, when HOLDS_AGENT is unset) is listed with its holder and expiry; block
exits 3, warn exits 0. HOLDS_GUARD=off skips the check and says so.")]
pub struct Opts {
    /// Which hook is asking.
    #[arg(long, value_enum)]
    pub hook: Hook,
    #[arg(long, value_enum, default_value = "block")]
    pub mode: Mode,
    /// The agent committing.
    #[arg(long, env = "HOLDS_AGENT", value_name = "ID")]
    pub agent: Option<String>,
    /// Skip the check when "off".
    #[arg(long = "guard", env = "HOLDS_GUARD", hide = true, default_value = "on")]
    pub guard: String,
    /// The hook's own arguments (pre-push: the remote's name and URL).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub git_args: Vec<String>,
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    let what = match (o.hook, o.git_args.first()) {
        (Hook::PreCommit, _) => "commit".to_string(),
        (Hook::PrePush, Some(remote)) => format!("push to {remote}"),
        (Hook::PrePush, None) => "push".to_string(),
    };
    if o.guard == "off" {
        output::print_err(format_args!(
            "holds guard: HOLDS_GUARD=off: {what} not checked against holds"
        ));
        return Ok(exit::OK);
    }
    let root = git::toplevel(Path::new("."))?;
    let mut paths = match o.hook {
        Hook::PreCommit => git::staged(&root)?,
        Hook::PrePush => {
            let mut refs = String::new();
            std::io::stdin().read_to_string(&mut refs).map_err(|e| {
                crate::failure::Failure::usage(anyhow::anyhow!("cannot read the pushed refs: {e}"))
            })?;
            git::pushed(&root, &refs)?
        }
    };
    paths.sort();
    paths.dedup();
    if paths.is_empty() {
        return Ok(exit::OK);
    }
    let root = root
        .to_str()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string();
    let files: Vec<String> = paths.iter().map(|p| format!("{root}/{p}")).collect();
    let agent = o.agent.clone().filter(|a| !a.is_empty());
    let others = match held_by_others(global, &files, agent.as_deref()).await {
        Ok(others) => others,
        Err(f) if o.mode == Mode::Warn => {
            output::print_err(format_args!(
                "holds guard: warning: cannot check the {what} against holds ({}); going on (--mode warn)",
                output::failure_message(&f)
            ));
            return Ok(exit::OK);
        }
        Err(f) => return Err(f),
    };
    if others.is_empty() {
        return Ok(exit::OK);
    }
    for claim in &others {
        output::print_err(format_args!(
            "holds guard: {} is held by agent {:?} until {} (fencing token {})",
            claim.file,
            claim.hold.agent_id,
            rfc3339(claim.hold.expires_at),
            claim.revision
        ));
    }
    let count = match others.len() {
        1 => "1 file is".to_string(),
        n => format!("{n} files are"),
    };
    let who = match &agent {
        Some(agent) => format!("HOLDS_AGENT={agent}"),
        None => "HOLDS_AGENT is not set".to_string(),
    };
    match o.mode {
        Mode::Block => {
            output::print_err(format_args!(
                "holds guard: {what} blocked: {count} held by another agent ({who}; HOLDS_GUARD=off skips this check)"
            ));
            Ok(exit::HELD)
        }
        Mode::Warn => {
            output::print_err(format_args!(
                "holds guard: warning: {count} held by another agent ({who}); {what} goes on (--mode warn)"
            ));
            Ok(exit::OK)
        }
    }
}

/// The live holds on `files` of agents other than `agent` (of anyone, without one).
async fn held_by_others(
    global: &Global,
    files: &[String],
    agent: Option<&str>,
) -> Result<Vec<Claim>, crate::failure::Failure> {
    let holds = store::open(global).await?;
    // Without an agent every live hold is someone else's: the id asked for only
    // splits Held from HeldByAnother, and both count then.
    let checks = holds
        .check(files, agent.unwrap_or("holds-guard"), None)
        .await;
    holds.close().await;
    Ok(checks?
        .into_iter()
        .filter_map(|c| match c.state {
            FileState::HeldByAnother(claim) => Some(claim),
            FileState::Held(claim) | FileState::TokenMoved(claim) if agent.is_none() => Some(claim),
            _ => None,
        })
        .collect())
}
