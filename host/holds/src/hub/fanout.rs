//! The hub's subscribers: each live event is offered to every one without
//! waiting; one whose buffer is full ends with [`Error::Lagged`] (it
//! resubscribes from a fresh snapshot) rather than slowing the rest.

use crate::error::Error;
use crate::subscription::EndReason;
use crate::types::Event;
use tokio::sync::mpsc;

struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Event>,
    end: EndReason,
}

pub(super) struct Subscribers {
    list: Vec<Subscriber>,
    next: u64,
    /// Each subscription's buffer, for the lag error.
    buffer: usize,
}

impl Subscribers {
    pub fn new(buffer: usize) -> Self {
        Subscribers {
            list: Vec::new(),
            next: 0,
            buffer,
        }
    }

    /// A new subscriber; its id, to remove it.
    pub fn add(&mut self, tx: mpsc::Sender<Event>, end: EndReason) -> u64 {
        let id = self.next;
        self.next += 1;
        self.list.push(Subscriber { id, tx, end });
        id
    }

    pub fn remove(&mut self, id: u64) {
        self.list.retain(|s| s.id != id);
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Offer `event` to everyone: a full buffer ends that subscription
    /// (lagged), a dropped one is forgotten.
    pub fn send(&mut self, event: &Event) {
        let buffer = self.buffer;
        self.list.retain(|s| match s.tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                *s.end.lock().unwrap() = Some(Error::Lagged(buffer));
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    /// End every subscription with `error`.
    pub fn end_all(&mut self, error: &Error) {
        for subscriber in self.list.drain(..) {
            *subscriber.end.lock().unwrap() = Some(error.clone());
        }
    }

    /// Forget every subscription (they end cleanly).
    pub fn clear(&mut self) {
        self.list.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::EventKind;

    fn event(revision: u64) -> Event {
        Event {
            file: "/f".into(),
            scope: crate::Scope::File,
            revision,
            kind: EventKind::Expired,
        }
    }

    #[test]
    fn a_full_subscriber_ends_lagged_and_the_others_still_get_events() {
        let mut subs = Subscribers::new(1);
        let (slow_tx, _slow_rx) = mpsc::channel(1);
        let slow_end = EndReason::default();
        let (fast_tx, mut fast_rx) = mpsc::channel(1);
        subs.add(slow_tx, slow_end.clone());
        subs.add(fast_tx, EndReason::default());
        subs.send(&event(1));
        assert_eq!(fast_rx.try_recv().unwrap().revision, 1);
        subs.send(&event(2));
        assert!(matches!(*slow_end.lock().unwrap(), Some(Error::Lagged(1))));
        assert_eq!(subs.len(), 1);
        assert_eq!(fast_rx.try_recv().unwrap().revision, 2);
    }

    #[test]
    fn a_dropped_subscription_is_forgotten_and_removal_is_by_id() {
        let mut subs = Subscribers::new(4);
        let (gone_tx, gone_rx) = mpsc::channel(4);
        let (kept_tx, _kept_rx) = mpsc::channel(4);
        let (other_tx, _other_rx) = mpsc::channel(4);
        subs.add(gone_tx, EndReason::default());
        let kept = subs.add(kept_tx, EndReason::default());
        let other = subs.add(other_tx, EndReason::default());
        drop(gone_rx);
        subs.send(&event(1));
        assert_eq!(subs.len(), 2);
        subs.remove(other);
        assert_eq!(subs.len(), 1);
        subs.remove(kept);
        assert!(subs.is_empty());
    }

    #[test]
    fn ending_all_tells_each_subscription_why() {
        let mut subs = Subscribers::new(4);
        let ends: Vec<EndReason> = (0..3).map(|_| EndReason::default()).collect();
        let mut receivers = Vec::new();
        for end in &ends {
            let (tx, rx) = mpsc::channel(4);
            receivers.push(rx);
            subs.add(tx, end.clone());
        }
        subs.end_all(&Error::Closed);
        assert!(subs.is_empty());
        assert!(
            ends.iter()
                .all(|e| matches!(*e.lock().unwrap(), Some(Error::Closed)))
        );
    }
}
