//! S3: concurrent saves share one temp file.

use std::path::Path;

use faultline_core::{Fs, FsResult};

use super::{Generation, Render, SaveLogic};
use crate::atomic_write::{AtomicWrite, FixedTmpName};

/// Snapshots under the read lock and writes through `<path>.tmp`, as seed 000's fix does with
/// `os.WriteFile(path + ".tmp")` and `os.Rename`; saves from several threads share that temp.
///
/// Catalogue S3 (seed 000's fix). Caught by concurrent savers (R): a save's rename fails with
/// ENOENT because another took its temp (`UnexpectedError`), or a torn snapshot is committed.
#[derive(Debug, Default)]
pub struct SharedTmpSave {
    state: Generation,
}

impl SaveLogic for SharedTmpSave {
    fn mutate(&self) -> u64 {
        self.state.bump()
    }

    fn save(&self, fs: &(dyn Fs + Sync), path: &Path, render: Render<'_>) -> FsResult<()> {
        let (_, data) = self.state.snapshot(render);
        FixedTmpName.replace(fs, path, &data)
    }

    fn generation(&self) -> u64 {
        self.state.get()
    }
}
