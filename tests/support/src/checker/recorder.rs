//! Recording subscriptions: every event with the instant it was received, and
//! how each subscription ended.

use super::{Nanos, now_ns};
use holds::{Error, Event, Manager};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// An event and the instant a subscriber received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub at: Nanos,
    pub event: Event,
}

/// How a subscription ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    pub at: Nanos,
    /// The error it yielded last; `None` if it just ended.
    pub error: Option<Error>,
}

/// What one subscription delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchLog {
    pub name: String,
    /// When `subscribe` returned: every write that started later must be delivered.
    pub from: Nanos,
    pub events: Vec<Seen>,
    /// `None`: still running when the recording stopped, so complete.
    pub ended: Option<Ended>,
}

impl WatchLog {
    pub fn max_revision(&self) -> u64 {
        self.events
            .iter()
            .map(|s| s.event.revision)
            .max()
            .unwrap_or(0)
    }
}

/// Records one manager's subscription in a task; with `resubscribe`, a
/// subscription that ends is replaced by a new one (a new [`WatchLog`]) as soon
/// as `subscribe` succeeds again, as a careful caller would.
pub struct WatchRecorder {
    logs: Arc<Mutex<Vec<WatchLog>>>,
    /// Told after every change to `logs`, so waiting for one is event-driven.
    changed: Arc<watch::Sender<()>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// How often a recorder retries `subscribe` after its subscription ended (a
/// careful caller's pace while the store is unavailable).
pub const RESUBSCRIBE_EVERY: Duration = Duration::from_millis(50);

impl WatchRecorder {
    /// Subscribe now (returns once the first subscription is live) and record.
    pub async fn start(
        name: impl Into<String>,
        manager: Manager,
        resubscribe: bool,
    ) -> Result<Self, Error> {
        let name = name.into();
        let sub = manager.subscribe().await?;
        let logs = Arc::new(Mutex::new(vec![WatchLog {
            name: name.clone(),
            from: now_ns(),
            events: Vec::new(),
            ended: None,
        }]));
        let (stop, mut stopped) = watch::channel(false);
        let shared = logs.clone();
        let changed = Arc::new(watch::channel(()).0);
        let tell = changed.clone();
        let task = tokio::spawn(async move {
            let mut sub = sub;
            let mut generation = 0;
            loop {
                let item = tokio::select! {
                    _ = stopped.wait_for(|s| *s) => return,
                    item = sub.next() => item,
                };
                let at = now_ns();
                match item {
                    Some(Ok(event)) => {
                        let mut logs = shared.lock().unwrap();
                        logs.last_mut().unwrap().events.push(Seen { at, event });
                        tell.send_replace(());
                        continue;
                    }
                    Some(Err(error)) => {
                        shared.lock().unwrap().last_mut().unwrap().ended = Some(Ended {
                            at,
                            error: Some(error),
                        });
                        // The subscription yields one error and then ends.
                    }
                    None => {
                        let mut logs = shared.lock().unwrap();
                        let last = logs.last_mut().unwrap();
                        if last.ended.is_none() {
                            last.ended = Some(Ended { at, error: None });
                        }
                    }
                }
                tell.send_replace(());
                if !resubscribe {
                    return;
                }
                // Subscribe again until it works (or the recording stops).
                sub = loop {
                    if *stopped.borrow() {
                        return;
                    }
                    match manager.subscribe().await {
                        Ok(sub) => break sub,
                        Err(_) => {
                            tokio::select! {
                                _ = stopped.wait_for(|s| *s) => return,
                                _ = tokio::time::sleep(RESUBSCRIBE_EVERY) => {}
                            }
                        }
                    }
                };
                generation += 1;
                shared.lock().unwrap().push(WatchLog {
                    name: format!("{name}#{generation}"),
                    from: now_ns(),
                    events: Vec::new(),
                    ended: None,
                });
                tell.send_replace(());
            }
        });
        Ok(WatchRecorder {
            logs,
            changed,
            stop,
            task,
        })
    }

    /// The logs so far (the last one may still be growing).
    pub fn logs(&self) -> Vec<WatchLog> {
        self.logs.lock().unwrap().clone()
    }

    /// The highest revision the current subscription has delivered, if it is live.
    pub fn live_max_revision(&self) -> Option<u64> {
        let logs = self.logs.lock().unwrap();
        let last = logs.last()?;
        last.ended.is_none().then(|| last.max_revision())
    }

    /// Stop recording and return every log.
    pub async fn stop(self) -> Vec<WatchLog> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        Arc::try_unwrap(self.logs)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_else(|logs| logs.lock().unwrap().clone())
    }
}

/// Stop every recorder: its logs, per recorder (one per manager).
pub async fn stop_all(recorders: Vec<WatchRecorder>) -> Vec<Vec<WatchLog>> {
    let mut per_recorder = Vec::with_capacity(recorders.len());
    for r in recorders {
        per_recorder.push(r.stop().await);
    }
    per_recorder
}

/// Wait until every recorder's live subscription has delivered `revision`, or
/// `timeout` passes; returns whether they all did.
pub async fn wait_for_watches(
    recorders: &[WatchRecorder],
    revision: u64,
    timeout: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    // Subscribed before the first look, so no change between a look and the wait is missed.
    let mut changes: Vec<_> = recorders.iter().map(|r| r.changed.subscribe()).collect();
    loop {
        if recorders
            .iter()
            .all(|r| r.live_max_revision().is_some_and(|m| m >= revision))
        {
            return true;
        }
        let any_change =
            futures::future::select_all(changes.iter_mut().map(|c| Box::pin(c.changed())));
        if tokio::time::timeout_at(deadline, any_change).await.is_err() {
            return false;
        }
    }
}
