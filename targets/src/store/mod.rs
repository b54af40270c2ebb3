//! Family `store`: an in-process state shared by threads and saved to one JSON file.
//!
//! Threads mutate the state (each mutation makes a new generation) and call `save`, which
//! writes a snapshot of it. The properties: the file is always one complete snapshot, and once
//! saves are done the file holds the newest generation (a save never lands an older snapshot
//! over a newer one). The state is reduced to its generation number; `save` is handed a
//! function that renders a generation, so the oracle can rebuild any snapshot exactly.
//!
//! S1 (a debounced save scheduled under the state lock) deadlocks rather than corrupting the
//! file, so the model checkers catch it, not the process runner. All variants lock through
//! [`crate::sync`], so they run on std, loom and shuttle.

mod reference;
mod save_under_lock;
mod shared_tmp_save;
mod snapshot_outside_lock;

use std::path::Path;

use faultline_core::{FailureKind, Fs, FsResult};

pub use reference::Generational;
pub use save_under_lock::SaveUnderLock;
pub use shared_tmp_save::SharedTmpSave;
pub use snapshot_outside_lock::SnapshotOutsideLock;

use crate::info::{Detector, Expectation, FamilyInfo, VariantInfo};

/// The family's name.
pub const FAMILY: &str = "store";

/// This family's entry in the registry.
pub const INFO: FamilyInfo = FamilyInfo {
    name: FAMILY,
    variants: VARIANTS,
    crash_points: CRASH_POINTS,
};

/// How a save renders a generation into the file's bytes.
pub type Render<'a> = &'a (dyn Fn(u64) -> Vec<u8> + Sync);

/// A store's save logic. Implementations keep their own state and locks; `&self` is shared by
/// every thread of the process.
pub trait SaveLogic: Send + Sync {
    /// Makes a new generation and returns it.
    fn mutate(&self) -> u64;
    /// Writes a snapshot of the state to `path`.
    fn save(&self, fs: &(dyn Fs + Sync), path: &Path, render: Render<'_>) -> FsResult<()>;
    /// The newest generation made so far.
    fn generation(&self) -> u64;
}

/// The state shared by a store's threads, reduced to its generation number.
#[derive(Debug)]
pub struct Generation(crate::sync::RwLock<u64>);

impl Default for Generation {
    fn default() -> Self {
        Generation(crate::sync::RwLock::new(0))
    }
}

impl Generation {
    /// Makes a new generation under the write lock and returns it.
    pub fn bump(&self) -> u64 {
        let mut g = crate::sync::write(&self.0);
        *g += 1;
        *g
    }

    /// Renders a snapshot under the read lock.
    pub fn snapshot(&self, render: Render<'_>) -> (u64, Vec<u8>) {
        let g = crate::sync::read(&self.0);
        (*g, render(*g))
    }

    /// The newest generation.
    pub fn get(&self) -> u64 {
        *crate::sync::read(&self.0)
    }
}

/// Every variant of the family, selectable by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The reference.
    Generational,
    /// S1
    SaveUnderLock,
    /// S2
    SnapshotOutsideLock,
    /// S3
    SharedTmpSave,
}

impl Variant {
    /// Every variant, reference first (the order of [`VARIANTS`]).
    pub const ALL: [Variant; 4] = [
        Variant::Generational,
        Variant::SaveUnderLock,
        Variant::SnapshotOutsideLock,
        Variant::SharedTmpSave,
    ];

    /// The variant called `name`.
    pub fn by_name(name: &str) -> Option<Variant> {
        crate::info::variant_by_name(&Variant::ALL, VARIANTS, name)
    }

    /// Its registry entry.
    pub fn info(self) -> &'static VariantInfo {
        crate::info::entry_of(&Variant::ALL, VARIANTS, &self)
    }

    /// Removes what a crashed save left behind, with the atomic write the variant saves with.
    pub fn recover(self, fs: &dyn Fs, path: &Path) -> FsResult<()> {
        use crate::atomic_write::{AtomicWrite, Durable, FixedTmpName};
        match self {
            Variant::Generational | Variant::SaveUnderLock | Variant::SnapshotOutsideLock => {
                Durable.recover(fs, path)
            }
            Variant::SharedTmpSave => FixedTmpName.recover(fs, path),
        }
    }

    /// A fresh store of this variant, at generation 0.
    pub fn store(self) -> Box<dyn SaveLogic> {
        match self {
            Variant::Generational => Box::new(Generational::default()),
            Variant::SaveUnderLock => Box::new(SaveUnderLock::default()),
            Variant::SnapshotOutsideLock => Box::new(SnapshotOutsideLock::default()),
            Variant::SharedTmpSave => Box::new(SharedTmpSave::default()),
        }
    }
}

/// The registry entries, in the order of [`Variant::ALL`].
pub const VARIANTS: &[VariantInfo] = &[
    VariantInfo {
        name: "generational",
        catalogue_id: None,
        summary: "one save at a time; a save of an older generation than the file's is skipped",
        expectations: &[],
    },
    VariantInfo {
        name: "save_under_lock",
        catalogue_id: Some("S1"),
        summary: "the save is scheduled under the state lock; the save takes the save lock, then the state lock",
        expectations: &[
            Expectation {
                detector: Detector::Model,
                kind: FailureKind::Deadlock,
            },
            Expectation {
                detector: Detector::Lockdep,
                kind: FailureKind::LockOrderInversion,
            },
        ],
    },
    VariantInfo {
        name: "snapshot_outside_lock",
        catalogue_id: Some("S2"),
        summary: "snapshots under the read lock, writes after releasing it; saves race",
        expectations: &[
            Expectation {
                detector: Detector::Readers,
                kind: FailureKind::StaleRegression,
            },
            Expectation {
                detector: Detector::Model,
                kind: FailureKind::StaleRegression,
            },
        ],
    },
    VariantInfo {
        name: "shared_tmp_save",
        catalogue_id: Some("S3"),
        summary: "concurrent saves go through one `<path>.tmp`",
        expectations: &[
            Expectation {
                detector: Detector::Readers,
                kind: FailureKind::UnexpectedError,
            },
            Expectation {
                detector: Detector::Model,
                kind: FailureKind::UnexpectedError,
            },
        ],
    },
];

/// The crash points the family's code passes: those of the atomic write it saves with.
pub const CRASH_POINTS: &[&str] = crate::atomic_write::CRASH_POINTS;
