//! Crash states judged per second for the atomic-write workload.
//!
//! Each iteration runs the whole exploration (record the workload, enumerate, recover and
//! judge every distinct state); throughput is in distinct states judged. The baseline in the
//! same run is `materialize_only`: building the same states' images without recovery or
//! judging, the floor any judge sits on.

use std::hint::black_box;
use std::ops::ControlFlow;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faultline_core::crash_state::enumerate;
use faultline_core::{BlockSize, PersistenceModel};
use faultline_runner::explore::{ExploreRequest, explore};
use faultline_runner::family::document::workload::{Workload, record};
use faultline_targets::atomic_write::Variant;

fn request(variant: Variant, model: PersistenceModel, block: u64) -> ExploreRequest {
    let mut r = ExploreRequest::new(variant, model);
    r.config.block_size = BlockSize::new(block).expect("valid block size");
    r
}

fn judged_per_second(c: &mut Criterion) {
    let cases = [
        (
            "durable/power-loss/512",
            request(Variant::Durable, PersistenceModel::PowerLoss, 512),
        ),
        (
            "durable/process-crash/512",
            request(Variant::Durable, PersistenceModel::ProcessCrash, 512),
        ),
        (
            "no_dir_fsync/power-loss/512",
            request(Variant::NoDirFsync, PersistenceModel::PowerLoss, 512),
        ),
        (
            "no_file_fsync/power-loss/512",
            request(Variant::NoFileFsync, PersistenceModel::PowerLoss, 512),
        ),
    ];
    let mut group = c.benchmark_group("crash_states_judged");
    for (name, req) in &cases {
        let (result, _) = explore(req).expect("the workload runs");
        group.throughput(Throughput::Elements(result.enumeration.distinct_states));
        group.bench_function(*name, |b| b.iter(|| black_box(explore(req).expect("runs"))));
    }
    group.finish();

    let mut group = c.benchmark_group("crash_states_materialize_only");
    let (name, req) = &cases[3];
    let recorded = record(Variant::NoFileFsync, &Workload::default(), 0).expect("the workload runs");
    let count = enumerate(
        &recorded.base,
        &recorded.trace,
        &req.config,
        |_| 0,
        |_| ControlFlow::Continue(()),
    );
    group.throughput(Throughput::Elements(count.distinct_states));
    group.bench_function(*name, |b| {
        b.iter(|| {
            enumerate(
                &recorded.base,
                &recorded.trace,
                &req.config,
                |_| 0,
                |s| {
                    black_box(s.image);
                    ControlFlow::Continue(())
                },
            )
        })
    });
    group.finish();
}

criterion_group!(benches, judged_per_second);
criterion_main!(benches);
