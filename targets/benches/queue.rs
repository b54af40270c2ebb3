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
//! The enqueue benchmarks interleave: every iteration appends once with each of the three and
//! times one of them, so all three are measured on the same disk at the same moments (a disk's
//! fsync latency drifts from second to second, which made back-to-back runs disagree by 30%).
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

/// The three contenders, each able to append one record.
struct Appenders<'f> {
    raw: std::fs::File,
    end: u64,
    record: Vec<u8>,
    reference: SegmentedQueue<'f, RealFs>,
    peer: queue_file::QueueFile,
}

impl Appenders<'_> {
    fn append(&mut self, which: usize) {
        match which {
            0 => {
                rustix::io::pwrite(&self.raw, &self.record, self.end).expect("pwrite");
                rustix::fs::fdatasync(&self.raw).expect("fdatasync");
                self.end += self.record.len() as u64;
            }
            1 => {
                self.reference.enqueue(&PAYLOAD).expect("enqueue");
            }
            _ => self.peer.add(&PAYLOAD).expect("add"),
        }
    }
}

/// A disk's fsync latency drifts over seconds, so benchmarks run one after another measure
/// different disks. Each iteration here appends once with every contender in turn and times
/// only the one being measured, so all three see the same disk.
fn enqueue_on(c: &mut Criterion, name: &str, dir: tempfile::TempDir) {
    let mut group = c.benchmark_group(name);
    let fs = RealFs::new();
    let raw = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(dir.path().join("raw.log"))
        .expect("open");
    let mut peer = queue_file::QueueFile::open(dir.path().join("peer.qf")).expect("queue-file");
    peer.set_sync_writes(true);
    let mut all = Appenders {
        raw,
        end: 0,
        record: encode(1, &PAYLOAD),
        reference: SegmentedQueue::open(&fs, &dir.path().join("q"), Options::default()).expect("open"),
        peer,
    };
    for (measured, label) in ["raw_append_fdatasync", "reference", "queue_file_sync"]
        .into_iter()
        .enumerate()
    {
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let mut spent = std::time::Duration::ZERO;
                for _ in 0..iters {
                    for which in 0..3 {
                        if which == measured {
                            let t = std::time::Instant::now();
                            all.append(which);
                            spent += t.elapsed();
                        } else {
                            all.append(which);
                        }
                    }
                }
                spent
            })
        });
    }
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
