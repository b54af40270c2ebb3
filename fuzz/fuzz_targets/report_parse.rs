//! Arbitrary text as a run report or a baseline: a value or a clear error, never a panic.

#![no_main]

use faultline_runner::fuzzing::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(bug) = parse::report(data) {
        panic!("{bug}");
    }
});
