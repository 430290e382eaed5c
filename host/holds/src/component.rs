//! The embedded `holds:core` component.

/// The component's bytes, built from `guest/` by this crate's build script.
pub const COMPONENT: &[u8] = include_bytes!(env!("HOLDS_COMPONENT_PATH"));

/// SHA-256 of [`COMPONENT`], hex, computed by the build script.
pub const COMPONENT_SHA256: &str = env!("HOLDS_COMPONENT_SHA256");

#[cfg(test)]
mod tests {
    #[test]
    fn the_build_time_digest_is_the_embedded_bytes_digest() {
        assert_eq!(
            super::COMPONENT_SHA256,
            crate::runtime::cache::digest(super::COMPONENT)
        );
    }
}
