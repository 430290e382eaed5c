//! `holds hook AGENT-TOOL`: edit-time guards run by an agent's own hook mechanism.

pub mod claude_code;
mod payload;

use crate::args::Global;
use crate::failure::Outcome;
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct Opts {
    #[command(subcommand)]
    pub tool: Tool,
}

#[derive(Subcommand, Debug)]
pub enum Tool {
    /// A Claude Code PreToolUse hook: deny an edit of a file another agent holds.
    ClaudeCode(claude_code::Opts),
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    match o.tool {
        Tool::ClaudeCode(o) => claude_code::run(global, o).await,
    }
}
