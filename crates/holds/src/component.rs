//! The embedded `holds:core` component.

/// The component's bytes, built from `guest/` by this crate's build script.
pub const COMPONENT: &[u8] = include_bytes!(env!("HOLDS_COMPONENT_PATH"));
