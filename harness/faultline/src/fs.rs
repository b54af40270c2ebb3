//! File-system calls shaped like `std::fs`: the real file system in ordinary code, the
//! check's simulated one inside [`crate::check`].
//!
//! Write your persistence code against this module instead of `std::fs`; it reads the same.
//! Outside a check every call is the `std::fs` call (after one atomic load). Inside one,
//! calls go to a simulated file system that records what each call changed, so that the
//! check can enumerate what a crash or a power cut could leave. Relative paths start at the
//! simulated root there, and at the working directory in ordinary code.
//!
//! Not in `std::fs`: [`sync_dir`], the directory fsync that makes a rename or a new name
//! durable, which `std` has no name for.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use faultline_core::fs::{Fd, FsError, LockKind, LockWait, OpenOptions as SimOpen};
use faultline_core::{FileKind, Fs};

use crate::session::{self, Session};

fn io_error(e: FsError) -> io::Error {
    let errno = io::Error::from_raw_os_error(e.errno.raw_os_error());
    match e.path {
        Some(path) => io::Error::new(
            errno.kind(),
            format!("{}: {} ({errno})", e.call.name(), path.display()),
        ),
        None => io::Error::new(errno.kind(), format!("{} ({errno})", e.call.name())),
    }
}

/// An open file: a `std::fs::File`, or a descriptor of the check's simulated file system.
#[derive(Debug)]
pub struct File {
    inner: Inner,
}

enum Inner {
    Real(std::fs::File),
    Sim {
        session: Arc<Session>,
        fd: Fd,
        /// The path it was opened by, to name its lock.
        path: PathBuf,
    },
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inner::Real(file) => file.fmt(f),
            Inner::Sim { fd, path, .. } => write!(f, "simulated fd {} ({})", fd.0, path.display()),
        }
    }
}

impl File {
    /// Opens a file for reading, like `std::fs::File::open`.
    pub fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path)
    }

    /// Creates or truncates a file for writing, like `std::fs::File::create`.
    pub fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    }

    /// Creates a file that must not exist yet, like `std::fs::File::create_new`.
    pub fn create_new(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().write(true).create_new(true).open(path)
    }

    /// Options to open a file with.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// fsync: the file's data and metadata are durable when it returns. Its name is not:
    /// that takes [`sync_dir`] of its directory.
    pub fn sync_all(&self) -> io::Result<()> {
        match &self.inner {
            Inner::Real(f) => f.sync_all(),
            Inner::Sim { session, fd, .. } => session.step().fsync(*fd).map_err(io_error),
        }
    }

    /// fdatasync: the file's data is durable when it returns (not its mode).
    pub fn sync_data(&self) -> io::Result<()> {
        match &self.inner {
            Inner::Real(f) => f.sync_data(),
            Inner::Sim { session, fd, .. } => session.step().fdatasync(*fd).map_err(io_error),
        }
    }

    /// Truncates or extends the file to `len` bytes.
    pub fn set_len(&self, len: u64) -> io::Result<()> {
        match &self.inner {
            Inner::Real(f) => f.set_len(len),
            Inner::Sim { session, fd, .. } => session.step().ftruncate(*fd, len).map_err(io_error),
        }
    }

    /// Sets the permission bits (`mode & 0o7777`).
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        match &self.inner {
            Inner::Real(f) => {
                use std::os::unix::fs::PermissionsExt as _;
                f.set_permissions(std::fs::Permissions::from_mode(mode))
            }
            Inner::Sim { session, fd, .. } => session.step().fchmod(*fd, mode).map_err(io_error),
        }
    }

    /// The file's kind, length and mode.
    pub fn metadata(&self) -> io::Result<Metadata> {
        match &self.inner {
            Inner::Real(f) => f.metadata().map(Metadata::from_std),
            Inner::Sim { session, fd, .. } => session
                .step()
                .fstat(*fd)
                .map(Metadata::from_sim)
                .map_err(io_error),
        }
    }

    /// Takes an exclusive lock on the file (flock), waiting for it. Inside a check, a wait
    /// that closes a cycle between threads (each holding a lock the next one waits for) fails
    /// with `ErrorKind::Deadlock`, naming each thread's locks and where it took them.
    #[track_caller]
    pub fn lock(&self) -> io::Result<()> {
        let (session, fd, path) = match &self.inner {
            Inner::Real(f) => return rustix_flock(f, true),
            Inner::Sim { session, fd, path } => (session, *fd, path.display().to_string()),
        };
        let at = std::panic::Location::caller();
        let me = crate::locks::task();
        loop {
            match session
                .step()
                .flock(fd, LockKind::Exclusive, LockWait::NonBlocking)
            {
                Ok(()) => {
                    session.locks().acquired(me, fd, path, at);
                    return Ok(());
                }
                Err(e) if e.errno == faultline_core::Errno::WOULDBLOCK => {
                    if let Some(cycle) = session.locks().wait(me, path.clone(), at) {
                        return Err(io::Error::new(io::ErrorKind::Deadlock, cycle));
                    }
                    session::yield_now();
                }
                Err(e) => return Err(io_error(e)),
            }
        }
    }

    /// Releases the file's lock.
    pub fn unlock(&self) -> io::Result<()> {
        match &self.inner {
            Inner::Real(f) => rustix_flock(f, false),
            Inner::Sim { session, fd, .. } => {
                session.locks().released(*fd);
                session.step().unlock(*fd).map_err(io_error)
            }
        }
    }
}

fn rustix_flock(f: &std::fs::File, lock: bool) -> io::Result<()> {
    let operation = if lock {
        rustix::fs::FlockOperation::LockExclusive
    } else {
        rustix::fs::FlockOperation::Unlock
    };
    rustix::fs::flock(f, operation).map_err(io::Error::from)
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Real(f) => f.read(buf),
            Inner::Sim { session, fd, .. } => session.step().read(*fd, buf).map_err(io_error),
        }
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Real(f) => f.write(buf),
            Inner::Sim { session, fd, .. } => session.step().write(*fd, buf).map_err(io_error),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for File {
    fn drop(&mut self) {
        if let Inner::Sim { session, fd, .. } = &self.inner {
            session.locks().released(*fd);
            let _ = session.step().close(*fd);
        }
    }
}

/// How to open a file, like `std::fs::OpenOptions` (with `mode` from its Unix extension).
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// Nothing set; mode 0o666 (less the umask on the real file system).
    pub fn new() -> Self {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.read = on;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.write = on;
        self
    }

    /// Every write goes to the end.
    pub fn append(&mut self, on: bool) -> &mut Self {
        self.append = on;
        self
    }

    /// Cut the file to nothing on open.
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        self.truncate = on;
        self
    }

    /// Create the file if it does not exist.
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.create = on;
        self
    }

    /// Create the file, failing if it exists.
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        self.create_new = on;
        self
    }

    /// Permission bits of a file this open creates.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Opens `path`.
    pub fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        match session::current() {
            None => {
                use std::os::unix::fs::OpenOptionsExt as _;
                let file = std::fs::OpenOptions::new()
                    .read(self.read)
                    .write(self.write)
                    .append(self.append)
                    .truncate(self.truncate)
                    .create(self.create)
                    .create_new(self.create_new)
                    .mode(self.mode)
                    .open(path)?;
                Ok(File {
                    inner: Inner::Real(file),
                })
            }
            Some(session) => {
                let options = SimOpen {
                    read: self.read,
                    write: self.write || self.append,
                    create: self.create || self.create_new,
                    exclusive: self.create_new,
                    truncate: self.truncate,
                    append: self.append,
                    cloexec: true,
                    nofollow: false,
                    directory: false,
                    mode: self.mode,
                };
                let fd = session
                    .step()
                    .open(&session::sim_path(path), &options)
                    .map_err(io_error)?;
                Ok(File {
                    inner: Inner::Sim {
                        session,
                        fd,
                        path: path.to_path_buf(),
                    },
                })
            }
        }
    }
}

/// A file's kind, length and mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    dir: bool,
    len: u64,
    mode: u32,
}

impl Metadata {
    fn from_std(m: std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        Metadata {
            dir: m.is_dir(),
            len: m.len(),
            mode: m.mode() & 0o7777,
        }
    }

    fn from_sim(m: faultline_core::fs::Metadata) -> Self {
        Metadata {
            dir: m.kind == FileKind::Dir,
            len: m.len,
            mode: m.mode & 0o7777,
        }
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.dir
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        !self.dir
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Permission bits.
    pub fn mode(&self) -> u32 {
        self.mode
    }
}

/// The whole file, like `std::fs::read`.
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    File::open(path)?.read_to_end(&mut out)?;
    Ok(out)
}

/// The whole file as UTF-8, like `std::fs::read_to_string`.
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let mut out = String::new();
    File::open(path)?.read_to_string(&mut out)?;
    Ok(out)
}

/// Creates or truncates the file and writes `contents`, like `std::fs::write`: not atomic,
/// not durable.
pub fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    File::create(path)?.write_all(contents.as_ref())
}

/// Renames `from` to `to`, replacing `to`, like `std::fs::rename`. Durable only after
/// [`sync_dir`] of the directories involved.
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref(), to.as_ref());
    match session::current() {
        None => std::fs::rename(from, to),
        Some(s) => s
            .step()
            .rename(&session::sim_path(from), &session::sim_path(to))
            .map_err(io_error),
    }
}

/// A second name for a file, like `std::fs::hard_link`.
pub fn hard_link(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref(), to.as_ref());
    match session::current() {
        None => std::fs::hard_link(from, to),
        Some(s) => s
            .step()
            .link(&session::sim_path(from), &session::sim_path(to))
            .map_err(io_error),
    }
}

/// Removes a name, like `std::fs::remove_file`.
pub fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    match session::current() {
        None => std::fs::remove_file(path),
        Some(s) => s.step().unlink(&session::sim_path(path)).map_err(io_error),
    }
}

/// Creates a directory, like `std::fs::create_dir`.
pub fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    match session::current() {
        None => std::fs::create_dir(path),
        Some(s) => s.step().mkdir(&session::sim_path(path), 0o755).map_err(io_error),
    }
}

/// Creates a directory and its missing parents, like `std::fs::create_dir_all`.
pub fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let Some(s) = session::current() else {
        return std::fs::create_dir_all(path);
    };
    let full = session::sim_path(path);
    let mut at = PathBuf::from("/");
    for part in full.components().skip(1) {
        at.push(part);
        match s.step().metadata(&at) {
            Ok(m) if m.kind == FileKind::Dir => continue,
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} is a file", at.display()),
                ));
            }
            Err(_) => s.step().mkdir(&at, 0o755).map_err(io_error)?,
        }
    }
    Ok(())
}

/// The kind, length and mode of what `path` names, like `std::fs::metadata`.
pub fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref();
    match session::current() {
        None => std::fs::metadata(path).map(Metadata::from_std),
        Some(s) => s
            .step()
            .metadata(&session::sim_path(path))
            .map(Metadata::from_sim)
            .map_err(io_error),
    }
}

/// Whether `path` names something, like `Path::exists`.
pub fn exists(path: impl AsRef<Path>) -> bool {
    metadata(path).is_ok()
}

/// The names in a directory, sorted.
pub fn read_dir_names(path: impl AsRef<Path>) -> io::Result<Vec<String>> {
    let path = path.as_ref();
    match session::current() {
        None => {
            let mut names = Vec::new();
            for entry in std::fs::read_dir(path)? {
                names.push(entry?.file_name().to_string_lossy().into_owned());
            }
            names.sort();
            Ok(names)
        }
        Some(s) => s.step().read_dir(&session::sim_path(path)).map_err(io_error),
    }
}

/// fsync of a directory: the names created, renamed or removed in it are durable when it
/// returns. `std::fs` has no call for it; without it a power cut can undo a rename.
pub fn sync_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    match session::current() {
        None => std::fs::File::open(path)?.sync_all(),
        Some(s) => s.step().fsync_dir(&session::sim_path(path)).map_err(io_error),
    }
}
