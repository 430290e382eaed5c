//! A subscriber's view of hold changes.

use crate::error::Error;
use crate::types::Event;
use futures::Stream;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Why a subscription ended, set by the hub before it drops the sender.
pub(crate) type EndReason = Arc<Mutex<Option<Error>>>;

/// Runs when its subscription is dropped (the hub removes the subscriber).
pub(crate) struct Unsubscribe(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Unsubscribe {
    pub fn new(f: impl FnOnce() + Send + Sync + 'static) -> Self {
        Unsubscribe(Some(Box::new(f)))
    }
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// The current holds (as `Announced` events), then live changes in order.
///
/// A stream of `Result<Event, Error>`. It ends (`None`) when the manager closes;
/// it yields one `Err` and then ends when the watcher fails or when this
/// subscriber fell more than its buffer behind ([`Error::Lagged`]): subscribe
/// again to resynchronise. Dropping it unsubscribes.
pub struct Subscription {
    snapshot: std::vec::IntoIter<Event>,
    live: mpsc::Receiver<Event>,
    end: EndReason,
    done: bool,
    /// Leaves the hub's subscriber list when dropped.
    _unsubscribe: Unsubscribe,
}

impl Subscription {
    pub(crate) fn new(
        snapshot: Vec<Event>,
        live: mpsc::Receiver<Event>,
        end: EndReason,
        unsubscribe: Unsubscribe,
    ) -> Self {
        Subscription {
            snapshot: snapshot.into_iter(),
            live,
            end,
            done: false,
            _unsubscribe: unsubscribe,
        }
    }

    /// The next event; `None` once the subscription has ended.
    pub async fn next(&mut self) -> Option<Result<Event, Error>> {
        futures::StreamExt::next(self).await
    }

    /// The snapshot events not yet taken, without waiting for live changes.
    pub fn take_snapshot(&mut self) -> Vec<Event> {
        self.snapshot.by_ref().collect()
    }
}

impl Stream for Subscription {
    type Item = Result<Event, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(event) = self.snapshot.next() {
            return Poll::Ready(Some(Ok(event)));
        }
        match self.live.poll_recv(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(Some(Ok(event))),
            Poll::Ready(None) => {
                self.done = true;
                let reason = self.end.lock().unwrap().take();
                Poll::Ready(reason.map(Err))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
