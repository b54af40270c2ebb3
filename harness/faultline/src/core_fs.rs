//! [`CheckFs`]: the check's file system behind faultline-core's `Fs` trait, for code written
//! against that trait (faultline's own bundled families are).

use std::path::Path;
use std::sync::LazyLock;

use faultline_core::fs::{Fd, FsResult, LockKind, LockWait, Metadata, OpenOptions};
use faultline_core::{Fs, RealFs};

use crate::session::{self, sim_path};

static REAL: LazyLock<RealFs> = LazyLock::new(RealFs::new);

/// `faultline_core::Fs` on the simulated file system of the check running on this thread,
/// and on the real one (a process-wide `RealFs`) outside a check. A descriptor belongs to
/// the side that opened it.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckFs;

/// Calls `$method` on the check's file system, or on the real one, with the paths given
/// (the check's relative to its root).
macro_rules! route {
    ($method:ident ( $($arg:expr),* ) paths ( $($path:ident),* )) => {
        match session::current() {
            Some(s) => {
                $(let $path = &sim_path($path);)*
                s.step().$method($($arg),*)
            }
            None => REAL.$method($($arg),*),
        }
    };
}

impl Fs for CheckFs {
    fn open(&self, path: &Path, options: &OpenOptions) -> FsResult<Fd> {
        route!(open(path, options) paths(path))
    }
    fn close(&self, fd: Fd) -> FsResult<()> {
        route!(close(fd) paths())
    }
    fn write(&self, fd: Fd, buf: &[u8]) -> FsResult<usize> {
        route!(write(fd, buf) paths())
    }
    fn pwrite(&self, fd: Fd, buf: &[u8], offset: u64) -> FsResult<usize> {
        route!(pwrite(fd, buf, offset) paths())
    }
    fn read(&self, fd: Fd, buf: &mut [u8]) -> FsResult<usize> {
        route!(read(fd, buf) paths())
    }
    fn pread(&self, fd: Fd, buf: &mut [u8], offset: u64) -> FsResult<usize> {
        route!(pread(fd, buf, offset) paths())
    }
    fn fsync(&self, fd: Fd) -> FsResult<()> {
        route!(fsync(fd) paths())
    }
    fn fdatasync(&self, fd: Fd) -> FsResult<()> {
        route!(fdatasync(fd) paths())
    }
    fn fsync_dir(&self, path: &Path) -> FsResult<()> {
        route!(fsync_dir(path) paths(path))
    }
    fn rename(&self, from: &Path, to: &Path) -> FsResult<()> {
        route!(rename(from, to) paths(from, to))
    }
    fn link(&self, from: &Path, to: &Path) -> FsResult<()> {
        route!(link(from, to) paths(from, to))
    }
    fn unlink(&self, path: &Path) -> FsResult<()> {
        route!(unlink(path) paths(path))
    }
    fn mkdir(&self, path: &Path, mode: u32) -> FsResult<()> {
        route!(mkdir(path, mode) paths(path))
    }
    fn ftruncate(&self, fd: Fd, len: u64) -> FsResult<()> {
        route!(ftruncate(fd, len) paths())
    }
    fn fchmod(&self, fd: Fd, mode: u32) -> FsResult<()> {
        route!(fchmod(fd, mode) paths())
    }
    fn metadata(&self, path: &Path) -> FsResult<Metadata> {
        route!(metadata(path) paths(path))
    }
    fn fstat(&self, fd: Fd) -> FsResult<Metadata> {
        route!(fstat(fd) paths())
    }
    fn read_dir(&self, path: &Path) -> FsResult<Vec<String>> {
        route!(read_dir(path) paths(path))
    }
    fn flock(&self, fd: Fd, kind: LockKind, wait: LockWait) -> FsResult<()> {
        route!(flock(fd, kind, wait) paths())
    }
    fn unlock(&self, fd: Fd) -> FsResult<()> {
        route!(unlock(fd) paths())
    }
    fn crash_point(&self, name: &'static str) {
        route!(crash_point(name) paths())
    }
    fn process_id(&self) -> u32 {
        route!(process_id() paths())
    }
    fn process_alive(&self, pid: u32) -> bool {
        route!(process_alive(pid) paths())
    }
    fn random_u64(&self) -> u64 {
        route!(random_u64() paths())
    }
}
