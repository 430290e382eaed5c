//! `holds guard check --hook pre-commit|pre-push --mode warn|block`: what the
//! installed hooks run.

use super::{Hook, Mode, git};
use crate::args::Global;
use crate::failure::{Outcome, exit};
use crate::files::Named;
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
    let agent = o.agent.clone().filter(|a| !a.is_empty());
    // Everything that can fail, so that warn mode never blocks, whatever failed.
    let found = async {
        let root = git::toplevel(Path::new("."))?;
        let mut paths = match o.hook {
            Hook::PreCommit => git::staged(&root)?,
            Hook::PrePush => {
                let mut refs = String::new();
                std::io::stdin().read_to_string(&mut refs).map_err(|e| {
                    crate::failure::Failure::usage(anyhow::anyhow!(
                        "cannot read the pushed refs: {e}"
                    ))
                })?;
                git::pushed(&root, &refs)?
            }
        };
        paths.sort();
        paths.dedup();
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let root = root
            .to_str()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        let files: Vec<String> = paths.iter().map(|p| format!("{root}/{p}")).collect();
        problems(global, &files, agent.as_deref()).await
    };
    let problems = match found.await {
        Ok(problems) => problems,
        Err(f) if o.mode == Mode::Warn => {
            output::print_err(format_args!(
                "holds guard: warning: cannot check the {what} against holds ({}); going on (--mode warn)",
                output::failure_message(&f)
            ));
            return Ok(exit::OK);
        }
        Err(f) => return Err(f),
    };
    if problems.is_empty() {
        return Ok(exit::OK);
    }
    for problem in &problems {
        match problem {
            Problem::HeldByAnother(path, claim) => output::print_err(format_args!(
                "holds guard: {path} is held by agent {:?}{}{} until {} (fencing token {})",
                claim.hold.agent_id,
                claim.hold.working_in(),
                output::unless_plain(path, claim),
                rfc3339(claim.hold.expires_at),
                claim.revision
            )),
            Problem::OnlyShared(path, claim) => output::print_err(format_args!(
                "holds guard: {path} is only shared ({}'s {} until {}): nobody may change it; \
                 hold it exclusively (holds announce {path})",
                claim.hold.agent_id,
                output::hold_on(path, claim),
                rfc3339(claim.hold.expires_at),
            )),
            Problem::Unheld(file) => output::print_err(format_args!(
                "holds guard: {file} is held by nobody: {} must hold it (holds announce {file})",
                agent.as_deref().unwrap_or_default()
            )),
        }
    }
    let count = match problems.len() {
        1 => "1 file is".to_string(),
        n => format!("{n} files are"),
    };
    let unheld = problems
        .iter()
        .any(|p| matches!(p, Problem::Unheld(_) | Problem::OnlyShared(..)));
    let (why, who) = match &agent {
        Some(agent) if unheld => (
            format!("not held by {agent}"),
            format!("HOLDS_AGENT={agent}"),
        ),
        Some(agent) => (
            "held by another agent".to_string(),
            format!("HOLDS_AGENT={agent}"),
        ),
        None => (
            "held by another agent".to_string(),
            "HOLDS_AGENT is not set".to_string(),
        ),
    };
    match o.mode {
        Mode::Block => {
            output::print_err(format_args!(
                "holds guard: {what} blocked: {count} {why} ({who}; HOLDS_GUARD=off skips this check)"
            ));
            Ok(exit::HELD)
        }
        Mode::Warn => {
            output::print_err(format_args!(
                "holds guard: warning: {count} {why} ({who}); {what} goes on (--mode warn)"
            ));
            Ok(exit::OK)
        }
    }
}

/// Why a path may not be committed or pushed.
enum Problem {
    /// Another agent's live hold covers the path.
    HeldByAnother(String, Claim),
    /// Only shared holds cover it, the agent's among them: nobody may change it.
    OnlyShared(String, Claim),
    /// Nobody holds it, and `HOLDS_AGENT` should.
    Unheld(String),
}

/// Every path `agent` does not hold live: held by another agent, or by nobody.
/// Without an agent nobody's own holds can be required, so only holds count,
/// each as someone else's.
async fn problems(
    global: &Global,
    files: &[String],
    agent: Option<&str>,
) -> Result<Vec<Problem>, crate::failure::Failure> {
    let holds = store::open_to_read(global).await?;
    let checks = async {
        // Named as every worktree of the repository names them.
        let files = Named::new(&holds, files, &global.place_in("/"))
            .await?
            .files();
        Ok::<_, crate::failure::Failure>(
            holds
                .check(&files, agent.unwrap_or("holds-guard"), None)
                .await?,
        )
    }
    .await;
    holds.close().await;
    Ok(checks?
        .into_iter()
        .filter_map(|c| match c.state {
            FileState::HeldByAnother(claim) => Some(Problem::HeldByAnother(c.file, claim)),
            FileState::Held(claim) | FileState::TokenMoved(claim) | FileState::Shared(claim)
                if agent.is_none() =>
            {
                Some(Problem::HeldByAnother(c.file, claim))
            }
            FileState::Shared(claim) => Some(Problem::OnlyShared(c.file, claim)),
            FileState::Vacant if agent.is_some() => Some(Problem::Unheld(c.file)),
            _ => None,
        })
        .collect())
}
