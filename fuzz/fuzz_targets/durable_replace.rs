//! The reference durable atomic write must survive every crash state of any documents.
//!
//! The fuzzer picks the documents (2 to 5 versions of up to 12 KiB), the persistence model,
//! the block size and the seed; the harness enumerates every crash state and judges each with
//! all four oracles. A failure here is a bug in the reference or in the harness.

#![no_main]

use arbitrary::Arbitrary;
use faultline_core::{BlockSize, PersistenceModel};
use faultline_runner::family::document::workload::Workload;
use faultline_runner::explore::{ExploreRequest, explore};
use faultline_targets::atomic_write::Variant;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    versions: Vec<Vec<u8>>,
    power_loss: bool,
    small_blocks: bool,
    seed: u64,
}

fuzz_target!(|input: Input| {
    let versions: Vec<Vec<u8>> = input
        .versions
        .into_iter()
        .take(5)
        .map(|mut v| {
            v.truncate(12 * 1024);
            v
        })
        .collect();
    let Ok(workload) = Workload::from_versions(versions) else {
        return;
    };
    let model = if input.power_loss {
        PersistenceModel::PowerLoss
    } else {
        PersistenceModel::ProcessCrash
    };
    let mut request = ExploreRequest::new(Variant::Durable, model);
    request.workload = workload;
    request.config.block_size = BlockSize::new(if input.small_blocks { 512 } else { 4096 }).expect("valid");
    request.config.seed = input.seed;
    let (result, _) = explore(&request).expect("the workload runs on the simulated file system");
    assert_eq!(
        result.failed_states.failures, 0,
        "the reference failed: {:?}",
        result.first_by_kind
    );
});
