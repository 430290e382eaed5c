//! An instance's resource limits ([`wasmtime::StoreLimits`]) that also remember
//! how far its memory grew: linear memory never shrinks, so the pool keeps for
//! reuse only instances that stayed small (see [`IDLE_MEMORY_MAX`]).

use wasmtime::{ResourceLimiter, Result, StoreLimits};

/// The largest memory an instance may have grown to and still be kept idle. A
/// call on a few hundred files stays well under it; one on thousands (a big
/// commit under the git guard) grows past it, and its instance is dropped
/// after the call instead of holding that memory while idle.
pub(crate) const IDLE_MEMORY_MAX: usize = 4 << 20;

/// [`StoreLimits`], metered.
pub(crate) struct Limits {
    inner: StoreLimits,
    /// The largest size any of the instance's memories grew to, in bytes.
    grown_to: usize,
}

impl Limits {
    pub fn new(inner: StoreLimits) -> Self {
        Limits { inner, grown_to: 0 }
    }

    /// The largest size any of the instance's memories grew to, in bytes.
    pub fn grown_to(&self) -> usize {
        self.grown_to
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            self.grown_to = self.grown_to.max(desired);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}
