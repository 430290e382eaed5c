//! A deliberately hostile guest, for the host's robustness tests only: announce
//! misbehaves when the agent id asks it to; everything else is the real guest.
#![cfg(target_arch = "wasm32")]

use holds_guest::component::bindings::exports::holds::core::holds::AnnounceRequest;
use holds_guest::component::bindings::holds::core::{kv, types};
use holds_guest::component::{Component, Exports};

struct Hostile;

fn misbehave(agent: &str) {
    match agent {
        // Never returns: the host's fuel limit must stop it.
        "hostile-loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        // Allocates without bound: the host's memory limit must stop it.
        "hostile-alloc" => {
            // Reserved, not written: memory grows at once, fuel barely moves.
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(Vec::with_capacity(1 << 20));
                std::hint::black_box(&hoard);
            }
        }
        // Traps outright.
        "hostile-trap" => panic!("hostile guest traps on purpose"),
        // Uses its imports wrongly: keys the store cannot hold, a huge value, a
        // delete of a key it never read. The host must answer with errors.
        "hostile-imports" => {
            let _ = kv::get("");
            let _ = kv::get("no spaces allowed in keys");
            let _ = kv::write_if_revision("..", &vec![0u8; 8 << 20], 0, 0);
            let _ = kv::write_if_revision("=2Fvictim", b"not a hold", 12345, u32::MAX);
            let _ = kv::delete_if_revision("*", u64::MAX, kv::Removal::Expired, &[0xff; 4]);
        }
        _ => {}
    }
}

impl Exports for Hostile {
    fn announce(
        request: AnnounceRequest,
        ttl_max: u64,
        observed: Option<kv::Entry>,
    ) -> Result<types::Claim, types::Error> {
        misbehave(&request.agent_id);
        <Component as Exports>::announce(request, ttl_max, observed)
    }
}

holds_guest::component::bindings::export!(Hostile with_types_in holds_guest::component::bindings);
