//! Running the guest: one engine, the component compiled once per process (and
//! cached on disk), instances under fuel and memory limits.
//!
//! - `bindings`: the generated bindings, alone.
//! - `ctx`: the store's state and the view implementing the imports.
//! - `files`: the `fs` import, served to `identify` calls only.
//! - `io`: where the imports' answers come from (live, recording; `replay`'s tape).
//! - `engine`, `cache`, `slots`, `limits`, `pool`: compiling, caching, bounding and
//!   reusing instances.
//! - `invoke`: one instance's typed export calls; `calls`: a manager's calls.
//! - `replay`: re-running recorded calls against a tape.
//! - `sandbox`: the capability-less WASI context of foreign guests.

pub(crate) mod bindings;
pub(crate) mod cache;
mod calls;
mod ctx;
mod engine;
mod exports;
mod files;
mod import_error;
mod invoke;
mod io;
mod limits;
mod markers;
mod pool;
pub(crate) mod replay;
mod sandbox;
mod slots;

pub(crate) use calls::{Calls, Replica};
pub use engine::{Runtime, prefer_one_shot_engine};
pub(crate) use markers::{marker_headers, operation_of};
pub(crate) use pool::DEFAULT_MAX_IDLE;
