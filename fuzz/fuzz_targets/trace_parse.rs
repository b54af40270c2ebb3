//! Arbitrary text as a trace file: a trace or a clear error, never a panic; a trace that reads
//! is written out without anything appearing outside its state directories.

#![no_main]

use faultline_runner::fuzzing::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(bug) = parse::trace(data) {
        panic!("{bug}");
    }
});
