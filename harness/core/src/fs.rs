//! The file-system surface that targets are written against.
//!
//! Targets are generic over [`Fs`] and never learn whether they run on the operating system
//! ([`crate::RealFs`]) or in memory with crash tracking ([`crate::SimFs`]). The trait is
//! object-safe so a caller may also hold a `&dyn Fs`.
//!
//! Besides file-system calls the trait carries the three things a target needs from its
//! environment that a simulation must control to stay deterministic: the process id, whether
//! another process is alive (stale-temp and stale-lock cleanup), and random numbers (temp names).
//! It does not model symlinks, extended attributes, or fcntl byte-range locks.

use std::path::{Path, PathBuf};

pub use rustix::io::Errno;

/// An open file handle returned by [`Fs::open`]. Its number means something only to the `Fs`
/// that returned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fd(pub i32);

/// Which of the file system's calls failed; part of every [`FsError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FsCall {
    /// [`Fs::open`]
    Open,
    /// [`Fs::close`]
    Close,
    /// [`Fs::write`] or [`Fs::pwrite`]
    Write,
    /// [`Fs::read`] or [`Fs::pread`]
    Read,
    /// [`Fs::fsync`]
    Fsync,
    /// [`Fs::fdatasync`]
    Fdatasync,
    /// [`Fs::fsync_dir`]
    FsyncDir,
    /// [`Fs::rename`]
    Rename,
    /// [`Fs::link`]
    Link,
    /// [`Fs::unlink`]
    Unlink,
    /// [`Fs::mkdir`]
    Mkdir,
    /// [`Fs::ftruncate`]
    Truncate,
    /// [`Fs::fchmod`]
    Chmod,
    /// [`Fs::metadata`] or [`Fs::fstat`]
    Stat,
    /// [`Fs::read_dir`]
    ReadDir,
    /// [`Fs::flock`] or [`Fs::unlock`]
    Lock,
}

impl FsCall {
    /// The call's name as it appears in traces and messages.
    pub fn name(self) -> &'static str {
        match self {
            FsCall::Open => "open",
            FsCall::Close => "close",
            FsCall::Write => "write",
            FsCall::Read => "read",
            FsCall::Fsync => "fsync",
            FsCall::Fdatasync => "fdatasync",
            FsCall::FsyncDir => "fsync_dir",
            FsCall::Rename => "rename",
            FsCall::Link => "link",
            FsCall::Unlink => "unlink",
            FsCall::Mkdir => "mkdir",
            FsCall::Truncate => "ftruncate",
            FsCall::Chmod => "fchmod",
            FsCall::Stat => "stat",
            FsCall::ReadDir => "read_dir",
            FsCall::Lock => "flock",
        }
    }
}

/// A failed file-system call: which call, on which path (when it has one), and the errno.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} failed{}", call.name(), path.as_ref().map(|p| format!(" on {}", p.display())).unwrap_or_default())]
pub struct FsError {
    /// The call that failed.
    pub call: FsCall,
    /// The path involved, when the call names one.
    pub path: Option<PathBuf>,
    /// What the (real or simulated) kernel answered.
    #[source]
    pub errno: Errno,
}

impl FsError {
    /// An error for `call` on `path`.
    pub fn at(call: FsCall, path: &Path, errno: Errno) -> Self {
        FsError {
            call,
            path: Some(path.to_path_buf()),
            errno,
        }
    }

    /// An error for a call on a file handle, which has no path.
    pub fn on_fd(call: FsCall, errno: Errno) -> Self {
        FsError {
            call,
            path: None,
            errno,
        }
    }
}

/// Result of a file-system call.
pub type FsResult<T> = Result<T, FsError>;

/// How to open a file: the subset of `open(2)` flags that targets use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OpenOptions {
    /// O_RDONLY/O_RDWR: the handle may read.
    pub read: bool,
    /// O_WRONLY/O_RDWR: the handle may write.
    pub write: bool,
    /// O_CREAT
    pub create: bool,
    /// O_EXCL (with `create`): fail with EEXIST if the name exists.
    pub exclusive: bool,
    /// O_TRUNC
    pub truncate: bool,
    /// O_APPEND
    pub append: bool,
    /// O_CLOEXEC: the descriptor is not inherited across exec.
    pub cloexec: bool,
    /// O_NOFOLLOW
    pub nofollow: bool,
    /// O_DIRECTORY
    pub directory: bool,
    /// Permission bits for a created file (before the umask on a real file system).
    pub mode: u32,
}

impl OpenOptions {
    /// Read-only, close-on-exec.
    pub const fn read_only() -> Self {
        OpenOptions {
            read: true,
            write: false,
            create: false,
            exclusive: false,
            truncate: false,
            append: false,
            cloexec: true,
            nofollow: false,
            directory: false,
            mode: 0o644,
        }
    }

    /// Write-only, close-on-exec, nothing else.
    pub const fn write_only() -> Self {
        OpenOptions {
            read: false,
            write: true,
            ..Self::read_only()
        }
    }

    /// Sets O_CREAT.
    pub const fn create(mut self, on: bool) -> Self {
        self.create = on;
        self
    }

    /// Sets O_CREAT|O_EXCL.
    pub const fn create_new(mut self) -> Self {
        self.create = true;
        self.exclusive = true;
        self
    }

    /// Sets O_TRUNC.
    pub const fn truncate(mut self, on: bool) -> Self {
        self.truncate = on;
        self
    }

    /// Sets O_APPEND.
    pub const fn append(mut self, on: bool) -> Self {
        self.append = on;
        self
    }

    /// Sets or clears O_CLOEXEC.
    pub const fn cloexec(mut self, on: bool) -> Self {
        self.cloexec = on;
        self
    }

    /// Sets O_NOFOLLOW.
    pub const fn nofollow(mut self, on: bool) -> Self {
        self.nofollow = on;
        self
    }

    /// Sets the permission bits a created file gets.
    pub const fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
}

/// Regular file or directory; the simulated file system has no other kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// Anything else the real file system may hold (symlink, socket, ...).
    Other,
}

/// What [`Fs::metadata`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// File or directory.
    pub kind: FileKind,
    /// Size in bytes (0 for a simulated directory).
    pub len: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Inode number, to tell whether a name still refers to the same file.
    pub ino: u64,
}

/// Shared or exclusive `flock(2)` lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum LockKind {
    /// LOCK_SH
    Shared,
    /// LOCK_EX
    Exclusive,
}

/// Whether [`Fs::flock`] may wait for a conflicting holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockWait {
    /// Wait until the lock is granted.
    Block,
    /// LOCK_NB: fail with EWOULDBLOCK at once.
    NonBlocking,
}

/// The system calls targets may make. See the module documentation for what it leaves out.
pub trait Fs {
    /// `open(2)`.
    fn open(&self, path: &Path, options: &OpenOptions) -> FsResult<Fd>;
    /// `close(2)`. The handle is gone even when this fails.
    fn close(&self, fd: Fd) -> FsResult<()>;
    /// `write(2)` at the handle's offset (or at the end with O_APPEND); may write less than asked.
    fn write(&self, fd: Fd, buf: &[u8]) -> FsResult<usize>;
    /// `pwrite(2)`.
    fn pwrite(&self, fd: Fd, buf: &[u8], offset: u64) -> FsResult<usize>;
    /// `read(2)` at the handle's offset; 0 at end of file.
    fn read(&self, fd: Fd, buf: &mut [u8]) -> FsResult<usize>;
    /// `pread(2)`.
    fn pread(&self, fd: Fd, buf: &mut [u8], offset: u64) -> FsResult<usize>;
    /// `fsync(2)`: the file's data and metadata are durable, not its name.
    fn fsync(&self, fd: Fd) -> FsResult<()>;
    /// `fdatasync(2)`: the file's data and size are durable, its mode not necessarily.
    fn fdatasync(&self, fd: Fd) -> FsResult<()>;
    /// Opens the directory and fsyncs it: creates, renames and unlinks in it are durable.
    fn fsync_dir(&self, path: &Path) -> FsResult<()>;
    /// `rename(2)`, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> FsResult<()>;
    /// `link(2)`: a second name for an existing file; EEXIST if `to` exists.
    fn link(&self, from: &Path, to: &Path) -> FsResult<()>;
    /// `unlink(2)`.
    fn unlink(&self, path: &Path) -> FsResult<()>;
    /// `mkdir(2)`.
    fn mkdir(&self, path: &Path, mode: u32) -> FsResult<()>;
    /// `ftruncate(2)`.
    fn ftruncate(&self, fd: Fd, len: u64) -> FsResult<()>;
    /// `fchmod(2)`.
    fn fchmod(&self, fd: Fd, mode: u32) -> FsResult<()>;
    /// `stat(2)` (following no symlinks in the simulation, which has none).
    fn metadata(&self, path: &Path) -> FsResult<Metadata>;
    /// `fstat(2)`.
    fn fstat(&self, fd: Fd) -> FsResult<Metadata>;
    /// The names in a directory, sorted, without `.` and `..`.
    fn read_dir(&self, path: &Path) -> FsResult<Vec<String>>;
    /// `flock(2)` with LOCK_SH or LOCK_EX.
    fn flock(&self, fd: Fd, kind: LockKind, wait: LockWait) -> FsResult<()>;
    /// `flock(2)` with LOCK_UN.
    fn unlock(&self, fd: Fd) -> FsResult<()>;

    /// A named crash point in target code (see [`crate::crash_point`]). Does nothing unless the
    /// file system was given a plan or hook for it.
    fn crash_point(&self, name: &'static str);
    /// This process's id as the file system sees it.
    fn process_id(&self) -> u32;
    /// Whether a process with this id is running.
    fn process_alive(&self, pid: u32) -> bool;
    /// A random number: temp-file names and backoff jitter. Seeded in the simulation.
    fn random_u64(&self) -> u64;
}

/// Closes its handle when dropped, so every error path of a target releases what it opened.
pub struct FdGuard<'a, F: Fs + ?Sized> {
    fs: &'a F,
    fd: Option<Fd>,
}

impl<'a, F: Fs + ?Sized> FdGuard<'a, F> {
    /// Opens `path` and guards the handle.
    pub fn open(fs: &'a F, path: &Path, options: &OpenOptions) -> FsResult<Self> {
        let fd = fs.open(path, options)?;
        Ok(FdGuard { fs, fd: Some(fd) })
    }

    /// Guards a handle already open.
    pub fn from_fd(fs: &'a F, fd: Fd) -> Self {
        FdGuard { fs, fd: Some(fd) }
    }

    /// The guarded handle.
    pub fn fd(&self) -> Fd {
        self.fd.expect("a guard holds its handle until close or drop")
    }

    /// Closes the handle now and reports the error `drop` would swallow.
    pub fn close(mut self) -> FsResult<()> {
        match self.fd.take() {
            Some(fd) => self.fs.close(fd),
            None => Ok(()),
        }
    }
}

impl<F: Fs + ?Sized> Drop for FdGuard<'_, F> {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            // An error path is already returning its own error; a failed close adds nothing.
            let _ = self.fs.close(fd);
        }
    }
}

/// Writes all of `buf` at the handle's offset, retrying short writes and EINTR.
pub fn write_all<F: Fs + ?Sized>(fs: &F, fd: Fd, mut buf: &[u8]) -> FsResult<()> {
    while !buf.is_empty() {
        match fs.write(fd, buf) {
            Ok(0) => return Err(FsError::on_fd(FsCall::Write, Errno::IO)),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.errno == Errno::INTR => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads the whole file at `path`.
pub fn read_file<F: Fs + ?Sized>(fs: &F, path: &Path) -> FsResult<Vec<u8>> {
    let guard = FdGuard::open(fs, path, &OpenOptions::read_only())?;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match fs.read(guard.fd(), &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.errno == Errno::INTR => {}
            Err(e) => return Err(e.with_path(path)),
        }
    }
    guard.close()?;
    Ok(out)
}

impl FsError {
    /// The same error, naming `path` if it named none.
    pub fn with_path(mut self, path: &Path) -> Self {
        if self.path.is_none() {
            self.path = Some(path.to_path_buf());
        }
        self
    }
}

/// The parent directory of `path`, or `.` for a bare name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
