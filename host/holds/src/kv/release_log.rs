//! The log of releases each store keeps beside its bucket: every release
//! marker holds writes is also recorded there with the process that wrote it,
//! so a release or force-release typed by someone else can be traced afterwards
//! (`holds log`). The bucket's own markers age out with it; the log does not.

use bytes::Bytes;
use std::sync::OnceLock;
use std::time::SystemTime;

/// Releases a store's log keeps per bucket (the oldest go first).
pub const RELEASE_LOG_LEN: u64 = 100_000;

/// One recorded release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRelease {
    /// The key released.
    pub key: String,
    /// The revision of the marker the release left.
    pub revision: u64,
    /// The marker's value: the guest's note of whose hold it removed and who
    /// forced it (empty when the writer left none).
    pub note: Bytes,
    /// The process that released it, as it described itself (see [`this_process`]).
    pub process: String,
    /// When the store recorded it.
    pub at: SystemTime,
}

/// The note the guest leaves on a release marker (see its `encode_release_note`),
/// read here only to show the log; a note that does not decode reads as empty.
#[derive(Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub(crate) struct ReleaseNote {
    pub released_by: Option<String>,
    pub agent_id: Option<String>,
    pub checkout_path: String,
    pub revision: u64,
}

impl ReleaseNote {
    pub(crate) fn decode(note: &[u8]) -> ReleaseNote {
        let mut note: ReleaseNote = serde_json::from_slice(note).unwrap_or_default();
        note.released_by = note.released_by.filter(|by| !by.trim().is_empty());
        note
    }
}

static PROCESS: OnceLock<String> = OnceLock::new();

/// Name this process in the release log as `name` (e.g. `holds release`)
/// instead of its executable's name. Only the first call, made before the first
/// release, counts.
pub fn name_this_process(name: &str) {
    let _ = PROCESS.set(describe(name));
}

/// How this process appears in the release log: its name, pid, host and user.
pub fn this_process() -> &'static str {
    PROCESS.get_or_init(|| {
        let exe = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "unknown".into());
        describe(&exe)
    })
}

fn describe(name: &str) -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| format!("uid {}", euid()));
    format!(
        "{name} (pid {}, user {user}, host {})",
        std::process::id(),
        hostname()
    )
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it or truncates.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match ok {
        true if end > 0 => String::from_utf8_lossy(&buf[..end]).into_owned(),
        _ => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_decode_as_the_guest_writes_them_and_anything_else_is_empty() {
        let forced = ReleaseNote::decode(
            br#"{"released_by":"ops","agent_id":"a","checkout_path":"/wt","revision":7}"#,
        );
        assert_eq!(forced.released_by.as_deref(), Some("ops"));
        assert_eq!(forced.agent_id.as_deref(), Some("a"));
        assert_eq!((forced.checkout_path.as_str(), forced.revision), ("/wt", 7));
        let plain = ReleaseNote::decode(br#"{"agent_id":"a","checkout_path":"","revision":3}"#);
        assert_eq!(plain.released_by, None);
        for other in [&b""[..], b"garbage", br#"{"revision":"x"}"#] {
            assert_eq!(ReleaseNote::decode(other), ReleaseNote::default());
        }
    }

    #[test]
    fn this_process_names_pid_user_and_host() {
        let me = this_process();
        assert!(me.contains(&format!("pid {}", std::process::id())), "{me}");
        assert!(me.contains("host "), "{me}");
        assert!(me.contains("user "), "{me}");
    }
}
