//! Pending expiry sweeps for stores that do not expire entries themselves: by
//! wall-clock instant (ns), each with the entry it was scheduled from.

use crate::kv::Entry;
// foldhash: SipHash showed in a hot call's profile; keys are store keys.
use foldhash::HashMap;
use std::collections::BTreeSet;

#[derive(Default)]
pub(super) struct Sweeps {
    queue: BTreeSet<(i64, String)>,
    at: HashMap<String, (i64, Entry)>,
}

impl Sweeps {
    /// Sweep `key` at `at` (replacing any earlier schedule of it).
    pub fn schedule(&mut self, key: &str, at: i64, observed: Entry) {
        self.cancel(key);
        self.at.insert(key.to_string(), (at, observed));
        self.queue.insert((at, key.to_string()));
    }

    pub fn cancel(&mut self, key: &str) {
        if let Some((old, _)) = self.at.remove(key) {
            self.queue.remove(&(old, key.to_string()));
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.at.contains_key(key)
    }

    /// The earliest scheduled instant.
    pub fn next(&self) -> Option<i64> {
        self.queue.first().map(|(at, _)| *at)
    }

    /// Up to `limit` keys due at `now`, earliest first, with their entries.
    pub fn due(&mut self, now: i64, limit: usize) -> Vec<(String, Entry)> {
        let mut due = Vec::new();
        while due.len() < limit {
            match self.queue.first() {
                Some((at, _)) if *at <= now => {}
                _ => break,
            }
            let (_, key) = self.queue.pop_first().expect("a first entry");
            if let Some((_, observed)) = self.at.remove(&key) {
                due.push((key, observed));
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::Operation;
    use std::time::SystemTime;

    fn entry(revision: u64) -> Entry {
        Entry {
            value: bytes::Bytes::new(),
            revision,
            operation: Operation::Put,
            created: SystemTime::UNIX_EPOCH,
        }
    }

    fn keys(due: Vec<(String, Entry)>) -> Vec<String> {
        due.into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn keys_come_due_in_order_of_their_instant_within_the_limit() {
        let mut s = Sweeps::default();
        s.schedule("c", 30, entry(3));
        s.schedule("a", 10, entry(1));
        s.schedule("b", 20, entry(2));
        assert_eq!(s.next(), Some(10));
        assert!(s.due(9, 16).is_empty());
        assert_eq!(keys(s.due(25, 1)), ["a"]);
        assert_eq!(keys(s.due(25, 16)), ["b"]);
        assert_eq!(s.next(), Some(30));
        assert!(!s.has("a") && s.has("c"));
    }

    #[test]
    fn a_new_schedule_replaces_the_old_and_a_cancel_removes_it() {
        let mut s = Sweeps::default();
        s.schedule("k", 10, entry(1));
        s.schedule("k", 50, entry(2));
        assert!(s.due(10, 16).is_empty(), "the old instant is gone");
        let due = s.due(50, 16);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1.revision, 2, "with the entry it was scheduled from");
        s.schedule("k", 60, entry(3));
        s.cancel("k");
        assert_eq!(s.next(), None);
        assert!(s.due(i64::MAX, 16).is_empty());
    }
}
