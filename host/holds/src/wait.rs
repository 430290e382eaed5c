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
}

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
        if !queue
            .waiters
            .iter()
            .any(|w| w.files.iter().any(|f| f == file))
        {
            return;
        }
        queue.freed.push_back(file.to_string());
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
