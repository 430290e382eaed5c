//! The `fs` import: what the guest may learn of the host's filesystem to name a
//! file (an lstat, a link's target, a git link file of at most 4 KiB). Served
//! only during an `identify` call; nothing is ever written.

use super::bindings::holds::core::fs::Node;
use std::io::Read;

/// The largest git link file read (a `.git` file or `commondir` is one line).
const MAX_LINK_FILE: u64 = 4096;

/// What is at `path`, without following a final symlink.
pub(crate) fn inspect(path: &str) -> Node {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Node::Missing;
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        return match std::fs::read_link(path).map(|t| t.into_os_string().into_string()) {
            Ok(Ok(target)) => Node::Symlink(target),
            _ => Node::Other,
        };
    }
    if kind.is_dir() {
        Node::Directory
    } else if kind.is_file() {
        Node::File
    } else {
        // Sockets, fifos, devices: they exist, and nothing is beneath them.
        Node::Other
    }
}

/// The text of the regular file at `path` when it is small and UTF-8.
pub(crate) fn read_link_file(path: &str) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    let read = file
        .take(MAX_LINK_FILE + 1)
        .read_to_string(&mut text)
        .ok()?;
    (read as u64 <= MAX_LINK_FILE).then_some(text)
}
