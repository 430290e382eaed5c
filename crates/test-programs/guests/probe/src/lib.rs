//! Reports what the sandbox lets a std WASI build reach, for the host's sandbox
//! test only: `file-for-key` of [`KEY`] returns the report as a store error;
//! everything else is the real guest. Built for wasm32-wasip2.
#![cfg(target_arch = "wasm32")]

use holds_guest::component::Component;
use holds_guest::component::bindings::exports::holds::core::holds::{
    AnnounceRequest, Guest as HoldsGuest, ReleaseOutcome,
};
use holds_guest::component::bindings::exports::holds::core::subscribe::{
    Change, Guest as SubscribeGuest, Interpretation, SweepOutcome,
};
use holds_guest::component::bindings::holds::core::{kv, types};

/// The key whose `file-for-key` returns the report.
pub const KEY: &str = "=probe-sandbox";

fn report() -> String {
    let file = std::fs::read_to_string("/etc/hostname").map(|s| s.len());
    let dir = std::fs::read_dir("/").map(|d| d.count());
    let env: Vec<(String, String)> = std::env::vars().collect();
    let args: Vec<String> = std::env::args().collect();
    format!(
        "file: {}; dir: {}; env: {} vars; args: {}",
        match file {
            Ok(n) => format!("read {n} bytes"),
            Err(e) => format!("denied ({e})"),
        },
        match dir {
            Ok(n) => format!("listed {n} entries"),
            Err(e) => format!("denied ({e})"),
        },
        env.len(),
        args.len()
    )
}

struct Probe;

impl HoldsGuest for Probe {
    fn announce(
        request: AnnounceRequest,
        ttl_max: u64,
        observed: Option<kv::Entry>,
    ) -> Result<types::Claim, types::Error> {
        Component::announce(request, ttl_max, observed)
    }
    fn release(
        file: String,
        agent_id: String,
        observed: Option<kv::Entry>,
    ) -> Result<ReleaseOutcome, types::Error> {
        Component::release(file, agent_id, observed)
    }
    fn who_has(
        file: String,
        observed: Option<kv::Entry>,
    ) -> Result<Option<types::Claim>, types::Error> {
        Component::who_has(file, observed)
    }
    fn key_for_file(file: String) -> Result<String, types::Error> {
        Component::key_for_file(file)
    }
    fn file_for_key(key: String) -> Result<String, types::Error> {
        if key == KEY {
            return Err(types::Error::Store(report()));
        }
        Component::file_for_key(key)
    }
}

impl SubscribeGuest for Probe {
    fn interpret(change: Change) -> Interpretation {
        Component::interpret(change)
    }
    fn sweep(key: String, observed: kv::Entry) -> Result<SweepOutcome, types::Error> {
        Component::sweep(key, observed)
    }
}

holds_guest::component::bindings::export!(Probe with_types_in holds_guest::component::bindings);
