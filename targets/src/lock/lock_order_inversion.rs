//! L10 `lock_order_inversion`: nested locks taken in the order each caller names them, so
//! one process takes A then B while another takes B then A (seed 002's "nested locking").
//! When they meet, both wait forever; the lock-order graph shows the cycle even on runs where
//! they did not meet. The lock itself is the flock reference; [`super::lock_all`] does not
//! sort for this variant. Detectors R (`Deadlock`) and D (`LockOrderInversion`).

use super::expect;
use crate::info::{Detector, VariantInfo};
use faultline_core::FailureKind;

pub(super) const INFO: VariantInfo = VariantInfo {
    name: "lock_order_inversion",
    catalogue_id: Some("L10"),
    summary: "nested locks taken in inconsistent order",
    expectations: &[
        expect(Detector::Readers, FailureKind::Deadlock),
        expect(Detector::Lockdep, FailureKind::LockOrderInversion),
    ],
};
