//! The reference queue's costs, each next to its baseline in the same run.
//!
//! - `enqueue_*/queue_file_sync`: `add` of the queue-file crate (a port of Square's Tape
//!   QueueFile) with its synchronous writes on, the peer baseline.
//! - `enqueue_disk/raw_append_fdatasync`: `pwrite` of the same record bytes at the end of a
//!   file and `fdatasync`, the least a durable append can cost; `enqueue_disk/reference`: a
//!   durable `enqueue` (lock, tail check, write, fdatasync, unlock). On the system's temp
//!   directory, a real disk, where durability costs what it costs. `enqueue_tmpfs/*`: the
//!   same on /dev/shm, where fdatasync is free, so only the queue's own overhead shows.
//! - `dequeue_ack/100` and `dequeue_ack/100000`: `dequeue` + `ack` of one record with that many
//!   queued (one record is enqueued per iteration to keep the depth), to show the cost does not
//!   grow with the queue. The ack commits the cursor durably (temp, fsync, rename, directory
//!   fsync), which is most of its cost.
//!
//! `dequeue_ack` runs on /dev/shm when it exists, so its figures are the code's, not the disk's.

use std::path::Path;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use faultline_core::RealFs;
use faultline_targets::queue::{Options, SegmentedQueue, encode};

const PAYLOAD: [u8; 100] = [7; 100];

fn shm() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).expect("temp")
    } else {
        tempfile::tempdir().expect("temp")
    }
}

fn enqueue(c: &mut Criterion) {
    enqueue_on(c, "enqueue_disk", tempfile::tempdir().expect("temp"));
    enqueue_on(c, "enqueue_tmpfs", shm());
}

fn enqueue_on(c: &mut Criterion, name: &str, dir: tempfile::TempDir) {
    let mut group = c.benchmark_group(name);
    let raw_path = dir.path().join("raw.log");
    let raw = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&raw_path)
        .expect("open");
    let record = encode(1, &PAYLOAD);
    let mut end = 0u64;
    group.bench_function("raw_append_fdatasync", |b| {
        b.iter(|| {
            rustix::io::pwrite(&raw, &record, end).expect("pwrite");
            rustix::fs::fdatasync(&raw).expect("fdatasync");
            end += record.len() as u64;
        })
    });
    let fs = RealFs::new();
    let mut q = SegmentedQueue::open(&fs, &dir.path().join("q"), Options::default()).expect("open");
    group.bench_function("reference", |b| b.iter(|| q.enqueue(&PAYLOAD).expect("enqueue")));
    let mut peer = queue_file::QueueFile::open(dir.path().join("peer.qf")).expect("queue-file");
    peer.set_sync_writes(true);
    group.bench_function("queue_file_sync", |b| b.iter(|| peer.add(&PAYLOAD).expect("add")));
    group.finish();
}

fn dequeue_ack(c: &mut Criterion) {
    let mut group = c.benchmark_group("dequeue_ack");
    let fs = RealFs::new();
    for depth in [100u64, 100_000] {
        let dir = shm();
        let mut q = SegmentedQueue::open(&fs, &dir.path().join("q"), Options::default()).expect("open");
        for _ in 0..depth {
            q.enqueue(&PAYLOAD).expect("fill");
        }
        group.bench_with_input(BenchmarkId::from_parameter(depth), &depth, |b, _| {
            b.iter(|| {
                let d = q.dequeue().expect("dequeue").expect("an item");
                q.ack(d.id).expect("ack");
                q.enqueue(&PAYLOAD).expect("refill");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, enqueue, dequeue_ack);
criterion_main!(benches);
