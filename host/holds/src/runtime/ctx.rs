//! The store's state for the guest ([`HoldsCtx`], built by [`HoldsCtxBuilder`]) and
//! the borrowed view that implements the generated `Host` traits ([`HoldsView`]),
//! in wasmtime's ctx/view shape. The view converts between the WIT types and the
//! [`GuestIo`] bound for the current call; it decides nothing.

use super::bindings::holds::core::{clock, fs, kv, observer, types};
use super::import_error::ImportError;
use super::io::{GuestIo, Report, Unbound};
use super::limits::Limits;
use super::sandbox::Sandbox;
use crate::convert;
use bytes::Bytes;
use std::time::Duration;
use wasmtime::StoreLimits;
use wasmtime::component::{HasData, Linker};

/// What one instance's store owns.
pub(crate) struct HoldsCtx {
    /// Memory and instance limits, enforced by the store's limiter.
    pub limits: Limits,
    /// Where the imports' answers come from, for the call being served.
    io: Box<dyn GuestIo>,
    /// WASI for foreign guests, made on their first WASI call.
    sandbox: Option<Box<Sandbox>>,
    /// The `fs` import answers (during an `identify` call) or traps.
    files: bool,
}

/// Builds a [`HoldsCtx`].
pub(crate) struct HoldsCtxBuilder {
    limits: StoreLimits,
}

impl HoldsCtxBuilder {
    pub fn new(limits: StoreLimits) -> Self {
        HoldsCtxBuilder { limits }
    }

    pub fn build(self) -> HoldsCtx {
        HoldsCtx {
            limits: Limits::new(self.limits),
            io: Box::new(Unbound),
            sandbox: None,
            files: false,
        }
    }
}

impl HoldsCtx {
    /// Serve a call with `io`'s answers.
    pub fn bind(&mut self, io: Box<dyn GuestIo>) {
        self.io = io;
    }

    /// Stop serving: later imports trap.
    pub fn unbind(&mut self) -> Box<dyn GuestIo> {
        std::mem::replace(&mut self.io, Box::new(Unbound))
    }

    /// Let the `fs` import look at the filesystem (an `identify` call), or not.
    pub fn serve_files(&mut self, serve: bool) {
        self.files = serve;
    }

    /// What the imports gathered since the last report.
    pub fn report(&mut self) -> Report {
        self.io.report()
    }
}

impl wasmtime_wasi::WasiView for HoldsCtx {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        self.sandbox
            .get_or_insert_with(|| Box::new(Sandbox::new()))
            .view()
    }
}

/// The `Host` traits' view of a [`HoldsCtx`].
pub(crate) struct HoldsView<'a> {
    ctx: &'a mut HoldsCtx,
}

/// Links the view's imports for stores holding a [`HoldsCtx`].
pub(crate) struct HoldsData;

impl HasData for HoldsData {
    type Data<'a> = HoldsView<'a>;
}

/// Add the `holds:core` imports to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HoldsCtx>) -> wasmtime::Result<()> {
    super::bindings::Guest::add_to_linker::<HoldsCtx, HoldsData>(linker, |ctx| HoldsView { ctx })
}

impl types::Host for HoldsView<'_> {}

impl kv::Host for HoldsView<'_> {
    async fn get(&mut self, key: String) -> Result<kv::Entry, ImportError> {
        self.ctx.io.get(&key).await?.map_err(ImportError::Store)
    }

    async fn write_if_revision(
        &mut self,
        key: String,
        value: Vec<u8>,
        expected: u64,
        ttl_seconds: u32,
    ) -> Result<u64, ImportError> {
        self.ctx
            .io
            .write_if_revision(&key, Bytes::from(value), expected, ttl_seconds)
            .await?
            .map_err(ImportError::Store)
    }

    async fn delete_if_revision(
        &mut self,
        key: String,
        expected: u64,
        why: kv::Removal,
        note: Vec<u8>,
    ) -> Result<u64, ImportError> {
        let why = convert::removal_from_wit(why);
        self.ctx
            .io
            .delete_if_revision(&key, expected, why, Bytes::from(note))
            .await?
            .map_err(ImportError::Store)
    }

    async fn get_many(&mut self, keys: Vec<String>) -> Result<Vec<kv::Entry>, ImportError> {
        self.ctx
            .io
            .get_many(&keys)
            .await?
            .map_err(ImportError::Store)
    }

    async fn write_batch(&mut self, writes: Vec<kv::Write>) -> Result<Vec<u64>, ImportError> {
        self.ctx
            .io
            .write_batch(&writes)
            .await?
            .map_err(ImportError::Store)
    }

    async fn scan(
        &mut self,
        prefix: String,
        through: u64,
    ) -> Result<Vec<kv::KeyedEntry>, ImportError> {
        self.ctx
            .io
            .scan(&prefix, through)
            .await?
            .map_err(ImportError::Store)
    }

    fn convert_kv_error(&mut self, err: ImportError) -> wasmtime::Result<kv::KvError> {
        match err {
            ImportError::Store(e) => Ok(convert::kv_error_to_wit(&e)),
            ImportError::Trap(trap) => Err(trap),
        }
    }
}

impl HoldsView<'_> {
    fn files(&self) -> wasmtime::Result<()> {
        if self.ctx.files {
            Ok(())
        } else {
            Err(wasmtime::Error::msg(
                "the fs import is served only to identify calls",
            ))
        }
    }
}

impl fs::Host for HoldsView<'_> {
    async fn inspect(&mut self, path: String) -> wasmtime::Result<fs::Node> {
        self.files()?;
        Ok(super::files::inspect(&path))
    }

    async fn read_link_file(&mut self, path: String) -> wasmtime::Result<Option<String>> {
        self.files()?;
        Ok(super::files::read_link_file(&path))
    }
}

impl clock::Host for HoldsView<'_> {
    async fn now(&mut self) -> wasmtime::Result<i64> {
        self.ctx.io.now()
    }

    async fn pause(&mut self, after: u64) -> wasmtime::Result<bool> {
        self.ctx.io.pause(Duration::from_nanos(after)).await
    }
}

impl observer::Host for HoldsView<'_> {
    async fn cas_retry(&mut self, key: String, attempt: u32) -> wasmtime::Result<()> {
        self.ctx.io.cas_retry(&key, attempt)
    }
}
