//! L12 `follows_symlink`: the lock file is opened without O_NOFOLLOW. A symlink planted at
//! the lock path makes the lock open, and write its owner record into, the file the link
//! points to (the CVE-2025-68146 class). Detector X (`FollowedSymlink`).

use super::expect;
use super::fd_lock::Recipe;
use crate::info::{Detector, VariantInfo};
use faultline_core::FailureKind;

pub(super) const RECIPE: Recipe = Recipe {
    nofollow: false,
    owner_record: true,
    ..Recipe::FLOCK
};

pub(super) const INFO: VariantInfo = VariantInfo {
    name: "follows_symlink",
    catalogue_id: Some("L12"),
    summary: "lock file opened without O_NOFOLLOW; a planted symlink's target is overwritten",
    expectations: &[expect(Detector::Metadata, FailureKind::FollowedSymlink)],
};
