//! Locks held through a file descriptor: flock(2), open-file-description fcntl locks and
//! POSIX fcntl locks, with the knobs the broken variants turn (each variant is the reference
//! [`Recipe`] with one step changed).

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use faultline_core::Errno;
use nix::fcntl::{FcntlArg, fcntl};
use rustix::fs::{FlockOperation, Mode as FileMode, OFlags};

use super::{Backoff, LockError, Mode, Range, owner_record};

/// Which kernel lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// flock(2): owned by the open file description; shared and exclusive.
    Flock,
    /// F_OFD_SETLK: byte-range, owned by the open file description.
    Ofd,
    /// F_SETLK: byte-range, owned by the process; any close of the file by the process drops it.
    Posix,
}

/// How a descriptor lock is opened, taken and released.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Recipe {
    pub kernel: Kernel,
    /// Open with O_NOFOLLOW (L12 drops it).
    pub nofollow: bool,
    /// Open with O_CLOEXEC (L11 drops it).
    pub cloexec: bool,
    /// Open with O_TRUNC, before the lock is held (L8).
    pub truncate_on_open: bool,
    /// Open the file at every acquisition instead of once (L5, L8 do, as their origins do).
    pub open_per_lock: bool,
    /// Delete the lock file on release (L5).
    pub unlink_on_release: bool,
    /// Write the holder's owner record into the file when holding it exclusively.
    pub owner_record: bool,
    /// Upgrade shared to exclusive in place, without releasing first (L9).
    pub upgrade_in_place: bool,
    /// Read the owner record through a new descriptor (L4: the close drops a POSIX lock).
    pub reopen_to_read_owner: bool,
}

impl Recipe {
    /// The flock reference.
    pub(crate) const FLOCK: Recipe = Recipe {
        kernel: Kernel::Flock,
        nofollow: true,
        cloexec: true,
        truncate_on_open: false,
        open_per_lock: false,
        unlink_on_release: false,
        owner_record: false,
        upgrade_in_place: false,
        reopen_to_read_owner: false,
    };

    /// The OFD reference.
    pub(crate) const OFD: Recipe = Recipe {
        kernel: Kernel::Ofd,
        ..Recipe::FLOCK
    };
}

/// A lock file opened by one process.
pub(crate) struct FdLock {
    path: std::path::PathBuf,
    recipe: Recipe,
    /// The descriptor every guard uses, unless the recipe opens one per lock.
    fd: Option<OwnedFd>,
    record: String,
}

/// What a guard holds.
pub(crate) struct FdHeld {
    /// The descriptor opened for this hold (recipes that open per lock).
    own: Option<OwnedFd>,
    range: Range,
    wrote_record: bool,
}

impl FdLock {
    pub(crate) fn open(path: &Path, recipe: Recipe) -> Result<Self, LockError> {
        let fd = if recipe.open_per_lock {
            None
        } else {
            Some(open(path, &recipe)?)
        };
        Ok(FdLock {
            path: path.to_path_buf(),
            recipe,
            fd,
            record: super::owner_record(),
        })
    }

    /// Whether this lock can hold part of a file (fcntl locks can; flock cannot).
    pub(crate) fn has_ranges(&self) -> bool {
        self.recipe.kernel != Kernel::Flock
    }

    pub(crate) fn lock(
        &self,
        mode: Mode,
        range: Range,
        timeout: Option<Duration>,
    ) -> Result<FdHeld, LockError> {
        let own = if self.recipe.open_per_lock {
            Some(open(&self.path, &self.recipe)?)
        } else {
            None
        };
        let fd = own.as_ref().or(self.fd.as_ref()).expect("a descriptor is open");
        acquire(fd, &self.path, self.recipe.kernel, mode, range, timeout)?;
        let mut held = FdHeld {
            own,
            range,
            wrote_record: false,
        };
        if mode == Mode::Exclusive && self.recipe.owner_record {
            let fd = held
                .own
                .as_ref()
                .or(self.fd.as_ref())
                .expect("a descriptor is open");
            write_record(fd, &self.path, &self.record)?;
            held.wrote_record = true;
        }
        Ok(held)
    }

    pub(crate) fn upgrade(&self, held: &mut FdHeld, timeout: Option<Duration>) -> Result<(), LockError> {
        let fd = held
            .own
            .as_ref()
            .or(self.fd.as_ref())
            .expect("a descriptor is open");
        if !self.recipe.upgrade_in_place {
            unlock(fd, self.recipe.kernel, held.range);
        }
        acquire(
            fd,
            &self.path,
            self.recipe.kernel,
            Mode::Exclusive,
            held.range,
            timeout,
        )?;
        if self.recipe.owner_record {
            write_record(fd, &self.path, &self.record)?;
            held.wrote_record = true;
        }
        Ok(())
    }

    pub(crate) fn release(&self, held: FdHeld) {
        if self.recipe.unlink_on_release {
            let _ = rustix::fs::unlink(&self.path);
        }
        let fd = held
            .own
            .as_ref()
            .or(self.fd.as_ref())
            .expect("a descriptor is open");
        unlock(fd, self.recipe.kernel, held.range);
        drop(held.own);
    }
}

impl FdLock {
    /// Checks that the file still holds this holder's owner record (only exclusive holds
    /// write one).
    pub(crate) fn check_owner(&self, held: &FdHeld) -> Result<(), String> {
        if !held.wrote_record {
            return Ok(());
        }
        let bytes = if self.recipe.reopen_to_read_owner {
            // Open, read, close: for a POSIX lock the close releases this process's lock.
            std::fs::read(&self.path).map_err(|e| format!("reading the owner record: {e}"))?
        } else {
            let fd = held
                .own
                .as_ref()
                .or(self.fd.as_ref())
                .expect("a descriptor is open");
            let mut buf = vec![0u8; 256];
            let n =
                rustix::io::pread(fd, &mut buf, 0).map_err(|e| format!("reading the owner record: {e}"))?;
            buf.truncate(n);
            buf
        };
        owner_record::compare(&bytes, &self.record)
    }
}

fn open(path: &Path, recipe: &Recipe) -> Result<OwnedFd, LockError> {
    let mut flags = OFlags::RDWR | OFlags::CREATE;
    if recipe.nofollow {
        flags |= OFlags::NOFOLLOW;
    }
    if recipe.cloexec {
        flags |= OFlags::CLOEXEC;
    }
    if recipe.truncate_on_open {
        flags |= OFlags::TRUNC;
    }
    // Readable by others (they may inspect the owner record), writable by the owner only.
    rustix::fs::open(path, flags, FileMode::from_raw_mode(0o644)).map_err(|e| {
        if e == Errno::LOOP && recipe.nofollow {
            LockError::Symlink {
                path: path.to_path_buf(),
            }
        } else {
            LockError::io("open", path, e)
        }
    })
}

fn write_record(fd: &OwnedFd, path: &Path, record: &str) -> Result<(), LockError> {
    rustix::fs::ftruncate(fd, 0).map_err(|e| LockError::io("ftruncate", path, e))?;
    rustix::io::pwrite(fd, record.as_bytes(), 0).map_err(|e| LockError::io("pwrite", path, e))?;
    Ok(())
}

/// Takes the lock: one non-blocking try, then (with a timeout) tries with backoff, or
/// (without one) a blocking call.
pub(crate) fn acquire(
    fd: &OwnedFd,
    path: &Path,
    kernel: Kernel,
    mode: Mode,
    range: Range,
    timeout: Option<Duration>,
) -> Result<(), LockError> {
    if try_lock(fd, path, kernel, mode, range, false)? {
        return Ok(());
    }
    if timeout.is_none() {
        try_lock(fd, path, kernel, mode, range, true)?;
        return Ok(());
    }
    let mut backoff = Backoff::new(timeout);
    loop {
        backoff.wait(path)?;
        if try_lock(fd, path, kernel, mode, range, false)? {
            return Ok(());
        }
    }
}

/// One attempt; `Ok(false)` when someone else holds a conflicting lock.
fn try_lock(
    fd: &OwnedFd,
    path: &Path,
    kernel: Kernel,
    mode: Mode,
    range: Range,
    block: bool,
) -> Result<bool, LockError> {
    let result = match kernel {
        Kernel::Flock => {
            let op = match (mode, block) {
                (Mode::Shared, false) => FlockOperation::NonBlockingLockShared,
                (Mode::Shared, true) => FlockOperation::LockShared,
                (Mode::Exclusive, false) => FlockOperation::NonBlockingLockExclusive,
                (Mode::Exclusive, true) => FlockOperation::LockExclusive,
            };
            loop {
                match rustix::fs::flock(fd, op) {
                    Err(Errno::INTR) => continue,
                    other => break other,
                }
            }
        }
        Kernel::Ofd | Kernel::Posix => {
            let kind = match mode {
                Mode::Shared => libc::F_RDLCK,
                Mode::Exclusive => libc::F_WRLCK,
            };
            fcntl_range(fd, kernel, kind as libc::c_short, range, block)
        }
    };
    match result {
        Ok(()) => Ok(true),
        Err(Errno::WOULDBLOCK) | Err(Errno::ACCESS) => Ok(false),
        Err(e) => Err(LockError::io("lock", path, e)),
    }
}

fn unlock(fd: &OwnedFd, kernel: Kernel, range: Range) {
    let _ = match kernel {
        Kernel::Flock => rustix::fs::flock(fd, FlockOperation::Unlock),
        Kernel::Ofd | Kernel::Posix => fcntl_range(fd, kernel, libc::F_UNLCK as libc::c_short, range, false),
    };
}

/// An fcntl lock on `range` (length 0: to the end of the file, growing with it).
fn fcntl_range(
    fd: &OwnedFd,
    kernel: Kernel,
    kind: libc::c_short,
    range: Range,
    block: bool,
) -> Result<(), Errno> {
    let range = libc::flock {
        l_type: kind,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: range.start as libc::off_t,
        l_len: range.len as libc::off_t,
        // OFD locks require 0 here.
        l_pid: 0,
    };
    let arg = || match (kernel, block) {
        (Kernel::Ofd, false) => FcntlArg::F_OFD_SETLK(&range),
        (Kernel::Ofd, true) => FcntlArg::F_OFD_SETLKW(&range),
        (_, false) => FcntlArg::F_SETLK(&range),
        (_, true) => FcntlArg::F_SETLKW(&range),
    };
    loop {
        match fcntl(fd.as_fd(), arg()) {
            Ok(_) => return Ok(()),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(Errno::from_raw_os_error(e as i32)),
        }
    }
}
