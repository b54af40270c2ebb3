//! S2: the snapshot is taken under the lock, the write happens after it is released.

use std::path::Path;

use faultline_core::{Fs, FsResult};

use super::{Generation, Render, SaveLogic};
use crate::atomic_write::{AtomicWrite, Durable};

/// Marshals the state under the read lock, releases it, then writes with a durable atomic
/// write: two saves race, and the one holding the older snapshot can rename last.
///
/// Catalogue S2 (seed 000's fix). Caught by concurrent savers and readers (R) as
/// `StaleRegression`: the file goes back to an older generation.
#[derive(Debug, Default)]
pub struct SnapshotOutsideLock {
    state: Generation,
}

impl SaveLogic for SnapshotOutsideLock {
    fn mutate(&self) -> u64 {
        self.state.bump()
    }

    fn save(&self, fs: &(dyn Fs + Sync), path: &Path, render: Render<'_>) -> FsResult<()> {
        let (_, data) = self.state.snapshot(render);
        Durable.replace(fs, path, &data)
    }

    fn generation(&self) -> u64 {
        self.state.get()
    }
}
