//! One bucket on one backend, and managers on it: what the conformance suite runs
//! every case against.

use crate::nats::NatsServer;
use holds::clock::Clock;
use holds::kv::{BucketSpec, JetStreamKv, KvStore, MemoryKv, SqliteKv};
use holds::{Backend, Config, Manager, ManagerBuilder, Runtime};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tempfile::TempDir;

/// The longest hold the conformance managers allow.
pub const TTL_MAX: Duration = Duration::from_secs(60);

/// A backend the suite runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Memory,
    JetStream,
    Sqlite,
}

/// A bucket on one backend (with its server, if any) that several managers —
/// standing for several agents' processes — open.
pub struct Harness {
    pub kind: Kind,
    pub bucket: String,
    memory: Option<MemoryKv>,
    server: Option<NatsServer>,
    sqlite: Option<TempDir>,
    /// Another build of the guest to run instead of the embedded one.
    runtime: Option<Arc<Runtime>>,
    /// The bucket's max age, and the managers' longest hold.
    max_age: Duration,
}

fn unique_bucket() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "conformance-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

impl Harness {
    pub async fn new(kind: Kind) -> Harness {
        let bucket = unique_bucket();
        match kind {
            Kind::Memory => Harness {
                kind,
                memory: Some(MemoryKv::new(&spec(&bucket, TTL_MAX))),
                bucket,
                server: None,
                sqlite: None,
                runtime: None,
                max_age: TTL_MAX,
            },
            Kind::JetStream => Harness {
                kind,
                bucket,
                memory: None,
                server: Some(NatsServer::start()),
                sqlite: None,
                runtime: None,
                max_age: TTL_MAX,
            },
            Kind::Sqlite => Harness {
                kind,
                bucket,
                memory: None,
                server: None,
                sqlite: Some(tempfile::tempdir().expect("a temp dir")),
                runtime: None,
                max_age: TTL_MAX,
            },
        }
    }

    /// The same, running another build of the guest (the component at `path`).
    pub async fn with_component(kind: Kind, path: &str) -> Harness {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        let runtime = Runtime::from_component(&bytes).expect("loading the component");
        Harness {
            runtime: Some(Arc::new(runtime)),
            ..Harness::new(kind).await
        }
    }

    /// A fresh bucket on the same backend (and server) whose max age, and the
    /// managers' longest hold, is `max_age`.
    pub fn with_max_age(mut self, max_age: Duration) -> Harness {
        self.bucket = unique_bucket();
        self.max_age = max_age;
        if self.memory.is_some() {
            self.memory = Some(MemoryKv::new(&spec(&self.bucket, max_age)));
        }
        self
    }

    /// A manager builder with this harness's guest.
    pub fn builder(&self, config: Config) -> ManagerBuilder {
        let builder = Manager::builder(config);
        match &self.runtime {
            Some(runtime) => builder.runtime(runtime.clone()),
            None => builder,
        }
    }

    pub fn config(&self) -> Config {
        Config::new(self.bucket.clone(), self.max_age)
    }

    /// The NATS URL, on the JetStream backend.
    pub fn url(&self) -> Option<String> {
        self.server.as_ref().map(|s| s.url())
    }

    /// The backend a new manager (a new process, a new connection) opens.
    pub async fn backend(&self) -> Backend {
        match self.kind {
            Kind::Memory => Backend::Store(Arc::new(self.memory.clone().unwrap())),
            Kind::JetStream => Backend::JetStream(self.client().await),
            Kind::Sqlite => Backend::Sqlite(self.sqlite_path().unwrap()),
        }
    }

    /// The database file, on the SQLite backend.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.sqlite.as_ref().map(|d| d.path().join("holds.db"))
    }

    pub async fn client(&self) -> async_nats::Client {
        let url = self.url().expect("a JetStream harness");
        async_nats::connect(url)
            .await
            .expect("connecting to the test nats-server")
    }

    /// The bucket itself, to wrap it or write to it as another client would.
    pub async fn store(&self) -> Arc<dyn KvStore> {
        match self.kind {
            Kind::Memory => Arc::new(self.memory.clone().unwrap()),
            Kind::JetStream => Arc::new(
                JetStreamKv::open(self.client().await, &spec(&self.bucket, self.max_age))
                    .await
                    .expect("opening the bucket"),
            ),
            Kind::Sqlite => Arc::new(
                SqliteKv::open(
                    self.sqlite_path().unwrap(),
                    &spec(&self.bucket, self.max_age),
                )
                .await
                .expect("opening the database"),
            ),
        }
    }

    pub async fn manager(&self) -> Manager {
        self.manager_with(self.config(), None).await
    }

    pub async fn manager_with(&self, config: Config, clock: Option<Arc<dyn Clock>>) -> Manager {
        let mut builder = self.builder(config);
        if let Some(clock) = clock {
            builder = builder.clock(clock);
        }
        builder
            .open(self.backend().await)
            .await
            .expect("opening a manager")
    }

    /// A manager on an arbitrary store (e.g. a wrapper injecting races).
    pub async fn manager_on(
        &self,
        store: Arc<dyn KvStore>,
        clock: Option<Arc<dyn Clock>>,
    ) -> Manager {
        self.manager_on_with(store, self.config(), clock).await
    }

    /// A manager on an arbitrary store with this configuration.
    pub async fn manager_on_with(
        &self,
        store: Arc<dyn KvStore>,
        config: Config,
        clock: Option<Arc<dyn Clock>>,
    ) -> Manager {
        let mut builder = self.builder(config);
        if let Some(clock) = clock {
            builder = builder.clock(clock);
        }
        builder
            .open(Backend::Store(store))
            .await
            .expect("opening a manager")
    }
}

pub fn spec(bucket: &str, max_age: Duration) -> BucketSpec {
    BucketSpec {
        name: bucket.to_string(),
        max_age,
        replicas: 1,
        op_timeout: Duration::from_secs(5),
    }
}
