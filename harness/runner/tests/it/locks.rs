//! Lock scenarios through the process runner: the checks catch what they must in small runs,
//! and pass the references.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use faultline_core::FailureKind;
use faultline_runner::results::{VariantResult, Verdict};
use faultline_runner::run::{RunOptions, run_scenario};
use faultline_runner::scenario::Scenario;
use faultline_runner::scenario_file;

fn parse(text: &str) -> Scenario {
    scenario_file::parse(Path::new("lock.toml"), text).expect("test scenario parses")
}

fn run(s: &Scenario, lockdep: bool) -> Vec<VariantResult> {
    let temp = tempfile::tempdir().expect("temp");
    let options = RunOptions {
        temp_dir: Some(temp.path().to_path_buf()),
        lockdep,
        ..RunOptions::default()
    };
    let results = run_scenario(s, &options, &AtomicBool::new(false), |_, _| {}).expect("runs");
    // Nothing of the trials is left behind.
    let left: Vec<_> = std::fs::read_dir(temp.path()).expect("list").flatten().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    results
}

fn kinds(r: &VariantResult) -> Vec<FailureKind> {
    r.failures_by_kind.keys().copied().collect()
}

#[test]
fn lockdep_reports_an_inversion_in_runs_that_never_deadlocked() {
    // One holder alternates the order: it cannot deadlock with itself, but both orders are
    // on record.
    let s = parse(
        r#"
family = "lock"
variants = ["lock_order_inversion", "flock"]
[roles]
writers = 1
[workload]
writes_per_writer = 2
[lock]
workload = "nested"
hold_us = 10
timeout_ms = 0
[oracle]
checks = ["lock-order"]
[run]
trials = 2
watchdog_ms = 5000
[expect.lock_order_inversion]
must_fail = ["LockOrderInversion"]
[expect.flock]
max_failures = 0
"#,
    );
    let results = run(&s, true);
    assert_eq!(results[0].verdict, Verdict::Held, "{:?}", results[0]);
    assert_eq!(kinds(&results[0]), vec![FailureKind::LockOrderInversion]);
    let first = &results[0].first_by_kind[&FailureKind::LockOrderInversion];
    assert!(
        first.detail.contains("main.lock -> second.lock -> main.lock"),
        "{}",
        first.detail
    );
    assert_eq!(
        first.detail.matches("while holding").count(),
        2,
        "{}",
        first.detail
    );
    assert_eq!(results[1].verdict, Verdict::Held, "{:?}", results[1]);
    assert_eq!(results[1].failed_trials.failures, 0);
}

#[test]
fn without_lockdep_the_same_run_reports_nothing() {
    let s = parse(
        r#"
family = "lock"
variants = ["lock_order_inversion"]
[roles]
writers = 1
[workload]
writes_per_writer = 2
[lock]
workload = "nested"
timeout_ms = 0
[run]
trials = 1
"#,
    );
    let results = run(&s, false);
    assert_eq!(results[0].failed_trials.failures, 0, "{:?}", results[0]);
}

#[test]
fn readers_share_the_lock_and_writers_do_not() {
    let s = parse(
        r#"
family = "lock"
variants = ["flock", "ofd", "no_lock"]
[roles]
writers = 1
readers = 3
[workload]
writes_per_writer = 20
reads_per_reader = 20
[lock]
workload = "critical-section"
hold_us = 2000
[run]
trials = 2
[expect.flock]
max_failures = 0
[expect.ofd]
max_failures = 0
[expect.no_lock]
must_fail = ["TwoHolders"]
"#,
    );
    let results = run(&s, false);
    for r in &results {
        assert_eq!(r.verdict, Verdict::Held, "{r:?}");
    }
    // Three readers holding for 2 ms each, 20 times: they meet inside.
    assert!(
        results[0].max_shared_holders.unwrap_or(0) >= 2,
        "{:?}",
        results[0]
    );
    assert!(
        results[1].max_shared_holders.unwrap_or(0) >= 2,
        "{:?}",
        results[1]
    );
}

#[test]
fn a_bad_lock_workload_is_an_error_with_its_position() {
    let e = scenario_file::parse(
        Path::new("bad.toml"),
        "family = \"lock\"\nvariants = [\"flock\"]\n[roles]\nwriters = 1\n[lock]\nworkload = \"juggle\"\n",
    )
    .expect_err("an unknown workload is refused");
    assert_eq!((e.line, e.column), (6, 12), "{e}");
    assert!(e.message.contains("critical-section"), "{e}");
}
