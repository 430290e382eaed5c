//! A deliberately hostile guest, for the host's robustness tests only: announce
//! misbehaves when the agent id asks it to.

use super::holds::core::kv;

pub fn misbehave(agent: &str) {
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
            let _ = kv::delete_if_revision("*", u64::MAX, kv::Removal::Expired);
        }
        _ => {}
    }
}
