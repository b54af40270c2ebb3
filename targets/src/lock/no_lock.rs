//! L1 `no_lock`: read-modify-write with no lock at all, as seeds 002 and 003 did before their
//! fixes. Concurrent increments overwrite each other. Detector R (`LostUpdate`).

use super::{Mechanism, expect};
use crate::info::{Detector, VariantInfo};
use faultline_core::FailureKind;

pub(super) const MECHANISM: Mechanism = Mechanism::Nothing;

pub(super) const INFO: VariantInfo = VariantInfo {
    name: "no_lock",
    catalogue_id: Some("L1"),
    summary: "read-modify-write with no lock",
    expectations: &[expect(Detector::Readers, FailureKind::LostUpdate)],
};
