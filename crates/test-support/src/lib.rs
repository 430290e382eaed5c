//! What the holds test suites share: a bucket on each backend and managers on it
//! ([`harness`]), the model checker of whole histories ([`checker`]), Go's wire
//! format as an independent oracle ([`go`]), real nats-server processes
//! ([`nats`], re-exported from `holds-nats-fixture`), and [`matrix!`], which runs
//! each case of a suite on each backend.

pub mod checker;
pub mod go;
pub mod harness;
pub mod inputs;
mod matrix;
pub mod traces;

pub use holds_nats_fixture as nats;
pub use holds_nats_fixture::{NatsCluster, NatsServer, NatsServerBuilder, nats_server_bin};
