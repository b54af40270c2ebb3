//! L8 `truncate_before_lock`: the lock file is opened with O_TRUNC at every acquisition,
//! before the lock is held (py-filelock#594). The holder writes its owner record once it holds
//! the lock; the next waiter's open erases it. Detector R (`OwnerRecordErased`).

use super::expect;
use super::fd_lock::Recipe;
use crate::info::{Detector, VariantInfo};
use faultline_core::FailureKind;

pub(super) const RECIPE: Recipe = Recipe {
    open_per_lock: true,
    truncate_on_open: true,
    owner_record: true,
    ..Recipe::FLOCK
};

pub(super) const INFO: VariantInfo = VariantInfo {
    name: "truncate_before_lock",
    catalogue_id: Some("L8"),
    summary: "lock file opened with O_TRUNC before the lock is held; erases the holder's record",
    expectations: &[expect(Detector::Readers, FailureKind::OwnerRecordErased)],
};
