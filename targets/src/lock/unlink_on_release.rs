//! L5 `unlink_on_release`: the lock file is deleted on release (py-filelock#574). A waiter
//! that opened the old file gets its lock on the deleted inode while a newcomer creates and
//! locks a new file at the same path: two holders. Detector R (`TwoHolders`).

use super::expect;
use super::fd_lock::Recipe;
use crate::info::{Detector, VariantInfo};
use faultline_core::FailureKind;

/// The reference, opening the file at each acquisition (it is deleted at each release).
pub(super) const RECIPE: Recipe = Recipe {
    open_per_lock: true,
    unlink_on_release: true,
    ..Recipe::FLOCK
};

pub(super) const INFO: VariantInfo = VariantInfo {
    name: "unlink_on_release",
    catalogue_id: Some("L5"),
    summary: "the lock file is deleted on release",
    expectations: &[expect(Detector::Readers, FailureKind::TwoHolders)],
};
