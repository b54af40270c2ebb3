//! Any sequence of replaces and power cuts against an atomic write, judged after each cut
//! and recovery (`faultline_runner::fuzzing::atomic_write_ops`). The reference by default;
//! `FAULTLINE_FUZZ_VARIANT=no_dir_fsync` (any atomic-write variant) points it at a broken one,
//! the canary that shows the fuzzer has the power to find a bug.

#![no_main]

use std::sync::OnceLock;

use faultline_runner::fuzzing::atomic_write_ops;
use faultline_targets::atomic_write::Variant;
use libfuzzer_sys::fuzz_target;

fn variant() -> Variant {
    static VARIANT: OnceLock<Variant> = OnceLock::new();
    *VARIANT.get_or_init(|| match std::env::var("FAULTLINE_FUZZ_VARIANT") {
        Ok(name) => Variant::by_name(&name).unwrap_or_else(|| panic!("no atomic-write variant {name:?}")),
        Err(_) => Variant::Durable,
    })
}

fuzz_target!(|data: &[u8]| {
    if let Err(bug) = atomic_write_ops::check(variant(), data) {
        panic!("{bug}");
    }
});
