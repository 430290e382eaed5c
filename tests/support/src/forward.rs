//! A base for test stores that wrap a real one (to count, delay, stall or break
//! some operations): [`Forward`] passes every [`KvStore`] operation to the inner
//! store, so a wrapper overrides only what it changes, and
//! [`forward_kv_store!`](crate::forward_kv_store) makes it a [`KvStore`].
//!
//! ```ignore
//! struct Counting { inner: Arc<dyn KvStore>, gets: AtomicU32 }
//!
//! #[async_trait]
//! impl Forward for Counting {
//!     fn inner(&self) -> &dyn KvStore { &*self.inner }
//!     async fn get(&self, key: &str) -> Result<Option<Entry>, KvError> {
//!         self.gets.fetch_add(1, Ordering::SeqCst);
//!         self.inner.get(key).await
//!     }
//! }
//! holds_test_support::forward_kv_store!(Counting);
//! ```
//!
//! (A blanket `impl<T: Forward> KvStore for T` is not allowed here: `KvStore` is
//! another crate's trait, so the impl is written in the wrapper's crate, by the macro.)

use async_trait::async_trait;
use bytes::Bytes;
use holds::kv::{BatchWrite, Entry, KvError, KvStore, Removal, Watch};
use std::time::Duration;

/// Every [`KvStore`] operation, passed to [`Forward::inner`] unless overridden.
#[async_trait]
pub trait Forward: Send + Sync + 'static {
    /// The store this one wraps.
    fn inner(&self) -> &dyn KvStore;

    fn describe(&self) -> String {
        self.inner().describe()
    }

    fn expires_entries(&self) -> bool {
        self.inner().expires_entries()
    }

    fn max_age(&self) -> Duration {
        self.inner().max_age()
    }

    fn limits(&self) -> holds::kv::BucketLimits {
        self.inner().limits()
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, KvError> {
        self.inner().get(key).await
    }

    async fn write_if_revision(
        &self,
        key: &str,
        value: Bytes,
        expected: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        self.inner()
            .write_if_revision(key, value, expected, ttl)
            .await
    }

    async fn delete_if_revision(
        &self,
        key: &str,
        expected: u64,
        why: Removal,
        note: Bytes,
    ) -> Result<u64, KvError> {
        self.inner()
            .delete_if_revision(key, expected, why, note)
            .await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Entry>>, KvError> {
        self.inner().get_many(keys).await
    }

    async fn write_batch(&self, writes: &[BatchWrite]) -> Result<Vec<u64>, KvError> {
        self.inner().write_batch(writes).await
    }

    /// A raw write through the wrapper lands in the inner store.
    async fn put(&self, key: &str, value: Bytes) -> Result<u64, KvError> {
        crate::raw::put(self.inner(), key, value).await
    }

    async fn releases(&self, limit: usize) -> Result<Vec<holds::kv::LoggedRelease>, KvError> {
        self.inner().releases(limit).await
    }

    async fn scan(&self, prefix: &str) -> Result<Vec<(String, Entry)>, KvError> {
        self.inner().scan(prefix).await
    }
    fn catch_up_wait(&self) -> Duration {
        self.inner().catch_up_wait()
    }
    async fn last_revision(&self) -> Result<Option<u64>, KvError> {
        self.inner().last_revision().await
    }
    async fn watch(&self) -> Result<Watch, KvError> {
        self.inner().watch().await
    }
}

/// `impl KvStore` for each listed type, by its [`Forward`] methods.
#[macro_export]
macro_rules! forward_kv_store {
    ($($store:ty),+ $(,)?) => {$(
        #[$crate::__private::async_trait]
        impl $crate::__private::KvStore for $store {
            fn describe(&self) -> String {
                <Self as $crate::forward::Forward>::describe(self)
            }
            fn expires_entries(&self) -> bool {
                <Self as $crate::forward::Forward>::expires_entries(self)
            }
            fn max_age(&self) -> ::std::time::Duration {
                <Self as $crate::forward::Forward>::max_age(self)
            }
            fn limits(&self) -> $crate::__private::BucketLimits {
                <Self as $crate::forward::Forward>::limits(self)
            }
            async fn get(
                &self,
                key: &str,
            ) -> ::std::result::Result<
                ::std::option::Option<$crate::__private::Entry>,
                $crate::__private::KvError,
            > {
                <Self as $crate::forward::Forward>::get(self, key).await
            }
            async fn write_if_revision(
                &self,
                key: &str,
                value: $crate::__private::Bytes,
                expected: u64,
                ttl: ::std::option::Option<::std::time::Duration>,
            ) -> ::std::result::Result<u64, $crate::__private::KvError> {
                <Self as $crate::forward::Forward>::write_if_revision(self, key, value, expected, ttl)
                    .await
            }
            async fn delete_if_revision(
                &self,
                key: &str,
                expected: u64,
                why: $crate::__private::Removal,
                note: $crate::__private::Bytes,
            ) -> ::std::result::Result<u64, $crate::__private::KvError> {
                <Self as $crate::forward::Forward>::delete_if_revision(self, key, expected, why, note)
                    .await
            }
            async fn get_many(
                &self,
                keys: &[::std::string::String],
            ) -> ::std::result::Result<
                ::std::vec::Vec<::std::option::Option<$crate::__private::Entry>>,
                $crate::__private::KvError,
            > {
                <Self as $crate::forward::Forward>::get_many(self, keys).await
            }
            async fn write_batch(
                &self,
                writes: &[$crate::__private::BatchWrite],
            ) -> ::std::result::Result<::std::vec::Vec<u64>, $crate::__private::KvError> {
                <Self as $crate::forward::Forward>::write_batch(self, writes).await
            }
            async fn put(
                &self,
                key: &str,
                value: $crate::__private::Bytes,
            ) -> ::std::result::Result<u64, $crate::__private::KvError> {
                <Self as $crate::forward::Forward>::put(self, key, value).await
            }
            async fn releases(
                &self,
                limit: usize,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::__private::LoggedRelease>,
                $crate::__private::KvError,
            > {
                <Self as $crate::forward::Forward>::releases(self, limit).await
            }
            fn catch_up_wait(&self) -> ::std::time::Duration {
                <Self as $crate::forward::Forward>::catch_up_wait(self)
            }
            async fn last_revision(
                &self,
            ) -> ::std::result::Result<::std::option::Option<u64>, $crate::__private::KvError> {
                <Self as $crate::forward::Forward>::last_revision(self).await
            }
            async fn scan(
                &self,
                prefix: &str,
            ) -> ::std::result::Result<
                ::std::vec::Vec<(::std::string::String, $crate::__private::Entry)>,
                $crate::__private::KvError,
            > {
                <Self as $crate::forward::Forward>::scan(self, prefix).await
            }
            async fn watch(
                &self,
            ) -> ::std::result::Result<$crate::__private::Watch, $crate::__private::KvError> {
                <Self as $crate::forward::Forward>::watch(self).await
            }
        }
    )+};
}
