//! Any sequence of enqueues, dequeues, acks and power cuts against a model of the queue
//! (`faultline_runner::fuzzing::queue_ops`). The reference by default;
//! `FAULTLINE_FUZZ_VARIANT=torn_tail_swallow` (any queue variant) points it at a broken one,
//! the canary that shows the fuzzer has the power to find a bug.

#![no_main]

use std::sync::OnceLock;

use faultline_runner::fuzzing::queue_ops;
use faultline_targets::queue::Variant;
use libfuzzer_sys::fuzz_target;

fn variant() -> Variant {
    static VARIANT: OnceLock<Variant> = OnceLock::new();
    *VARIANT.get_or_init(|| match std::env::var("FAULTLINE_FUZZ_VARIANT") {
        Ok(name) => Variant::by_name(&name).unwrap_or_else(|| panic!("no queue variant {name:?}")),
        Err(_) => Variant::Segmented,
    })
}

fuzz_target!(|data: &[u8]| {
    if let Err(bug) = queue_ops::check(variant(), data) {
        panic!("{bug}");
    }
});
