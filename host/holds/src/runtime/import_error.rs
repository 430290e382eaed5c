//! The host side of a kv import's `kv-error` (see `bindings.rs`).

use crate::kv::KvError;

/// A kv import's failure on the host side: the store's error, kept whole, or a
/// trap. Converted to the flat WIT `kv-error` once, in `convert_kv_error`.
pub(crate) enum ImportError {
    Store(KvError),
    Trap(wasmtime::Error),
}

impl From<wasmtime::Error> for ImportError {
    fn from(trap: wasmtime::Error) -> Self {
        ImportError::Trap(trap)
    }
}
