//! AW1: the file is truncated and rewritten in place.

use std::path::Path;

use faultline_core::fs::write_all;
use faultline_core::{FdGuard, Fs, FsResult, OpenOptions};

use super::{AFTER_CREATE, AFTER_WRITE, AtomicWrite};

/// Opens the target with O_TRUNC and writes the new contents into it, as Go's
/// `os.WriteFile` does; no temp, no fsync.
///
/// Catalogue AW1 (seed 001, before its fix). Caught by concurrent readers (R) as `TornRead`
/// (a reader sees the empty or half-written file), and by kill -9 (K) and power loss (P) as
/// `TornFile`: a crash between the truncate and the end of the write leaves the file torn.
#[derive(Clone, Copy, Debug, Default)]
pub struct TruncateInPlace;

impl AtomicWrite for TruncateInPlace {
    fn replace<F: Fs + ?Sized>(&self, fs: &F, path: &Path, data: &[u8]) -> FsResult<()> {
        let options = OpenOptions::write_only().create(true).truncate(true).mode(0o644);
        let file = FdGuard::open(fs, path, &options)?;
        fs.crash_point(AFTER_CREATE);
        write_all(fs, file.fd(), data).map_err(|e| e.with_path(path))?;
        fs.crash_point(AFTER_WRITE);
        file.close()
    }

    fn recover<F: Fs + ?Sized>(&self, _fs: &F, _path: &Path) -> FsResult<()> {
        Ok(())
    }
}
