//! `holds hook claude-code [--fail-open|--fail-closed]`: a Claude Code PreToolUse
//! hook. It only ever takes permission away: silence (exit 0) lets Claude Code's
//! own permission rules decide; a deny in the documented JSON blocks the edit.
//! An explicit `allow` is never printed, since it would skip the user's prompts.

use super::payload::{self, Edit};
use crate::args::{Global, duration};
use crate::failure::{Failure, Outcome, exit};
use crate::{files, output, store};
use clap::Args;
use holds::{Announce, Claim, Error, FileState, rfc3339};
use serde_json::json;
use std::io::Read;
use std::time::{Duration, SystemTime};

#[derive(Args, Debug)]
#[command(after_help = "\
Reads Claude Code's PreToolUse event on stdin. For Edit, Write, MultiEdit and
NotebookEdit: when the agent holds the file, or takes it now (for --ttl), prints
nothing and exits 0; when another agent holds it, prints a deny naming the holder
and when the hold expires. Other tools and events are left alone. The agent is
HOLDS_AGENT, else the agent tool running the hook (its process, as holds mcp
started by the same tool finds it), else the event's session_id.

A store that cannot be reached (or does not answer within --deadline):
--fail-open (the default) lets the edit through with a warning on stderr;
--fail-closed denies it. Anything else that goes wrong (a locked or corrupt
embedded store, a corrupt entry) denies the edit, naming the problem. Input
that is not a PreToolUse event exits 2 with the problem on stderr (Claude Code
blocks the call and shows it).

settings.json:
  {\"hooks\": {\"PreToolUse\": [{\"matcher\": \"Edit|Write|MultiEdit|NotebookEdit\",
    \"hooks\": [{\"type\": \"command\", \"command\": \"holds hook claude-code\", \"timeout\": 10}]}]}}")]
pub struct Opts {
    /// The agent taking holds [default: the agent tool's process].
    #[arg(long, env = "HOLDS_AGENT", value_name = "ID")]
    pub agent: Option<String>,
    /// How long a hold taken for an edit lasts (at most --ttl-max).
    #[arg(long, env = "HOLDS_TTL", default_value = "30s", value_parser = duration, value_name = "DURATION", allow_hyphen_values = true)]
    pub ttl: Duration,
    /// Let the edit through when the store cannot be reached (the default).
    #[arg(long, conflicts_with = "fail_closed")]
    pub fail_open: bool,
    /// Deny the edit when the store cannot be reached.
    #[arg(long)]
    pub fail_closed: bool,
    /// How long the hook may take before the store counts as unreachable: below
    /// the hook's timeout in settings.json (10 s in the example), so Claude Code
    /// always hears the verdict.
    #[arg(long, default_value = "8s", value_parser = duration, value_name = "DURATION")]
    pub deadline: Duration,
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| {
        Failure::usage(anyhow::anyhow!(
            "cannot read the hook event from stdin: {e}"
        ))
    })?;
    let Some(edit) = payload::parse(&text).map_err(|e| Failure::usage(anyhow::anyhow!(e)))? else {
        return Ok(exit::OK);
    };
    // The agent tool's process names the agent, as `holds mcp` started by the
    // same tool finds it, so an agent's MCP holds never deny its own edits.
    let agent = o
        .agent
        .filter(|a| !a.is_empty())
        .or_else(crate::agent::from_process_tree)
        .or(edit.session_id.clone());
    let Some(agent) = agent else {
        return Err(Failure::usage(anyhow::anyhow!(
            "no agent: set HOLDS_AGENT, or send an event with a session_id"
        )));
    };
    let judged = tokio::time::timeout(
        o.deadline,
        judge(global, &edit, Announce::new(agent, o.ttl)),
    )
    .await
    .unwrap_or_else(|_| {
        Verdict::Unreachable(Failure::store(anyhow::anyhow!(
            "no answer within the hook's deadline of {}",
            humantime::format_duration(o.deadline)
        )))
    });
    match judged {
        Verdict::Allowed => Ok(exit::OK),
        Verdict::Held(file, holder) => {
            deny(&held_reason(&file, &holder));
            Ok(exit::OK)
        }
        // Bad input (an invalid agent id, a TTL over the max) is no store outage.
        Verdict::Failed(f) if f.code == exit::USAGE => Err(f),
        // Only a store that cannot be reached may let an edit through unchecked.
        Verdict::Failed(f) => {
            deny(&format!(
                "holds cannot check {} ({}); edit denied: only an unreachable store lets an edit through unchecked",
                edit.file,
                output::failure_message(&f)
            ));
            Ok(exit::OK)
        }
        Verdict::Unreachable(f) => {
            let why = output::failure_message(&f);
            // clap keeps the two flags apart; open is the default.
            if o.fail_closed && !o.fail_open {
                deny(&format!(
                    "holds cannot check {} against its store ({why}); edit denied (--fail-closed)",
                    edit.file
                ));
            } else {
                output::print_err(format_args!(
                    "holds: cannot check {} against the store ({why}); edit allowed unchecked (--fail-open)",
                    edit.file
                ));
            }
            Ok(exit::OK)
        }
    }
}

/// What the hook found.
enum Verdict {
    /// The agent holds the file, or took it now.
    Allowed,
    /// Another agent holds it (the file as holds names it, and the hold).
    Held(String, Claim),
    /// The store could not be reached (or did not answer in time).
    Unreachable(Failure),
    /// Anything else went wrong: bad input, a corrupt entry, a locked database.
    Failed(Failure),
}

/// Whether the agent may edit: the store opened (connecting is what can fail
/// for want of a network), then the file named and judged.
async fn judge(global: &Global, edit: &Edit, announce: Announce) -> Verdict {
    let holds = match store::open(global).await {
        Ok(holds) => holds,
        Err(f) if f.code == exit::USAGE => return Verdict::Failed(f),
        Err(f) => return Verdict::Unreachable(f),
    };
    let outcome = async {
        // The file as every worktree names it (edit.file is absolute).
        let id = files::one(&holds, &edit.file, &global.place_in("/")).await?;
        let announce = announce.checkout(id.checkout);
        let holder = decide(&holds, &id.file, &announce).await?;
        Ok::<_, Failure>(holder.map(|h| (id.file, h)))
    }
    .await;
    holds.close().await;
    match outcome {
        Ok(None) => Verdict::Allowed,
        Ok(Some((file, holder))) => Verdict::Held(file, holder),
        // A NATS server that stopped answering mid-call is out of reach too;
        // an embedded store that fails (locked, unreadable) is not.
        Err(f) if global.nats.is_some() && matches!(f.holds, Some(Error::Store(_))) => {
            Verdict::Unreachable(f)
        }
        Err(f) => Verdict::Failed(f),
    }
}

async fn decide(
    holds: &holds::Manager,
    file: &str,
    announce: &Announce,
) -> Result<Option<Claim>, Failure> {
    let checks = holds.check(&[file], &announce.agent_id, None).await?;
    let state = checks.into_iter().next().map(|c| c.state);
    match state {
        Some(FileState::HeldByAnother(claim)) => return Ok(Some(claim)),
        // Held long enough: no write (a lease elsewhere keeps its own TTL).
        Some(FileState::Held(claim) | FileState::TokenMoved(claim))
            if claim.hold.expires_at >= SystemTime::now() + announce.ttl =>
        {
            return Ok(None);
        }
        // Vacant, or ours but expiring sooner than an edit's TTL: (re)take it.
        _ => {}
    }
    match holds.announce(file, announce).await {
        Ok(_) => Ok(None),
        // Taken by another between the check and the announce (a pattern's
        // hold over the file included).
        Err(Error::HeldByAnother(claim)) => Ok(Some(*claim)),
        Err(Error::HeldByOthers(claims)) if !claims.is_empty() => Ok(claims.into_iter().next()),
        Err(e) => Err(e.into()),
    }
}

fn held_reason(file: &str, holder: &Claim) -> String {
    // A directory or glob hold over the file, or a shared one, says so.
    let through = match (holder.file == file, holder.hold.mode) {
        (true, holds::Mode::Exclusive) => String::new(),
        (true, mode) => format!(" ({} hold)", mode.as_str()),
        (false, mode) => format!(" (through its {} hold on {})", mode.as_str(), holder.file),
    };
    format!(
        "{file} is held by agent {:?}{}{through} until {} (fencing token {}): another agent is editing it. \
         Work on another file, or wait until it is released or expires.",
        holder.hold.agent_id,
        holder.hold.working_in(),
        rfc3339(holder.hold.expires_at),
        holder.revision
    )
}

/// The documented PreToolUse deny: exit 0, this JSON on stdout. The reason
/// reaches a model: another agent's free text in it is escaped.
fn deny(reason: &str) {
    let reason = output::printable(reason);
    output::print_json(&json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        }
    }));
}
