//! Fixtures shared by the integration tests.

pub mod checker;
pub mod cli;
pub mod go;
pub mod harness;
pub mod nats;

pub use nats::{NatsCluster, NatsServer, NatsServerBuilder, nats_server_bin};
