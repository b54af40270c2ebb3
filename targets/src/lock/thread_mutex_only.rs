//! L2 `thread_mutex_only`: a mutex inside the process guards a file that other processes share
//! (seeds 000 and 004 lock this way). Threads of one process are excluded; other processes
//! are not. Detector R (`LostUpdate`).

use std::sync::{Mutex, MutexGuard};

use super::{Mechanism, expect};
use crate::info::{Detector, VariantInfo};
use faultline_core::FailureKind;

pub(super) const MECHANISM: Mechanism = Mechanism::ThreadMutex;

static LOCK: Mutex<()> = Mutex::new(());

pub(super) fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) const INFO: VariantInfo = VariantInfo {
    name: "thread_mutex_only",
    catalogue_id: Some("L2"),
    summary: "an in-process mutex guards a file shared by processes",
    expectations: &[expect(Detector::Readers, FailureKind::LostUpdate)],
};
