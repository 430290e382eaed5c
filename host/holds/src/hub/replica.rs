//! The hub's replica: every key's latest entry as the watch delivered it, and
//! the entries this manager wrote or read that the watch has not delivered yet
//! ("ahead": they make hints current at once, but are not events).

use crate::kv::{Entry, Operation};
use crate::upkeep::Upkeep;
// foldhash: SipHash showed in a hot call's profile; keys are store keys.
use foldhash::HashMap;
use std::collections::BTreeSet;
use std::time::SystemTime;

#[derive(Default)]
pub(super) struct Replica {
    watched: HashMap<String, Entry>,
    ahead: HashMap<String, Entry>,
    /// Every key of either map, in order, for scans by prefix.
    keys: BTreeSet<String>,
    /// The newest revision the watch delivered: in revision order, so every
    /// change up to it is known once the watch has replayed the bucket.
    delivered: u64,
}

impl Replica {
    pub fn clear(&mut self) {
        self.watched.clear();
        self.ahead.clear();
        self.keys.clear();
        self.delivered = 0;
    }

    /// The newest revision the watch delivered.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// The newest value entry of every key that starts with `prefix`.
    pub fn scan(&self, prefix: &str) -> Vec<(String, Entry)> {
        self.keys
            .range(prefix.to_string()..)
            .take_while(|k| k.starts_with(prefix))
            .filter_map(|k| {
                let entry = self.newest(k)?;
                (entry.operation == Operation::Put).then(|| (k.clone(), entry.clone()))
            })
            .collect()
    }

    /// The newest entry known for `key`, watched or ahead.
    pub fn newest(&self, key: &str) -> Option<&Entry> {
        match (self.watched.get(key), self.ahead.get(key)) {
            (Some(w), Some(a)) => Some(if a.revision > w.revision { a } else { w }),
            (w, a) => w.or(a),
        }
    }

    /// An entry this manager learnt ahead of the watch (its own ack, a fresh
    /// read): kept when newer than anything known.
    pub fn learn(&mut self, key: String, entry: Entry) {
        let known = self
            .watched
            .get(&key)
            .map(|e| e.revision)
            .max(self.ahead.get(&key).map(|e| e.revision));
        if known.is_none_or(|known| known < entry.revision) {
            if !self.keys.contains(&key) {
                self.keys.insert(key.clone());
            }
            self.ahead.insert(key, entry);
        }
    }

    /// The key's watched entry before `revision`: what subscribers were told of.
    pub fn previous(&self, key: &str, revision: u64) -> Option<Entry> {
        self.watched
            .get(key)
            .filter(|e| e.revision < revision)
            .cloned()
    }

    /// The watch delivered `entry`: it replaces an older one, and anything
    /// learnt ahead that it has caught up with is dropped.
    pub fn apply(&mut self, key: String, entry: Entry) {
        self.delivered = self.delivered.max(entry.revision);
        if !self.keys.contains(&key) {
            self.keys.insert(key.clone());
        }
        if self
            .ahead
            .get(&key)
            .is_some_and(|a| a.revision <= entry.revision)
        {
            self.ahead.remove(&key);
        }
        if self
            .watched
            .get(&key)
            .is_none_or(|current| current.revision <= entry.revision)
        {
            self.watched.insert(key, entry);
        }
    }

    /// Every watched entry, or only those of `keys` (markers too: what is a
    /// current hold is the guest's call).
    pub fn snapshot(&self, keys: Option<&[String]>) -> Vec<(String, Entry)> {
        match keys {
            None => self
                .watched
                .iter()
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect(),
            Some(keys) => keys
                .iter()
                .filter_map(|k| Some((k.clone(), self.watched.get(k)?.clone())))
                .collect(),
        }
    }

    /// Drop entries older at `now` than the upkeep plan keeps them: the replica
    /// never outgrows the bucket.
    pub fn prune(&mut self, now: SystemTime, upkeep: &Upkeep) {
        let young = |_: &String, e: &mut Entry| {
            let keep = if e.operation == Operation::Put {
                upkeep.keep_hold
            } else {
                upkeep.keep_marker
            };
            now.duration_since(e.created).unwrap_or_default() <= keep
        };
        self.watched.retain(young);
        self.ahead.retain(young);
        let (watched, ahead) = (&self.watched, &self.ahead);
        self.keys
            .retain(|k| watched.contains_key(k) || ahead.contains_key(k));
    }

    /// Keys and approximate bytes held.
    pub fn size(&self) -> (usize, usize) {
        let bytes = self
            .watched
            .iter()
            .chain(self.ahead.iter())
            .map(|(k, e)| k.len() + e.value.len() + std::mem::size_of::<(String, Entry)>())
            .sum();
        (self.watched.len() + self.ahead.len(), bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(revision: u64, operation: Operation, created: SystemTime) -> Entry {
        Entry {
            value: bytes::Bytes::from_static(b"v"),
            revision,
            operation,
            created,
        }
    }

    /// A plan keeping holds 120 s and markers 60 s.
    fn upkeep() -> Upkeep {
        Upkeep {
            prune_every: Duration::from_secs(15),
            keep_hold: Duration::from_secs(120),
            keep_marker: Duration::from_secs(60),
            sweep_retry: Duration::from_secs(1),
            concurrent_sweeps: 16,
            restart_after: Duration::from_secs(1),
        }
    }

    #[test]
    fn an_entry_learnt_ahead_is_newest_until_the_watch_catches_up() {
        let t = SystemTime::UNIX_EPOCH;
        let mut r = Replica::default();
        r.apply("k".into(), entry(3, Operation::Put, t));
        r.learn("k".into(), entry(2, Operation::Put, t));
        assert_eq!(
            r.newest("k").unwrap().revision,
            3,
            "an older ack is ignored"
        );
        r.learn("k".into(), entry(5, Operation::Delete, t));
        assert_eq!(r.newest("k").unwrap().revision, 5);
        assert_eq!(r.previous("k", 5).unwrap().revision, 3, "subscribers saw 3");
        r.apply("k".into(), entry(5, Operation::Delete, t));
        assert_eq!(r.size().0, 1, "the watch caught up: nothing ahead");
    }

    #[test]
    fn the_watch_never_moves_a_key_back() {
        let t = SystemTime::UNIX_EPOCH;
        let mut r = Replica::default();
        r.apply("k".into(), entry(7, Operation::Put, t));
        r.apply("k".into(), entry(4, Operation::Put, t));
        assert_eq!(r.newest("k").unwrap().revision, 7);
        assert!(r.previous("k", 7).is_none());
    }

    #[test]
    fn pruning_keeps_holds_twice_as_long_as_markers() {
        let t = SystemTime::UNIX_EPOCH;
        let mut r = Replica::default();
        r.apply("hold".into(), entry(1, Operation::Put, t));
        r.apply("marker".into(), entry(2, Operation::Expire, t));
        r.learn("ahead".into(), entry(3, Operation::Put, t));
        r.prune(t + Duration::from_secs(60), &upkeep());
        assert_eq!(r.size().0, 3, "everything is at most a max age old");
        r.prune(t + Duration::from_secs(61), &upkeep());
        assert!(r.newest("marker").is_none());
        assert!(r.newest("hold").is_some() && r.newest("ahead").is_some());
        r.prune(t + Duration::from_secs(121), &upkeep());
        assert_eq!(r.size().0, 0);
    }

    #[test]
    fn a_scan_by_prefix_has_the_newest_values_and_the_watch_position_grows() {
        let t = SystemTime::UNIX_EPOCH;
        let mut r = Replica::default();
        r.apply("_hx.a".into(), entry(4, Operation::Put, t));
        r.apply("_hx.b".into(), entry(2, Operation::Delete, t));
        r.apply("=2Fa".into(), entry(3, Operation::Put, t));
        r.learn("_hx.c".into(), entry(9, Operation::Put, t));
        let keys: Vec<String> = r.scan("_hx.").into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["_hx.a", "_hx.c"]);
        assert_eq!(r.scan("").len(), 3);
        assert_eq!(r.delivered(), 4, "an entry learnt ahead is not delivered");
        r.prune(t + Duration::from_secs(500), &upkeep());
        assert!(r.scan("").is_empty());
    }

    #[test]
    fn a_snapshot_of_some_keys_has_only_those_the_watch_delivered() {
        let t = SystemTime::UNIX_EPOCH;
        let mut r = Replica::default();
        r.apply("a".into(), entry(1, Operation::Put, t));
        r.apply("b".into(), entry(2, Operation::Delete, t));
        r.learn("c".into(), entry(3, Operation::Put, t));
        let keys = ["b".to_string(), "c".to_string()];
        let some: Vec<String> = r
            .snapshot(Some(&keys))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(some, ["b"]);
        assert_eq!(r.snapshot(None).len(), 2);
    }
}
