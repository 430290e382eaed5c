//! The holds one MCP session took: a lease per file, renewed while the session
//! lives, released when it ends.

use holds::{Claim, Lease};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Mutex;

#[derive(Clone, Default)]
pub struct Session {
    /// Keyed by cleaned absolute path.
    leases: Arc<Mutex<BTreeMap<String, Lease>>>,
}

impl Session {
    /// Keep `lease` (one file, not kept yet) renewed.
    pub async fn keep(&self, lease: Lease) {
        if let Some(file) = lease.claims().first().map(|c| c.file.clone()) {
            self.leases.lock().await.insert(file, lease);
        }
    }

    /// Whether this session keeps `file` live.
    pub async fn keeps(&self, file: &str) -> bool {
        self.prune().await;
        self.leases.lock().await.contains_key(file)
    }

    /// Stop keeping `file`; its lease releases it. `None` when it was not kept.
    pub async fn release(&self, file: &str) -> Option<Result<(), holds::Error>> {
        let lease = self.leases.lock().await.remove(file)?;
        Some(lease.release().await)
    }

    /// Every kept claim, at its latest revision.
    pub async fn claims(&self) -> Vec<Claim> {
        self.prune().await;
        let leases = self.leases.lock().await;
        leases.values().flat_map(|l| l.claims()).collect()
    }

    /// Forget leases that lost their file (force-released, taken over): nothing
    /// of theirs is left to renew or release.
    async fn prune(&self) {
        self.leases
            .lock()
            .await
            .retain(|_, lease| lease.lost_now().is_none());
    }

    /// Release every kept hold (the session ended).
    pub async fn release_all(&self) {
        let leases = std::mem::take(&mut *self.leases.lock().await);
        for (file, lease) in leases {
            if let Err(e) = lease.release().await {
                crate::output::print_err(format_args!(
                    "holds mcp: releasing {file} at the end of the session failed: {e}"
                ));
            }
        }
    }
}
