//! A lease's watch that falls its buffer behind ends with `Error::Lagged`; the
//! lease must watch again at once, not go blind until its next renewal (with a
//! 60 s TTL, 20 s away), so a force-release made after the lag still stops it
//! within moments.

use holds::{Announce, Backend, Config, LostReason, Manager};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_whose_watch_lagged_still_sees_a_force_release_at_once() {
    let store = holds::kv::MemoryKv::new(&holds_test_support::harness::spec(
        "lag",
        Duration::from_secs(300),
    ));
    let open = || {
        Manager::open(
            Config::new("lag", Duration::from_secs(120)),
            Backend::Store(Arc::new(store.clone())),
        )
    };
    let (holder, operator) = (open().await.unwrap(), open().await.unwrap());
    let mut lease = holder
        .hold(&["/lag/f"], &Announce::new("a", Duration::from_secs(60)))
        .await
        .unwrap();
    holder.lag_subscribers_for_test();
    // Let the lease see its watch end (and watch again, and renew) first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lease.lost_now().map(|l| l.to_string()), None);
    operator.force_release("/lag/f", "ops").await.unwrap();
    let lost = tokio::time::timeout(Duration::from_secs(5), lease.lost())
        .await
        .expect("the force-release is seen within 5 s, not at the renewal 20 s away");
    assert!(
        matches!(&lost.why, LostReason::Released { forced_by: Some(by) } if by == "ops"),
        "{lost:?}"
    );
}
