//! L7 `stale_by_age`: the owner-record lock, but a lock file older than a TTL is broken
//! whoever holds it (seed 003 removes locks older than an hour; the TTL here is 100 ms so a
//! trial can see it). A holder paused by SIGSTOP, or simply slow, is still inside its critical
//! section when the next one enters. Detector K (`TwoHolders`).

use std::time::Duration;

use super::expect;
use super::owner_record::Stale;
use crate::info::{Detector, VariantInfo};
use faultline_core::FailureKind;

pub(super) const STALE: Stale = Stale::OlderThan(Duration::from_millis(100));

pub(super) const INFO: VariantInfo = VariantInfo {
    name: "stale_by_age",
    catalogue_id: Some("L7"),
    summary: "a lock older than a TTL (100 ms) is broken, even when its holder is alive",
    expectations: &[expect(Detector::Kill, FailureKind::TwoHolders)],
};
