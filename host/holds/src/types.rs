//! The public data types of the holds API.

use std::time::{Duration, SystemTime};

/// A hold: agent X is editing a file until a given instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The agent that owns the hold.
    pub agent_id: String,
    /// When the hold was most recently announced.
    pub claimed_at: SystemTime,
    /// Past this instant the hold is vacant.
    pub expires_at: SystemTime,
    /// The agent's checkout, stored verbatim.
    pub checkout_path: String,
    /// The lease the agent asked for.
    pub ttl: Duration,
    /// Whether others may share what it covers.
    pub mode: Mode,
}

/// How a hold shares what it covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Nobody else may hold anything it covers (Go's only mode).
    #[default]
    Exclusive,
    /// Other shared holds may cover the same paths; an exclusive one may not.
    Shared,
}

impl Mode {
    /// `exclusive` or `shared`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Exclusive => "exclusive",
            Mode::Shared => "shared",
        }
    }
}

/// What a hold covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One file.
    #[default]
    File,
    /// Every path beneath a directory (its `file` ends in `/`).
    Directory,
    /// Every path a glob matches (git's wildmatch).
    Glob,
}

impl Scope {
    /// `file`, `directory` or `glob`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::File => "file",
            Scope::Directory => "directory",
            Scope::Glob => "glob",
        }
    }
}

impl Hold {
    /// ` (in CHECKOUT)` when the holder said where it works, else nothing: how
    /// messages name the holder's checkout.
    pub fn working_in(&self) -> String {
        if self.checkout_path.is_empty() {
            String::new()
        } else {
            format!(" (in {})", self.checkout_path)
        }
    }
}

/// A hold and where it lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The cleaned absolute path, or the pattern (a directory ends in `/`).
    pub file: String,
    /// What `file` is: a file's name may itself hold wildcard characters.
    pub scope: Scope,
    /// The hold.
    pub hold: Hold,
    /// The store revision of the hold: it grows with every successful announce of
    /// the file, so it serves as a fencing token.
    pub revision: u64,
}

/// What an agent asks for when it announces a hold.
#[derive(Clone, Debug, PartialEq, Eq)]
///
/// ```
/// use holds::Announce;
/// use std::time::Duration;
/// let announce = Announce::new("agent-1", Duration::from_secs(30)).checkout("/tmp/co-agent-1");
/// assert_eq!(announce.checkout_path, "/tmp/co-agent-1");
/// ```
pub struct Announce {
    /// The agent taking the hold.
    pub agent_id: String,
    /// How long the hold lasts unless renewed (at most the manager's `hold_ttl_max`).
    pub ttl: Duration,
    /// The agent's checkout, stored with the hold (empty by default).
    pub checkout_path: String,
    /// Exclusive (the default) or shared.
    pub mode: Mode,
}

impl Announce {
    /// An exclusive hold for `agent_id`, lasting `ttl`.
    pub fn new(agent_id: impl Into<String>, ttl: Duration) -> Self {
        Announce {
            agent_id: agent_id.into(),
            ttl,
            checkout_path: String::new(),
            mode: Mode::Exclusive,
        }
    }

    /// A shared hold: other agents' shared holds may cover the same paths.
    pub fn shared(mut self) -> Self {
        self.mode = Mode::Shared;
        self
    }

    /// Store `path` as the agent's checkout.
    pub fn checkout(mut self, path: impl Into<String>) -> Self {
        self.checkout_path = path.into();
        self
    }
}

/// Where a caller stands when it names files, for [`Manager::identify`](crate::Manager::identify).
///
/// ```
/// let place = holds::Place::at("/src/wt2").copy_of("/ws", "/agents/a1");
/// assert_eq!(place.workspace, "/ws");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// The working directory relative paths start at (absolute).
    pub cwd: String,
    /// The shared workspace `checkout` is a copy of (empty: none), for checkouts
    /// git does not link (a copy, a jj or fossil checkout).
    pub workspace: String,
    /// The caller's own checkout (empty: none). With `workspace`, files under it
    /// are named under the workspace; alone, it is the checkout shown with holds.
    pub checkout: String,
}

impl Place {
    /// Standing in `cwd`, in no declared checkout.
    pub fn at(cwd: impl Into<String>) -> Self {
        Place {
            cwd: cwd.into(),
            ..Place::default()
        }
    }

    /// Standing in the process's working directory.
    pub fn here() -> Result<Self, crate::Error> {
        let invalid = |reason: String| crate::Error::InvalidInput {
            field: "cwd".into(),
            reason,
        };
        let cwd = std::env::current_dir()
            .map_err(|e| invalid(format!("there is no working directory: {e}")))?;
        let cwd = cwd
            .into_os_string()
            .into_string()
            .map_err(|cwd| invalid(format!("the working directory {cwd:?} is not UTF-8")))?;
        Ok(Place::at(cwd))
    }

    /// With `checkout` a copy of `workspace`.
    pub fn copy_of(mut self, workspace: impl Into<String>, checkout: impl Into<String>) -> Self {
        self.workspace = workspace.into();
        self.checkout = checkout.into();
        self
    }
}

/// One file as holds names it (see [`Manager::identify`](crate::Manager::identify)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The path holds keys: absolute, cleaned, symlinks resolved, mapped onto
    /// the workspace (a git repository's main worktree, or `Place::workspace`).
    pub file: String,
    /// The checkout (worktree) it was named through; empty outside any.
    pub checkout: String,
}

/// What a release did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// The hold was removed.
    Released {
        /// The revision of the marker left behind.
        revision: u64,
    },
    /// Nothing to release: missing, expired, or another agent's hold.
    NotHeld,
}

/// A release the store recorded in its release log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRelease {
    /// The file released (the raw key, when it names no file).
    pub file: String,
    /// The revision of the marker the release left.
    pub revision: u64,
    /// Whose hold it removed (`None`: the releaser left no note).
    pub holder: Option<String>,
    /// Where the holder said it worked (empty: nowhere said).
    pub checkout: String,
    /// The revision of the hold it removed (0: not noted).
    pub hold_revision: u64,
    /// Who forced it, for a force-release.
    pub forced_by: Option<String>,
    /// The process that released it: name, pid, user, host.
    pub process: String,
    /// When the store recorded it.
    pub at: SystemTime,
}

/// What happened to a file's hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A hold was written (created, renewed or taken over).
    Announced(Hold),
    /// A hold was removed on purpose (a release, or another client's delete or purge).
    Released {
        /// Who forced it, for a force-release.
        forced_by: Option<String>,
    },
    /// A hold outlived its TTL and the store (or a sweep) removed it.
    Expired,
}

/// One change delivered to subscribers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The cleaned absolute path of the file, or the pattern.
    pub file: String,
    /// What `file` is.
    pub scope: Scope,
    /// The store revision of the change.
    pub revision: u64,
    /// What happened.
    pub kind: EventKind,
}

/// What a multi-file claim took ([`crate::Manager::claim`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    /// One claim per distinct file, sorted by file.
    pub claims: Vec<Claim>,
    /// It was one atomic write. False when the store could not write atomically
    /// (a bucket created by the Go package, a server older than 2.12): the files
    /// were announced one by one and would have been rolled back on a refusal.
    pub atomic: bool,
}

/// A file's state for an agent ([`crate::Manager::check`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileState {
    /// The agent holds it, live (at the token asked for, if any).
    Held(Claim),
    /// The agent holds it, live, but at another revision than the token.
    TokenMoved(Claim),
    /// Another agent holds it, live: its hold of any mode, on the file or on a
    /// pattern covering it.
    HeldByAnother(Claim),
    /// Only shared holds cover it, the agent's among them: nobody may change it.
    Shared(Claim),
    /// Nobody holds it live.
    Vacant,
}

/// One file of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCheck {
    /// The cleaned absolute path.
    pub file: String,
    /// Its state for the agent.
    pub state: FileState,
}

impl FileCheck {
    /// The agent holds the file (at the token, if one was given).
    pub fn is_held(&self) -> bool {
        matches!(self.state, FileState::Held(_))
    }
}

/// A hold a lease no longer has ([`crate::Error::Lost`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostHold {
    /// The cleaned absolute path.
    pub file: String,
    /// The revision the lease held.
    pub revision: u64,
    /// Who holds the file now, if anyone.
    pub holder: Option<Claim>,
}
