//! L3 `split_rmw`: every access is locked, but the read and the write are two critical
//! sections (seed 003's `safe_json_merge` from shell: a locked read, then a locked write).
//! Another process's update between them is overwritten. Detector R (`LostUpdate`).

use std::time::Duration;

use super::{Guard, LockError, LockFile, Mode, expect};
use crate::info::{Detector, VariantInfo};
use faultline_core::FailureKind;

/// Drops the lock after the read and takes it again for the write.
pub(super) fn relock<'a>(
    guard: Guard<'a>,
    lock: &'a LockFile,
    timeout: Option<Duration>,
) -> Result<Guard<'a>, LockError> {
    drop(guard);
    // The window: the value is read, and the lock is free for anyone until it is retaken.
    faultline_core::crash_point::pass("lock.relock");
    lock.lock(Mode::Exclusive, timeout)
}

pub(super) const INFO: VariantInfo = VariantInfo {
    name: "split_rmw",
    catalogue_id: Some("L3"),
    summary: "read under the lock, unlock, write under the lock",
    expectations: &[expect(Detector::Readers, FailureKind::LostUpdate)],
};
