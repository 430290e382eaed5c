//! Rendering results as text or JSON.

use crate::failure::Failure;
use holds::{Claim, Error, Event, EventKind, Hold, Scope, rfc3339};
use serde::Serialize;
use std::io::{self, Write};
use std::time::Duration;

#[derive(Serialize)]
pub struct HoldJson {
    pub agent_id: String,
    pub claimed_at: String,
    pub expires_at: String,
    pub checkout_path: String,
    /// Nanoseconds, as in the stored value.
    pub ttl: u128,
    /// `exclusive` or `shared`.
    pub mode: &'static str,
}

#[derive(Serialize)]
pub struct ClaimJson {
    pub file: String,
    /// `file`, `directory` or `glob`: what `file` names.
    pub scope: &'static str,
    pub revision: u64,
    pub hold: HoldJson,
}

pub fn hold_json(h: &Hold) -> HoldJson {
    HoldJson {
        agent_id: h.agent_id.clone(),
        claimed_at: rfc3339(h.claimed_at),
        expires_at: rfc3339(h.expires_at),
        checkout_path: h.checkout_path.clone(),
        ttl: h.ttl.as_nanos(),
        mode: h.mode.as_str(),
    }
}

pub fn claim_json(c: &Claim) -> ClaimJson {
    ClaimJson {
        file: c.file.clone(),
        scope: c.scope.as_str(),
        revision: c.revision,
        hold: hold_json(&c.hold),
    }
}

/// `text` with every control character (C0, DEL, C1) and bidirectional
/// override escaped (`\x1b`, `\u{202e}`): agent ids, files and checkouts are
/// other agents' free text, and must not colour a terminal, fake a second line
/// or reorder what a reader sees.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    out.into()
}

/// A control character or a bidirectional override: never printed raw.
fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// One line on stdout, control characters escaped (see [`printable`]). A closed
/// stdout (the reader went away: `holds watch | head -1`) is an error returned to
/// the caller, never a panic.
pub fn line(text: impl std::fmt::Display) -> io::Result<()> {
    write_line(&printable(&text.to_string()))
}

fn write_line(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

/// A one-shot command's result line: if nobody reads it any more (a closed pipe),
/// only the report is lost; the exit code still says what the command did.
pub fn print(text: impl std::fmt::Display) {
    let _ = line(text);
}

/// One line on stderr, control characters escaped, never a panic when stderr is
/// a closed pipe.
pub fn print_err(text: impl std::fmt::Display) {
    let text = text.to_string();
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{}", printable(&text)).and_then(|()| err.flush());
}

/// Resolves once stdout can no longer be written: its reader closed the pipe or
/// socket (or it was never open). Never resolves for a file or a live terminal.
pub async fn stdout_gone() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A plain thread, not a blocking task: it may wait in poll(2) for the life of
    // the process, and must not hold up the runtime's shutdown.
    std::thread::spawn(move || {
        let mut fd = libc::pollfd {
            fd: libc::STDOUT_FILENO,
            // POLLERR, POLLHUP and POLLNVAL are reported whatever is asked for.
            events: 0,
            revents: 0,
        };
        loop {
            // SAFETY: one valid pollfd, for the duration of the call.
            let ready = unsafe { libc::poll(&mut fd, 1, -1) };
            if ready > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                let _ = tx.send(());
                return;
            }
            if ready < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return;
            }
        }
    });
    if rx.await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A JSON line with every character [`printable`] would escape written as a
/// JSON escape (serde leaves DEL, C1 controls and bidirectional overrides raw).
fn json_line(value: &impl Serialize) -> String {
    let json = serde_json::to_string(value).expect("serializable");
    if !json.chars().any(unsafe_char) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

pub fn print_json(value: &impl Serialize) {
    print(json_line(value));
}

/// `/repo/a.rs is held by a1 (in /repo-wt2) until 2026-...Z (ttl 30s, revision 42)`;
/// a pattern's names its kind (`/repo/src/ (directory) is held shared by …`).
pub fn describe_claim(c: &Claim) -> String {
    let shared = match c.hold.mode {
        holds::Mode::Shared => " shared",
        holds::Mode::Exclusive => "",
    };
    format!(
        "{}{} is held{shared} by {}{} until {} (ttl {}, revision {})",
        c.file,
        scope_note(c.scope),
        c.hold.agent_id,
        c.hold.working_in(),
        rfc3339(c.hold.expires_at),
        humantime::format_duration(round_ms(c.hold.ttl)),
        c.revision,
    )
}

/// What `claim` holds of `path`: `exclusive hold`, or `shared hold on /r/src/`
/// when it covers the path through a pattern (or another name).
pub fn hold_on(path: &str, claim: &Claim) -> String {
    if claim.file == path {
        format!("{} hold", claim.hold.mode.as_str())
    } else {
        format!("{} hold on {}", claim.hold.mode.as_str(), claim.file)
    }
}

/// ` (shared hold on /r/src/)` when `claim` is not simply an exclusive hold of
/// `path`; nothing when it is.
pub fn unless_plain(path: &str, claim: &Claim) -> String {
    if claim.file == path && claim.hold.mode == holds::Mode::Exclusive {
        String::new()
    } else {
        format!(" ({})", hold_on(path, claim))
    }
}

/// ` (directory)` or ` (glob)` after a pattern; nothing after a file.
fn scope_note(scope: Scope) -> String {
    match scope {
        Scope::File => String::new(),
        other => format!(" ({})", other.as_str()),
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

#[derive(Serialize)]
struct EventJson {
    kind: &'static str,
    file: String,
    /// `file`, `directory` or `glob`: what `file` names.
    scope: &'static str,
    revision: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    hold: Option<HoldJson>,
    /// Who force-released the hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    forced_by: Option<String>,
}

/// Prints one event; fails when stdout is closed.
pub fn event(e: &Event, json: bool) -> io::Result<()> {
    let (kind, hold, forced_by) = match &e.kind {
        EventKind::Announced(h) => ("announced", Some(h), None),
        EventKind::Released { forced_by } => ("released", None, forced_by.as_deref()),
        EventKind::Expired => ("expired", None, None),
    };
    if json {
        line(json_line(&EventJson {
            kind,
            file: e.file.clone(),
            scope: e.scope.as_str(),
            revision: e.revision,
            hold: hold.map(hold_json),
            forced_by: forced_by.map(str::to_string),
        }))
    } else {
        match (hold, forced_by) {
            (Some(h), _) => line(format_args!(
                "{kind:<9} {}{}{} by {}{} until {} (revision {})",
                e.file,
                scope_note(e.scope),
                match h.mode {
                    holds::Mode::Shared => " shared",
                    holds::Mode::Exclusive => "",
                },
                h.agent_id,
                h.working_in(),
                rfc3339(h.expires_at),
                e.revision
            )),
            (None, Some(by)) => line(format_args!(
                "{kind:<9} {}{} forced by {by} (revision {})",
                e.file,
                scope_note(e.scope),
                e.revision
            )),
            (None, None) => line(format_args!(
                "{kind:<9} {}{} (revision {})",
                e.file,
                scope_note(e.scope),
                e.revision
            )),
        }
    }
}

#[derive(Serialize)]
struct ErrorJson {
    error: ErrorBody,
}

#[derive(Serialize)]
struct ErrorBody {
    kind: &'static str,
    message: String,
    exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    holder: Option<ClaimJson>,
    /// Every holder, for a multi-file claim refused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    holders: Vec<ClaimJson>,
    /// The file a lease lost, and who holds it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    lost: Option<LostJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

#[derive(Serialize)]
struct LostJson {
    file: String,
    revision: u64,
    holder: Option<ClaimJson>,
}

fn kind(f: &Failure) -> &'static str {
    let e = f.holds.as_ref();
    match e {
        Some(Error::HeldByAnother(_)) => "held-by-another",
        Some(Error::HeldByOthers(_)) => "held-by-others",
        Some(Error::Lost(_)) => "lost",
        Some(Error::InvalidInput { .. }) => "invalid-input",
        Some(Error::Config(_)) => "invalid-config",
        Some(Error::CasExhausted(_)) => "cas-exhausted",
        Some(Error::CorruptEntry { .. }) => "corrupt-entry",
        Some(Error::Store(_)) => "store",
        Some(Error::Closed) => "closed",
        Some(Error::Guest(_)) => "guest",
        Some(Error::Lagged(_)) => "lagged",
        None if f.code == super::exit::USAGE => "usage",
        None => "error",
    }
}

/// One sentence on stderr; with `--json`, also a JSON error object on stdout.
/// A failure's error and its chain of causes, each said once: causes usually
/// repeat what the error above them already says.
pub fn failure_message(f: &Failure) -> String {
    let mut message = f.error.to_string();
    for cause in f.error.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

pub fn failure(f: &Failure, json: bool) {
    let message = failure_message(f);
    print_err(format_args!("holds: {message}"));
    if json {
        print_json(&ErrorJson {
            error: ErrorBody {
                kind: kind(f),
                message,
                exit_code: f.code,
                holder: match &f.holds {
                    Some(Error::HeldByAnother(c)) => Some(claim_json(c)),
                    _ => None,
                },
                holders: match &f.holds {
                    Some(Error::HeldByOthers(cs)) => cs.iter().map(claim_json).collect(),
                    _ => Vec::new(),
                },
                lost: match &f.holds {
                    Some(Error::Lost(l)) => Some(LostJson {
                        file: l.file.clone(),
                        revision: l.revision,
                        holder: l.holder.as_ref().map(claim_json),
                    }),
                    _ => None,
                },
                field: match &f.holds {
                    Some(Error::InvalidInput { field, .. }) => Some(field.clone()),
                    _ => None,
                },
            },
        });
    }
}
