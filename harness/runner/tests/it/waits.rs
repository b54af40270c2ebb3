//! Deadlocks are read from the kernel, and time alone fails nothing: a real AB/BA flock
//! deadlock between two processes is a wait-for cycle; a holder slower than the watchdog is
//! not a failure, and neither is a worker blocked on something that is no lock.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use faultline_core::FailureKind;
use faultline_runner::process::fork::Group;
use faultline_runner::process::waits::Look;
use faultline_runner::results::Verdict;
use faultline_runner::run::{RunOptions, run_scenario};
use faultline_runner::scenario_file;
use rustix::fs::{FlockOperation, flock};

/// Takes `first`, waits until `ready` exists (both have their first lock), then blocks on
/// `second`.
fn take_both(first: &Path, second: &Path, mine: &Path, theirs: &Path) -> i32 {
    let (Ok(a), Ok(b)) = (File::create(first), File::create(second)) else {
        return 2;
    };
    if flock(a.as_fd(), FlockOperation::LockExclusive).is_err() || File::create(mine).is_err() {
        return 3;
    }
    while !theirs.exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Blocks forever: the other process holds `second` and waits for `first`.
    let _ = flock(b.as_fd(), FlockOperation::LockExclusive);
    0
}

#[test]
fn an_ab_ba_flock_deadlock_between_two_processes_is_a_wait_for_cycle() {
    let dir = tempfile::tempdir().expect("temp");
    let (a, b) = (dir.path().join("a.lock"), dir.path().join("b.lock"));
    let (ready_1, ready_2) = (dir.path().join("1.ready"), dir.path().join("2.ready"));
    let mut group = Group::default();
    let one = group
        .spawn(|| take_both(&a, &b, &ready_1, &ready_2))
        .expect("spawn");
    let two = group
        .spawn(|| take_both(&b, &a, &ready_2, &ready_1))
        .expect("spawn");
    let pids = [one, two].map(|i| group.workers[i].pid.as_raw().unsigned_abs());
    let id = group.id.expect("a group").as_raw().unsigned_abs();

    // The cycle appears once both are asleep in flock; it is looked for, not waited out.
    let until = Instant::now() + Duration::from_secs(60);
    let (look, cycle) = loop {
        let look = Look::group(id);
        if let Some(cycle) = look.cycle() {
            break (look, cycle);
        }
        assert!(Instant::now() < until, "no cycle seen: {look:?}");
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut seen = cycle.clone();
    seen.sort_unstable();
    let mut expected = pids.to_vec();
    expected.sort_unstable();
    assert_eq!(seen, expected, "{look:?}");
    let text = look.describe(&cycle, &|pid| format!("pid {pid}"));
    assert!(
        text.contains("waits in flock for an exclusive lock on a.lock"),
        "{text}"
    );
    assert!(
        text.contains("waits in flock for an exclusive lock on b.lock"),
        "{text}"
    );
    // Blocked processes are not scheduled: a later look sees no progress.
    std::thread::sleep(Duration::from_millis(30));
    assert!(!Look::group(id).moved_since(&look));
    // The group's Drop kills them.
}

/// Runs `text` (one variant, `v`) and returns its result.
fn run_one(text: &str) -> faultline_runner::results::VariantResult {
    let s = scenario_file::parse(Path::new("waits.toml"), text).expect("test scenario parses");
    let temp = tempfile::tempdir().expect("temp");
    let options = RunOptions {
        temp_dir: Some(temp.path().to_path_buf()),
        ..RunOptions::default()
    };
    let mut results = run_scenario(&s, &options, &AtomicBool::new(false), |_, _| {}).expect("runs");
    results.remove(0)
}

#[test]
fn a_holder_slower_than_the_watchdog_is_not_a_failure() {
    // Each holder holds the lock for 0.3 s; the watchdog is 50 ms. The holder inside is
    // asleep in a timed sleep and the other waits for it: progress, not a deadlock.
    let r = run_one(
        r#"
family = "lock"
variants = ["flock"]
[roles]
writers = 2
[workload]
writes_per_writer = 2
[lock]
hold_us = 300000
timeout_ms = 0
[oracle]
checks = ["two-holders"]
[run]
trials = 1
watchdog_ms = 50
[expect.flock]
max_failures = 0
"#,
    );
    assert_eq!(r.trials, 1, "{r:?}");
    assert_eq!(r.inconclusive, 0, "{r:?}");
    assert!(r.failures_by_kind.is_empty(), "{r:?}");
    assert!(matches!(r.verdict, Verdict::Held), "{r:?}");
}

#[test]
fn a_worker_stuck_on_something_that_is_no_lock_is_inconclusive_not_a_failure() {
    // The writer blocks forever opening a FIFO nobody writes: no lock, no cycle, no progress.
    let r = run_one(
        r#"
family = "atomic-write"
variants = ["stuck"]
[roles]
writers = 1
[commands.stuck]
writer = ["sh", "-c", "mkfifo {dir}/never && cat {dir}/never"]
[oracle]
checks = ["no-writer-errors"]
[run]
trials = 1
watchdog_ms = 100
[expect.stuck]
max_failures = 0
"#,
    );
    assert_eq!(r.trials, 0, "{r:?}");
    assert_eq!(
        r.inconclusive, 3,
        "every run of the trial was inconclusive: {r:?}"
    );
    assert!(!r.failures_by_kind.contains_key(&FailureKind::Deadlock), "{r:?}");
    assert!(r.failures_by_kind.is_empty(), "{r:?}");
    let detail = r.inconclusive_detail.as_deref().unwrap_or_default();
    assert!(detail.contains("no process ran"), "{detail}");
}
