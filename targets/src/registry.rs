//! What this crate ships: every family, with its variants (catalogue IDs, the detectors that
//! must catch each broken variant and the failure kind they must report) and its crash points.
//! The runner and the command line read this; nothing here runs code. A new family adds its
//! entry to [`FAMILIES`].

pub use crate::info::{Detector, Expectation, FamilyInfo, VariantInfo};
use crate::{atomic_write, lock, queue, store, tasks};

/// Every family this crate ships: each family module's `INFO`.
pub const FAMILIES: &[FamilyInfo] = &[
    atomic_write::INFO,
    lock::INFO,
    queue::INFO,
    store::INFO,
    tasks::INFO,
];

/// The family called `name`.
pub fn family(name: &str) -> Option<&'static FamilyInfo> {
    FAMILIES.iter().find(|f| f.name == name)
}

/// Valid family names, comma-separated, for error messages.
pub fn family_names() -> String {
    FAMILIES.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
}
