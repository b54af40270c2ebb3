//! Workloads for the model checkers: a few threads run one family's operations, then the
//! family's invariants are checked. A violated invariant panics with
//! `faultline-model <Kind>: <what was seen>`; a deadlock is the checker's own report. Built
//! with `--cfg loom` or `--cfg shuttle` the threads and locks are the checker's (see
//! [`crate::sync`]), which then explores the interleavings: loom all of them within a
//! preemption bound, shuttle a random or PCT sample, replayable from its schedule.
//!
//! In an ordinary build the same workloads run on real threads (a stress test at best), and
//! the variants that deadlock would hang: run only references that way.

use std::path::Path;

use faultline_core::{FailureKind, Fs, SimFs, SimOptions};

use crate::store::{self, SaveLogic};
use crate::sync::{Arc, Mutex, lock, thread};
use crate::tasks::{self, Registry};

/// One variant's workload, as the checkers take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// A store variant under [`store()`].
    Store(store::Variant),
    /// A tasks variant under [`tasks()`].
    Tasks(tasks::Variant),
}

impl Workload {
    /// Every variant of both families, references first in each.
    pub fn all() -> Vec<Workload> {
        let mut all: Vec<Workload> = store::Variant::ALL.into_iter().map(Workload::Store).collect();
        all.extend(tasks::Variant::ALL.into_iter().map(Workload::Tasks));
        all
    }

    /// `family:variant`, as the command line names it.
    pub fn name(self) -> String {
        format!("{}:{}", self.family(), self.info().name)
    }

    /// The workload called `family:variant`.
    pub fn by_name(name: &str) -> Option<Workload> {
        Workload::all().into_iter().find(|w| w.name() == name)
    }

    /// The family's name.
    pub fn family(self) -> &'static str {
        match self {
            Workload::Store(_) => store::FAMILY,
            Workload::Tasks(_) => tasks::FAMILY,
        }
    }

    /// The function a checker runs.
    pub fn body(self) -> impl Fn() + Send + Sync + 'static {
        move || match self {
            Workload::Store(v) => store(v),
            Workload::Tasks(v) => tasks(v),
        }
    }

    /// The variant's registry entry.
    pub fn info(self) -> &'static crate::VariantInfo {
        match self {
            Workload::Store(v) => v.info(),
            Workload::Tasks(v) => v.info(),
        }
    }

    /// The kind the model checkers must report; `None` when the registry expects none (the
    /// references).
    pub fn expected(self) -> Option<FailureKind> {
        self.info()
            .expectations
            .iter()
            .find(|e| e.detector == crate::Detector::Model)
            .map(|e| e.kind)
    }
}

/// The panic message of a failed run, without the checker's lines about the schedule.
pub fn original_panic(message: &str) -> &str {
    match message.split_once("original panic: ") {
        Some((_, panic)) => panic,
        None => message.split("\nfailing schedule").next().unwrap_or(message),
    }
}

/// The encoded schedule in a shuttle failure message (printed between two lines holding only
/// a double quote).
pub fn schedule_in(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("failing schedule:\n\"\n")?;
    rest.split_once("\n\"").map(|(schedule, _)| schedule.trim())
}

/// Shuttle searches: seeded random and PCT scheduling of a workload, and replay of a
/// schedule. Only in `--cfg shuttle` builds.
#[cfg(shuttle)]
pub mod search {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use faultline_core::FailureKind;
    use shuttle::scheduler::{PctScheduler, RandomScheduler, Scheduler};
    use shuttle::{Config, FailurePersistence, Runner};

    use super::{Workload, kind_of, schedule_in};

    /// Which scheduler.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Strategy {
        /// Uniformly random choices.
        Random,
        /// Probabilistic concurrency testing with this bug depth.
        Pct(usize),
    }

    impl Strategy {
        /// `random` or `pct`.
        pub fn name(self) -> &'static str {
            match self {
                Strategy::Random => "random",
                Strategy::Pct(_) => "pct",
            }
        }
    }

    /// What a search saw.
    #[derive(Clone, Debug)]
    pub struct Searched {
        /// Executions run (up to and including a failing one).
        pub executions: usize,
        /// Seconds it took.
        pub seconds: f64,
        /// The failure, if one was found.
        pub failure: Option<Failed>,
    }

    /// A failing execution.
    #[derive(Clone, Debug)]
    pub struct Failed {
        /// Its kind, when the message names one.
        pub kind: Option<FailureKind>,
        /// The whole panic message.
        pub message: String,
        /// The encoded schedule that replays it.
        pub schedule: Option<String>,
    }

    fn failed(payload: Box<dyn std::any::Any + Send>) -> Failed {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Failed {
            kind: kind_of(&message),
            schedule: schedule_in(&message).map(str::to_string),
            message,
        }
    }

    /// Runs `w` under `strategy` from `seed` for up to `iterations` executions, stopping at
    /// the first failure.
    pub fn run(w: Workload, strategy: Strategy, seed: u64, iterations: usize) -> Searched {
        match strategy {
            Strategy::Random => run_with(w, RandomScheduler::new_from_seed(seed, iterations)),
            Strategy::Pct(depth) => run_with(w, PctScheduler::new_from_seed(seed, depth, iterations)),
        }
    }

    fn run_with(w: Workload, scheduler: impl Scheduler + 'static) -> Searched {
        let mut config = Config::new();
        config.failure_persistence = FailurePersistence::Print;
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
        Searched {
            executions: executions.load(Ordering::Relaxed),
            seconds: started.elapsed().as_secs_f64(),
            failure: outcome.err().map(failed),
        }
    }

    /// Runs `w` along `schedule`; the failure it shows, if any.
    pub fn replay(w: Workload, schedule: &str) -> Option<Failed> {
        let body = w.body();
        catch_unwind(AssertUnwindSafe(|| shuttle::replay(body, schedule)))
            .err()
            .map(failed)
    }
}

/// What every invariant failure's panic message starts with.
pub const PREFIX: &str = "faultline-model";

/// Panics with a failure of `kind`.
pub fn fail(kind: FailureKind, detail: impl std::fmt::Display) -> ! {
    panic!("{PREFIX} {kind}: {detail}")
}

/// The failure kind a model-check panic message names: a deadlock reported by the checker,
/// or an invariant's `faultline-model <Kind>:`.
pub fn kind_of(message: &str) -> Option<FailureKind> {
    if message.contains("deadlock") {
        return Some(FailureKind::Deadlock);
    }
    let rest = &message[message.find(PREFIX)? + PREFIX.len()..];
    let name = rest.trim_start().split(':').next()?;
    FailureKind::ALL.into_iter().find(|k| k.to_string() == name)
}

/// Runs the `tasks` workload on `variant`: threads A and B start a task for session 1, C
/// clears session 1, and the main thread cleans up; then no session may have two active
/// tasks, every task's session must exist, and every started task must still be there.
pub fn tasks(variant: tasks::Variant) {
    match variant {
        tasks::Variant::OneCriticalSection => tasks_on::<tasks::OneCriticalSection>(),
        tasks::Variant::CheckThenCreate => tasks_on::<tasks::CheckThenCreate>(),
        tasks::Variant::NonreentrantNested => tasks_on::<tasks::NonreentrantNested>(),
        tasks::Variant::ClearRacesCreate => tasks_on::<tasks::ClearRacesCreate>(),
        tasks::Variant::CleanupUnlocked => tasks_on::<tasks::CleanupUnlocked>(),
    }
}

fn tasks_on<R: Registry + Default + 'static>() {
    let registry = Arc::new(R::default());
    let started = Arc::new(Mutex::new(Vec::new()));
    let starter = || {
        let (registry, started) = (registry.clone(), started.clone());
        thread::spawn(move || {
            if let Some(id) = registry.start(1) {
                lock(&started).push(id);
            }
        })
    };
    let a = starter();
    let b = starter();
    let c = {
        let registry = registry.clone();
        thread::spawn(move || {
            registry.clear(1);
        })
    };
    registry.cleanup();
    for t in [a, b, c] {
        t.join().expect("a registry thread panicked");
    }
    let state = registry.state();
    let active = state
        .tasks
        .values()
        .filter(|t| t.session == 1 && t.active)
        .count();
    if active > 1 {
        fail(
            FailureKind::DuplicateTask,
            format!("session 1 has {active} active tasks"),
        );
    }
    if let Some((id, t)) = state
        .tasks
        .iter()
        .find(|(_, t)| !state.sessions.contains_key(&t.session))
    {
        fail(
            FailureKind::OrphanedTask,
            format!("task {id} belongs to session {}, which was cleared", t.session),
        );
    }
    let started = lock(&started).clone();
    if let Some(id) = started.iter().find(|id| !state.tasks.contains_key(id)) {
        fail(
            FailureKind::LostEntry,
            format!("task {id} was started and never finished, and is gone from the registry"),
        );
    }
}

/// The store's file on the simulated file system.
pub const STORE_FILE: &str = "/data/store.json";

fn render(generation: u64) -> Vec<u8> {
    format!("{{\"generation\":{generation}}}\n").into_bytes()
}

/// Runs the `store` workload on `variant`: the program's thread changes the state twice
/// (each change schedules the debounced save) and flushes with a save on its way out, while
/// the save timer's thread fires once; saves go to a file on the simulated file system and
/// yield at every crash point; then every save must have succeeded and the file must
/// hold the newest generation (a save never lands an older snapshot last).
pub fn store(variant: store::Variant) {
    match variant {
        store::Variant::Generational => store_on::<store::Generational>(),
        store::Variant::SaveUnderLock => store_on::<store::SaveUnderLock>(),
        store::Variant::SnapshotOutsideLock => store_on::<store::SnapshotOutsideLock>(),
        store::Variant::SharedTmpSave => store_on::<store::SharedTmpSave>(),
    }
}

fn store_on<S: SaveLogic + Default + 'static>() {
    let fs = Arc::new(SimFs::new(SimOptions {
        record: false,
        ..SimOptions::default()
    }));
    if let Err(e) = fs.mkdir(Path::new("/data"), 0o755) {
        fail(FailureKind::UnexpectedError, format!("mkdir /data: {e}"));
    }
    // The checkers switch threads only at their own operations, and the simulated file
    // system's calls are not among them. Each crash point the atomic write passes (after the
    // temp is created, written, before and after the rename) yields, so another thread can run
    // between the steps of a save, as it can between system calls.
    fs.set_crash_hook(Box::new(|_, _| thread::yield_now()));
    let state = Arc::new(S::default());
    let save = |fs: &SimFs, state: &S| {
        if let Err(e) = state.save(fs, Path::new(STORE_FILE), &render) {
            fail(
                FailureKind::UnexpectedError,
                format!("a save failed: {e}: {}", e.errno),
            );
        }
    };
    // The debounced save's timer: fires once, saving whatever the state is then.
    let timer = {
        let (fs, state) = (fs.clone(), state.clone());
        thread::spawn(move || save(&fs, &state))
    };
    // The program: two changes, each scheduling the save, then a flush on the way out.
    let program = {
        let (fs, state) = (fs.clone(), state.clone());
        thread::spawn(move || {
            state.mutate();
            state.mutate();
            save(&fs, &state);
        })
    };
    for t in [timer, program] {
        t.join().expect("a store thread panicked");
    }
    let newest = state.generation();
    let held = faultline_core::fs::read_file(&*fs, Path::new(STORE_FILE)).unwrap_or_default();
    if held != render(newest) {
        fail(
            FailureKind::StaleRegression,
            format!(
                "after both saves the file holds {:?}, but the state is at generation {newest}",
                String::from_utf8_lossy(&held).trim()
            ),
        );
    }
}
