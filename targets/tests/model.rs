//! The model checkers on the in-process families (`store`, `tasks`).
//!
//! - `RUSTFLAGS="--cfg shuttle" cargo test --release -p faultline-targets --test model`:
//!   shuttle's random and PCT schedulers (seeded) find every S and T variant with the failure
//!   kind the registry names for the model checker, the references pass every schedule tried,
//!   and a failing schedule, persisted to a file, replays to the same failure.
//! - `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test --release -p faultline-targets --test model`:
//!   loom explores every interleaving within the preemption bound: the references pass, and
//!   every S and T variant is found.
//!
//! In an ordinary build only the references run, on real threads.

use faultline_core::FailureKind;
use faultline_targets::registry::Detector;
use faultline_targets::{model, store, tasks};

/// A workload of one variant, as the checkers take it.
#[derive(Clone, Copy, Debug)]
#[allow(dead_code)]
enum Workload {
    Store(store::Variant),
    Tasks(tasks::Variant),
}

#[allow(dead_code)]
impl Workload {
    fn all() -> Vec<Workload> {
        let mut all: Vec<Workload> = store::Variant::ALL.into_iter().map(Workload::Store).collect();
        all.extend(tasks::Variant::ALL.into_iter().map(Workload::Tasks));
        all
    }

    fn body(self) -> impl Fn() + Send + Sync + 'static {
        move || match self {
            Workload::Store(v) => model::store(v),
            Workload::Tasks(v) => model::tasks(v),
        }
    }

    fn info(self) -> &'static faultline_targets::VariantInfo {
        match self {
            Workload::Store(v) => v.info(),
            Workload::Tasks(v) => v.info(),
        }
    }

    /// The kind the model checker must report; `None` for a reference.
    fn expected(self) -> Option<FailureKind> {
        self.info()
            .expectations
            .iter()
            .find(|e| e.detector == Detector::Model)
            .map(|e| e.kind)
    }
}

#[allow(dead_code)]
fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The lock-order graph is one per process: tests that lock these families take turns.
#[cfg(not(any(loom, shuttle)))]
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(not(any(loom, shuttle)))]
#[test]
fn the_references_hold_their_invariants_on_real_threads() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    for _ in 0..200 {
        model::store(store::Variant::Generational);
        model::tasks(tasks::Variant::OneCriticalSection);
    }
}

/// One thread, each operation once, in order, with the lock-order graph on: what it found.
/// A thread that would wait for a lock it holds panics instead; that counts as found.
#[cfg(not(any(loom, shuttle)))]
fn sequential_lock_order(w: Workload) -> Vec<String> {
    use faultline_targets::sync::order;
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    order::reset();
    order::enable();
    let ran = std::panic::catch_unwind(|| match w {
        Workload::Store(v) => {
            let fs = faultline_core::SimFs::default();
            let render = |g: u64| format!("{g}").into_bytes();
            let s = v.store();
            for _ in 0..2 {
                s.mutate();
                s.save(&fs, std::path::Path::new("/store.json"), &render)
                    .expect("save");
            }
        }
        Workload::Tasks(v) => {
            let r = v.registry();
            let id = r.start(1).expect("a first task starts");
            r.finish(id);
            r.cleanup();
            r.clear(1);
        }
    });
    let found: Vec<String> = order::inversions().iter().map(ToString::to_string).collect();
    order::reset();
    if ran.is_err() {
        assert!(
            !found.is_empty(),
            "{}: panicked without a lock-order finding",
            w.info().name
        );
    }
    found
}

#[cfg(not(any(loom, shuttle)))]
#[test]
fn one_sequential_run_reports_s1s_inversion_and_the_references_have_none() {
    for w in Workload::all() {
        let found = sequential_lock_order(w);
        let expected = w
            .info()
            .expectations
            .iter()
            .any(|e| e.detector == Detector::Lockdep && e.kind == FailureKind::LockOrderInversion);
        if w.info().is_reference() {
            assert!(found.is_empty(), "{}: {found:?}", w.info().name);
        }
        if expected {
            assert!(
                !found.is_empty(),
                "{} must show a lock-order cycle",
                w.info().name
            );
            eprintln!("lock order: {}: {}", w.info().name, found[0]);
        }
    }
    // T2 takes a lock it holds: reported instead of hanging.
    let t2 = sequential_lock_order(Workload::Tasks(tasks::Variant::NonreentrantNested));
    assert!(t2[0].contains("already holds it"), "{t2:?}");
}

#[test]
fn kinds_are_read_back_from_panic_messages() {
    assert_eq!(
        model::kind_of("faultline-model DuplicateTask: session 1 has 2 active tasks"),
        Some(FailureKind::DuplicateTask)
    );
    assert_eq!(
        model::kind_of("deadlock! blocked tasks: [main-thread(0)]"),
        Some(FailureKind::Deadlock)
    );
    assert_eq!(model::kind_of("index out of bounds"), None);
}

#[cfg(shuttle)]
mod with_shuttle {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use shuttle::scheduler::{PctScheduler, RandomScheduler, Scheduler};
    use shuttle::{Config, FailurePersistence, Runner};

    use super::*;

    const ITERATIONS: usize = 2000;
    const SEED: u64 = 0x5eed_0006;

    /// What one search found.
    struct Found {
        kind: Option<FailureKind>,
        message: String,
        executions: usize,
        seconds: f64,
        schedule: Option<PathBuf>,
    }

    fn search(w: Workload, scheduler: impl Scheduler + 'static, dir: &std::path::Path) -> Option<Found> {
        let mut config = Config::new();
        config.failure_persistence = FailurePersistence::File(Some(dir.to_path_buf()));
        let executions = Arc::new(AtomicUsize::new(0));
        let counted = executions.clone();
        let body = w.body();
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            Runner::new(scheduler, config).run(move || {
                counted.fetch_add(1, Ordering::Relaxed);
                body()
            })
        }));
        let payload = outcome.err()?;
        let message = message(&*payload);
        let schedule = std::fs::read_dir(dir)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(Result::ok)
            .map(|e| e.path());
        Some(Found {
            kind: model::kind_of(&message),
            message,
            executions: executions.load(Ordering::Relaxed),
            seconds: started.elapsed().as_secs_f64(),
            schedule,
        })
    }

    fn check_with<S: Scheduler + 'static>(name: &str, make: impl Fn() -> S) {
        for w in Workload::all() {
            let dir = tempfile::tempdir().expect("temp");
            let found = search(w, make(), dir.path());
            let info = w.info();
            match (w.expected(), found) {
                (None, None) => eprintln!("{name}: {} clean over {ITERATIONS} executions", info.name),
                (None, Some(f)) => panic!("{name}: reference {} failed: {}", info.name, f.message),
                (Some(_), None) => panic!(
                    "{name}: {} {} not found in {ITERATIONS} executions",
                    info.catalogue_id.unwrap_or(""),
                    info.name
                ),
                (Some(kind), Some(f)) => {
                    assert_eq!(f.kind, Some(kind), "{name}: {}: {}", info.name, f.message);
                    eprintln!(
                        "{name}: {} {} found {kind} after {} executions in {:.3} s; schedule {}",
                        info.catalogue_id.unwrap_or(""),
                        info.name,
                        f.executions,
                        f.seconds,
                        f.schedule
                            .as_ref()
                            .map_or("-".into(), |p| p.display().to_string())
                    );
                }
            }
        }
    }

    #[test]
    fn random_scheduling_finds_every_variant_and_passes_the_references() {
        check_with("shuttle random", || {
            RandomScheduler::new_from_seed(SEED, ITERATIONS)
        });
    }

    #[test]
    fn pct_finds_every_variant_and_passes_the_references() {
        check_with("shuttle pct", || PctScheduler::new_from_seed(SEED, 3, ITERATIONS));
    }

    #[test]
    fn a_persisted_failing_schedule_replays_to_the_same_failure() {
        for w in Workload::all().into_iter().filter(|w| w.expected().is_some()) {
            let dir = tempfile::tempdir().expect("temp");
            let found =
                search(w, RandomScheduler::new_from_seed(SEED, ITERATIONS), dir.path()).expect("found");
            let schedule = found.schedule.expect("the failing schedule was persisted");
            let body = w.body();
            let replayed = catch_unwind(AssertUnwindSafe(|| shuttle::replay_from_file(body, &schedule)));
            let payload = replayed.expect_err("the replay must fail again");
            let again = message(&*payload);
            assert_eq!(model::kind_of(&again), found.kind, "{}: {again}", w.info().name);
            // The same failure, word for word; only where the schedule came from differs.
            let original = |m: &str| match m.split_once("original panic: ") {
                Some((_, panic)) => panic.to_string(),
                None => m.split("\nfailing schedule").next().unwrap_or(m).to_string(),
            };
            assert_eq!(original(&again), original(&found.message), "{}", w.info().name);
        }
    }
}

#[cfg(loom)]
mod with_loom {
    use super::*;

    const CHILD: &str = "FAULTLINE_LOOM_WORKLOAD";

    fn name(w: Workload) -> String {
        match w {
            Workload::Store(v) => format!("store:{}", v.info().name),
            Workload::Tasks(v) => format!("tasks:{}", v.info().name),
        }
    }

    /// Runs in a child process (see [`explore`]); does nothing in an ordinary test run.
    #[test]
    fn child() {
        let Ok(wanted) = std::env::var(CHILD) else { return };
        let w = Workload::all()
            .into_iter()
            .find(|w| name(*w) == wanted)
            .expect("a known workload");
        let executions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = executions.clone();
        let body = w.body();
        loom::model(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            body()
        });
        eprintln!(
            "loom executions: {}",
            executions.load(std::sync::atomic::Ordering::Relaxed)
        );
    }

    /// Explores `w` exhaustively within the preemption bound (LOOM_MAX_PREEMPTIONS, which
    /// `.ci/run` sets to 3), in a child process: loom aborts the process when a model fails
    /// with threads still blocked, so a failure cannot be caught in this one. The failure's
    /// kind, if any.
    fn explore(w: Workload) -> Option<FailureKind> {
        let started = std::time::Instant::now();
        let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "with_loom::child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD, name(w))
            .output()
            .expect("run the child");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let found = (!out.status.success()).then(|| {
            model::kind_of(&stderr)
                .unwrap_or_else(|| panic!("{}: the child failed without a known kind: {stderr}", name(w)))
        });
        let executions = stderr
            .lines()
            .find_map(|l| l.strip_prefix("loom executions: "))
            .unwrap_or("?");
        eprintln!(
            "loom: {} {} in {:.2} s",
            name(w),
            found.map_or(
                format!("clean over all {executions} interleavings within the bound"),
                |k| format!("found {k}")
            ),
            started.elapsed().as_secs_f64()
        );
        found
    }

    #[test]
    fn loom_passes_the_references() {
        assert_eq!(explore(Workload::Store(store::Variant::Generational)), None);
        assert_eq!(explore(Workload::Tasks(tasks::Variant::OneCriticalSection)), None);
    }

    #[test]
    fn loom_finds_every_variant() {
        for w in Workload::all().into_iter().filter(|w| !w.info().is_reference()) {
            assert_eq!(explore(w), w.expected(), "{}", w.info().name);
        }
    }
}
