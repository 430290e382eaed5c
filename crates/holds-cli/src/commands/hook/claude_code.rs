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
HOLDS_AGENT, else the event's session_id.

A store that cannot be reached: --fail-open (the default) lets the edit through
with a warning on stderr; --fail-closed denies it. Input that is not a PreToolUse
event exits 2 with the problem on stderr (Claude Code blocks the call and shows it).

settings.json:
  {\"hooks\": {\"PreToolUse\": [{\"matcher\": \"Edit|Write|MultiEdit|NotebookEdit\",
    \"hooks\": [{\"type\": \"command\", \"command\": \"holds hook claude-code\", \"timeout\": 10}]}]}}")]
pub struct Opts {
    /// The agent taking holds [default: the event's session_id].
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
    let agent = match (o.agent.filter(|a| !a.is_empty()), &edit.session_id) {
        (Some(agent), _) => agent,
        (None, Some(session)) => session.clone(),
        (None, None) => {
            return Err(Failure::usage(anyhow::anyhow!(
                "no agent: set HOLDS_AGENT, or send an event with a session_id"
            )));
        }
    };
    match judge(global, &edit, Announce::new(agent, o.ttl)).await {
        Ok(None) => Ok(exit::OK),
        Ok(Some(holder)) => {
            deny(&held_reason(&holder));
            Ok(exit::OK)
        }
        // Bad input (an invalid agent id, a TTL over the max) is no store outage.
        Err(f) if f.code == exit::USAGE => Err(f),
        Err(f) => {
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

/// `None` when the agent may edit (it holds the file, or took it now); else the
/// other agent's claim.
async fn judge(global: &Global, edit: &Edit, announce: Announce) -> Result<Option<Claim>, Failure> {
    let holds = store::open(global).await?;
    let outcome = async {
        // The file as every worktree names it (edit.file is absolute).
        let id = files::one(&holds, &edit.file, &global.place_in("/")).await?;
        let announce = announce.checkout(id.checkout);
        decide(&holds, &id.file, &announce).await
    }
    .await;
    holds.close().await;
    outcome
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
        // Taken by another between the check and the announce.
        Err(Error::HeldByAnother(claim)) => Ok(Some(*claim)),
        Err(e) => Err(e.into()),
    }
}

fn held_reason(holder: &Claim) -> String {
    format!(
        "{} is held by agent {:?}{} until {} (fencing token {}): another agent is editing it. \
         Work on another file, or wait until it is released or expires.",
        holder.file,
        holder.hold.agent_id,
        holder.hold.working_in(),
        rfc3339(holder.hold.expires_at),
        holder.revision
    )
}

/// The documented PreToolUse deny: exit 0, this JSON on stdout.
fn deny(reason: &str) {
    output::print_json(&json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        }
    }));
}
