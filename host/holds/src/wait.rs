//! Waiting for held files: callers of one manager queue in arrival order, and the
//! hub's `released`/`expired` events (not polling) hand the freed file to them one
//! at a time, earliest first, until one takes it.
//!
//! Across processes there is no queue: each waiting process is woken by its own
//! watch and competes with an ordinary announce, and the store's revision check
//! decides who gets the file.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// A freed file offered to one waiter; it answers how its attempt went.
pub(crate) struct Turn {
    /// The cleaned path of the freed file.
    pub file: String,
    pub done: oneshot::Sender<Attempt>,
}

/// How a waiter's turn went.
pub(crate) enum Attempt {
    /// It took its files (the freed one among them).
    Took,
    /// It was refused; `freed_still_free` when the freed file was not among the
    /// holders it met, so the next waiter may have it.
    Refused { freed_still_free: bool },
}

struct Waiter {
    id: u64,
    /// The files it asks for, and what the holds that refused it last hold
    /// (a directory or glob over a file is freed under its own name).
    files: Vec<String>,
    turns: mpsc::UnboundedSender<Turn>,
}

#[derive(Default)]
struct Queue {
    next: u64,
    waiters: VecDeque<Waiter>,
    /// Freed files not handed out yet, and whether a dispatcher runs.
    freed: VecDeque<String>,
    dispatching: bool,
    /// How many files were freed so far, and the latest of them with their
    /// count: a waiter learns which holds refused it only after its try, and
    /// one freed meanwhile must not be missed.
    freed_count: u64,
    recent: VecDeque<(u64, String)>,
}

/// How many freed files a late waiter can still learn of.
const RECENT: usize = 256;

/// A manager's waiters.
#[derive(Default, Clone)]
pub(crate) struct Waiters {
    queue: Arc<Mutex<Queue>>,
}

/// A place in the queue; leaving it (drop) removes the waiter.
pub(crate) struct Place {
    waiters: Waiters,
    id: u64,
    pub turns: mpsc::UnboundedReceiver<Turn>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.waiters
            .queue
            .lock()
            .unwrap()
            .waiters
            .retain(|w| w.id != self.id);
    }
}

impl Place {
    /// A mark to take before a try, for [`Place::refused_by`].
    pub fn mark(&self) -> u64 {
        self.waiters.queue.lock().unwrap().freed_count
    }

    /// Be woken also when any of `holders` (the holds that refused the try
    /// begun at `mark`, by the file or pattern they hold) is freed; one freed
    /// since `mark` is offered again at once.
    pub fn refused_by<'a>(
        &self,
        mark: u64,
        asked: &[String],
        holders: impl IntoIterator<Item = &'a str>,
    ) {
        let mut files = asked.to_vec();
        for held in holders {
            if !files.iter().any(|f| f == held) {
                files.push(held.to_string());
            }
        }
        let mut queue = self.waiters.queue.lock().unwrap();
        // Older than the log reaches: any of them may have been freed.
        let forgotten = queue
            .recent
            .front()
            .is_none_or(|(count, _)| *count > mark + 1)
            && queue.freed_count > mark;
        let again: Vec<String> = files
            .iter()
            .filter(|f| {
                forgotten
                    || queue
                        .recent
                        .iter()
                        .any(|(count, freed)| *count > mark && freed == *f)
            })
            .cloned()
            .collect();
        if let Some(me) = queue.waiters.iter_mut().find(|w| w.id == self.id) {
            me.files = files;
        }
        for file in again {
            self.waiters.offer(&mut queue, file);
        }
    }
}

impl Waiters {
    /// Join the queue for `files` (cleaned paths).
    pub fn join(&self, files: Vec<String>) -> Place {
        let (turns, rx) = mpsc::unbounded_channel();
        let mut queue = self.queue.lock().unwrap();
        let id = queue.next;
        queue.next += 1;
        queue.waiters.push_back(Waiter { id, files, turns });
        Place {
            waiters: self.clone(),
            id,
            turns: rx,
        }
    }

    /// Anyone waiting (the hub then interprets every change).
    pub fn any(&self) -> bool {
        !self.queue.lock().unwrap().waiters.is_empty()
    }

    /// `file` was released or expired: offer it to its waiters in arrival order.
    pub fn freed(&self, file: &str) {
        let mut queue = self.queue.lock().unwrap();
        queue.freed_count += 1;
        let count = queue.freed_count;
        if queue.recent.len() == RECENT {
            queue.recent.pop_front();
        }
        queue.recent.push_back((count, file.to_string()));
        self.offer(&mut queue, file.to_string());
    }

    fn offer(&self, queue: &mut Queue, file: String) {
        if !queue.waiters.iter().any(|w| w.files.contains(&file)) {
            return;
        }
        queue.freed.push_back(file);
        if !queue.dispatching {
            queue.dispatching = true;
            tokio::spawn(self.clone().dispatch());
        }
    }

    /// Hand out freed files one at a time (each waiter's attempt is a store round
    /// trip; they must not race each other for the same file).
    async fn dispatch(self) {
        loop {
            let (file, turns) = {
                let mut queue = self.queue.lock().unwrap();
                let Some(file) = queue.freed.pop_front() else {
                    queue.dispatching = false;
                    return;
                };
                let turns: Vec<mpsc::UnboundedSender<Turn>> = queue
                    .waiters
                    .iter()
                    .filter(|w| w.files.contains(&file))
                    .map(|w| w.turns.clone())
                    .collect();
                (file, turns)
            };
            for turn in turns {
                let (done, answer) = oneshot::channel();
                if turn
                    .send(Turn {
                        file: file.clone(),
                        done,
                    })
                    .is_err()
                {
                    continue;
                }
                match answer.await {
                    Ok(Attempt::Took) => break,
                    Ok(Attempt::Refused {
                        freed_still_free: false,
                    }) => break,
                    // Still free, or the waiter left: the next one's turn.
                    Ok(Attempt::Refused { .. }) | Err(_) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hold_freed_during_the_try_that_met_it_is_offered_at_once() {
        let waiters = Waiters::default();
        let mut place = waiters.join(vec!["/r/src/a.rs".into()]);
        let mark = place.mark();
        // The directory hold that refuses the try is freed before the refusal is known.
        waiters.freed("/r/src/");
        waiters.freed("/r/other.rs");
        place.refused_by(mark, &["/r/src/a.rs".into()], ["/r/src/"]);
        let turn = place.turns.recv().await.expect("a turn");
        assert_eq!(turn.file, "/r/src/");
        let _ = turn.done.send(Attempt::Took);
        // Freed after the mark was learnt of: offered as usual; before it: not again.
        let mark = place.mark();
        place.refused_by(mark, &["/r/src/a.rs".into()], ["/r/src/"]);
        assert!(
            place.turns.try_recv().is_err(),
            "nothing freed since the mark"
        );
        waiters.freed("/r/src/");
        assert_eq!(place.turns.recv().await.expect("a turn").file, "/r/src/");
    }
}
