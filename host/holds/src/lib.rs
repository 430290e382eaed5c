//! File-level holds (leases) for fleets of coding agents editing one workspace.
//!
//! An agent announces "I hold /repo/src/lib.rs for 30 s", renews while it works,
//! releases when done; a crashed agent's hold expires. Others ask who holds a file
//! and watch holds come and go.
//!
//! Every decision is made by the `holds:core` WebAssembly component (built from
//! `guest/` and embedded in this crate), run by wasmtime under fuel and memory
//! limits. This crate implements the component's imports on real stores
//! ([`kv::JetStreamKv`], [`kv::MemoryKv`]), runs the watcher and delivers events.
//!
//! ```no_run
//! use holds::{Announce, Backend, Config, Manager};
//! use std::time::Duration;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let client = async_nats::connect("nats://127.0.0.1:4222").await?;
//! let config = Config::new("holds", Duration::from_secs(300));
//! let holds = Manager::open(config, Backend::JetStream(client)).await?;
//!
//! let claim = holds
//!     .announce("/repo/src/lib.rs", &Announce::new("agent-1", Duration::from_secs(30)))
//!     .await?;
//! println!("held at revision {} (fencing token)", claim.revision);
//! assert_eq!(holds.who_has("/repo/src/lib.rs").await?.unwrap().hold.agent_id, "agent-1");
//! holds.release("/repo/src/lib.rs", "agent-1").await?;
//! holds.close().await;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod batches;
pub mod clock;
pub mod component;
mod config;
mod convert;
mod error;
mod exports;
mod hub;
pub mod kv;
mod lease;
mod manager;
mod runtime;
mod subscription;
mod time;
pub mod trace;
mod types;
mod upkeep;
mod wait;

pub use config::{Config, DEFAULT_CHAN_BUFFER, DEFAULT_MAX_CLAIM_FILES};
pub use error::{Cause, Error};
pub use lease::{Lease, Lost, LostReason};
pub use manager::{Backend, Manager, ManagerBuilder, RetryObserver, Stats};
pub use runtime::{Runtime, prefer_one_shot_engine};
pub use subscription::Subscription;
pub use time::rfc3339;
pub use types::{
    Announce, Claim, Claimed, Event, EventKind, FileCheck, FileState, Hold, Identity,
    LoggedRelease, LostHold, Mode, Place, Release, Scope,
};
