//! Deterministic record and replay of the guest's decisions.
//!
//! The guest is pure: everything it sees arrives through its imports. A trace is
//! the whole conversation — every export call (its arguments and result) and every
//! import call the guest made during it (arguments and result), in order — so
//! [`replay`] can re-run the calls offline on any build of the guest and check it
//! makes the same import calls and returns the same results.
//!
//! Format: JSON lines. The first line is a [`Header`]; each further line is one
//! [`CallRecord`]. Calls made concurrently are separate records (each ran on its
//! own instance); they are numbered in the order they started and written in the
//! order they finished.

pub mod format;
pub(crate) mod lines;
mod read;
mod record;

pub use crate::runtime::replay::{Divergence, ReplayReport, TraceError, replay};
pub use format::{CallRecord, Export, FORMAT, Header, Step, VERSION, WIT_PACKAGE};
pub use record::Recorder;
