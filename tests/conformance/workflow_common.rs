//! What the agent-workflow cases (claim, lease, wait, check, force-release) share.

use holds::kv::{Entry, KvStore};
use holds::{Announce, Error, Event, EventKind, Manager, Subscription};
use std::time::Duration;

/// An announce by `agent` for `secs` seconds, with a checkout of its own.
pub fn hold(agent: &str, secs: u64) -> Announce {
    Announce::new(agent, Duration::from_secs(secs)).checkout(format!("/co/{agent}"))
}

/// The store's latest entry of each file, markers included.
pub async fn entries(m: &Manager, store: &dyn KvStore, files: &[&str]) -> Vec<Option<Entry>> {
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let key = m.key_for_test(file).await.unwrap();
        out.push(store.get(&key).await.unwrap());
    }
    out
}

/// The next event on `file` within `within` (others skipped); `None` when none came.
pub async fn next_on(sub: &mut Subscription, file: &str, within: Duration) -> Option<Event> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, sub.next()).await {
            Err(_) => return None,
            Ok(None) => panic!("the subscription ended"),
            Ok(Some(Err(e))) => panic!("the subscription failed: {e}"),
            Ok(Some(Ok(event))) if event.file == file => return Some(event),
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// The next removal (release or expiry) of `file` within `within`, skipping announces.
pub async fn next_removal_on(
    sub: &mut Subscription,
    file: &str,
    within: Duration,
) -> Option<Event> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next_on(sub, file, left).await {
            Some(event) if matches!(event.kind, EventKind::Announced(_)) => {}
            other => return other,
        }
    }
}

/// The holders a refusal names, as (file, agent).
pub fn named(e: &Error) -> Vec<(String, String)> {
    e.holders()
        .iter()
        .map(|c| (c.file.clone(), c.hold.agent_id.clone()))
        .collect()
}
