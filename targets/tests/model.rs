//! The model checkers on the in-process families (`store`, `tasks`).
//!
//! - `RUSTFLAGS="--cfg shuttle" cargo test --release -p faultline-targets --test model`:
//!   shuttle's random and PCT schedulers (seeded) find every S and T variant with the failure
//!   kind the registry names for the model checker, the references pass every schedule tried,
//!   and a failing schedule, as printed, replays to the same failure.
//! - `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test --release -p faultline-targets --test model`:
//!   loom explores every interleaving within the preemption bound: the references pass, and
//!   every S and T variant is found.
//!
//! In an ordinary build the references run on real threads, and one sequential run of each
//! variant with the in-process lock-order graph on must show S1's cycle (and no reference's).

use faultline_core::FailureKind;
use faultline_targets::model::{self, Workload};
#[cfg(not(any(loom, shuttle)))]
use faultline_targets::registry::Detector;
#[cfg(not(shuttle))]
use faultline_targets::{store, tasks};

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
    use faultline_targets::model::search::{self, Strategy};

    use super::*;

    const ITERATIONS: usize = 2000;
    const SEED: u64 = 0x5eed_0006;

    fn check_with(strategy: Strategy) {
        for w in Workload::all() {
            let searched = search::run(w, strategy, SEED, ITERATIONS);
            let info = w.info();
            let name = strategy.name();
            match (w.expected(), &searched.failure) {
                (None, None) => eprintln!(
                    "shuttle {name}: {} clean over {} executions",
                    info.name, searched.executions
                ),
                (None, Some(f)) => panic!("shuttle {name}: reference {} failed: {}", info.name, f.message),
                (Some(_), None) => panic!(
                    "shuttle {name}: {} {} not found in {} executions",
                    info.catalogue_id.unwrap_or(""),
                    info.name,
                    searched.executions
                ),
                (Some(kind), Some(f)) => {
                    assert_eq!(f.kind, Some(kind), "shuttle {name}: {}: {}", info.name, f.message);
                    let schedule = f.schedule.as_deref().expect("a failing schedule is printed");
                    eprintln!(
                        "shuttle {name}: {} {} found {kind} after {} executions in {:.3} s; schedule {schedule}",
                        info.catalogue_id.unwrap_or(""),
                        info.name,
                        searched.executions,
                        searched.seconds,
                    );
                }
            }
        }
    }

    #[test]
    fn random_scheduling_finds_every_variant_and_passes_the_references() {
        check_with(Strategy::Random);
    }

    #[test]
    fn pct_finds_every_variant_and_passes_the_references() {
        check_with(Strategy::Pct(3));
    }

    #[test]
    fn a_printed_failing_schedule_replays_to_the_same_failure() {
        for w in Workload::all().into_iter().filter(|w| w.expected().is_some()) {
            let found = search::run(w, Strategy::Random, SEED, ITERATIONS)
                .failure
                .expect("found");
            let schedule = found
                .schedule
                .as_deref()
                .expect("the failing schedule is printed");
            let again = search::replay(w, schedule).expect("the replay must fail again");
            assert_eq!(again.kind, found.kind, "{}: {}", w.name(), again.message);
            // The same failure, word for word; only the lines about the schedule may differ.
            assert_eq!(
                model::original_panic(&again.message),
                model::original_panic(&found.message),
                "{}",
                w.name()
            );
        }
    }
}

#[cfg(loom)]
mod with_loom {
    use super::*;

    const CHILD: &str = "FAULTLINE_LOOM_WORKLOAD";

    /// Runs in a child process (see [`explore`]); does nothing in an ordinary test run.
    #[test]
    fn child() {
        let Ok(wanted) = std::env::var(CHILD) else { return };
        let w = Workload::by_name(&wanted).expect("a known workload");
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
            .env(CHILD, w.name())
            .output()
            .expect("run the child");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let found = (!out.status.success()).then(|| {
            model::kind_of(&stderr)
                .unwrap_or_else(|| panic!("{}: the child failed without a known kind: {stderr}", w.name()))
        });
        let executions = stderr
            .lines()
            .find_map(|l| l.strip_prefix("loom executions: "))
            .unwrap_or("?");
        eprintln!(
            "loom: {} {} in {:.2} s",
            w.name(),
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

/// Crashes and concurrency together, through faultline's public API: under shuttle (300
/// random schedules) and loom (every interleaving within the preemption bound), each schedule
/// runs the store's two threads (the debounced save's timer and the program) inside
/// `faultline::Check`, whose file-system calls are scheduling points, and every power-loss
/// crash state of that schedule is judged. S1 deadlocks (the checker reports the threads
/// blocked), S2's stale snapshot overwrites the newer save, S3's shared temp name makes one
/// save fail; the reference passes every schedule and every crash state of each.
#[cfg(any(shuttle, loom))]
mod crashes_with_concurrency {
    use std::path::Path;
    use std::sync::Arc;

    use faultline::{Check, CheckFs, Model};
    use faultline_targets::store;
    #[cfg(loom)]
    use loom::thread;
    #[cfg(shuttle)]
    use shuttle::thread;

    #[cfg(shuttle)]
    const ITERATIONS: usize = 300;
    const FILE: &str = "/data/store.json";

    /// S1-S3 and what each one's failure says: a deadlock, the stale save, the failed save.
    const BROKEN: [(store::Variant, &str); 3] = [
        (store::Variant::SaveUnderLock, "deadlock"),
        (store::Variant::SnapshotOutsideLock, "but the file holds"),
        (
            store::Variant::SharedTmpSave,
            "the workload failed before any crash",
        ),
    ];

    fn render(generation: u64) -> Vec<u8> {
        format!("{{\"generation\": {generation}}}\n").into_bytes()
    }

    /// One schedule: the program, then every crash state of what it did.
    fn one_schedule(variant: store::Variant) {
        Check::new()
            .models(&[Model::PowerLoss])
            .setup(|| faultline::fs::create_dir("data"))
            .check(
                || {
                    let state: Arc<Box<dyn store::SaveLogic>> = Arc::new(variant.store());
                    let save = |state: &Arc<Box<dyn store::SaveLogic>>| {
                        state
                            .save(&CheckFs, Path::new(FILE), &render)
                            .map_err(std::io::Error::other)
                    };
                    let timer = {
                        let state = Arc::clone(&state);
                        thread::spawn(move || save(&state))
                    };
                    let program = {
                        let state = Arc::clone(&state);
                        thread::spawn(move || {
                            state.mutate();
                            state.mutate();
                            save(&state)
                        })
                    };
                    for thread in [timer, program] {
                        thread.join().expect("a store thread panicked")?;
                    }
                    // Both saves returned: the newest generation is promised.
                    faultline::ack(state.generation().to_string());
                    Ok(())
                },
                |crashed| {
                    let Some(newest) = crashed.last_ack() else {
                        return Ok(());
                    };
                    let newest: u64 = newest.parse().map_err(|e| format!("{e}"))?;
                    match crashed.read(FILE) {
                        Some(held) if held == render(newest) => Ok(()),
                        held => Err(format!(
                            "both saves returned at generation {newest}, but the file holds {:?}",
                            held.map(|h| String::from_utf8_lossy(&h).trim().to_string())
                        )),
                    }
                },
            );
    }

    #[cfg(shuttle)]
    /// The first failure shuttle's random scheduler finds in `ITERATIONS` schedules, and
    /// the schedules run.
    fn search(variant: store::Variant) -> (Option<String>, usize) {
        let schedules = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&schedules);
        let found = std::panic::catch_unwind(|| {
            let config = shuttle::Config::default();
            let scheduler = shuttle::scheduler::RandomScheduler::new_from_seed(0x5eed_0007, ITERATIONS);
            shuttle::Runner::new(scheduler, config).run(move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                one_schedule(variant)
            });
        });
        let failure = found.err().map(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(ToString::to_string))
                .unwrap_or_default()
        });
        (failure, schedules.load(std::sync::atomic::Ordering::Relaxed))
    }

    #[cfg(shuttle)]
    #[test]
    fn the_reference_passes_every_schedule_and_every_crash_state_of_each() {
        assert_eq!(search(store::Variant::Generational), (None, ITERATIONS));
    }

    #[cfg(shuttle)]
    #[test]
    fn s1_to_s3_are_found_with_their_failure() {
        for (variant, why) in BROKEN {
            let (found, schedules) = search(variant);
            let message = found.unwrap_or_else(|| panic!("{variant:?} not found in {ITERATIONS} schedules"));
            assert!(
                message.contains(why),
                "{variant:?}: expected '{why}' in\n{message}"
            );
            eprintln!(
                "{variant:?}: found after {schedules} schedules: {}",
                message.lines().next().unwrap_or_default()
            );
        }
    }

    #[cfg(loom)]
    const CHILD: &str = "FAULTLINE_LOOM_CRASHES";

    /// Runs in a child process (see [`explore`]); does nothing in an ordinary test run.
    #[cfg(loom)]
    #[test]
    fn child() {
        let Ok(wanted) = std::env::var(CHILD) else { return };
        let variant = store::Variant::ALL
            .into_iter()
            .find(|v| format!("{v:?}") == wanted)
            .expect("a store variant");
        let executions = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&executions);
        loom::model(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            one_schedule(variant)
        });
        eprintln!(
            "loom executions: {}",
            executions.load(std::sync::atomic::Ordering::Relaxed)
        );
    }

    /// Every interleaving within the preemption bound, each with every power-loss crash state,
    /// in a child process (loom aborts a process whose model fails with threads blocked):
    /// its stderr if it failed.
    #[cfg(loom)]
    fn explore(variant: store::Variant) -> Option<String> {
        let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "crashes_with_concurrency::child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD, format!("{variant:?}"))
            .output()
            .expect("run the child");
        (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
    }

    #[cfg(loom)]
    #[test]
    fn loom_passes_the_reference_at_every_interleaving_and_crash_state() {
        assert_eq!(explore(store::Variant::Generational), None);
    }

    #[cfg(loom)]
    #[test]
    fn loom_finds_s1_to_s3_with_their_failure() {
        for (variant, why) in BROKEN {
            let stderr = explore(variant).unwrap_or_else(|| panic!("{variant:?} not found"));
            assert!(stderr.contains(why), "{variant:?}: expected '{why}' in\n{stderr}");
        }
    }
}
