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

/// Runs the `store` workload on `variant`: two threads each mutate the state and save it to
/// a file on the simulated file system, yielding at every crash point of the save; then every save must have succeeded and the file must
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
    let saver = || {
        let (fs, state) = (fs.clone(), state.clone());
        thread::spawn(move || {
            state.mutate();
            if let Err(e) = state.save(&*fs, Path::new(STORE_FILE), &render) {
                fail(
                    FailureKind::UnexpectedError,
                    format!("a save failed: {e}: {}", e.errno),
                );
            }
        })
    };
    let a = saver();
    let b = saver();
    for t in [a, b] {
        t.join().expect("a saver panicked");
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
