//! [`matrix!`](crate::matrix): one test per case and backend.

/// Instantiates a list of case functions once per backend: a module per backend
/// holding one test per case, named after it (`sqlite::announce_works`), so
/// `cargo test sqlite::` runs one backend and `cargo test announce_works` one case
/// everywhere.
///
/// ```ignore
/// holds_test_support::matrix! {
///     // Async cases (`#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`),
///     // in the module `cases` of this one; `fn { .. }` (no path) for cases defined
///     // here, `fn` without `async` for `#[test]`s.
///     async fn cases::{ announce_works, release_works }
///     on {
///         // module: the argument each case gets (evaluated per test, inside it:
///         // `.await` is fine in async cases). Paths resolve as in this module.
///         memory: Harness::new(Kind::Memory).await,
///         /// Doc comments and attributes go on the backend's module.
///         sqlite: Harness::new(Kind::Sqlite).await,
///     }
/// }
/// ```
///
/// Every case listed runs on every backend listed. A case function missing from
/// the list is never called, so the build warns of it as dead code (an error
/// under `clippy -D warnings`): no case is silently skipped.
#[macro_export]
macro_rules! matrix {
    (async fn $($path:ident ::)* { $($case:ident),* $(,)? } on { $($backends:tt)* }) => {
        $crate::matrix!(@each async [$($path)*] [$($case),*] $($backends)*);
    };
    (fn $($path:ident ::)* { $($case:ident),* $(,)? } on { $($backends:tt)* }) => {
        $crate::matrix!(@each sync [$($path)*] [$($case),*] $($backends)*);
    };

    // One backend at a time: the case list is passed whole (as one token tree), as
    // a repetition cannot be nested inside another it was not matched in.
    (@each $flavor:ident $path:tt $cases:tt) => {};
    (@each $flavor:ident $path:tt $cases:tt
        $(#[$meta:meta])* $backend:ident : $make:expr $(, $($rest:tt)*)?) => {
        $crate::matrix!(@module $flavor $path $cases $(#[$meta])* $backend $make);
        $crate::matrix!(@each $flavor $path $cases $($($rest)*)?);
    };

    (@module async [$($path:ident)*] [$($case:ident),*] $(#[$meta:meta])* $backend:ident $make:expr) => {
        $(#[$meta])*
        mod $backend {
            // The backend's expression resolves as it would where it was written.
            #[allow(unused_imports)]
            use super::*;
            // The cases by a path of their own: each test below shadows its case's name.
            use super::$($path::)*{self as __cases};
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    __cases::$case($make).await;
                }
            )*
        }
    };
    (@module sync [$($path:ident)*] [$($case:ident),*] $(#[$meta:meta])* $backend:ident $make:expr) => {
        $(#[$meta])*
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            use super::$($path::)*{self as __cases};
            $(
                #[test]
                fn $case() {
                    __cases::$case($make);
                }
            )*
        }
    };
}
