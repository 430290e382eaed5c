//! What each store change means to subscribers, and the expiry sweep.

use crate::announce::read;
use crate::host::Host;
use crate::key::file_for_key;
use crate::model::{Change, ChangeKind, Error, Event, Interpretation, KvError, Operation, Removal};
use crate::{codec, verdict};

/// Interpret one change seen by the host's watcher.
///
/// Live changes: put -> announced, delete/purge -> released, expire -> expired.
/// While replaying the current contents (`snapshot`), markers and expired holds
/// are not events. Undecodable values are dropped with the reason.
pub fn interpret<H: Host>(host: &mut H, change: &Change) -> Interpretation {
    let file = match file_for_key(&change.key) {
        Ok(file) => file,
        Err(_) => {
            return Interpretation {
                dropped: Some(format!("key {:?} does not name a file", change.key)),
                ..Interpretation::default()
            };
        }
    };
    let event = |kind| Event {
        file: file.clone(),
        revision: change.entry.revision,
        kind,
    };
    if !change.entry.found {
        return Interpretation::default();
    }
    match change.entry.operation {
        Operation::Put => match codec::decode(&change.entry.value) {
            Err(reason) => Interpretation {
                dropped: Some(format!(
                    "key {:?} revision {}: {reason}",
                    change.key, change.entry.revision
                )),
                ..Interpretation::default()
            },
            Ok(hold) => {
                let expires_at = hold.expires_at;
                let stale = change.snapshot && verdict::is_expired(&hold, host.now());
                Interpretation {
                    event: (!stale).then(|| event(ChangeKind::Announced(hold))),
                    expiry_check_at: Some(expires_at),
                    dropped: None,
                }
            }
        },
        _ if change.snapshot => Interpretation::default(),
        Operation::Delete | Operation::Purge => Interpretation {
            event: Some(event(ChangeKind::Released)),
            ..Interpretation::default()
        },
        Operation::Expire => Interpretation {
            event: Some(event(ChangeKind::Expired)),
            ..Interpretation::default()
        },
    }
}

/// If `key` holds an expired hold, leave an `expired` marker at its revision.
pub async fn sweep<H: Host>(host: &mut H, key: &str) -> Result<bool, Error> {
    let entry = read(host, key).await?;
    if !entry.is_value() {
        return Ok(false);
    }
    let Ok(hold) = codec::decode(&entry.value) else {
        // Not ours to judge; the bucket's max age removes it.
        return Ok(false);
    };
    if !verdict::is_expired(&hold, host.now()) {
        return Ok(false);
    }
    match host
        .delete_if_revision(key, entry.revision, Removal::Expired)
        .await
    {
        Ok(_) => Ok(true),
        // Renewed or taken over since the read: no longer expired.
        Err(KvError::WrongRevision) => Ok(false),
        Err(KvError::Unavailable(why)) => Err(Error::Store(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::announce::announce;
    use crate::model::Entry;
    use crate::testing::{MemoryHost, request};
    use futures::executor::block_on;

    const S: u64 = 1_000_000_000;

    fn change(host: &MemoryHost, key: &str, snapshot: bool) -> Change {
        Change {
            key: key.into(),
            entry: host.entry(key),
            snapshot,
        }
    }

    #[test]
    fn puts_deletes_and_expiry_markers() {
        let mut host = MemoryHost::new(0);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        let c = change(&host, "=2Ff", false);
        let i = interpret(&mut host, &c);
        assert!(matches!(
            i.event,
            Some(Event {
                kind: ChangeKind::Announced(_),
                ..
            })
        ));
        assert_eq!(i.expiry_check_at, Some(S as i64));
        host.delete("=2Ff");
        let c = change(&host, "=2Ff", false);
        assert_eq!(
            interpret(&mut host, &c).event.unwrap().kind,
            ChangeKind::Released
        );
        let c = Change {
            key: "=2Ff".into(),
            entry: Entry {
                operation: Operation::Expire,
                ..host.entry("=2Ff")
            },
            snapshot: false,
        };
        assert_eq!(
            interpret(&mut host, &c).event.unwrap().kind,
            ChangeKind::Expired
        );
    }

    #[test]
    fn snapshot_skips_markers_and_expired_holds() {
        let mut host = MemoryHost::new(0);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        host.now = 2 * S as i64;
        let c = change(&host, "=2Ff", true);
        let i = interpret(&mut host, &c);
        assert_eq!(i.event, None);
        assert_eq!(
            i.expiry_check_at,
            Some(S as i64),
            "still scheduled for a sweep"
        );
        host.delete("=2Ff");
        let c = change(&host, "=2Ff", true);
        assert_eq!(interpret(&mut host, &c), Interpretation::default());
    }

    #[test]
    fn undecodable_values_are_dropped_with_a_reason() {
        let mut host = MemoryHost::new(0);
        host.put_raw("=2Ff", b"garbage");
        let c = change(&host, "=2Ff", false);
        let i = interpret(&mut host, &c);
        assert_eq!(i.event, None);
        assert!(i.dropped.unwrap().contains("not a hold"));
    }

    #[test]
    fn sweep_marks_only_expired_holds() {
        let mut host = MemoryHost::new(0);
        block_on(announce(&mut host, &request("/f", "a", S), 60 * S, None)).unwrap();
        assert!(!block_on(sweep(&mut host, "=2Ff")).unwrap());
        host.now = 2 * S as i64;
        assert!(block_on(sweep(&mut host, "=2Ff")).unwrap());
        assert_eq!(host.entry("=2Ff").operation, Operation::Expire);
        assert!(!block_on(sweep(&mut host, "=2Ff")).unwrap());
    }
}
