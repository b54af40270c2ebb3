//! Family `tasks` (seed 004): a registry of sessions and their tasks, shared by the threads of
//! one process.
//!
//! Operations: [`Registry::start`] starts a task for a session unless one is active (check and
//! create), [`Registry::finish`] ends a task, [`Registry::clear`] removes a session that has no
//! active task (check and clear), [`Registry::cleanup`] drops finished tasks. The invariants the
//! model tests check: at most one active task per session (no duplicate task), every task's
//! session exists (no orphaned task), every started task is in the registry until cleaned up
//! after finishing (no lost entry), and no operation deadlocks.
//!
//! The reference ([`Variant::OneCriticalSection`]) does each check and its action inside one
//! critical section of one mutex and never takes the mutex while holding it. T1-T4 each break
//! that once; each lives in a file named after its bug. All use [`crate::sync`], so they run on
//! std, loom and shuttle.

mod check_then_create;
mod cleanup_unlocked;
mod clear_races_create;
mod nonreentrant_nested;

pub use check_then_create::CheckThenCreate;
pub use cleanup_unlocked::CleanupUnlocked;
pub use clear_races_create::ClearRacesCreate;
pub use nonreentrant_nested::NonreentrantNested;

use std::collections::BTreeMap;

use faultline_core::FailureKind;

use crate::info::{Detector, Expectation, FamilyInfo, VariantInfo};
use crate::sync::{Mutex, lock};

/// The family's name.
pub const FAMILY: &str = "tasks";

/// This family's entry in the registry.
pub const INFO: FamilyInfo = FamilyInfo {
    name: FAMILY,
    variants: VARIANTS,
    crash_points: CRASH_POINTS,
};

/// The family has no file-system crash points: it is in-process logic.
pub const CRASH_POINTS: &[&str] = &[];

/// One task: its session and whether it is still running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task {
    /// The session it belongs to.
    pub session: u32,
    /// Still running.
    pub active: bool,
}

/// What the registry holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Sessions and whether each exists (a session is created by its first task).
    pub sessions: BTreeMap<u32, ()>,
    /// Tasks by id.
    pub tasks: BTreeMap<u64, Task>,
    /// The next task id.
    pub next_id: u64,
}

impl State {
    /// Whether `session` has an active task.
    pub fn has_active(&self, session: u32) -> bool {
        self.tasks.values().any(|t| t.session == session && t.active)
    }

    /// Creates an active task (and its session); returns its id.
    pub fn create(&mut self, session: u32) -> u64 {
        self.next_id += 1;
        self.sessions.insert(session, ());
        self.tasks.insert(
            self.next_id,
            Task {
                session,
                active: true,
            },
        );
        self.next_id
    }

    /// Removes `session` and its finished tasks.
    pub fn remove_session(&mut self, session: u32) {
        self.sessions.remove(&session);
        self.tasks.retain(|_, t| t.session != session || t.active);
    }
}

/// The registry's state behind its one mutex.
#[derive(Debug)]
pub struct Cell(Mutex<State>);

impl Default for Cell {
    fn default() -> Self {
        Cell(Mutex::new(State::default()))
    }
}

impl Cell {
    /// The mutex, for variants that lock it their own way.
    pub(crate) fn mutex(&self) -> &Mutex<State> {
        &self.0
    }
}

/// A task registry. The provided methods are the reference's: each check and its action in
/// one critical section, and no lock taken while it is held. A broken variant overrides the
/// one it gets wrong.
pub trait Registry: Send + Sync {
    /// The state and its mutex.
    fn cell(&self) -> &Cell;

    /// Starts a task for `session`, unless it has an active one (`None`).
    fn start(&self, session: u32) -> Option<u64> {
        let mut state = lock(&self.cell().0);
        (!state.has_active(session)).then(|| state.create(session))
    }

    /// Marks task `id` finished.
    fn finish(&self, id: u64) {
        if let Some(t) = lock(&self.cell().0).tasks.get_mut(&id) {
            t.active = false;
        }
    }

    /// Removes `session` if it has no active task; whether it did.
    fn clear(&self, session: u32) -> bool {
        let mut state = lock(&self.cell().0);
        if state.has_active(session) {
            return false;
        }
        state.remove_session(session);
        true
    }

    /// Drops finished tasks.
    fn cleanup(&self) {
        lock(&self.cell().0).tasks.retain(|_, t| t.active);
    }

    /// A copy of the state, for the invariants.
    fn state(&self) -> State {
        lock(&self.cell().0).clone()
    }
}

/// The reference: the provided methods of [`Registry`], unchanged.
#[derive(Debug, Default)]
pub struct OneCriticalSection(Cell);

impl Registry for OneCriticalSection {
    fn cell(&self) -> &Cell {
        &self.0
    }
}

/// Every variant of the family, selectable by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The reference.
    OneCriticalSection,
    /// T1
    CheckThenCreate,
    /// T2
    NonreentrantNested,
    /// T3
    ClearRacesCreate,
    /// T4
    CleanupUnlocked,
}

impl Variant {
    /// Every variant, reference first (the order of [`VARIANTS`]).
    pub const ALL: [Variant; 5] = [
        Variant::OneCriticalSection,
        Variant::CheckThenCreate,
        Variant::NonreentrantNested,
        Variant::ClearRacesCreate,
        Variant::CleanupUnlocked,
    ];

    /// The variant called `name`.
    pub fn by_name(name: &str) -> Option<Variant> {
        crate::info::variant_by_name(&Variant::ALL, VARIANTS, name)
    }

    /// Its registry entry.
    pub fn info(self) -> &'static VariantInfo {
        crate::info::entry_of(&Variant::ALL, VARIANTS, &self)
    }

    /// An empty registry of this variant.
    pub fn registry(self) -> Box<dyn Registry> {
        match self {
            Variant::OneCriticalSection => Box::<OneCriticalSection>::default(),
            Variant::CheckThenCreate => Box::<CheckThenCreate>::default(),
            Variant::NonreentrantNested => Box::<NonreentrantNested>::default(),
            Variant::ClearRacesCreate => Box::<ClearRacesCreate>::default(),
            Variant::CleanupUnlocked => Box::<CleanupUnlocked>::default(),
        }
    }
}

const fn model(kind: FailureKind) -> Expectation {
    Expectation {
        detector: Detector::Model,
        kind,
    }
}

/// The registry entries, in the order of [`Variant::ALL`].
pub const VARIANTS: &[VariantInfo] = &[
    VariantInfo {
        name: "one_critical_section",
        catalogue_id: None,
        summary: "check-and-create and check-and-clear each in one critical section; no nested locking",
        expectations: &[],
    },
    VariantInfo {
        name: "check_then_create",
        catalogue_id: Some("T1"),
        summary: "\"has an active task?\" and \"create the task\" in separate critical sections",
        expectations: &[model(FailureKind::DuplicateTask)],
    },
    VariantInfo {
        name: "nonreentrant_nested",
        catalogue_id: Some("T2"),
        summary: "start holds the lock and calls a helper that takes it again",
        expectations: &[model(FailureKind::Deadlock)],
    },
    VariantInfo {
        name: "clear_races_create",
        catalogue_id: Some("T3"),
        summary: "clear checks for active tasks, lets go of the lock, then removes the session",
        expectations: &[model(FailureKind::OrphanedTask)],
    },
    VariantInfo {
        name: "cleanup_unlocked",
        catalogue_id: Some("T4"),
        summary: "cleanup copies the tasks, filters them outside the lock and writes the copy back",
        expectations: &[model(FailureKind::LostEntry)],
    },
];
