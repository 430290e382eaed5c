//! A bucket's release log on JetStream: the stream `HOLDS_RELEASES_<bucket>`
//! (subject `$HOLDS.releases.<bucket>`), made by the first release that finds
//! it missing, so opening a bucket to read changes nothing. It keeps the newest
//! [`RELEASE_LOG_LEN`] releases, with the bucket's replicas.

use super::super::release_log::{LoggedRelease, RELEASE_LOG_LEN, this_process};
use super::{KvError, system_time};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use bytes::Bytes;

const KEY: &str = "Holds-Key";
const REVISION: &str = "Holds-Revision";
const PROCESS: &str = "Holds-Process";

fn stream_name(bucket: &str) -> String {
    format!("HOLDS_RELEASES_{bucket}")
}

fn subject(bucket: &str) -> String {
    format!("$HOLDS.releases.{bucket}")
}

/// Record the release of `key` at `revision` (its marker's) with `note`.
pub(super) async fn record(
    context: &jetstream::Context,
    bucket: &str,
    replicas: usize,
    key: &str,
    revision: u64,
    note: Bytes,
) -> Result<(), KvError> {
    let mut headers = HeaderMap::new();
    headers.insert(KEY, key);
    headers.insert(REVISION, revision.to_string().as_str());
    headers.insert(PROCESS, this_process());
    let publish = || async {
        context
            .publish_with_headers(subject(bucket), headers.clone(), note.clone())
            .await?
            .await
    };
    let failed =
        |e| KvError::unavailable("recording the release in the release log").with_source(e);
    match publish().await {
        Err(e) if e.kind() == PublishErrorKind::StreamNotFound => {
            // Made here, not at open: a command that only reads writes nothing.
            // Another process may make it first; publishing again works either way.
            let _ = context
                .get_or_create_stream(stream::Config {
                    name: stream_name(bucket),
                    subjects: vec![subject(bucket)],
                    max_messages: RELEASE_LOG_LEN as i64,
                    discard: stream::DiscardPolicy::Old,
                    storage: stream::StorageType::File,
                    num_replicas: replicas,
                    description: Some(format!("holds: releases in bucket {bucket}")),
                    ..Default::default()
                })
                .await;
            publish().await.map(drop).map_err(failed)
        }
        published => published.map(drop).map_err(failed),
    }
}

/// The newest `limit` releases of `bucket`, oldest first (none before the first
/// release made the log).
pub(super) async fn read(
    context: &jetstream::Context,
    bucket: &str,
    limit: usize,
) -> Result<Vec<LoggedRelease>, KvError> {
    let unavailable = || KvError::unavailable("reading the release log");
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut log = match context.get_stream(stream_name(bucket)).await {
        Ok(log) => log,
        Err(e) => match e.kind() {
            jetstream::context::GetStreamErrorKind::JetStream(j)
                if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                return Ok(Vec::new());
            }
            _ => return Err(unavailable().with_source(e)),
        },
    };
    let state = log
        .info()
        .await
        .map_err(|e| unavailable().with_source(e))?
        .state
        .clone();
    if state.messages == 0 {
        return Ok(Vec::new());
    }
    let first = state
        .first_sequence
        .max(state.last_sequence.saturating_sub(limit as u64 - 1).max(1));
    let mut releases = Vec::new();
    for sequence in first..=state.last_sequence {
        let message = match log.get_raw_message(sequence).await {
            Ok(message) => message,
            // Dropped as the log outgrew its limit while this read.
            Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => continue,
            Err(e) => return Err(unavailable().with_source(e)),
        };
        let header = |name: &str| {
            message
                .headers
                .get(name)
                .map(|v| v.as_str().to_string())
                .unwrap_or_default()
        };
        releases.push(LoggedRelease {
            key: header(KEY),
            revision: header(REVISION).parse().unwrap_or(0),
            note: message.payload.clone(),
            process: header(PROCESS),
            at: system_time(message.time),
        });
    }
    releases.truncate(limit);
    Ok(releases)
}
