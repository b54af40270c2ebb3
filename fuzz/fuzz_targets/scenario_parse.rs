//! Arbitrary text as a scenario file: a scenario or an error with its place, never a panic.

#![no_main]

use faultline_runner::fuzzing::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(bug) = parse::scenario(data) {
        panic!("{bug}");
    }
});
