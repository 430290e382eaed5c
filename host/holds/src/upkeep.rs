//! The guest's upkeep plan in the host's units: how the hub keeps its replica
//! and runs its sweeps (see the WIT `upkeep`).

use std::time::Duration;

/// How the replica is kept and sweeps run: the guest's `upkeep` plan.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Upkeep {
    /// Drop aged-out entries this often (zero: never).
    pub prune_every: Duration,
    /// How long a hold, and a marker, stay in the replica.
    pub keep_hold: Duration,
    pub keep_marker: Duration,
    /// A sweep the store failed is tried again after this.
    pub sweep_retry: Duration,
    /// Sweeps in flight at once; the rest wait in the queue.
    pub concurrent_sweeps: usize,
    /// A failed watcher kept warm for the replica restarts after this.
    pub restart_after: Duration,
}
