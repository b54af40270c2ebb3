//! L11 `inherited_by_child`: the lock file is opened without O_CLOEXEC, so a program the
//! holder starts inherits the descriptor, and with it the flock, which belongs to the open
//! file description. When the holder dies the child keeps the lock: every later acquirer
//! waits (py-filelock#634). Detector K (`StuckLock`).

use super::expect;
use super::fd_lock::Recipe;
use crate::info::{Detector, VariantInfo};
use faultline_core::FailureKind;

pub(super) const RECIPE: Recipe = Recipe {
    cloexec: false,
    ..Recipe::FLOCK
};

pub(super) const INFO: VariantInfo = VariantInfo {
    name: "inherited_by_child",
    catalogue_id: Some("L11"),
    summary: "lock fd without O_CLOEXEC; a child the holder started keeps the lock after it dies",
    expectations: &[expect(Detector::Kill, FailureKind::StuckLock)],
};
