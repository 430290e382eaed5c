//! An embedded bucket in one SQLite file, shared safely by many processes.
//!
//! - WAL journal, `synchronous = FULL` (an acknowledged write survives a power
//!   loss), a busy timeout, and every conditional write inside `BEGIN IMMEDIATE`
//!   so the check and the write are one atomic step across processes.
//! - Revisions come from one sequence per bucket, as JetStream's stream sequence;
//!   a removal leaves a marker entry with its own revision.
//! - Entries older than the bucket's max age read as absent and are deleted.
//! - Watching: every change is also appended to a change log, which watchers (in
//!   any process) poll every [`POLL_INTERVAL`]; the log keeps the last
//!   [`CHANGE_LOG_LEN`] changes, and a watcher that falls further behind fails
//!   with an error (its subscribers resubscribe from a fresh snapshot).
//! - Every release marker is also recorded in the release log, in the same
//!   transaction, so no acknowledged release goes unrecorded.

use super::release_log::{LoggedRelease, RELEASE_LOG_LEN, this_process};
use super::{
    BatchWrite, BucketSpec, Entry, KvError, KvStore, Operation, Removal, Watch, WatchItem,
};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// How often a watcher looks for new changes.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Changes kept in the log per bucket.
pub const CHANGE_LOG_LEN: u64 = 10_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS buckets (
    name       TEXT PRIMARY KEY,
    sequence   INTEGER NOT NULL,
    max_age_ns INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS entries (
    bucket     TEXT NOT NULL,
    key        TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    operation  INTEGER NOT NULL,
    value      BLOB NOT NULL,
    created_ns INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE IF NOT EXISTS changes (
    bucket     TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    key        TEXT NOT NULL,
    operation  INTEGER NOT NULL,
    value      BLOB NOT NULL,
    created_ns INTEGER NOT NULL,
    PRIMARY KEY (bucket, revision)
);
";

/// The release log's table, made by the first release of a database (in the
/// release's own transaction), whenever the database was made.
const RELEASES_TABLE: &str = "
CREATE TABLE IF NOT EXISTS releases (
    bucket     TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    key        TEXT NOT NULL,
    note       BLOB NOT NULL,
    process    TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    PRIMARY KEY (bucket, revision)
)";

/// Which file a path named when the store opened it: a file removed or replaced
/// since is a lost store, whose holds nobody else sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(path: &Path) -> std::io::Result<FileId> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        Ok(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// `Ok` while `path` still names this file.
    fn check(self, path: &Path) -> Result<(), KvError> {
        match FileId::of(path) {
            Ok(now) if now == self => Ok(()),
            Ok(_) => Err(lost_store(path, "replaced by another file")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(lost_store(path, "removed")),
            Err(e) => {
                Err(KvError::unavailable(format!("checking {}", path.display())).with_source(e))
            }
        }
    }
}

fn lost_store(path: &Path, how: &str) -> KvError {
    KvError::unavailable(format!(
        "the store {} was {how} after this process opened it: what was held through it is gone",
        path.display()
    ))
}

/// A bucket in an SQLite database file.
#[derive(Clone)]
pub struct SqliteKv {
    path: PathBuf,
    file: FileId,
    bucket: String,
    max_age: Duration,
    busy_timeout: Duration,
    conn: Arc<Mutex<Connection>>,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn op_code(op: Operation) -> i64 {
    match op {
        Operation::Put => 0,
        Operation::Delete => 1,
        Operation::Purge => 2,
        Operation::Expire => 3,
    }
}

fn op_from(code: i64) -> Operation {
    match code {
        1 => Operation::Delete,
        2 => Operation::Purge,
        3 => Operation::Expire,
        _ => Operation::Put,
    }
}

fn entry_from(revision: i64, operation: i64, value: Vec<u8>, created_ns: i64) -> Entry {
    Entry {
        value: Bytes::from(value),
        revision: revision as u64,
        operation: op_from(operation),
        created: UNIX_EPOCH + Duration::from_nanos(created_ns.max(0) as u64),
    }
}

fn sql_error(e: rusqlite::Error) -> KvError {
    KvError::unavailable("sqlite").with_source(e)
}

fn task_error(e: tokio::task::JoinError) -> KvError {
    KvError::unavailable("sqlite task").with_source(e)
}

fn open_connection(path: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Open the database at `path` and make sure it has the schema and `bucket`
/// (created with `asked` as its max age); returns the bucket's max age.
fn open_bucket(
    path: &Path,
    bucket: &str,
    asked: i64,
    busy_timeout: Duration,
) -> rusqlite::Result<(Connection, i64)> {
    let conn = open_connection(path, busy_timeout)?;
    // A bucket that exists is opened without a write (and so without waiting
    // for the write lock another process may hold).
    if let Some(max_age) = existing_max_age(&conn, bucket)? {
        return Ok((conn, max_age));
    }
    conn.execute_batch(SCHEMA)?;
    // Databases from before the bucket kept its max age: add the column.
    // (It fails on a database that has it; a busy one is tried again.)
    if let Err(e) = conn.execute(
        "ALTER TABLE buckets ADD COLUMN max_age_ns INTEGER NOT NULL DEFAULT 0",
        [],
    ) && is_busy(&e)
    {
        return Err(e);
    }
    // The bucket's max age is the creator's, as on JetStream: every process
    // then ages entries alike, whatever its own maximum TTL.
    conn.execute(
        "INSERT OR IGNORE INTO buckets (name, sequence, max_age_ns) VALUES (?1, 0, ?2)",
        params![bucket, asked],
    )?;
    conn.execute(
        "UPDATE buckets SET max_age_ns = ?2 WHERE name = ?1 AND max_age_ns = 0",
        params![bucket, asked],
    )?;
    let max_age: i64 = conn.query_row(
        "SELECT max_age_ns FROM buckets WHERE name = ?1",
        params![bucket],
        |r| r.get(0),
    )?;
    Ok((conn, max_age))
}

/// The max age of `bucket` when the database has it (`None`: no schema yet, no
/// such bucket, or one from before buckets kept their max age). Reads only.
fn existing_max_age(conn: &Connection, bucket: &str) -> rusqlite::Result<Option<i64>> {
    let found = conn
        .query_row(
            "SELECT max_age_ns FROM buckets WHERE name = ?1",
            params![bucket],
            |r| r.get::<_, i64>(0),
        )
        .optional();
    match found {
        Ok(max_age) => Ok(max_age.filter(|&age| age != 0)),
        // No table: a database holds has not set up yet.
        Err(rusqlite::Error::SqliteFailure(_, Some(message))) if message.contains("no such") => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// [`open_bucket`], again while the database is busy, until `busy_timeout`:
/// processes opening a fresh database at once can find it locked where SQLite
/// does not wait (`PRAGMA journal_mode=WAL` answers "database is locked" at once
/// to one of them), and the whole open is idempotent.
fn open_retrying(
    path: &Path,
    bucket: &str,
    asked: i64,
    busy_timeout: Duration,
) -> rusqlite::Result<(Connection, i64)> {
    let deadline = std::time::Instant::now() + busy_timeout;
    loop {
        match open_bucket(path, bucket, asked, busy_timeout) {
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            opened => return opened,
        }
    }
}

/// Create the database file (and its missing directories) readable by its
/// owner alone, as SQLite then creates the WAL and shared-memory files: holds
/// name files and agents. An existing file keeps its permissions.
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// SQLite refused because another connection holds the database.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl SqliteKv {
    /// Whether the database at `path` exists and has `bucket`, found without
    /// creating or writing anything (commands that only read open no bucket
    /// that is not there, so they never choose its settings).
    pub async fn bucket_exists(path: impl AsRef<Path>, bucket: &str) -> Result<bool, KvError> {
        let (path, bucket) = (path.as_ref().to_path_buf(), bucket.to_string());
        tokio::task::spawn_blocking(move || {
            match std::fs::metadata(&path) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                // A path under a regular file, say: no store can be there.
                Err(e) => {
                    return Err(
                        KvError::unavailable(format!("opening {}", path.display())).with_source(e)
                    );
                }
            }
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
                | rusqlite::OpenFlags::SQLITE_OPEN_URI;
            let conn = Connection::open_with_flags(&path, flags).map_err(|e| {
                KvError::unavailable(format!("opening {}", path.display())).with_source(e)
            })?;
            existing_max_age(&conn, &bucket)
                .map(|age| age.is_some())
                .map_err(sql_error)
        })
        .await
        .map_err(task_error)?
    }

    /// Open (creating if needed) the database at `path` and the bucket in it.
    pub async fn open(path: impl AsRef<Path>, spec: &BucketSpec) -> Result<Self, KvError> {
        let path = path.as_ref().to_path_buf();
        create_private(&path).map_err(|e| {
            KvError::unavailable(format!("creating {}", path.display())).with_source(e)
        })?;
        let (p, bucket, timeout) = (path.clone(), spec.name.clone(), spec.op_timeout);
        let asked = spec.max_age.as_nanos().min(i64::MAX as u128) as i64;
        let opened =
            tokio::task::spawn_blocking(move || open_retrying(&p, &bucket, asked, timeout))
                .await
                .map_err(task_error)?
                .map_err(|e| {
                    KvError::unavailable(format!("opening {}", path.display())).with_source(e)
                })?;
        let (conn, max_age) = opened;
        let file = FileId::of(&path).map_err(|e| {
            KvError::unavailable(format!("opening {}", path.display())).with_source(e)
        })?;
        Ok(SqliteKv {
            path,
            file,
            bucket: spec.name.clone(),
            max_age: Duration::from_nanos(max_age.max(0) as u64),
            busy_timeout: spec.op_timeout,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Run `f` on the connection off the async runtime.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &str, i64) -> Result<T, KvError> + Send + 'static,
    ) -> Result<T, KvError> {
        let conn = self.conn.clone();
        let bucket = self.bucket.clone();
        let oldest = now_ns().saturating_sub(self.max_age.as_nanos() as i64);
        let (path, file) = (self.path.clone(), self.file);
        tokio::task::spawn_blocking(move || {
            file.check(&path)?;
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut conn, &bucket, oldest)
        })
        .await
        .map_err(task_error)?
    }

    /// Append a change if `expected` matches (`None`: unconditionally).
    async fn append(
        &self,
        key: &str,
        value: Bytes,
        operation: Operation,
        expected: Option<u64>,
    ) -> Result<u64, KvError> {
        let change = Change {
            key: key.to_string(),
            value,
            operation,
            expected,
        };
        Ok(self.append_all(vec![change]).await?[0])
    }

    /// Append every change, each only if its `expected` matches, in one
    /// transaction: all or none.
    async fn append_all(&self, changes: Vec<Change>) -> Result<Vec<u64>, KvError> {
        self.with(move |conn, bucket, oldest| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            for change in &changes {
                let current: Option<(i64, i64)> = tx
                    .prepare_cached(
                        "SELECT revision, created_ns FROM entries WHERE bucket = ?1 AND key = ?2",
                    )
                    .and_then(|mut stmt| {
                        stmt.query_row(params![bucket, change.key], |r| Ok((r.get(0)?, r.get(1)?)))
                            .optional()
                    })
                    .map_err(sql_error)?;
                let current = current
                    .filter(|(_, created)| *created >= oldest)
                    .map_or(0, |(rev, _)| rev as u64);
                if change.expected.is_some_and(|e| e != current) {
                    return Err(KvError::wrong_revision());
                }
            }
            let mut revisions = Vec::with_capacity(changes.len());
            for change in &changes {
                let revision: i64 = tx
                    .query_row(
                        "UPDATE buckets SET sequence = sequence + 1 WHERE name = ?1 RETURNING sequence",
                        params![bucket],
                        |r| r.get(0),
                    )
                    .map_err(sql_error)?;
                let created = now_ns();
                let code = op_code(change.operation);
                let value = change.value.as_ref();
                tx.execute(
                    "INSERT OR REPLACE INTO entries (bucket, key, revision, operation, value, created_ns)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![bucket, change.key, revision, code, value, created],
                )
                .map_err(sql_error)?;
                tx.execute(
                    "INSERT INTO changes (bucket, revision, key, operation, value, created_ns)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![bucket, revision, change.key, code, value, created],
                )
                .map_err(sql_error)?;
                if change.operation == Operation::Delete {
                    log_release(&tx, bucket, revision, &change.key, value, created)?;
                }
                // Keep the log bounded and drop aged-out entries, now and then.
                if revision % 256 == 0 {
                    tx.execute(
                        "DELETE FROM changes WHERE bucket = ?1 AND revision <= ?2",
                        params![bucket, revision - CHANGE_LOG_LEN as i64],
                    )
                    .map_err(sql_error)?;
                    tx.execute(
                        "DELETE FROM entries WHERE bucket = ?1 AND created_ns < ?2",
                        params![bucket, oldest],
                    )
                    .map_err(sql_error)?;
                }
                revisions.push(revision as u64);
            }
            tx.commit().map_err(sql_error)?;
            Ok(revisions)
        })
        .await
    }
}

/// Record a release in the log (its table made by the first one), keeping the
/// newest [`RELEASE_LOG_LEN`].
fn log_release(
    tx: &rusqlite::Transaction<'_>,
    bucket: &str,
    revision: i64,
    key: &str,
    note: &[u8],
    created: i64,
) -> Result<(), KvError> {
    let insert = || {
        tx.execute(
            "INSERT INTO releases (bucket, revision, key, note, process, created_ns)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![bucket, revision, key, note, this_process(), created],
        )
    };
    match insert() {
        Err(e) if no_such_table(&e) => tx.execute(RELEASES_TABLE, []).and_then(|_| insert()),
        inserted => inserted,
    }
    .map_err(sql_error)?;
    if revision % 256 == 0 {
        trim_releases(tx, bucket)?;
    }
    Ok(())
}

/// A statement named a table the database does not have (yet).
fn no_such_table(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(_, Some(m)) if m.contains("no such table"))
}

/// Keep the newest [`RELEASE_LOG_LEN`] releases of `bucket`.
fn trim_releases(tx: &rusqlite::Transaction<'_>, bucket: &str) -> Result<(), KvError> {
    tx.execute(
        "DELETE FROM releases WHERE bucket = ?1 AND revision < (
             SELECT MIN(revision) FROM (
                 SELECT revision FROM releases WHERE bucket = ?1
                 ORDER BY revision DESC LIMIT ?2))",
        params![bucket, RELEASE_LOG_LEN as i64],
    )
    .map_err(sql_error)?;
    Ok(())
}

/// One change to append (a `Delete` is a release, and recorded in the log).
struct Change {
    key: String,
    value: Bytes,
    operation: Operation,
    /// The revision it expects (`None`: unconditional).
    expected: Option<u64>,
}

#[async_trait]
impl KvStore for SqliteKv {
    fn describe(&self) -> String {
        format!("SQLite bucket {} in {}", self.bucket, self.path.display())
    }

    fn expires_entries(&self) -> bool {
        false
    }

    fn max_age(&self) -> Duration {
        self.max_age
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, KvError> {
        let key = key.to_string();
        self.with(move |conn, bucket, oldest| {
            conn.prepare_cached(
                "SELECT revision, operation, value, created_ns FROM entries
                 WHERE bucket = ?1 AND key = ?2 AND created_ns >= ?3",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![bucket, key, oldest], |r| {
                    Ok(entry_from(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
            })
            .map_err(sql_error)
        })
        .await
    }

    async fn scan(&self, prefix: &str) -> Result<Vec<(String, Entry)>, KvError> {
        // Keys are ASCII: the prefix's range is [prefix, prefix + U+FFFF).
        let (from, to) = (prefix.to_string(), format!("{prefix}\u{ffff}"));
        let put = op_code(Operation::Put);
        self.with(move |conn, bucket, oldest| {
            conn.prepare_cached(
                "SELECT key, revision, operation, value, created_ns FROM entries
                 WHERE bucket = ?1 AND key >= ?2 AND key < ?3 AND created_ns >= ?4
                   AND operation = ?5",
            )
            .and_then(|mut stmt| {
                stmt.query_map(params![bucket, from, to, oldest, put], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        entry_from(r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
                    ))
                })?
                .collect()
            })
            .map_err(sql_error)
        })
        .await
    }

    async fn write_if_revision(
        &self,
        key: &str,
        value: Bytes,
        expected: u64,
        _ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        self.append(key, value, Operation::Put, Some(expected))
            .await
    }

    async fn delete_if_revision(
        &self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Bytes,
    ) -> Result<u64, KvError> {
        let operation = match why {
            Removal::Released => Operation::Delete,
            Removal::Expired => Operation::Expire,
        };
        self.append(key, note, operation, Some(expected)).await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Entry>>, KvError> {
        let keys = keys.to_vec();
        self.with(move |conn, bucket, oldest| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT revision, operation, value, created_ns FROM entries
                     WHERE bucket = ?1 AND key = ?2 AND created_ns >= ?3",
                )
                .map_err(sql_error)?;
            keys.iter()
                .map(|key| {
                    stmt.query_row(params![bucket, key, oldest], |r| {
                        Ok(entry_from(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()
                    .map_err(sql_error)
                })
                .collect()
        })
        .await
    }

    /// One `BEGIN IMMEDIATE` transaction, so no other process writes between the
    /// checks and the writes.
    async fn write_batch(&self, writes: &[BatchWrite]) -> Result<Vec<u64>, KvError> {
        let changes = writes
            .iter()
            .map(|w| Change {
                key: w.key.clone(),
                value: w.value.clone(),
                operation: Operation::Put,
                expected: Some(w.expected),
            })
            .collect();
        self.append_all(changes).await
    }

    async fn releases(&self, limit: usize) -> Result<Vec<LoggedRelease>, KvError> {
        self.with(move |conn, bucket, _| {
            let limit = limit.min(i64::MAX as usize) as i64;
            let read = conn
                .prepare(
                    "SELECT key, revision, note, process, created_ns FROM (
                         SELECT * FROM releases WHERE bucket = ?1 ORDER BY revision DESC LIMIT ?2)
                     ORDER BY revision",
                )
                .and_then(|mut stmt| {
                    stmt.query_map(params![bucket, limit], |r| {
                        let at: i64 = r.get(4)?;
                        Ok(LoggedRelease {
                            key: r.get(0)?,
                            revision: r.get::<_, i64>(1)? as u64,
                            note: Bytes::from(r.get::<_, Vec<u8>>(2)?),
                            process: r.get(3)?,
                            at: UNIX_EPOCH + Duration::from_nanos(at.max(0) as u64),
                        })
                    })?
                    .collect()
                });
            match read {
                // A database no release has been made in yet.
                Err(e) if no_such_table(&e) => Ok(Vec::new()),
                read => read.map_err(sql_error),
            }
        })
        .await
    }

    #[cfg(feature = "test-util")]
    async fn put(&self, key: &str, value: Bytes) -> Result<u64, KvError> {
        self.append(key, value, Operation::Put, None).await
    }

    async fn watch(&self) -> Result<Watch, KvError> {
        // The watcher polls on its own connection so it never waits behind writes.
        let path = self.path.clone();
        let timeout = self.busy_timeout;
        let reader = tokio::task::spawn_blocking(move || open_connection(&path, timeout))
            .await
            .map_err(task_error)?
            .map_err(sql_error)?;
        let reader = Arc::new(Mutex::new(reader));
        let bucket = self.bucket.clone();
        let max_age = self.max_age;
        let (tx, rx) = mpsc::channel(1024);
        let (path, file) = (self.path.clone(), self.file);
        tokio::spawn(async move {
            let result = poll_changes(reader, bucket, max_age, (path, file), &tx).await;
            if let Err(e) = result {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(ReceiverStream::new(rx).boxed())
    }
}

type Row = (String, Entry);
/// A read on the watcher's connection: rows and a revision.
type Read = Box<dyn FnOnce(&Connection) -> rusqlite::Result<(Vec<Row>, i64)> + Send>;

/// Replay the bucket, then follow the change log until the receiver goes away.
async fn poll_changes(
    reader: Arc<Mutex<Connection>>,
    bucket: String,
    max_age: Duration,
    (path, file): (PathBuf, FileId),
    tx: &mpsc::Sender<Result<WatchItem, KvError>>,
) -> Result<(), KvError> {
    let run = |f: Read| {
        let reader = reader.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader.lock().unwrap_or_else(|e| e.into_inner());
                f(&conn)
            })
            .await
            .map_err(task_error)?
            .map_err(sql_error)
        }
    };
    let b = bucket.clone();
    let oldest = now_ns().saturating_sub(max_age.as_nanos() as i64);
    let (current, mut last) = run(Box::new(move |conn| {
        // One read transaction: the snapshot and the sequence agree.
        conn.execute_batch("BEGIN DEFERRED")?;
        let result = (|| {
            let mut stmt = conn.prepare(
                "SELECT key, revision, operation, value, created_ns FROM entries
                 WHERE bucket = ?1 AND created_ns >= ?2 ORDER BY revision",
            )?;
            let rows = stmt
                .query_map(params![b, oldest], |r| {
                    Ok((
                        r.get(0)?,
                        entry_from(r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
                    ))
                })?
                .collect::<rusqlite::Result<Vec<Row>>>()?;
            let sequence: i64 = conn.query_row(
                "SELECT sequence FROM buckets WHERE name = ?1",
                params![b],
                |r| r.get(0),
            )?;
            Ok((rows, sequence))
        })();
        conn.execute_batch("COMMIT")?;
        result
    }))
    .await?;
    for (key, entry) in current {
        if tx.send(Ok(WatchItem::Entry { key, entry })).await.is_err() {
            return Ok(());
        }
    }
    if tx.send(Ok(WatchItem::CaughtUp)).await.is_err() {
        return Ok(());
    }
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if tx.is_closed() {
            return Ok(());
        }
        file.check(&path)?;
        let (b, after) = (bucket.clone(), last);
        let (changes, first) = run(Box::new(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT key, revision, operation, value, created_ns FROM changes
                 WHERE bucket = ?1 AND revision > ?2 ORDER BY revision LIMIT 1000",
            )?;
            let rows = stmt
                .query_map(params![b, after], |r| {
                    Ok((
                        r.get(0)?,
                        entry_from(r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
                    ))
                })?
                .collect::<rusqlite::Result<Vec<Row>>>()?;
            let first = rows.first().map_or(after + 1, |(_, e)| e.revision as i64);
            Ok((rows, first))
        }))
        .await?;
        if first > last + 1 {
            return Err(KvError::unavailable(format!(
                "the watcher fell behind the change log (missed revisions {}..{})",
                last + 1,
                first - 1
            )));
        }
        for (key, entry) in changes {
            last = entry.revision as i64;
            if tx.send(Ok(WatchItem::Entry { key, entry })).await.is_err() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    /// Eight connections open one fresh database at the same instant, forty times.
    /// Without the retry, `PRAGMA journal_mode=WAL` refused some of them at once
    /// ("database is locked"), whatever the busy timeout.
    #[test]
    fn connections_opening_a_fresh_database_at_once_all_open_it() {
        const AT_ONCE: usize = 8;
        let dir = tempfile::tempdir().unwrap();
        for round in 0..40 {
            let path = dir.path().join(format!("fresh-{round}.db"));
            let barrier = Barrier::new(AT_ONCE);
            let failed: Vec<String> = std::thread::scope(|scope| {
                let opens: Vec<_> = (0..AT_ONCE)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            open_retrying(&path, "holds", 1, Duration::from_secs(5)).err()
                        })
                    })
                    .collect();
                opens
                    .into_iter()
                    .filter_map(|open| open.join().unwrap())
                    .map(|e| e.to_string())
                    .collect()
            });
            assert!(failed.is_empty(), "round {round}: {failed:?}");
        }
    }

    fn spec() -> BucketSpec {
        BucketSpec {
            name: "holds".into(),
            max_age: Duration::from_secs(300),
            replicas: 1,
            op_timeout: Duration::from_secs(5),
        }
    }

    /// A release is recorded in the same transaction as its marker, expiries are
    /// not, and a database made before the log existed gets it at its first release.
    #[tokio::test]
    async fn releases_are_logged_with_their_marker_even_in_an_older_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let kv = SqliteKv::open(&path, &spec()).await.unwrap();
        Connection::open(&path)
            .unwrap()
            .execute("DROP TABLE IF EXISTS releases", [])
            .unwrap();
        assert_eq!(kv.releases(10).await.unwrap(), vec![], "no table: empty");
        let put = kv.write_if_revision("k", Bytes::from_static(b"{}"), 0, None);
        let put = put.await.unwrap();
        let note = Bytes::from_static(br#"{"agent_id":"a"}"#);
        let marker = kv
            .delete_if_revision("k", put, Removal::Released, note.clone())
            .await
            .unwrap();
        let again = kv.write_if_revision("k", Bytes::from_static(b"{}"), marker, None);
        let again = again.await.unwrap();
        kv.delete_if_revision("k", again, Removal::Expired, Bytes::new())
            .await
            .unwrap();
        let logged = kv.releases(10).await.unwrap();
        assert_eq!(logged.len(), 1, "{logged:?}");
        assert_eq!((logged[0].key.as_str(), logged[0].revision), ("k", marker));
        assert_eq!(logged[0].note, note);
        assert_eq!(logged[0].process, this_process());
        let refused = kv.delete_if_revision("k", 1, Removal::Released, note).await;
        assert!(refused.is_err());
        assert_eq!(
            kv.releases(10).await.unwrap().len(),
            1,
            "a refused release is not logged"
        );
    }
}
