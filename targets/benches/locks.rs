//! The lock family's costs, each next to its baseline in the same run.
//!
//! - `uncontended/raw_flock_pair`: `flock(LOCK_EX)` + `flock(LOCK_UN)` on an open descriptor,
//!   the least any flock-based lock can do; `uncontended/reference_flock`: the reference's
//!   guard taken and dropped on a [`LockFile`] opened once, as its docs say to use it.
//!   `uncontended/reference_ofd` and `uncontended/owner_record` for comparison (the owner
//!   record costs a file write, a link and two unlinks: it is for locks that must outlive a
//!   crash, not for hot paths).
//! - `handoff/*`: a waiter blocked on the lock, the holder releases; the time from the release
//!   to the waiter holding the lock. With a timeout the reference polls with backoff; without
//!   one it blocks in the kernel.
//! - `readers`: eight threads, each with its own open file description, take the shared lock
//!   and hold it for 2 ms; printed: the most that held it at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use faultline_targets::lock::{Mode, Variant};
use rustix::fs::FlockOperation;

fn uncontended(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("bench.lock");
    let mut group = c.benchmark_group("uncontended");
    let raw = rustix::fs::open(
        &path,
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CREATE | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .expect("open");
    group.bench_function("raw_flock_pair", |b| {
        b.iter(|| {
            rustix::fs::flock(&raw, FlockOperation::LockExclusive).expect("lock");
            rustix::fs::flock(&raw, FlockOperation::Unlock).expect("unlock");
        })
    });
    group.bench_function("raw_flock_pair_nonblocking", |b| {
        b.iter(|| {
            rustix::fs::flock(&raw, FlockOperation::NonBlockingLockExclusive).expect("lock");
            rustix::fs::flock(&raw, FlockOperation::Unlock).expect("unlock");
        })
    });
    drop(raw);
    for (name, variant) in [
        ("reference_flock", Variant::Flock),
        ("reference_ofd", Variant::Ofd),
    ] {
        let lock = variant.open(&path).expect("open");
        group.bench_function(name, |b| {
            b.iter(|| {
                drop(
                    lock.lock(Mode::Exclusive, Some(Duration::from_secs(1)))
                        .expect("free"),
                )
            })
        });
    }
    let owner = Variant::OwnerRecord
        .open(&dir.path().join("owner.lock"))
        .expect("open");
    group.bench_function("owner_record", |b| {
        b.iter(|| {
            drop(
                owner
                    .lock(Mode::Exclusive, Some(Duration::from_secs(1)))
                    .expect("free"),
            )
        })
    });
    group.finish();
}

/// Mean time from a release to the waiter holding the lock, over `iters` hand-offs.
fn handoff(variant: Variant, timeout: Option<Duration>, iters: u64) -> Duration {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("handoff.lock");
    let holder = variant.open(&path).expect("open");
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (got_tx, got_rx) = mpsc::channel::<Instant>();
    let waiter_path = path.clone();
    let waiter = std::thread::spawn(move || {
        let lock = variant.open(&waiter_path).expect("open");
        while go_rx.recv().is_ok() {
            let g = lock.lock(Mode::Exclusive, timeout).expect("handed over");
            let at = Instant::now();
            drop(g);
            got_tx.send(at).expect("send");
        }
    });
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let g = holder.lock(Mode::Exclusive, None).expect("free");
        go_tx.send(()).expect("send");
        // Let the waiter find the lock taken and start waiting (and, polling, back off).
        std::thread::sleep(Duration::from_millis(3));
        let released = Instant::now();
        drop(g);
        total += got_rx.recv().expect("handed over").duration_since(released);
    }
    drop(go_tx);
    waiter.join().expect("waiter");
    total
}

fn handoffs(c: &mut Criterion) {
    let mut group = c.benchmark_group("handoff");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("reference_flock_blocking", |b| {
        b.iter_custom(|iters| handoff(Variant::Flock, None, iters))
    });
    group.bench_function("reference_flock_timeout", |b| {
        b.iter_custom(|iters| handoff(Variant::Flock, Some(Duration::from_secs(5)), iters))
    });
    group.bench_function("reference_ofd_blocking", |b| {
        b.iter_custom(|iters| handoff(Variant::Ofd, None, iters))
    });
    group.finish();
}

fn readers(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("readers.lock");
    let threads = 8;
    let most = Arc::new(AtomicUsize::new(0));
    let inside = Arc::new(AtomicUsize::new(0));
    let mut group = c.benchmark_group("readers");
    group.sample_size(10);
    group.bench_function("eight_shared_holders_2ms", |b| {
        b.iter(|| {
            let barrier = Arc::new(Barrier::new(threads));
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let (path, barrier, most, inside) =
                        (path.clone(), barrier.clone(), most.clone(), inside.clone());
                    std::thread::spawn(move || {
                        let lock = Variant::Flock.open(&path).expect("open");
                        barrier.wait();
                        let g = lock
                            .lock(Mode::Shared, Some(Duration::from_secs(5)))
                            .expect("shared");
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(g);
                    })
                })
                .collect();
            for h in handles {
                h.join().expect("reader");
            }
        })
    });
    group.finish();
    println!(
        "readers: at most {} of {threads} shared holders inside at once",
        most.load(Ordering::SeqCst)
    );
}

criterion_group!(benches, uncontended, handoffs, readers);
criterion_main!(benches);
