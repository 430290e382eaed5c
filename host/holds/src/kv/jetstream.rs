//! A JetStream KV bucket (async-nats), written to directly so that every
//! conditional write and delete is one round trip and carries per-message TTLs.
//!
//! Reads and the watch (an ordered consumer) keep the raw headers, because
//! async-nats' `Entry` folds the server's TTL-expiry marker
//! (`Nats-Marker-Reason: MaxAge`) into `Purge`, and holds must tell an expiry from
//! a release.
//!
//! On a replicated bucket reads go through the stream leader: a direct get may be
//! answered by a follower whose copy lags, and who-has must see every write
//! acknowledged before it started.

use super::{
    BatchWrite, BucketSpec, Entry, KvError, KvStore, Operation, Removal, Unsent, Watch, WatchItem,
};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, kv, stream};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use std::time::{Duration, SystemTime};

mod release_log;

const KV_OPERATION: &str = "KV-Operation";
/// A header value that makes a message a marker (the guest's `marker-headers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkerHeader {
    /// The header's name.
    pub name: String,
    /// The value that marks.
    pub value: String,
    /// The operation such a message records.
    pub operation: Operation,
}

const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
const TTL: &str = "Nats-TTL";
/// Our own marker header: a sweep (not the server) expired the hold.
const HOLDS_REMOVAL: &str = "Holds-Removal";
/// Atomic batch publish headers (ADR-50).
const BATCH_ID: &str = "Nats-Batch-Id";
const BATCH_SEQUENCE: &str = "Nats-Batch-Sequence";
const BATCH_COMMIT: &str = "Nats-Batch-Commit";
/// The server's largest batch.
const MAX_BATCH: usize = 1000;

/// A batch commit's answer: a PubAck, or an error.
#[derive(Debug, serde::Deserialize)]
struct BatchReply {
    seq: Option<u64>,
    count: Option<u64>,
    error: Option<ApiError>,
}

#[derive(Debug, serde::Deserialize)]
struct ApiError {
    err_code: u64,
    #[serde(default)]
    description: String,
}

/// How many changes per key a bucket we create keeps: 1, as the Go package.
/// More history would let a watch that fell behind deliver superseded changes,
/// but nats-server (2.15) then stretches a message's `Nats-TTL` to the bucket's
/// marker TTL, so holds would no longer expire on the server at their own TTL.
pub const HISTORY: i64 = 1;

/// A JetStream KV bucket with file storage.
#[derive(Clone)]
pub struct JetStreamKv {
    context: jetstream::Context,
    stream: stream::Stream,
    bucket: String,
    /// `$KV.<bucket>.`
    prefix: String,
    server: String,
    /// The server (>= 2.11) and the bucket accept per-message TTLs.
    per_message_ttl: bool,
    /// The bucket's max age (zero: unlimited).
    max_age: Duration,
    /// The bucket's stream's other limits.
    limits: super::BucketLimits,
    /// The bucket's stream's replicas (above 1: read through its leader).
    replicas: usize,
    /// The bucket's stream takes atomic batches (`allow_atomic`, server >= 2.12);
    /// cleared if the server says otherwise.
    atomic: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// How long one operation may take.
    op_timeout: Duration,
    /// What each message is, by its headers: the guest's table.
    markers: std::sync::Arc<[MarkerHeader]>,
}

impl JetStreamKv {
    /// Whether the bucket exists, found without creating anything (commands that
    /// only read open no bucket that is not there).
    pub async fn bucket_exists(client: &async_nats::Client, bucket: &str) -> Result<bool, KvError> {
        let context = jetstream::new(client.clone());
        match context.get_key_value(bucket).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == jetstream::context::KeyValueErrorKind::GetBucket => {
                // Told apart from an unreachable server by asking for the stream.
                match context.get_stream(format!("KV_{bucket}")).await {
                    Ok(_) => Ok(true),
                    Err(e) => match e.kind() {
                        jetstream::context::GetStreamErrorKind::JetStream(j)
                            if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
                        {
                            Ok(false)
                        }
                        _ => Err(KvError::unavailable(format!("looking up bucket {bucket}"))
                            .with_source(e)),
                    },
                }
            }
            Err(e) => {
                Err(KvError::unavailable(format!("looking up bucket {bucket}")).with_source(e))
            }
        }
    }

    /// Create the bucket, or attach to it if it exists (as the Go package does).
    ///
    /// On a server >= 2.11 a new bucket gets limit markers, so each hold carries its
    /// own TTL and expiry leaves a marker. An existing bucket is used as it is, never
    /// reconfigured (a Go agent's `CreateOrUpdateKeyValue` could not turn TTLs off
    /// again); without limit markers, or on older servers, holds fall back to the
    /// bucket's max age plus the guest's verdict (logged once).
    pub async fn open(client: async_nats::Client, spec: &BucketSpec) -> Result<Self, KvError> {
        let info = client.server_info();
        let server = format!(
            "nats-server {} at {}:{}",
            info.version, info.host, info.port
        );
        let ttl_capable = server_at_least(&info.version, (2, 11));
        let atomic_capable = server_at_least(&info.version, (2, 12));
        let mut context = jetstream::new(client);
        context.set_timeout(spec.op_timeout);
        let markers = crate::runtime::marker_headers().await.map_err(|e| {
            KvError::unavailable(format!("reading the guest's marker headers: {e}"))
        })?;
        let unavailable = |what: &str| KvError::unavailable(format!("{what} bucket {}", spec.name));

        let store = match context.get_key_value(&spec.name).await {
            Ok(store) => store,
            Err(e) if e.kind() == jetstream::context::KeyValueErrorKind::GetBucket => {
                let config = kv::Config {
                    bucket: spec.name.clone(),
                    history: HISTORY,
                    max_age: spec.max_age,
                    storage: stream::StorageType::File,
                    num_replicas: spec.replicas,
                    limit_markers: ttl_capable.then_some(spec.max_age.max(Duration::from_secs(1))),
                    ..Default::default()
                };
                // One step, with `allow_atomic` (multi-file claims) already set:
                // made as `create_key_value` then updated, the bucket was briefly
                // without it, and a batch sent then was refused as unsupported
                // (a CI run saw one), and a manager opening it then went without.
                let created = context
                    .create_stream(kv_stream_config(&config, atomic_capable))
                    .await;
                // Made, or another process made it first: there either way.
                context
                    .get_key_value(&spec.name)
                    .await
                    .map_err(|opening| match created {
                        Err(create) => unavailable("creating").with_source(create),
                        Ok(_) => unavailable("opening").with_source(opening),
                    })?
            }
            Err(e) => return Err(unavailable("opening").with_source(e)),
        };
        // `get_key_value` / `create_key_value` already fetched the stream's info.
        let stream = store.stream.clone();
        let stream_info = stream.cached_info().clone();
        // With history above 1 the server stretches per-message TTLs (see HISTORY).
        let per_message_ttl = ttl_capable
            && stream_info.config.allow_message_ttl
            && stream_info.config.max_messages_per_subject == 1;
        let max_age = stream_info.config.max_age;
        let config = &stream_info.config;
        let limits = super::BucketLimits {
            max_messages: config.max_messages,
            max_bytes: config.max_bytes,
            max_messages_per_key: config.max_messages_per_subject,
            discard_old: config.discard == stream::DiscardPolicy::Old,
            discard_new_per_key: config.discard_new_per_subject,
        };
        let replicas = stream_info.config.num_replicas;
        let atomic = atomic_capable && stream_info.config.allow_atomic_publish;
        if !per_message_ttl {
            tracing::warn!(
                bucket = spec.name,
                server = server,
                "per-message TTL unavailable (server older than 2.11, a bucket created without \
                 limit markers, e.g. by the Go package, or with history above 1): holds expire by the guest's verdict and at \
                 the bucket's max age; expired events come from watching managers' sweeps"
            );
        }
        Ok(JetStreamKv {
            context,
            stream,
            prefix: format!("$KV.{}.", spec.name),
            bucket: spec.name.clone(),
            server,
            per_message_ttl,
            max_age,
            limits,
            replicas,
            atomic: std::sync::atomic::AtomicBool::new(atomic).into(),
            op_timeout: spec.op_timeout,
            markers,
        })
    }

    fn subject(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// While disconnected, async-nats buffers a publish and sends it on reconnect,
    /// long after the call has failed: a renewal the agent was told failed would
    /// then replace its acknowledged hold. Refuse instead; `what` says what was
    /// not done. (A read would wait out the operation's time for an answer that
    /// cannot come: refused too.)
    fn connected(&self, what: &str) -> Result<(), KvError> {
        let state = self.context.client().connection_state();
        if state != async_nats::connection::State::Connected {
            return Err(KvError::unavailable(format!(
                "not connected to {} ({state}); {what}",
                self.server
            )));
        }
        Ok(())
    }

    /// One send of a write: its revision, or why it stored nothing (the
    /// guest decides whether to send it again).
    async fn publish(&self, key: &str, headers: HeaderMap, payload: Bytes) -> Result<u64, KvError> {
        self.connected("nothing was written")?;
        let sent = self
            .context
            .publish_with_headers(self.subject(key), headers, payload)
            .await;
        let acked = match sent {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match acked.map_err(classify) {
            Ok(ack) => Ok(ack.sequence),
            Err(Failure::Conflict) => Err(KvError::wrong_revision()),
            Err(Failure::Unsent(why, e)) => Err(KvError::not_stored(why, e.to_string())),
            Err(Failure::Failed(e)) => Err(KvError::unavailable("publish failed").with_source(e)),
        }
    }
}

impl JetStreamKv {
    /// One send of an atomic batch: its messages, then the commit's answer (the
    /// revisions, or why it stored nothing).
    async fn send_batch(&self, writes: &[BatchWrite]) -> Result<Vec<u64>, KvError> {
        self.connected("nothing was written")?;
        let client = self.context.client();
        let batch = format!("holds-{:032x}", rand::random::<u128>());
        let last = writes.len() - 1;
        let mut commit = None;
        for (i, w) in writes.iter().enumerate() {
            let mut headers = HeaderMap::new();
            headers.insert(BATCH_ID, batch.as_str());
            headers.insert(BATCH_SEQUENCE, (i + 1).to_string().as_str());
            headers.insert(
                EXPECTED_LAST_SUBJECT_SEQUENCE,
                w.expected.to_string().as_str(),
            );
            if let (true, Some(ttl)) = (self.per_message_ttl, w.ttl) {
                headers.insert(TTL, format!("{}s", ttl.as_secs().max(1)).as_str());
            }
            let subject = self.subject(&w.key);
            if i < last {
                client
                    .publish_with_headers(subject, headers, w.value.clone())
                    .await
                    .map_err(|e| KvError::unavailable("batch publish failed").with_source(e))?;
            } else {
                headers.insert(BATCH_COMMIT, "1");
                commit = Some(client.request_with_headers(subject, headers, w.value.clone()));
            }
        }
        let answer =
            tokio::time::timeout(self.op_timeout, commit.expect("a batch has a last write"))
                .await
                .map_err(|_| {
                    KvError::unavailable(format!(
                        "the batch's commit got no answer within {:?}",
                        self.op_timeout
                    ))
                })?;
        let reply = match answer {
            Ok(reply) => reply,
            // No stream listens on the subject yet (for a moment after a
            // replicated bucket is created): an uncommitted batch is never
            // applied, so the server drops what it took of this one.
            Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                return Err(KvError::not_stored(Unsent::NoStream, e.to_string()));
            }
            Err(e) => return Err(KvError::unavailable("batch commit failed").with_source(e)),
        };
        match serde_json::from_slice::<BatchReply>(&reply.payload) {
            Ok(BatchReply { error: Some(e), .. })
                if e.err_code == code::WRONG_LAST_SEQUENCE_CONSTANT =>
            {
                Err(KvError::not_stored(Unsent::Busy, e.description))
            }
            Ok(BatchReply { error: Some(e), .. })
                if e.err_code == code::LAST_SUBJECT_SEQUENCE_NOT_READY =>
            {
                Err(KvError::not_stored(Unsent::LeaderChanging, e.description))
            }
            Ok(BatchReply { error: Some(e), .. }) => Err(match e.err_code {
                code::WRONG_LAST_SEQUENCE => KvError::wrong_revision(),
                code::ATOMIC_PUBLISH_DISABLED => {
                    self.atomic
                        .store(false, std::sync::atomic::Ordering::Relaxed);
                    KvError::unsupported(format!("bucket {}: {}", self.bucket, e.description))
                }
                other => KvError::unavailable(format!(
                    "batch commit refused: {} (error {other})",
                    e.description
                )),
            }),
            Ok(BatchReply {
                seq: Some(seq),
                count: Some(count),
                ..
            }) if count == writes.len() as u64 && seq >= count => {
                // A committed batch is stored as consecutive messages.
                Ok((seq + 1 - count..=seq).collect())
            }
            Ok(other) => Err(KvError::unavailable(format!(
                "the batch's commit answered {other:?} for {} writes",
                writes.len()
            ))),
            Err(e) => {
                Err(KvError::unavailable("the batch's commit answered no PubAck").with_source(e))
            }
        }
    }

    /// The last message on the key's subject, as the stream leader has it.
    async fn leader_get(&self, key: &str) -> Result<Option<Entry>, KvError> {
        match self
            .stream
            .get_last_raw_message_by_subject(&self.subject(key))
            .await
        {
            Ok(message) => Ok(Some(entry_of(&self.markers, message))),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(KvError::unavailable("get failed").with_source(e)),
        }
    }
}

/// The stream `create_key_value` makes for `config` (async-nats's
/// `kv_to_stream_config`, for the fields holds sets), with `allow_atomic` as
/// asked: made in one step, nobody sees the bucket before it takes batches.
fn kv_stream_config(config: &kv::Config, atomic: bool) -> stream::Config {
    stream::Config {
        name: format!("KV_{}", config.bucket),
        description: Some(config.description.clone()),
        subjects: vec![format!("$KV.{}.>", config.bucket)],
        max_messages_per_subject: config.history.max(1),
        max_bytes: config.max_bytes,
        max_age: config.max_age,
        max_message_size: config.max_value_size,
        storage: config.storage,
        allow_rollup: true,
        deny_delete: true,
        deny_purge: false,
        allow_direct: true,
        num_replicas: config.num_replicas.max(1),
        discard: stream::DiscardPolicy::New,
        allow_message_ttl: config.limit_markers.is_some(),
        subject_delete_marker_ttl: config.limit_markers,
        allow_atomic_publish: atomic,
        ..Default::default()
    }
}

/// The server is `at_least` (major, minor): 2.11 accepts `Nats-TTL` and limit
/// markers, 2.12 atomic batches.
fn server_at_least(version: &str, at_least: (u64, u64)) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= at_least
}

/// Server error codes (nats-server's `JSStream...` errors) a publish can meet.
mod code {
    /// The expected last subject sequence did not match.
    pub const WRONG_LAST_SEQUENCE: u64 = 10071;
    /// The stream takes no atomic batches.
    pub const ATOMIC_PUBLISH_DISABLED: u64 = 10174;
    /// A replicated stream's leader refused a conditional write without
    /// comparing, because another write to the subject is in flight: one that
    /// will land, or one that landed (often the caller's own) whose mark is not
    /// cleared yet. Nothing was written and nothing was decided.
    pub const WRONG_LAST_SEQUENCE_CONSTANT: u64 = 10164;
    /// The expected-last-subject-sequence check cannot be made yet (right after
    /// a leader election); nothing was written.
    pub const LAST_SUBJECT_SEQUENCE_NOT_READY: u64 = 10163;
}

type PublishError = jetstream::context::PublishError;

/// What a failed publish means.
#[derive(Debug)]
enum Failure {
    /// The revision did not match; nothing changed.
    Conflict,
    /// Nothing was written, so it may be published again.
    Unsent(Unsent, PublishError),
    /// Anything else: the write may or may not have landed.
    Failed(PublishError),
}

fn classify(e: PublishError) -> Failure {
    use jetstream::context::PublishErrorKind;
    let code = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<jetstream::Error>())
        .map(|s| s.error_code().0);
    match (e.kind(), code) {
        (PublishErrorKind::WrongLastSequence, _) => Failure::Conflict,
        (_, Some(code::WRONG_LAST_SEQUENCE_CONSTANT)) => Failure::Unsent(Unsent::Busy, e),
        (_, Some(code::LAST_SUBJECT_SEQUENCE_NOT_READY)) => {
            Failure::Unsent(Unsent::LeaderChanging, e)
        }
        (PublishErrorKind::StreamNotFound, _) => Failure::Unsent(Unsent::NoStream, e),
        _ => Failure::Failed(e),
    }
}

/// The operation a stored message records, from its headers, by the guest's
/// marker table.
fn operation_of(markers: &[MarkerHeader], headers: Option<&HeaderMap>) -> Operation {
    let Some(headers) = headers else {
        return Operation::Put;
    };
    crate::runtime::operation_of(markers, |name| headers.get(name).map(|v| v.as_str()))
}

/// The entry a stored message (from a direct or a leader get) holds.
fn entry_of(markers: &[MarkerHeader], message: jetstream::message::StreamMessage) -> Entry {
    Entry {
        operation: operation_of(markers, Some(&message.headers)),
        value: message.payload,
        revision: message.sequence,
        created: system_time(message.time),
    }
}

fn system_time(at: async_nats::datetime::DateTime) -> SystemTime {
    let nanos = at.unix_timestamp_nanos();
    if nanos >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos as u64)
    } else {
        SystemTime::UNIX_EPOCH
    }
}

#[async_trait]
impl KvStore for JetStreamKv {
    fn describe(&self) -> String {
        format!("JetStream bucket {} on {}", self.bucket, self.server)
    }

    fn expires_entries(&self) -> bool {
        self.per_message_ttl
    }

    /// A fresh scan is a consumer created and replayed; the watch delivers a
    /// write about when its ack arrives.
    fn catch_up_wait(&self) -> Duration {
        Duration::from_secs(1)
    }

    /// A replay of the subjects under the prefix (only those, when the prefix
    /// ends a token), its consumer deleted once read rather than left to idle
    /// out: a host without a replica scans on every announce.
    async fn scan(&self, prefix: &str) -> Result<Vec<(String, Entry)>, KvError> {
        let filter = if prefix.ends_with('.') {
            format!("{}{prefix}>", self.prefix)
        } else {
            format!("{}>", self.prefix)
        };
        let consumer = tokio::time::timeout(
            self.op_timeout,
            self.stream.create_consumer(consumer::push::OrderedConfig {
                deliver_subject: self.context.client().new_inbox(),
                description: Some("holds scan".to_string()),
                filter_subject: filter,
                replay_policy: consumer::ReplayPolicy::Instant,
                deliver_policy: consumer::DeliverPolicy::LastPerSubject,
                ..Default::default()
            }),
        )
        .await
        .map_err(|_| KvError::unavailable("creating the scan consumer timed out"))?
        .map_err(|e| KvError::unavailable("creating the scan consumer failed").with_source(e))?;
        let name = consumer.cached_info().name.clone();
        let pending = consumer.cached_info().num_pending;
        let read = async {
            let mut found = Vec::new();
            if pending == 0 {
                return Ok(found);
            }
            let mut messages = consumer
                .messages()
                .await
                .map_err(|e| KvError::unavailable("starting the scan failed").with_source(e))?;
            while let Some(message) = messages.next().await {
                let message =
                    message.map_err(|e| KvError::unavailable("scan failed").with_source(e))?;
                let info = message.info().map_err(|e| {
                    KvError::unavailable("scan message without metadata").with_boxed_source(e)
                })?;
                let key = message
                    .subject
                    .strip_prefix(self.prefix.as_str())
                    .unwrap_or(message.subject.as_str());
                let operation = operation_of(&self.markers, message.headers.as_ref());
                if key.starts_with(prefix) && operation == Operation::Put {
                    found.push((
                        key.to_string(),
                        Entry {
                            operation,
                            value: message.payload.clone(),
                            revision: info.stream_sequence,
                            created: system_time(info.published),
                        },
                    ));
                }
                if info.pending == 0 {
                    return Ok(found);
                }
            }
            Err(KvError::unavailable("the scan ended early"))
        };
        let result = tokio::time::timeout(self.op_timeout, read)
            .await
            .unwrap_or_else(|_| Err(KvError::unavailable("the scan timed out")));
        let stream = self.stream.clone();
        tokio::spawn(async move {
            let _ = stream.delete_consumer(&name).await;
        });
        result
    }

    async fn last_revision(&self) -> Result<Option<u64>, KvError> {
        let info = tokio::time::timeout(self.op_timeout, self.stream.get_info())
            .await
            .map_err(|_| KvError::unavailable("reading the bucket's stream info timed out"))?
            .map_err(|e| {
                KvError::unavailable("reading the bucket's stream info failed").with_source(e)
            })?;
        Ok(Some(info.state.last_sequence))
    }

    fn max_age(&self) -> Duration {
        self.max_age
    }

    fn limits(&self) -> super::BucketLimits {
        self.limits
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, KvError> {
        self.connected("nothing was read")?;
        if self.replicas > 1 {
            return self.leader_get(key).await;
        }
        match self
            .stream
            .direct_get_last_for_subject(self.subject(key))
            .await
        {
            Ok(message) => Ok(Some(entry_of(&self.markers, message))),
            Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(KvError::unavailable("get failed").with_source(e)),
        }
    }

    async fn write_if_revision(
        &self,
        key: &str,
        value: Bytes,
        expected: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            EXPECTED_LAST_SUBJECT_SEQUENCE,
            expected.to_string().as_str(),
        );
        if let (true, Some(ttl)) = (self.per_message_ttl, ttl) {
            headers.insert(TTL, format!("{}s", ttl.as_secs().max(1)).as_str());
        }
        self.publish(key, headers, value).await
    }

    async fn delete_if_revision(
        &self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Bytes,
    ) -> Result<u64, KvError> {
        let mut headers = HeaderMap::new();
        headers.insert(KV_OPERATION, "DEL");
        headers.insert(
            EXPECTED_LAST_SUBJECT_SEQUENCE,
            expected.to_string().as_str(),
        );
        if why == Removal::Expired {
            headers.insert(HOLDS_REMOVAL, "expired");
        }
        // KV readers (Go's too) ignore a delete marker's payload.
        let revision = self.publish(key, headers, note.clone()).await?;
        if why == Removal::Released {
            // After the marker, so only releases that happened are recorded. A
            // release is not undone (nor reported as failed) when its record
            // fails: the hold is gone either way; the failure is logged.
            let recorded = release_log::record(
                &self.context,
                &self.bucket,
                self.replicas,
                key,
                revision,
                note,
            )
            .await;
            if let Err(e) = recorded {
                tracing::warn!(bucket = self.bucket, key, revision, error = %e, "release not recorded in the release log");
            }
        }
        Ok(revision)
    }

    async fn releases(&self, limit: usize) -> Result<Vec<super::LoggedRelease>, KvError> {
        self.connected("nothing was read")?;
        release_log::read(&self.context, &self.bucket, limit).await
    }

    /// Every get at once: the round trips overlap.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Entry>>, KvError> {
        futures::future::try_join_all(keys.iter().map(|key| self.get(key))).await
    }

    /// One atomic batch publish (ADR-50): every message carries its own
    /// `Nats-Expected-Last-Subject-Sequence` (and `Nats-TTL`), which the server checks
    /// at the commit, all or none. All but the commit are plain publishes, so the
    /// batch costs one round trip.
    async fn write_batch(&self, writes: &[BatchWrite]) -> Result<Vec<u64>, KvError> {
        if !self.atomic.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(KvError::unsupported(format!(
                "bucket {} takes no atomic batches (a server older than 2.12, or a bucket \
                 created without allow_atomic, e.g. by the Go package)",
                self.bucket
            )));
        }
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        if writes.len() > MAX_BATCH {
            return Err(KvError::unsupported(format!(
                "{} writes are more than a batch of {MAX_BATCH}",
                writes.len()
            )));
        }
        self.send_batch(writes).await
    }

    #[cfg(feature = "test-util")]
    async fn put(&self, key: &str, value: Bytes) -> Result<u64, KvError> {
        self.publish(key, HeaderMap::new(), value).await
    }

    async fn watch(&self) -> Result<Watch, KvError> {
        let consumer = self
            .stream
            .create_consumer(consumer::push::OrderedConfig {
                deliver_subject: self.context.client().new_inbox(),
                description: Some("holds watch".to_string()),
                filter_subject: format!("{}>", self.prefix),
                replay_policy: consumer::ReplayPolicy::Instant,
                deliver_policy: consumer::DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                KvError::unavailable("creating the watch consumer failed").with_source(e)
            })?;
        let empty = consumer.cached_info().num_pending == 0;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| KvError::unavailable("starting the watch failed").with_source(e))?;
        // The consumer pushes to its inbox from its creation; the server learns
        // of the subscription only when it reads it. A write another client makes
        // in between would reach nobody and be seen only when the ordered
        // consumer notices the gap (at the next message or idle heartbeat,
        // seconds later): the round trip of a flush closes that window before
        // the watch reports it has caught up.
        self.context
            .client()
            .flush()
            .await
            .map_err(|e| KvError::unavailable("starting the watch failed").with_source(e))?;
        let prefix = self.prefix.clone();
        let markers = self.markers.clone();
        let mut caught_up = empty;
        let live = messages.flat_map(move |message| {
            let mut items = Vec::with_capacity(2);
            match message {
                Err(e) => items.push(Err(KvError::unavailable("watch failed").with_source(e))),
                Ok(message) => match message.info() {
                    Err(e) => items
                        .push(Err(KvError::unavailable("watch message without metadata")
                            .with_boxed_source(e))),
                    Ok(info) => {
                        let key = message
                            .subject
                            .strip_prefix(prefix.as_str())
                            .unwrap_or(message.subject.as_str())
                            .to_string();
                        let entry = Entry {
                            operation: operation_of(&markers, message.headers.as_ref()),
                            value: message.payload.clone(),
                            revision: info.stream_sequence,
                            created: system_time(info.published),
                        };
                        let last_of_replay = !caught_up && info.pending == 0;
                        items.push(Ok(WatchItem::Entry { key, entry }));
                        if last_of_replay {
                            caught_up = true;
                            items.push(Ok(WatchItem::CaughtUp));
                        }
                    }
                },
            }
            futures::stream::iter(items)
        });
        let head = futures::stream::iter(empty.then_some(Ok(WatchItem::CaughtUp)));
        Ok(head.chain(live).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(code: u64) -> jetstream::context::PublishError {
        let error: jetstream::Error = serde_json::from_value(serde_json::json!({
            "code": 503,
            "err_code": code,
            "description": "from the server",
        }))
        .unwrap();
        jetstream::context::PublishError::with_source(
            jetstream::context::PublishErrorKind::Other,
            error,
        )
    }

    #[test]
    fn publishes_that_wrote_nothing_say_why_and_conflicts_are_conflicts() {
        use jetstream::context::PublishErrorKind;
        assert!(matches!(
            classify(server_error(10163)),
            Failure::Unsent(Unsent::LeaderChanging, _)
        ));
        assert!(matches!(
            classify(PublishError::new(PublishErrorKind::StreamNotFound)),
            Failure::Unsent(Unsent::NoStream, _)
        ));
        assert!(matches!(
            classify(server_error(10164)),
            Failure::Unsent(Unsent::Busy, _)
        ));
        assert!(matches!(
            classify(PublishError::new(PublishErrorKind::WrongLastSequence)),
            Failure::Conflict
        ));
        assert!(matches!(classify(server_error(10077)), Failure::Failed(_)));
        assert!(matches!(
            classify(PublishError::new(PublishErrorKind::TimedOut)),
            Failure::Failed(_)
        ));
    }

    #[test]
    fn ttl_support_starts_at_2_11_and_atomic_batches_at_2_12() {
        let ttl = |v| server_at_least(v, (2, 11));
        assert!(!ttl("2.9.10"));
        assert!(!ttl("2.10.22"));
        assert!(ttl("2.11.0"));
        assert!(ttl("2.15.1"));
        assert!(ttl("v3.0.0-beta"));
        assert!(!server_at_least("2.11.9", (2, 12)));
        assert!(server_at_least("2.12.0", (2, 12)));
    }
}
