//! Force release (issue 13): an operator removes whoever's live hold, gated on
//! the revision it judged, and subscribers learn who forced it.

use super::workflow_common::{entries, hold, next_on};
use async_trait::async_trait;
use bytes::Bytes;
use holds::clock::OffsetClock;
use holds::kv::{KvError, KvStore, Operation, Removal};
use holds::{Error, EventKind, Release};
use holds_test_support::forward::Forward;
use holds_test_support::harness::{Harness, Kind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

const F: &str = "/force/f";
const WITHIN: Duration = Duration::from_secs(10);

/// Holds the first delete until `go` is notified (after telling `reached`), so
/// another write can land between the force-release's read and its delete;
/// records every delete's expected revision.
struct FirstDeletePaused {
    inner: Arc<dyn KvStore>,
    reached: Notify,
    go: Notify,
    paused: AtomicBool,
    expected: Mutex<Vec<u64>>,
}

impl FirstDeletePaused {
    fn new(inner: Arc<dyn KvStore>) -> Arc<Self> {
        Arc::new(FirstDeletePaused {
            inner,
            reached: Notify::new(),
            go: Notify::new(),
            paused: AtomicBool::new(false),
            expected: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl Forward for FirstDeletePaused {
    fn inner(&self) -> &dyn KvStore {
        &*self.inner
    }
    async fn delete_if_revision(
        &self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Bytes,
    ) -> Result<u64, KvError> {
        self.expected.lock().unwrap().push(expected);
        if !self.paused.swap(true, Ordering::SeqCst) {
            self.reached.notify_one();
            self.go.notified().await;
        }
        self.inner
            .delete_if_revision(key, expected, why, note)
            .await
    }
}

holds_test_support::forward_kv_store!(FirstDeletePaused);

/// Subscribers see a force-release as `released` with who forced it, and a plain
/// release with nobody; the file is vacant after it.
pub async fn a_force_release_is_reported_with_who_forced_it(h: Harness) {
    let (m, ops, observer) = (h.manager().await, h.manager().await, h.manager().await);
    let mut sub = observer.subscribe().await.unwrap();
    let claim = m.announce(F, &hold("a1", 30)).await.unwrap();
    let Release::Released { revision } = ops.force_release(F, "oncall").await.unwrap() else {
        panic!("a live hold is force-released")
    };
    assert!(revision > claim.revision);
    let announced = next_on(&mut sub, F, WITHIN).await.expect("the announce");
    assert_eq!(announced.revision, claim.revision);
    let released = next_on(&mut sub, F, WITHIN)
        .await
        .expect("the force-release");
    assert_eq!(
        (released.revision, released.kind),
        (
            revision,
            EventKind::Released {
                forced_by: Some("oncall".into())
            }
        )
    );
    assert_eq!(m.who_has(F).await.unwrap(), None);
    // A plain release names nobody.
    m.announce("/force/g", &hold("a1", 30)).await.unwrap();
    m.release("/force/g", "a1").await.unwrap();
    next_on(&mut sub, "/force/g", WITHIN)
        .await
        .expect("the announce");
    let plain = next_on(&mut sub, "/force/g", WITHIN)
        .await
        .expect("the release");
    assert_eq!(plain.kind, EventKind::Released { forced_by: None });
}

/// Nothing to remove — never held, released, expired — is `NotHeld` and writes
/// no marker; an empty operator id or a relative path is invalid input.
pub async fn force_releasing_a_file_nobody_holds_is_not_held_and_writes_nothing(h: Harness) {
    let m = h.manager().await;
    let store = h.store().await;
    m.announce("/force/released", &hold("a1", 30))
        .await
        .unwrap();
    m.release("/force/released", "a1").await.unwrap();
    m.announce("/force/expired", &hold("a1", 30)).await.unwrap();
    let clock = OffsetClock::new();
    clock.advance(Duration::from_secs(31));
    // `later` does not watch: a watching manager sweeps what its clock calls
    // expired (on SQLite, where nobody else expires entries), and that marker
    // raced the snapshot below (a CI run saw it land after `before`).
    let mut quiet = h.config();
    quiet.replica = false;
    let later = h.manager_with(quiet, Some(Arc::new(clock))).await;
    let files = ["/force/never", "/force/released", "/force/expired"];
    let before = entries(&m, &*store, &files).await;
    for file in files {
        assert_eq!(
            later.force_release(file, "oncall").await.unwrap(),
            Release::NotHeld,
            "{file}"
        );
    }
    assert_eq!(
        entries(&m, &*store, &files).await,
        before,
        "no marker written"
    );
    for (file, by, field) in [
        ("/force/expired", "", "by"),
        ("/force/expired", "  ", "by"),
        ("force/relative", "oncall", "file"),
    ] {
        match m.force_release(file, by).await {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field, "{file} {by:?}"),
            other => panic!("{file} {by:?}: expected invalid input, got {other:?}"),
        }
    }
    assert_eq!(
        entries(&m, &*store, &files).await,
        before,
        "still no marker"
    );
}

/// The delete is gated on the revision judged: a renewal landing between the
/// force-release's read and its delete makes that delete fail, so the renewal is
/// never destroyed unseen. The force-release judges again: the renewal is the
/// live hold now, and it is what is removed (subscribers see both).
pub async fn a_force_release_racing_a_renewal_judges_the_renewal_again(h: Harness) {
    let paused = FirstDeletePaused::new(h.store().await);
    let ops = h.manager_on(paused.clone(), None).await;
    let (m, observer) = (h.manager().await, h.manager().await);
    let mut sub = observer.subscribe().await.unwrap();
    let claim = m.announce(F, &hold("a1", 30)).await.unwrap();
    let forcing = tokio::spawn(async move { ops.force_release(F, "oncall").await });
    tokio::time::timeout(WITHIN, paused.reached.notified())
        .await
        .expect("the force-release reached its delete");
    let renewed = m.announce(F, &hold("a1", 30)).await.unwrap();
    paused.go.notify_one();
    let Release::Released { revision } = forcing.await.unwrap().unwrap() else {
        panic!("the renewed hold is live: it is force-released")
    };
    assert_eq!(
        *paused.expected.lock().unwrap(),
        [claim.revision, renewed.revision],
        "first at the revision judged (refused), then at the renewal's"
    );
    assert!(revision > renewed.revision);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = next_on(&mut sub, F, WITHIN).await.expect("an event");
        seen.push((
            event.revision,
            matches!(event.kind, EventKind::Announced(_)),
        ));
    }
    assert_eq!(
        seen,
        [
            (claim.revision, true),
            (renewed.revision, true),
            (revision, false)
        ],
        "the renewal was seen before the force-release"
    );
}

/// A release landing between the force-release's read and its delete: the
/// delete fails, the fresh read finds the file vacant, and no marker is added.
pub async fn a_force_release_racing_a_release_is_not_held(h: Harness) {
    let paused = FirstDeletePaused::new(h.store().await);
    let ops = h.manager_on(paused.clone(), None).await;
    let m = h.manager().await;
    let store = h.store().await;
    let claim = m.announce(F, &hold("a1", 30)).await.unwrap();
    let forcing = tokio::spawn(async move { ops.force_release(F, "oncall").await });
    tokio::time::timeout(WITHIN, paused.reached.notified())
        .await
        .expect("the force-release reached its delete");
    let Release::Released { revision } = m.release(F, "a1").await.unwrap() else {
        panic!("a1 holds it")
    };
    paused.go.notify_one();
    assert_eq!(forcing.await.unwrap().unwrap(), Release::NotHeld);
    assert_eq!(*paused.expected.lock().unwrap(), [claim.revision]);
    let entry = entries(&m, &*store, &[F]).await.remove(0).unwrap();
    assert_eq!(
        (entry.revision, entry.operation),
        (revision, Operation::Delete),
        "the release's marker only"
    );
}

holds_test_support::matrix! {
    async fn {
        a_force_release_is_reported_with_who_forced_it,
        force_releasing_a_file_nobody_holds_is_not_held_and_writes_nothing,
        a_force_release_racing_a_renewal_judges_the_renewal_again,
        a_force_release_racing_a_release_is_not_held,
    }
    on {
        memory: Harness::new(Kind::Memory).await,
        jetstream: Harness::new(Kind::JetStream).await,
        sqlite: Harness::new(Kind::Sqlite).await,
    }
}
