//! Arbitrary bytes as the queue's segment and cursor files: opening the reference recovers
//! or returns an error, and draining it ends (`faultline_runner::fuzzing::queue_recover`).

#![no_main]

use faultline_runner::fuzzing::queue_recover;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(bug) = queue_recover::check(data) {
        panic!("{bug}");
    }
});
