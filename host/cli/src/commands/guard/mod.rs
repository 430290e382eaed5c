//! `holds guard install|uninstall|check`: git pre-commit and pre-push hooks that
//! stop a commit or push touching files another agent holds.

mod check;
mod git;
mod install;

use crate::args::Global;
use crate::failure::Outcome;
use clap::{Args, Subcommand, ValueEnum};

#[derive(Args, Debug)]
pub struct Opts {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Write pre-commit and pre-push hooks running `holds guard check` (an existing
    /// hook is kept and run first).
    Install(install::InstallOpts),
    /// Remove the hooks `install` wrote and put back the hooks it chained.
    Uninstall(install::UninstallOpts),
    /// What the hooks run: are the staged (or pushed) files held by another agent?
    Check(check::Opts),
}

/// What a guard does about a file held by another agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Print each file and its holder; let the commit or push go on.
    Warn,
    /// Print each file and its holder; stop the commit or push (exit 3).
    Block,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Warn => "warn",
            Mode::Block => "block",
        }
    }
}

/// The git hook a check runs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Hook {
    /// The staged paths (both names of a rename).
    PreCommit,
    /// The paths changed by the commits being pushed (git's pre-push stdin).
    PrePush,
}

impl Hook {
    fn file_name(self) -> &'static str {
        match self {
            Hook::PreCommit => "pre-commit",
            Hook::PrePush => "pre-push",
        }
    }
}

pub async fn run(global: &Global, o: Opts) -> Outcome {
    match o.action {
        Action::Install(o) => install::install(o),
        Action::Uninstall(o) => install::uninstall(o),
        Action::Check(o) => check::run(global, o).await,
    }
}
