//! Running the guest: one engine, the component compiled once per process (and
//! cached on disk), instances under fuel and memory limits.

pub(crate) mod bindings;
mod cache;
mod engine;
pub(crate) mod imports;
mod instances;
pub(crate) mod invoke;
mod pool;
mod sandbox;

pub(crate) use engine::FUEL_PER_CALL;
pub use engine::{Runtime, prefer_one_shot_engine};
pub(crate) use instances::{Instances, Replica};
pub(crate) use pool::DEFAULT_MAX_IDLE;
