//! Exit codes and a command's failure.

use holds::Error;

/// Exit codes, as documented in `holds --help` and the README.
pub mod exit {
    pub const OK: u8 = 0;
    pub const STORE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const HELD: u8 = 3;
    pub const NOBODY: u8 = 4;
    pub const DIVERGED: u8 = 5;
    /// `run`: a hold was lost while the command ran (the command was stopped).
    pub const LOST: u8 = 6;
    /// `run`: the command could not be started (as env(1) and shells say it).
    pub const CANNOT_RUN: u8 = 126;
    /// `run`: the command was not found.
    pub const NOT_FOUND: u8 = 127;
}

/// A failure of a command, with its exit code.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
    /// The structured error, for `--json`.
    pub holds: Option<Error>,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::InvalidInput { .. } | Error::Config(_) => exit::USAGE,
            Error::HeldByAnother(_) | Error::HeldByOthers(_) => exit::HELD,
            Error::Lost(_) => exit::LOST,
            _ => exit::STORE,
        };
        Failure {
            code,
            error: anyhow::Error::new(e.clone()),
            holds: Some(e),
        }
    }
}

impl Failure {
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: exit::USAGE,
            error: error.into(),
            holds: None,
        }
    }

    pub fn with_code(code: u8, error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code,
            error: error.into(),
            holds: None,
        }
    }

    pub fn store(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: exit::STORE,
            error: error.into(),
            holds: None,
        }
    }
}

pub type Outcome = Result<u8, Failure>;
