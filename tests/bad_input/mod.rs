//! Bad input (issue 7): invalid bucket names, agents, TTLs and paths, paths with every special character,
//! non-UTF-8 arguments, values another client wrote raw into the bucket (corrupt, empty, huge, wrong-typed,
//! zero-valued, with unknown fields) and broken traces. Each case gets a clear error naming the problem and
//! the right exit code, never a panic, and leaves the store as it was (the raw entries' revisions and the
//! list are compared before and after; the next write takes the very next revision).
//!
//! The library cases, on SQLite and JetStream (a real nats-server); the CLI's are in `holds-cli`'s tests.
//!
//! One file per kind of input: `configs` (bucket names, maximum TTLs), `arguments` (agents, TTLs, paths),
//! `special_paths` (every special character, which must work), `raw_values` (what another client wrote raw:
//! corrupt, zero-valued, with unknown fields, huge) and `traces` (broken recordings). `unchanged` is how
//! the cases show a store was left as it was.

mod arguments;
mod configs;
mod raw_values;
mod special_paths;
mod traces;
mod unchanged;
