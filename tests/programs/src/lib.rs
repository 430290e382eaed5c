//! Paths of the test-only guest components, built by this crate's build script
//! (never shipped; the production guest has no test features).

include!(concat!(env!("OUT_DIR"), "/gen.rs"));

/// The component at `path`'s bytes (panics with the path when unreadable).
pub fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading the test guest {path}: {e}"))
}
