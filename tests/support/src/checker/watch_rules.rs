//! The rules on subscriptions: revisions in order, every acknowledged write
//! delivered with its content.

use super::state::Checker;
use super::write::Kind;
use super::{Rule, WatchLog};
use holds::Event;
use std::collections::HashMap;

impl Checker<'_> {
    pub(super) fn check_watch(&mut self, w: &WatchLog) {
        let mut last: Option<u64> = None;
        let mut last_per_file: HashMap<&str, u64> = HashMap::new();
        for seen in &w.events {
            let e = &seen.event;
            if let Some(prev) = last_per_file.get(e.file.as_str())
                && *prev >= e.revision
            {
                let detail = format!(
                    "watch {} delivered revision {} of the file after revision {prev}",
                    w.name, e.revision
                );
                self.violation(Rule::WatchOrder, &e.file, e.revision, detail);
            } else if let Some(prev) = last
                && prev >= e.revision
            {
                let detail = format!(
                    "watch {} delivered revision {} after revision {prev} (of another file)",
                    w.name, e.revision
                );
                self.violation(Rule::WatchOrder, &e.file, e.revision, detail);
            }
            last = Some(last.map_or(e.revision, |l| l.max(e.revision)));
            last_per_file.insert(&e.file, e.revision);
        }
        let delivered: HashMap<u64, &Event> = w
            .events
            .iter()
            .map(|s| (s.event.revision, &s.event))
            .collect();
        let horizon = match w.ended {
            None => u64::MAX,
            Some(_) => w.max_revision(),
        };
        let mut missing = Vec::new();
        for (revision, write) in &self.log {
            let Some(i) = write.call else { continue };
            let call = &self.calls[i];
            if call.start <= w.from || *revision > horizon || delivered.contains_key(revision) {
                continue;
            }
            let around = |r: &u64| -> Option<String> {
                let s = w.events.iter().find(|s| s.event.revision == *r)?;
                Some(format!("{} at {}", s.event.revision, s.at))
            };
            let before = w
                .events
                .iter()
                .map(|s| s.event.revision)
                .filter(|r| r < revision)
                .max();
            let after = w
                .events
                .iter()
                .map(|s| s.event.revision)
                .filter(|r| r > revision)
                .min();
            let next = self
                .log
                .range(revision + 1..)
                .find(|(_, n)| n.file == write.file)
                .map(|(r, n)| (*r, n));
            let passed = w.events.iter().find(|s| s.event.revision > *revision);
            // Could the next write on the file have landed before the watch passed?
            let superseded = match (next, passed) {
                (Some((_, n)), Some(p)) => n.call.is_none_or(|j| self.calls[j].start < p.at),
                (Some(_), None) => true,
                (None, _) => false,
            };
            // A marker is an event only when it removes a hold the subscription
            // was told of: if the hold before it was coalesced away, so is the
            // removal.
            let removes_unseen_hold = !matches!(write.kind, Kind::Put(_))
                && self
                    .log
                    .range(..revision)
                    .rev()
                    .find(|(_, p)| p.file == write.file)
                    .is_some_and(|(r, p)| {
                        matches!(p.kind, Kind::Put(_)) && !delivered.contains_key(r)
                    });
            let rule = if superseded || removes_unseen_hold {
                Rule::WatchSkipped
            } else {
                Rule::WatchMissing
            };
            let detail = format!(
                "watch {} never delivered the {} acknowledged to {} (it delivered revision {:?}, then {:?}; the file's next write: {:?})",
                w.name,
                write.kind.name(),
                self.describe(i),
                before.as_ref().and_then(around),
                after.as_ref().and_then(around),
                next.map(|(r, n)| (r, n.done_at(self.calls))),
            );
            missing.push((rule, write.file.clone(), *revision, detail));
        }
        for (rule, file, revision, detail) in missing {
            self.violation(rule, &file, revision, detail);
        }
    }
}
