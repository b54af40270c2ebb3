//! [`Fs`] on the operating system, through rustix.
//!
//! Every call is one system call (plus a retry loop where the trait promises one). Crash points
//! are free unless a [`CrashPlan`] is armed: then the process SIGKILLs itself at the planned hit,
//! so a kill mid-write lands exactly where the plan says. Nothing here is simulated or traced.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rustix::fs::{FileType, FlockOperation, Mode, OFlags};

use crate::crash_point::CrashPlan;
use crate::fs::{
    Errno, Fd, FileKind, Fs, FsCall, FsError, FsResult, LockKind, LockWait, Metadata, OpenOptions,
};

/// The real file system. Handles live in a table so targets can pass plain [`Fd`]s around
/// without unsafe code; a handle not closed by the target is closed when the `RealFs` drops.
#[derive(Default)]
pub struct RealFs {
    handles: RwLock<HashMap<i32, Arc<OwnedFd>>>,
    next_fd: AtomicI32,
    plan: Option<CrashPlan>,
    hits: AtomicU64,
}

impl RealFs {
    /// A real file system with crash points switched off.
    pub fn new() -> Self {
        RealFs::default()
    }

    /// A real file system that SIGKILLs this process at the planned crash-point hit.
    pub fn with_crash_plan(plan: CrashPlan) -> Self {
        RealFs {
            plan: Some(plan),
            ..RealFs::default()
        }
    }

    fn handle(&self, fd: Fd, call: FsCall) -> FsResult<Arc<OwnedFd>> {
        let table = self
            .handles
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        table.get(&fd.0).cloned().ok_or(FsError::on_fd(call, Errno::BADF))
    }

    fn insert(&self, owned: OwnedFd) -> Fd {
        let id = self.next_fd.fetch_add(1, Ordering::Relaxed) + 3;
        let mut table = self
            .handles
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        table.insert(id, Arc::new(owned));
        Fd(id)
    }
}

fn oflags(options: &OpenOptions) -> OFlags {
    let mut flags = match (options.read, options.write) {
        (true, true) => OFlags::RDWR,
        (false, true) => OFlags::WRONLY,
        _ => OFlags::RDONLY,
    };
    for (on, flag) in [
        (options.create, OFlags::CREATE),
        (options.exclusive, OFlags::EXCL),
        (options.truncate, OFlags::TRUNC),
        (options.append, OFlags::APPEND),
        (options.cloexec, OFlags::CLOEXEC),
        (options.nofollow, OFlags::NOFOLLOW),
        (options.directory, OFlags::DIRECTORY),
    ] {
        if on {
            flags |= flag;
        }
    }
    flags
}

fn metadata_of(stat: &rustix::fs::Stat) -> Metadata {
    let kind = match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => FileKind::File,
        FileType::Directory => FileKind::Dir,
        _ => FileKind::Other,
    };
    Metadata {
        kind,
        len: u64::try_from(stat.st_size).unwrap_or(0),
        mode: stat.st_mode & 0o7777,
        ino: stat.st_ino,
    }
}

impl Fs for RealFs {
    fn open(&self, path: &Path, options: &OpenOptions) -> FsResult<Fd> {
        let owned = rustix::fs::open(path, oflags(options), Mode::from_raw_mode(options.mode))
            .map_err(|e| FsError::at(FsCall::Open, path, e))?;
        Ok(self.insert(owned))
    }

    fn close(&self, fd: Fd) -> FsResult<()> {
        let mut table = self
            .handles
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Dropping the last Arc closes the descriptor; close(2) errors are not observable
        // through OwnedFd, and Linux releases the descriptor even when close fails.
        table
            .remove(&fd.0)
            .map(drop)
            .ok_or(FsError::on_fd(FsCall::Close, Errno::BADF))
    }

    fn write(&self, fd: Fd, buf: &[u8]) -> FsResult<usize> {
        let h = self.handle(fd, FsCall::Write)?;
        rustix::io::write(h.as_fd(), buf).map_err(|e| FsError::on_fd(FsCall::Write, e))
    }

    fn pwrite(&self, fd: Fd, buf: &[u8], offset: u64) -> FsResult<usize> {
        let h = self.handle(fd, FsCall::Write)?;
        rustix::io::pwrite(h.as_fd(), buf, offset).map_err(|e| FsError::on_fd(FsCall::Write, e))
    }

    fn read(&self, fd: Fd, buf: &mut [u8]) -> FsResult<usize> {
        let h = self.handle(fd, FsCall::Read)?;
        rustix::io::read(h.as_fd(), buf).map_err(|e| FsError::on_fd(FsCall::Read, e))
    }

    fn pread(&self, fd: Fd, buf: &mut [u8], offset: u64) -> FsResult<usize> {
        let h = self.handle(fd, FsCall::Read)?;
        rustix::io::pread(h.as_fd(), buf, offset).map_err(|e| FsError::on_fd(FsCall::Read, e))
    }

    fn fsync(&self, fd: Fd) -> FsResult<()> {
        let h = self.handle(fd, FsCall::Fsync)?;
        rustix::fs::fsync(h.as_fd()).map_err(|e| FsError::on_fd(FsCall::Fsync, e))
    }

    fn fdatasync(&self, fd: Fd) -> FsResult<()> {
        let h = self.handle(fd, FsCall::Fdatasync)?;
        rustix::fs::fdatasync(h.as_fd()).map_err(|e| FsError::on_fd(FsCall::Fdatasync, e))
    }

    fn fsync_dir(&self, path: &Path) -> FsResult<()> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dir = rustix::fs::open(path, flags, Mode::empty())
            .map_err(|e| FsError::at(FsCall::FsyncDir, path, e))?;
        rustix::fs::fsync(&dir).map_err(|e| FsError::at(FsCall::FsyncDir, path, e))
    }

    fn rename(&self, from: &Path, to: &Path) -> FsResult<()> {
        rustix::fs::rename(from, to).map_err(|e| FsError::at(FsCall::Rename, from, e))
    }

    fn link(&self, from: &Path, to: &Path) -> FsResult<()> {
        rustix::fs::link(from, to).map_err(|e| FsError::at(FsCall::Link, to, e))
    }

    fn unlink(&self, path: &Path) -> FsResult<()> {
        rustix::fs::unlink(path).map_err(|e| FsError::at(FsCall::Unlink, path, e))
    }

    fn mkdir(&self, path: &Path, mode: u32) -> FsResult<()> {
        rustix::fs::mkdir(path, Mode::from_raw_mode(mode)).map_err(|e| FsError::at(FsCall::Mkdir, path, e))
    }

    fn ftruncate(&self, fd: Fd, len: u64) -> FsResult<()> {
        let h = self.handle(fd, FsCall::Truncate)?;
        rustix::fs::ftruncate(h.as_fd(), len).map_err(|e| FsError::on_fd(FsCall::Truncate, e))
    }

    fn fchmod(&self, fd: Fd, mode: u32) -> FsResult<()> {
        let h = self.handle(fd, FsCall::Chmod)?;
        rustix::fs::fchmod(h.as_fd(), Mode::from_raw_mode(mode)).map_err(|e| FsError::on_fd(FsCall::Chmod, e))
    }

    fn metadata(&self, path: &Path) -> FsResult<Metadata> {
        let stat = rustix::fs::stat(path).map_err(|e| FsError::at(FsCall::Stat, path, e))?;
        Ok(metadata_of(&stat))
    }

    fn fstat(&self, fd: Fd) -> FsResult<Metadata> {
        let h = self.handle(fd, FsCall::Stat)?;
        let stat = rustix::fs::fstat(h.as_fd()).map_err(|e| FsError::on_fd(FsCall::Stat, e))?;
        Ok(metadata_of(&stat))
    }

    fn read_dir(&self, path: &Path) -> FsResult<Vec<String>> {
        let to_err = |e: std::io::Error| {
            FsError::at(
                FsCall::ReadDir,
                path,
                Errno::from_io_error(&e).unwrap_or(Errno::IO),
            )
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path).map_err(to_err)? {
            names.push(entry.map_err(to_err)?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn flock(&self, fd: Fd, kind: LockKind, wait: LockWait) -> FsResult<()> {
        let h = self.handle(fd, FsCall::Lock)?;
        let op = match (kind, wait) {
            (LockKind::Shared, LockWait::Block) => FlockOperation::LockShared,
            (LockKind::Exclusive, LockWait::Block) => FlockOperation::LockExclusive,
            (LockKind::Shared, LockWait::NonBlocking) => FlockOperation::NonBlockingLockShared,
            (LockKind::Exclusive, LockWait::NonBlocking) => FlockOperation::NonBlockingLockExclusive,
        };
        rustix::fs::flock(h.as_fd(), op).map_err(|e| FsError::on_fd(FsCall::Lock, e))
    }

    fn unlock(&self, fd: Fd) -> FsResult<()> {
        let h = self.handle(fd, FsCall::Lock)?;
        rustix::fs::flock(h.as_fd(), FlockOperation::Unlock).map_err(|e| FsError::on_fd(FsCall::Lock, e))
    }

    fn crash_point(&self, name: &'static str) {
        let Some(plan) = &self.plan else { return };
        if plan.point == name && self.hits.fetch_add(1, Ordering::SeqCst) + 1 == plan.hit {
            plan.reach();
        }
    }

    fn process_id(&self) -> u32 {
        rustix::process::getpid().as_raw_nonzero().get().unsigned_abs()
    }

    fn process_alive(&self, pid: u32) -> bool {
        let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else {
            return false;
        };
        // EPERM means the process exists but belongs to someone else.
        match rustix::process::test_kill_process(pid) {
            Ok(()) => true,
            Err(e) => e == Errno::PERM,
        }
    }

    fn random_u64(&self) -> u64 {
        let mut bytes = [0u8; 8];
        let mut filled = 0;
        while filled < bytes.len() {
            match rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty()) {
                Ok(n) => filled += n,
                Err(Errno::INTR) => {}
                // getrandom(2) fails only on kernels older than 3.17; a weak fallback keeps
                // temp names unique enough together with the pid.
                Err(_) => {
                    return u64::from(self.process_id()).rotate_left(32)
                        ^ self.next_fd.fetch_add(1, Ordering::Relaxed).unsigned_abs() as u64;
                }
            }
        }
        u64::from_le_bytes(bytes)
    }
}
