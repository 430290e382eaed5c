//! What the holds test suites share: a bucket on each backend and managers on it
//! ([`harness`]), the model checker of whole histories ([`checker`]), Go's wire
//! format as an independent oracle ([`go`]), real nats-server processes
//! ([`nats`], re-exported from `holds-nats-fixture`), [`matrix!`], which runs
//! each case of a suite on each backend, a base for store wrappers ([`forward`]),
//! wrappers counting store operations ([`ops`]) and staging an outage ([`outage`]),
//! and raw writes as another client makes them ([`raw`]).

pub mod checker;
pub mod forward;
pub mod go;
pub mod harness;
pub mod inputs;
mod matrix;
pub mod ops;
pub mod outage;
pub mod raw;
pub mod refusing;
pub mod traces;

pub use holds_nats_fixture as nats;
pub use holds_nats_fixture::{NatsCluster, NatsServer, NatsServerBuilder, nats_server_bin};

/// What the exported macros name, whatever their caller depends on.
#[doc(hidden)]
pub mod __private {
    pub use async_trait::async_trait;
    pub use bytes::Bytes;
    pub use holds::kv::{
        BatchWrite, BucketLimits, Entry, KvError, KvStore, LoggedRelease, Removal, Watch,
    };
}
