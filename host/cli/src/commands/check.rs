//! `holds check FILE... [--agent ID] [--fence N]...`: a commit gate.

use crate::args::Global;
use crate::failure::{Failure, Outcome, exit};
use crate::files::Named;
use crate::{output, store};
use clap::Args;
use holds::{FileCheck, FileState, rfc3339};
use serde::Serialize;

#[derive(Args, Debug)]
#[command(after_help = "\
Exit 0 when AGENT holds every FILE live and exclusively, directly or through a
directory or glob hold (at the tokens, if given); 3 when another agent's hold
covers any, when only shared holds cover it (nobody may change it), or when AGENT
holds it at another revision than its token; 4 when any is held by nobody (3
wins over 4). One fresh read of all the files and one scan of the pattern and
shared holds.

Examples:
  holds check --agent a1 src/lib.rs src/main.rs
  holds --json check --agent a1 src/lib.rs --fence 42")]
pub struct Opts {
    /// The files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// The agent that should hold them.
    #[arg(long, env = "HOLDS_AGENT", value_name = "ID")]
    pub agent: String,
    /// Fencing tokens (revisions), one per FILE in order: the agent must hold
    /// each file at exactly that revision. (Not `--token`: that is NATS's.)
    #[arg(long = "fence", value_name = "N")]
    pub tokens: Vec<u64>,
}

#[derive(Serialize)]
struct CheckJson {
    file: String,
    /// held, token-moved, held-by-another or vacant.
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hold: Option<output::HoldJson>,
}

#[derive(Serialize)]
struct ChecksJson {
    agent_id: String,
    held: bool,
    files: Vec<CheckJson>,
}

fn state_json(check: &FileCheck) -> CheckJson {
    let (state, claim) = match &check.state {
        FileState::Held(c) => ("held", Some(c)),
        FileState::TokenMoved(c) => ("token-moved", Some(c)),
        FileState::HeldByAnother(c) => ("held-by-another", Some(c)),
        FileState::Shared(c) => ("shared", Some(c)),
        FileState::Vacant => ("vacant", None),
    };
    CheckJson {
        file: check.file.clone(),
        state,
        revision: claim.map(|c| c.revision),
        hold: claim.map(|c| output::hold_json(&c.hold)),
    }
}

fn describe(check: &FileCheck, agent: &str) -> String {
    match &check.state {
        FileState::Held(c) => format!(
            "held       {} by {agent}'s {} until {} (revision {})",
            check.file,
            output::hold_on(&check.file, c),
            rfc3339(c.hold.expires_at),
            c.revision
        ),
        FileState::TokenMoved(c) => format!(
            "moved      {} is {agent}'s at revision {}, not at the token given",
            check.file, c.revision
        ),
        FileState::HeldByAnother(c) => format!(
            "other      {} is held by {}{} ({}) until {} (revision {})",
            check.file,
            c.hold.agent_id,
            c.hold.working_in(),
            output::hold_on(&check.file, c),
            rfc3339(c.hold.expires_at),
            c.revision
        ),
        FileState::Shared(c) => format!(
            "shared     {} is only shared ({agent}'s {} until {}): nobody may change it",
            check.file,
            output::hold_on(&check.file, c),
            rfc3339(c.hold.expires_at)
        ),
        FileState::Vacant => format!("vacant     nobody holds {}", check.file),
    }
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    if !o.tokens.is_empty() && o.tokens.len() != o.files.len() {
        return Err(Failure::usage(anyhow::anyhow!(
            "--fence: {} tokens for {} files; give one per FILE, in order",
            o.tokens.len(),
            o.files.len()
        )));
    }
    let place = global.place()?;
    let holds = store::open_to_read(global).await?;
    let files = Named::new(&holds, &o.files, &place).await?.files();
    let tokens = (!o.tokens.is_empty()).then_some(o.tokens.as_slice());
    let checks = holds.check(&files, &o.agent, tokens).await?;
    let code = verdict(&checks);
    if global.json {
        output::print_json(&ChecksJson {
            agent_id: o.agent.clone(),
            held: code == exit::OK,
            files: checks.iter().map(state_json).collect(),
        });
    } else {
        for check in &checks {
            output::print(describe(check, &o.agent));
        }
    }
    Ok(code)
}

/// 0 all held; 3 any held by another, only shared, or at another token; else 4 any vacant.
fn verdict(checks: &[FileCheck]) -> u8 {
    let other = |c: &&FileCheck| {
        matches!(
            c.state,
            FileState::HeldByAnother(_) | FileState::TokenMoved(_) | FileState::Shared(_)
        )
    };
    if checks.iter().any(|c| other(&c)) {
        exit::HELD
    } else if checks.iter().any(|c| c.state == FileState::Vacant) {
        exit::NOBODY
    } else {
        exit::OK
    }
}
