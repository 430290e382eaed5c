//! The library's integration tests, one binary (as wasmtime's `tests/all`): each
//! test binary links wasmtime, tokio and async-nats again, so eleven of them cost
//! CI minutes of building. Run one area with a filter, e.g.
//! `cargo test --release -p holds-tests --test all -- cluster::`.

mod bad_input;
mod cluster;
mod conformance;
mod faults;
mod fixture;
mod jetstream;
mod jetstream_claims;
mod lease_lag;
mod patterns;
mod replay;
mod sandbox;
mod shared_cases;
mod torture;
