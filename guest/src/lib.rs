//! All hold semantics of `holds`, with no I/O and no clock of its own.
//!
//! Everything the logic sees arrives through [`Host`]. On wasm32 the `component`
//! module binds it to the `holds:core` WIT world; the `holds-component` crate exports
//! that as the shipped component. Built natively it is the same logic as a plain
//! library, which the unit tests and the sandbox-cost benchmark use.

pub mod announce;
mod attempts;
pub mod bucket;
mod cas;
pub mod check;
pub mod claim;
pub mod codec;
pub mod covering;
pub mod extended;
pub mod host;
pub mod identity;
pub mod interpret;
pub mod judge;
pub mod key;
pub mod markers;
pub mod model;
pub mod path;
pub mod pattern;
pub mod release;
pub mod renew;
pub mod resend;
pub mod timestamp;
pub mod upkeep;
pub mod verdict;
pub mod who_has;

#[cfg(target_arch = "wasm32")]
pub mod component;

#[cfg(test)]
mod testing;

pub use announce::announce;
pub use bucket::{BucketSettings, check_bucket};
pub use check::check;
pub use claim::claim;
pub use covering::covering;
pub use host::Host;
pub use identity::{Filesystem, identify};
pub use interpret::{interpret, sweep};
pub use model::*;
pub use release::{force_release, release};
pub use renew::renew;
pub use resend::Resending;
pub use upkeep::{Upkeep, upkeep};
pub use who_has::who_has;

/// At most this many attempts when a write loses the revision race (as the Go package).
pub const MAX_ATTEMPTS: u32 = 8;
