//! The holds manager: the public API over one bucket.

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::convert;
use crate::error::Error;
use crate::hub::Hub;
use crate::kv::{BucketSpec, JetStreamKv, KvStore, MemoryKv, SqliteKv};
use crate::runtime::bindings::exports::holds::core::holds::{AnnounceRequest, ReleaseOutcome};
use crate::runtime::bindings::holds::core::types as wit;
use crate::runtime::{Instances, Runtime};
use crate::subscription::Subscription;
use crate::types::{Announce, Claim, EventKind, Hold, Release};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Where the bucket lives.
pub enum Backend {
    /// A fresh in-process bucket (tests, embedding, single-process use).
    Memory,
    /// A JetStream KV bucket on this connection (created if missing).
    JetStream(async_nats::Client),
    /// A bucket in this SQLite database file (created if missing), shared by
    /// every process on the machine that opens the same file.
    Sqlite(std::path::PathBuf),
    /// An already opened bucket, e.g. one [`MemoryKv`] shared by several managers.
    Store(Arc<dyn KvStore>),
}

/// Holds on one bucket. Cheap to clone; safe to share across tasks.
///
/// Every decision (who may hold what, expiry, what a change means) is made by
/// the `holds:core` WebAssembly guest; the manager runs it and the store.
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    kv: Arc<dyn KvStore>,
    instances: Arc<Instances>,
    hub: Arc<Hub>,
    closed: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.hub.close();
    }
}

/// Options beyond [`Config`], for tests and embedders.
pub struct ManagerBuilder {
    config: Config,
    clock: Arc<dyn Clock>,
    runtime: Option<Arc<Runtime>>,
}

impl ManagerBuilder {
    /// Use this clock instead of the system's (the guest reads it as its `now`).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Run another build of the component instead of the embedded one.
    pub fn runtime(mut self, runtime: Arc<Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Validate the configuration, open (or create) the bucket, and load the guest.
    pub async fn open(self, backend: Backend) -> Result<Manager, Error> {
        let config = self.config.validated()?;
        let spec = BucketSpec {
            name: config.bucket.clone(),
            max_age: config.hold_ttl_max,
            replicas: config.replicas,
            op_timeout: config.op_timeout,
        };
        let kv: Arc<dyn KvStore> = match backend {
            Backend::Memory => Arc::new(MemoryKv::new(&spec)),
            Backend::JetStream(client) => Arc::new(
                JetStreamKv::open(client, &spec)
                    .await
                    .map_err(|e| Error::Store(e.to_string()))?,
            ),
            Backend::Sqlite(path) => Arc::new(
                SqliteKv::open(&path, &spec)
                    .await
                    .map_err(|e| Error::Store(e.to_string()))?,
            ),
            Backend::Store(kv) => kv,
        };
        let runtime = match self.runtime {
            Some(runtime) => runtime,
            None => Runtime::embedded()?,
        };
        // Eight attempts of a read and a write each, plus slack.
        let call_timeout = config.op_timeout * 17 + Duration::from_secs(1);
        let instances = Arc::new(Instances::new(
            runtime,
            kv.clone(),
            self.clock.clone(),
            call_timeout,
        ));
        let hub = Hub::new(
            kv.clone(),
            instances.clone(),
            self.clock,
            config.chan_buffer,
            config.hold_ttl_max,
            config.op_timeout * 2,
        );
        Ok(Manager {
            inner: Arc::new(Inner {
                config,
                kv,
                instances,
                hub,
                closed: AtomicBool::new(false),
            }),
        })
    }
}

impl Manager {
    /// Open a manager with the system clock and the embedded guest.
    pub async fn open(config: Config, backend: Backend) -> Result<Manager, Error> {
        Self::builder(config).open(backend).await
    }

    pub fn builder(config: Config) -> ManagerBuilder {
        ManagerBuilder {
            config,
            clock: Arc::new(SystemClock),
            runtime: None,
        }
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Where the bucket lives, for logs.
    pub fn describe_store(&self) -> String {
        self.inner.kv.describe()
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.inner.closed.load(Ordering::SeqCst) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Place or renew a hold on `file` (an absolute path; it is cleaned).
    ///
    /// Vacant -> created; held by the same agent -> renewed; held by another agent
    /// whose hold expired -> taken over; otherwise [`Error::HeldByAnother`].
    pub async fn announce(&self, file: &str, announce: &Announce) -> Result<Claim, Error> {
        self.check_open()?;
        let request = AnnounceRequest {
            file: file.to_string(),
            agent_id: announce.agent_id.clone(),
            ttl: convert::nanos(announce.ttl),
            checkout_path: announce.checkout_path.clone(),
        };
        let ttl_max = convert::nanos(self.inner.config.hold_ttl_max);
        self.inner
            .instances
            .announce(request, ttl_max, None)
            .await?
            .map(convert::claim)
            .map_err(convert::error)
    }

    /// Remove `agent_id`'s live hold on `file`. Missing, expired or foreign holds
    /// are left alone ([`Release::NotHeld`]). The removal is gated on the revision
    /// that was judged, so a take-over racing it survives.
    pub async fn release(&self, file: &str, agent_id: &str) -> Result<Release, Error> {
        self.check_open()?;
        let outcome = self
            .inner
            .instances
            .release(file, agent_id, None)
            .await?
            .map_err(convert::error)?;
        Ok(match outcome {
            ReleaseOutcome::Released(revision) => Release::Released { revision },
            ReleaseOutcome::NotHeld => Release::NotHeld,
        })
    }

    /// The live hold on `file`, read fresh from the store.
    pub async fn who_has(&self, file: &str) -> Result<Option<Claim>, Error> {
        self.check_open()?;
        Ok(self
            .inner
            .instances
            .who_has(file, None)
            .await?
            .map_err(convert::error)?
            .map(convert::claim))
    }

    /// Current holds as `Announced` events, then live changes.
    /// See [`Subscription`] for how it ends.
    pub async fn subscribe(&self) -> Result<Subscription, Error> {
        self.check_open()?;
        self.inner.hub.subscribe().await
    }

    /// Every live hold, oldest revision first.
    pub async fn list(&self) -> Result<Vec<Claim>, Error> {
        let mut subscription = self.subscribe().await?;
        Ok(subscription
            .take_snapshot()
            .into_iter()
            .filter_map(|event| match event.kind {
                EventKind::Announced(hold) => Some(Claim {
                    file: event.file,
                    hold,
                    revision: event.revision,
                }),
                _ => None,
            })
            .collect())
    }

    /// Check the bucket answers: a read of the never-written `_probe` key, bounded
    /// by the operation timeout.
    pub async fn probe(&self) -> Result<(), Error> {
        self.check_open()?;
        let timeout = self.inner.config.op_timeout;
        match tokio::time::timeout(timeout, self.inner.kv.get("_probe")).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Error::Store(format!("probe failed: {e}"))),
            Err(_) => Err(Error::Store(format!("probe timed out after {timeout:?}"))),
        }
    }

    /// Close the manager: every subscription ends and every later call returns
    /// [`Error::Closed`]. Idempotent.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.hub.close();
    }

    /// Test seam, not the supported API: the store key of `file`.
    pub async fn key_for_test(&self, file: &str) -> Result<String, Error> {
        self.inner
            .instances
            .key_for_file(file)
            .await?
            .map_err(convert::error)
    }

    /// Test seam, not the supported API: the file a key names.
    pub async fn file_for_key_for_test(&self, key: &str) -> Result<String, Error> {
        self.inner
            .instances
            .file_for_key(key)
            .await?
            .map_err(convert::error)
    }

    /// Test seam, not the supported API: the exact bytes announce stores for `hold`.
    pub async fn encode_for_test(&self, hold: &Hold) -> Result<Vec<u8>, Error> {
        self.inner
            .instances
            .encode_hold(wit::Hold {
                agent_id: hold.agent_id.clone(),
                claimed_at: convert::timestamp(hold.claimed_at),
                expires_at: convert::timestamp(hold.expires_at),
                checkout_path: hold.checkout_path.clone(),
                ttl: convert::nanos(hold.ttl),
            })
            .await
    }

    /// Test seam, not the supported API: the bucket itself, to stage raw entries
    /// and CAS conflicts.
    pub fn kv_for_test(&self) -> Arc<dyn KvStore> {
        self.inner.kv.clone()
    }

    /// Test seam, not the supported API: `observer(key, attempt)` runs once per
    /// CAS retry (never for a first attempt, never after the final verdict).
    /// `None` removes it.
    pub fn set_cas_retry_observer_for_test(
        &self,
        observer: Option<Arc<dyn Fn(&str, u32) + Send + Sync>>,
    ) {
        self.inner.instances.set_retry_observer(observer);
    }
}
