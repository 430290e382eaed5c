//! `holds log`: the store's release log, so a release nobody admits to can be traced.

use crate::args::Global;
use crate::failure::{Failure, Outcome, exit};
use crate::{output, store};
use clap::Args;
use holds::{LoggedRelease, rfc3339};
use serde::Serialize;

#[derive(Args, Debug)]
#[command(after_help = "\
Every release and force-release made through holds (CLI, MCP, libraries) is
recorded with whose hold it removed and the process that asked (name, pid,
user, host). The store keeps the newest 100000. Releases made by other clients
(the Go package's) and expiries are not recorded.

Examples:
  holds log
  holds log --limit 500 --json")]
pub struct Opts {
    /// Show the newest N releases (oldest first).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
}

#[derive(Serialize)]
struct LogJson<'a> {
    at: String,
    file: &'a str,
    /// `released` or `force-released`.
    action: &'static str,
    revision: u64,
    /// Whose hold it removed (absent when the releaser left no note).
    #[serde(skip_serializing_if = "Option::is_none")]
    holder: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    checkout: &'a str,
    /// The revision of the hold removed (0: not noted).
    hold_revision: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    forced_by: Option<&'a str>,
    process: &'a str,
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    if o.limit == 0 {
        return Err(Failure::usage(anyhow::anyhow!(
            "--limit must be at least 1"
        )));
    }
    let holds = store::open_to_read(global).await?;
    let releases = holds.releases(o.limit).await?;
    for r in &releases {
        if global.json {
            output::print_json(&json(r));
        } else {
            output::print(describe(r));
        }
    }
    if releases.is_empty() && !global.json {
        output::print_err("no releases recorded");
    }
    Ok(exit::OK)
}

fn json(r: &LoggedRelease) -> LogJson<'_> {
    LogJson {
        at: rfc3339(r.at),
        file: &r.file,
        action: action(r),
        revision: r.revision,
        holder: r.holder.as_deref(),
        checkout: &r.checkout,
        hold_revision: r.hold_revision,
        forced_by: r.forced_by.as_deref(),
        process: &r.process,
    }
}

fn action(r: &LoggedRelease) -> &'static str {
    match r.forced_by {
        Some(_) => "force-released",
        None => "released",
    }
}

/// `2026-…Z force-released /r/a.rs (a's hold, revision 4, in /wt) by ops, from holds release (pid …)`
fn describe(r: &LoggedRelease) -> String {
    let whose = match &r.holder {
        Some(agent) => {
            let mut whose = format!(" ({agent}'s hold, revision {}", r.hold_revision);
            if !r.checkout.is_empty() {
                whose.push_str(&format!(", in {}", r.checkout));
            }
            whose + ")"
        }
        None => String::new(),
    };
    let by = r
        .forced_by
        .as_ref()
        .map(|by| format!(" by {by}"))
        .unwrap_or_default();
    format!(
        "{} {} {}{whose}{by}, from {} (revision {})",
        rfc3339(r.at),
        action(r),
        r.file,
        r.process,
        r.revision
    )
}
