//! What each store change means to subscribers, and the expiry sweep.

use crate::extended;
use crate::host::Host;
use crate::host::{read, store_error};
use crate::model::{
    Change, ChangeKind, Entry, Error, Event, Interpretation, KvError, Operation, Removal,
    SweepOutcome,
};
use crate::resend::Resending;
use crate::{MAX_ATTEMPTS, codec, upkeep, verdict};

/// Interpret one change seen by the host's watcher.
///
/// Live changes: put -> announced; a marker that removes a hold (the previous
/// entry was a value) -> released (delete, purge) or expired (expire). A marker
/// replacing a marker or nothing removes no hold and is not an event: on a bucket
/// with limit markers the server leaves a `MaxAge` marker when a release marker
/// ages out, long after the release. While replaying the current contents
/// (`snapshot`), markers and expired holds are not events. Undecodable values and
/// keys holds would not have written are dropped with the reason.
pub fn interpret<H: Host>(host: &mut H, change: &Change) -> Interpretation {
    let (file, scope) = match extended::named_by_key(&change.key) {
        Ok(named) => named,
        Err(Error::InvalidInput(why)) => return dropped(why.reason),
        Err(_) => return dropped(format!("key {:?} does not name a file", change.key)),
    };
    let event = |kind| Event {
        file: file.clone(),
        scope,
        revision: change.entry.revision,
        kind,
    };
    if !change.entry.found {
        return Interpretation::default();
    }
    match change.entry.operation {
        Operation::Put => match decode_hold(&change.key, &change.entry) {
            Err(reason) => dropped(format!(
                "key {:?} revision {}: {reason}",
                change.key, change.entry.revision
            )),
            Ok(hold) => {
                let stale = change.snapshot && verdict::is_expired(&hold, host.now());
                Interpretation {
                    expiry_check_at: Some(verdict::expired_from(&hold)),
                    event: (!stale).then(|| event(ChangeKind::Announced(hold))),
                    dropped: None,
                }
            }
        },
        _ if change.snapshot || !change.previous.is_value() => Interpretation::default(),
        Operation::Delete | Operation::Purge => Interpretation {
            event: Some(event(ChangeKind::Released(codec::decode_release_note(
                &change.entry.value,
            )))),
            ..Interpretation::default()
        },
        Operation::Expire => Interpretation {
            event: Some(event(ChangeKind::Expired)),
            ..Interpretation::default()
        },
    }
}

/// The hold a value is: Go's, or a shared or pattern hold's (with its mode).
fn decode_hold(key: &str, entry: &Entry) -> Result<crate::model::Hold, String> {
    if extended::is_extended(key) {
        extended::decode_at(&entry.value, entry.revision).map(|(claim, _, _)| claim.hold)
    } else {
        codec::decode(&entry.value)
    }
}

fn dropped(why: String) -> Interpretation {
    Interpretation {
        dropped: Some(why),
        ..Interpretation::default()
    }
}

/// Sweep `key`, last seen by the host as `observed`; see the WIT `sweep`.
pub async fn sweep<H: Host>(
    host: &mut H,
    key: &str,
    observed: &Entry,
) -> Result<SweepOutcome, Error> {
    let host = &mut Resending(host);
    for _ in 0..MAX_ATTEMPTS {
        let entry = read(host, key).await?;
        let now = host.now();
        let target = if entry.is_value() {
            let Ok(hold) = codec::decode(&entry.value) else {
                // Not ours to judge; the bucket's max age removes it.
                return Ok(SweepOutcome::Nothing);
            };
            if !verdict::is_expired(&hold, now) {
                return Ok(SweepOutcome::NotDue(upkeep::sweep_again_at(
                    verdict::expired_from(&hold),
                    now,
                )));
            }
            entry.revision
        } else if !entry.found && observed_expired(observed, now) {
            // The store aged the hold out without a marker (its TTL was the
            // bucket's max age): leave the marker on the empty key.
            0
        } else {
            return Ok(SweepOutcome::Nothing);
        };
        match host
            .delete_if_revision(key, target, Removal::Expired, Vec::new())
            .await
        {
            Ok(revision) => return Ok(SweepOutcome::Expired(revision)),
            // Renewed, taken over, aged out or marked by another sweeper since
            // the read: judge the key again.
            Err(KvError::WrongRevision) => {}
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(Error::CasExhausted(MAX_ATTEMPTS))
}

/// `observed` was a hold, expired at `now`.
fn observed_expired(observed: &Entry, now: i64) -> bool {
    observed.is_value()
        && codec::decode(&observed.value).is_ok_and(|hold| verdict::is_expired(&hold, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::announce::announce;
    use crate::testing::{MemoryHost, request};
    use futures::executor::block_on;

    const S: u64 = 1_000_000_000;

    /// The change that turned `previous` into the key's current entry.
    fn change(host: &MemoryHost, key: &str, previous: Entry, snapshot: bool) -> Change {
        Change {
            key: key.into(),
            entry: host.entry(key),
            previous,
            snapshot,
        }
    }

    fn kind(i: Interpretation) -> Option<ChangeKind> {
        i.event.map(|e| e.kind)
    }

    #[test]
    fn puts_deletes_and_expiry_markers() {
        let mut host = MemoryHost::new(0);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        let put = host.entry("=2Ff");
        let c = change(&host, "=2Ff", Entry::missing(), false);
        let i = interpret(&mut host, &c);
        assert!(matches!(
            i.event,
            Some(Event {
                kind: ChangeKind::Announced(_),
                ..
            })
        ));
        assert_eq!(
            i.expiry_check_at,
            Some(S as i64 + 1),
            "the first expired instant"
        );
        host.delete("=2Ff");
        let c = change(&host, "=2Ff", put.clone(), false);
        assert_eq!(
            kind(interpret(&mut host, &c)),
            Some(ChangeKind::Released(None))
        );
        let c = Change {
            entry: Entry {
                operation: Operation::Expire,
                ..host.entry("=2Ff")
            },
            ..c
        };
        assert_eq!(kind(interpret(&mut host, &c)), Some(ChangeKind::Expired));
    }

    #[test]
    fn a_marker_replacing_a_marker_or_nothing_is_not_an_event() {
        let mut host = MemoryHost::new(0);
        host.delete("=2Ff");
        let release_marker = host.entry("=2Ff");
        // The server's MaxAge marker once the release marker aged out.
        let max_age = Change {
            key: "=2Ff".into(),
            entry: Entry {
                revision: 9,
                operation: Operation::Expire,
                ..release_marker.clone()
            },
            previous: release_marker.clone(),
            snapshot: false,
        };
        assert_eq!(interpret(&mut host, &max_age), Interpretation::default());
        for operation in [Operation::Delete, Operation::Purge, Operation::Expire] {
            let over_nothing = Change {
                entry: Entry {
                    operation,
                    ..max_age.entry.clone()
                },
                previous: Entry::missing(),
                ..max_age.clone()
            };
            assert_eq!(interpret(&mut host, &over_nothing).event, None);
        }
    }

    #[test]
    fn snapshot_skips_markers_and_expired_holds() {
        let mut host = MemoryHost::new(0);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        let put = host.entry("=2Ff");
        host.now = 2 * S as i64;
        let c = change(&host, "=2Ff", Entry::missing(), true);
        let i = interpret(&mut host, &c);
        assert_eq!(i.event, None);
        assert_eq!(
            i.expiry_check_at,
            Some(S as i64 + 1),
            "still scheduled for a sweep"
        );
        host.delete("=2Ff");
        let c = change(&host, "=2Ff", put, true);
        assert_eq!(interpret(&mut host, &c), Interpretation::default());
    }

    #[test]
    fn undecodable_values_are_dropped_with_a_reason() {
        let mut host = MemoryHost::new(0);
        host.put_raw("=2Ff", b"garbage");
        let c = change(&host, "=2Ff", Entry::missing(), false);
        let i = interpret(&mut host, &c);
        assert_eq!(i.event, None);
        assert!(i.dropped.unwrap().contains("not a hold"));
    }

    #[test]
    fn keys_holds_would_not_write_are_dropped_never_read_as_another_file() {
        let mut host = MemoryHost::new(0);
        let value = crate::codec::encode(&crate::model::Hold {
            agent_id: "go-agent".into(),
            expires_at: i64::MAX,
            ..Default::default()
        });
        // Go's key for /x=41 (a literal `=`), lowercase hex, a literal byte, a
        // path that is not clean, a relative path.
        for key in ["=2Fx=41", "=2fx", "x", "=2Fa=2F..=2Fb", "=2E=2Fa"] {
            host.put_raw(key, &value);
            let c = change(&host, key, Entry::missing(), false);
            let i = interpret(&mut host, &c);
            assert_eq!(i.event, None, "{key}");
            assert!(i.dropped.is_some(), "{key}");
        }
    }

    #[test]
    fn sweep_marks_only_expired_holds() {
        let mut host = MemoryHost::new(0);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        let put = host.entry("=2Ff");
        assert_eq!(
            block_on(sweep(&mut host, "=2Ff", &put)).unwrap(),
            SweepOutcome::NotDue(S as i64 + 1)
        );
        host.now = S as i64 + 1;
        assert_eq!(
            block_on(sweep(&mut host, "=2Ff", &put)).unwrap(),
            SweepOutcome::Expired(2)
        );
        assert_eq!(host.entry("=2Ff").operation, Operation::Expire);
        assert_eq!(
            block_on(sweep(&mut host, "=2Ff", &put)).unwrap(),
            SweepOutcome::Nothing
        );
    }

    #[test]
    fn a_hold_aged_out_without_a_marker_is_marked_on_the_empty_key() {
        let mut host = MemoryHost::new(0);
        block_on(announce(&mut host, &request("/f", "a", S), S, None)).unwrap();
        let put = host.entry("=2Ff");
        // The store dropped the entry at the bucket's max age, which equals the TTL.
        host.entries.remove("=2Ff");
        host.now = S as i64 + 1;
        assert_eq!(
            block_on(sweep(&mut host, "=2Ff", &put)).unwrap(),
            SweepOutcome::Expired(2)
        );
        assert_eq!(
            host.entry("=2Ff").operation,
            Operation::Expire,
            "the marker a watcher reads as expired"
        );
        assert_eq!(
            block_on(sweep(&mut host, "=2Ff", &put)).unwrap(),
            SweepOutcome::Nothing,
            "once: a second sweeper finds the marker"
        );
    }

    #[test]
    fn an_aged_out_key_is_not_marked_before_the_hold_expired_or_without_a_hold() {
        let mut host = MemoryHost::new(0);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        let put = host.entry("=2Ff");
        host.entries.remove("=2Ff");
        assert_eq!(
            block_on(sweep(&mut host, "=2Ff", &put)).unwrap(),
            SweepOutcome::Nothing,
            "not expired yet: removed by someone else"
        );
        host.now = 2 * S as i64;
        assert_eq!(
            block_on(sweep(&mut host, "=2Ff", &Entry::missing())).unwrap(),
            SweepOutcome::Nothing
        );
        assert!(!host.entry("=2Ff").found, "nothing was written");
    }

    #[test]
    fn a_sweep_racing_a_renewal_judges_the_renewed_hold() {
        let mut host = MemoryHost::new(0);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        let put = host.entry("=2Ff");
        host.now = 2 * S as i64;
        host.conflicts = 1;
        // The first delete loses (as if renewed meanwhile); the re-read still
        // shows the expired hold, which the second attempt marks.
        assert_eq!(
            block_on(sweep(&mut host, "=2Ff", &put)).unwrap(),
            SweepOutcome::Expired(2)
        );
    }
}
