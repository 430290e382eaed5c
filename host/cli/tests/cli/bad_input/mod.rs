//! Bad input through the CLI: invalid bucket names, agents, TTLs and paths, paths with every special
//! character, non-UTF-8 arguments, values another client wrote raw into the bucket, and broken traces. Each
//! case gets a clear error naming the problem and the right exit code, never a panic, and leaves the store as
//! it was. On SQLite (a temporary `HOLDS_STORE`), a subset on JetStream.
//!
//! One file per kind of input: `buckets` (names JetStream refuses), `arguments` (agents, TTLs, paths,
//! non-UTF-8 bytes), `special_paths` (relative spellings and every special character, which must work),
//! `raw_values` (what another client wrote raw, including holds claimed before 1970), `traces` (broken
//! recordings) and `jetstream` (a subset of them through `--nats`).

mod arguments;
mod buckets;
mod jetstream;
mod raw_values;
mod special_paths;
mod traces;

use crate::support::{CliEnv, Run, Store};
use holds::kv::KvStore;
use holds::{Backend, Config, Manager};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A key's raw entry: (revision, value), or none.
pub type RawEntry = Option<(u64, Vec<u8>)>;

pub fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_nanos(at).to_string()
}

/// Asserts `run` exited with `code`, did not panic, and (for errors) says each of `words` on stderr.
#[track_caller]
pub fn expect(run: &Run, code: i32, words: &[&str]) {
    assert_ne!(run.status.code(), Some(101), "panicked: {run}");
    assert!(!run.stderr.contains("panicked"), "panicked: {run}");
    run.assert_code(code);
    for w in words {
        assert!(run.stderr.contains(w), "stderr should say {w:?}: {run}");
    }
    if code == 1 || code == 3 {
        run.one_line_stderr();
    }
}

/// A library manager on the CLI's own store and bucket, to stage raw entries and read them back.
pub async fn cli_store(env: &CliEnv) -> Manager {
    let mut config = Config::new("holds", Duration::from_secs(300));
    config.replica = false;
    let backend = match env.store() {
        Store::Sqlite => Backend::Sqlite(env.db_path()),
        Store::Nats(url) => Backend::JetStream(async_nats::connect(url.as_str()).await.unwrap()),
    };
    Manager::open(config, backend).await.unwrap()
}

/// The raw entry (revision, value) of `key`.
pub async fn raw_entry(kv: &Arc<dyn KvStore>, key: &str) -> RawEntry {
    kv.get(key)
        .await
        .unwrap()
        .map(|e| (e.revision, e.value.to_vec()))
}

pub fn os(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}
