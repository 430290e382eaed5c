//! All hold semantics of `holds`, with no I/O and no clock of its own.
//!
//! Built for `wasm32-unknown-unknown`, this crate is the `holds:core` component: the
//! `component` module binds the logic to the WIT imports and exports. Built natively
//! it is the same logic as a plain library, which the unit tests and the
//! sandbox-cost benchmark use. Everything the logic sees arrives through [`Host`].

pub mod announce;
pub mod codec;
pub mod host;
pub mod interpret;
pub mod key;
pub mod model;
pub mod path;
pub mod release;
pub mod timestamp;
pub mod verdict;
pub mod who_has;

#[cfg(target_arch = "wasm32")]
mod component;

#[cfg(test)]
mod testing;

pub use announce::announce;
pub use host::Host;
pub use interpret::{interpret, sweep};
pub use model::*;
pub use release::release;
pub use who_has::who_has;

/// At most this many attempts when a write loses the revision race (as the Go package).
pub const MAX_ATTEMPTS: u32 = 8;
