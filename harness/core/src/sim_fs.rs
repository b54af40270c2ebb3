//! [`Fs`] in memory, deterministic, recording a trace and tracking durability.
//!
//! Every call is applied to a live image (what running processes see), appended to the trace
//! with its effects, and fed to a power-loss [`Durability`] tracker, so at any moment the file
//! system can say which of its data and directory entries are durable and which are pending.
//! Randomness is seeded, so the same code on the same seed makes the same trace.
//!
//! Also here: fault injection (make the Nth call fail with an errno, to test error paths) and
//! crash-point hooks (run code at a named point in a target, to interleave two simulated
//! writers exactly). Not here: symlinks, fcntl locks, blocking lock waits (a conflicting
//! blocking `flock` fails with EDEADLK, since a single thread of control could never be woken),
//! and permission checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::file_data::MAX_FILE_LEN;
use crate::fs::{
    Errno, Fd, FileKind, Fs, FsCall, FsError, FsResult, LockKind, LockWait, Metadata, OpenOptions,
};
use crate::image::{FsImage, Ino, Node};
use crate::persistence::{BlockSize, Durability, PersistenceModel};
use crate::trace::{Barrier, Effect, Mutation, TraceEntry};

/// How to start a [`SimFs`].
#[derive(Clone, Copy, Debug)]
pub struct SimOptions {
    /// Seeds [`Fs::random_u64`].
    pub seed: u64,
    /// The simulated process id. Only this process is alive.
    pub pid: u32,
    /// Record a trace and track durability. Off for throw-away file systems (recovery runs on
    /// crash states) where only the final image matters.
    pub record: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 0,
            pid: 1000,
            record: true,
        }
    }
}

/// Code run when a target reaches a crash point; gets the file system and the point's name.
pub type CrashHook = Box<dyn FnMut(&SimFs, &'static str) + Send>;

struct OpenFile {
    ino: Ino,
    offset: u64,
    readable: bool,
    writable: bool,
    append: bool,
}

#[derive(Default)]
struct LockState {
    shared: BTreeSet<i32>,
    exclusive: Option<i32>,
}

impl LockState {
    /// Drops whatever lock the handle holds.
    fn release(&mut self, fd: Fd) {
        self.shared.remove(&fd.0);
        if self.exclusive == Some(fd.0) {
            self.exclusive = None;
        }
    }
}

/// Drops whatever lock `fd` holds on `ino`.
fn release_lock(st: &mut SimState, ino: Ino, fd: Fd) {
    if let Some(lock) = st.locks.get_mut(&ino) {
        lock.release(fd);
    }
}

struct SimState {
    image: FsImage,
    fds: BTreeMap<i32, OpenFile>,
    next_fd: i32,
    locks: BTreeMap<Ino, LockState>,
    trace: Vec<TraceEntry>,
    durability: Option<Durability>,
    rng: ChaCha8Rng,
    calls: usize,
    fail_at: Option<(usize, Errno)>,
}

/// The simulated file system. Interior mutability makes it usable through `&self` like the
/// real one; a mutex (never held while a hook runs) makes it `Sync`.
pub struct SimFs {
    state: Mutex<SimState>,
    hook: Mutex<Option<CrashHook>>,
    pid: u32,
    record: bool,
}

impl Default for SimFs {
    fn default() -> Self {
        SimFs::new(SimOptions::default())
    }
}

impl SimFs {
    /// An empty file system (a root directory only).
    pub fn new(options: SimOptions) -> Self {
        SimFs::from_image(FsImage::new(), options)
    }

    /// A file system booted from `image`, e.g. a crash state, taken as fully durable.
    pub fn from_image(image: FsImage, options: SimOptions) -> Self {
        let durability = options
            .record
            .then(|| Durability::new(image.clone(), PersistenceModel::PowerLoss, BlockSize::DEFAULT));
        SimFs {
            state: Mutex::new(SimState {
                image,
                fds: BTreeMap::new(),
                next_fd: 3,
                locks: BTreeMap::new(),
                trace: Vec::new(),
                durability,
                rng: ChaCha8Rng::seed_from_u64(options.seed),
                calls: 0,
                fail_at: None,
            }),
            hook: Mutex::new(None),
            pid: options.pid,
            record: options.record,
        }
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Declares everything so far durable and starts a fresh trace; returns the image the new
    /// trace starts from. Call it after setting up a workload's initial files.
    pub fn checkpoint(&self) -> FsImage {
        let mut st = self.lock();
        st.trace.clear();
        let image = st.image.clone();
        if self.record {
            st.durability = Some(Durability::new(
                image.clone(),
                PersistenceModel::PowerLoss,
                BlockSize::DEFAULT,
            ));
        }
        image
    }

    /// The trace since creation or the last checkpoint.
    pub fn trace(&self) -> Vec<TraceEntry> {
        self.lock().trace.clone()
    }

    /// How many entries the trace has; workloads key their history by it.
    pub fn trace_len(&self) -> usize {
        self.lock().trace.len()
    }

    /// The live image: what a process reading now would see.
    pub fn image(&self) -> FsImage {
        self.lock().image.clone()
    }

    /// The power-loss view of the trace so far: what is durable and what is pending.
    /// `None` when the file system does not record.
    pub fn durability(&self) -> Option<Durability> {
        self.lock().durability.clone()
    }

    /// Makes call number `call` (counting every `Fs` call from 0, crash points excluded) fail
    /// with `errno` and change nothing.
    pub fn fail_call(&self, call: usize, errno: Errno) {
        self.lock().fail_at = Some((call, errno));
    }

    /// How many `Fs` calls were made so far (crash points excluded).
    pub fn calls(&self) -> usize {
        self.lock().calls
    }

    /// Runs `hook` whenever a target reaches a crash point. While the hook runs, crash points
    /// reached by code it calls do not run it again.
    pub fn set_crash_hook(&self, hook: CrashHook) {
        *self.hook.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// Starts a call: counts it and answers an injected failure.
    fn begin(
        &self,
        st: &mut SimState,
        call: FsCall,
        path: Option<&Path>,
        text: impl FnOnce() -> String,
    ) -> FsResult<()> {
        let n = st.calls;
        st.calls += 1;
        match st.fail_at {
            Some((at, errno)) if at == n => {
                self.push(st, text(), Some(errno), Vec::new());
                Err(FsError {
                    call,
                    path: path.map(Path::to_path_buf),
                    errno,
                })
            }
            _ => Ok(()),
        }
    }

    fn push(&self, st: &mut SimState, call: String, errno: Option<Errno>, effects: Vec<Effect>) {
        if !self.record {
            return;
        }
        let index = st.trace.len();
        if let Some(d) = st.durability.as_mut() {
            d.record(index, &effects);
        }
        st.trace.push(TraceEntry {
            call,
            errno,
            crash_point: None,
            effects,
        });
    }

    /// Applies effects to the live image and records the entry.
    fn commit(&self, st: &mut SimState, call: String, effects: Vec<Effect>) {
        for effect in &effects {
            if let Effect::Mutation(m) = effect {
                m.apply(&mut st.image, u64::MAX, BlockSize::DEFAULT.bytes());
            }
        }
        self.push(st, call, None, effects);
    }

    fn fail<T>(
        &self,
        st: &mut SimState,
        call: FsCall,
        path: Option<&Path>,
        text: String,
        errno: Errno,
    ) -> FsResult<T> {
        self.push(st, text, Some(errno), Vec::new());
        Err(FsError {
            call,
            path: path.map(Path::to_path_buf),
            errno,
        })
    }

    fn file(st: &SimState, fd: Fd) -> Option<&OpenFile> {
        st.fds.get(&fd.0)
    }

    fn write_at(&self, fd: Fd, buf: &[u8], at: Option<u64>) -> FsResult<usize> {
        let mut st = self.lock();
        let text = || {
            format!(
                "{} fd {} {} bytes{}",
                if at.is_some() { "pwrite" } else { "write" },
                fd.0,
                buf.len(),
                at.map(|o| format!(" at {o}")).unwrap_or_default()
            )
        };
        self.begin(&mut st, FsCall::Write, None, text)?;
        let Some(of) = Self::file(&st, fd) else {
            return self.fail(&mut st, FsCall::Write, None, text(), Errno::BADF);
        };
        if !of.writable {
            return self.fail(&mut st, FsCall::Write, None, text(), Errno::BADF);
        }
        let ino = of.ino;
        let len = match st.image.node(ino) {
            Some(Node::File { data, .. }) => data.len(),
            _ => return self.fail(&mut st, FsCall::Write, None, text(), Errno::ISDIR),
        };
        // Linux appends with O_APPEND even for pwrite, whatever the offset (pwrite(2), BUGS).
        let offset = match at {
            _ if of.append => len,
            Some(o) => o,
            None => of.offset,
        };
        if offset.saturating_add(buf.len() as u64) > MAX_FILE_LEN {
            return self.fail(&mut st, FsCall::Write, None, text(), Errno::FBIG);
        }
        let effects = if buf.is_empty() {
            Vec::new()
        } else {
            vec![Effect::Mutation(Mutation::Write {
                ino,
                offset,
                data: Arc::from(buf),
            })]
        };
        let text = text();
        self.commit(&mut st, text, effects);
        if at.is_none()
            && let Some(of) = st.fds.get_mut(&fd.0)
        {
            of.offset = offset + buf.len() as u64;
        }
        Ok(buf.len())
    }

    fn read_at(&self, fd: Fd, buf: &mut [u8], at: Option<u64>) -> FsResult<usize> {
        let mut st = self.lock();
        let text = || format!("{} fd {}", if at.is_some() { "pread" } else { "read" }, fd.0);
        self.begin(&mut st, FsCall::Read, None, text)?;
        let Some(of) = Self::file(&st, fd) else {
            return self.fail(&mut st, FsCall::Read, None, text(), Errno::BADF);
        };
        if !of.readable {
            return self.fail(&mut st, FsCall::Read, None, text(), Errno::BADF);
        }
        let offset = at.unwrap_or(of.offset);
        let n = match st.image.node(of.ino) {
            Some(Node::File { data, .. }) => data.read_at(offset, buf),
            _ => return self.fail(&mut st, FsCall::Read, None, text(), Errno::ISDIR),
        };
        if at.is_none()
            && let Some(of) = st.fds.get_mut(&fd.0)
        {
            of.offset = offset + n as u64;
        }
        self.push(&mut st, format!("{} -> {n} bytes", text()), None, Vec::new());
        Ok(n)
    }

    fn sync(&self, fd: Fd, call: FsCall) -> FsResult<()> {
        let mut st = self.lock();
        let text = || format!("{} fd {}", call.name(), fd.0);
        self.begin(&mut st, call, None, text)?;
        let Some(of) = Self::file(&st, fd) else {
            return self.fail(&mut st, call, None, text(), Errno::BADF);
        };
        let ino = of.ino;
        let barriers = match (st.image.node(ino).map(Node::kind), call) {
            (Some(FileKind::Dir), _) => vec![Barrier::Dir(ino), Barrier::File(ino)],
            (_, FsCall::Fdatasync) => vec![Barrier::FileData(ino)],
            _ => vec![Barrier::File(ino)],
        };
        let text = text();
        self.commit(&mut st, text, barriers.into_iter().map(Effect::Barrier).collect());
        Ok(())
    }
}

impl Fs for SimFs {
    fn open(&self, path: &Path, options: &OpenOptions) -> FsResult<Fd> {
        let mut st = self.lock();
        let text = || {
            let mut flags = Vec::new();
            for (on, name) in [
                (options.read && options.write, "O_RDWR"),
                (options.read && !options.write, "O_RDONLY"),
                (options.write && !options.read, "O_WRONLY"),
                (options.create, "O_CREAT"),
                (options.exclusive, "O_EXCL"),
                (options.truncate, "O_TRUNC"),
                (options.append, "O_APPEND"),
                (options.cloexec, "O_CLOEXEC"),
                (options.nofollow, "O_NOFOLLOW"),
                (options.directory, "O_DIRECTORY"),
            ] {
                if on {
                    flags.push(name);
                }
            }
            format!("open {} {} {:o}", path.display(), flags.join("|"), options.mode)
        };
        self.begin(&mut st, FsCall::Open, Some(path), text)?;
        let (dir, name) = match st.image.lookup_parent(path) {
            Ok(found) => found,
            Err(errno) => return self.fail(&mut st, FsCall::Open, Some(path), text(), errno),
        };
        let mut effects = Vec::new();
        let ino = match st.image.entry(dir, name) {
            Some(_) if options.create && options.exclusive => {
                return self.fail(&mut st, FsCall::Open, Some(path), text(), Errno::EXIST);
            }
            Some(ino) => {
                let is_dir = matches!(st.image.node(ino), Some(Node::Dir { .. }));
                if is_dir && options.write {
                    return self.fail(&mut st, FsCall::Open, Some(path), text(), Errno::ISDIR);
                }
                if !is_dir && options.directory {
                    return self.fail(&mut st, FsCall::Open, Some(path), text(), Errno::NOTDIR);
                }
                if options.truncate && options.write && !is_dir {
                    effects.push(Effect::Mutation(Mutation::Truncate { ino, len: 0 }));
                }
                ino
            }
            None if options.create => {
                let ino = st.image.next_ino();
                effects.push(Effect::Mutation(Mutation::NewFile {
                    ino,
                    mode: options.mode & 0o7777,
                }));
                effects.push(Effect::Mutation(Mutation::Link {
                    dir,
                    name: Arc::from(name),
                    ino,
                }));
                ino
            }
            None => return self.fail(&mut st, FsCall::Open, Some(path), text(), Errno::NOENT),
        };
        let fd = st.next_fd;
        st.next_fd += 1;
        st.fds.insert(
            fd,
            OpenFile {
                ino,
                offset: 0,
                readable: options.read,
                writable: options.write,
                append: options.append,
            },
        );
        let text = format!("{} = fd {fd}", text());
        self.commit(&mut st, text, effects);
        Ok(Fd(fd))
    }

    fn close(&self, fd: Fd) -> FsResult<()> {
        let mut st = self.lock();
        let text = || format!("close fd {}", fd.0);
        self.begin(&mut st, FsCall::Close, None, text)?;
        let Some(of) = st.fds.remove(&fd.0) else {
            return self.fail(&mut st, FsCall::Close, None, text(), Errno::BADF);
        };
        release_lock(&mut st, of.ino, fd);
        self.push(&mut st, text(), None, Vec::new());
        Ok(())
    }

    fn write(&self, fd: Fd, buf: &[u8]) -> FsResult<usize> {
        self.write_at(fd, buf, None)
    }

    fn pwrite(&self, fd: Fd, buf: &[u8], offset: u64) -> FsResult<usize> {
        self.write_at(fd, buf, Some(offset))
    }

    fn read(&self, fd: Fd, buf: &mut [u8]) -> FsResult<usize> {
        self.read_at(fd, buf, None)
    }

    fn pread(&self, fd: Fd, buf: &mut [u8], offset: u64) -> FsResult<usize> {
        self.read_at(fd, buf, Some(offset))
    }

    fn fsync(&self, fd: Fd) -> FsResult<()> {
        self.sync(fd, FsCall::Fsync)
    }

    fn fdatasync(&self, fd: Fd) -> FsResult<()> {
        self.sync(fd, FsCall::Fdatasync)
    }

    fn fsync_dir(&self, path: &Path) -> FsResult<()> {
        let mut st = self.lock();
        let text = || format!("fsync_dir {}", path.display());
        self.begin(&mut st, FsCall::FsyncDir, Some(path), text)?;
        let ino = match st.image.lookup(path) {
            Ok(ino) if matches!(st.image.node(ino), Some(Node::Dir { .. })) => ino,
            Ok(_) => return self.fail(&mut st, FsCall::FsyncDir, Some(path), text(), Errno::NOTDIR),
            Err(errno) => return self.fail(&mut st, FsCall::FsyncDir, Some(path), text(), errno),
        };
        let text = text();
        self.commit(
            &mut st,
            text,
            vec![
                Effect::Barrier(Barrier::Dir(ino)),
                Effect::Barrier(Barrier::File(ino)),
            ],
        );
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> FsResult<()> {
        let mut st = self.lock();
        let text = || format!("rename {} -> {}", from.display(), to.display());
        self.begin(&mut st, FsCall::Rename, Some(from), text)?;
        let found = st.image.lookup_parent(from).and_then(|(fd, fname)| {
            let ino = st.image.entry(fd, fname).ok_or(Errno::NOENT)?;
            let (td, tname) = st.image.lookup_parent(to)?;
            Ok((fd, fname, ino, td, tname))
        });
        let (from_dir, from_name, ino, to_dir, to_name) = match found {
            Ok(found) => found,
            Err(errno) => return self.fail(&mut st, FsCall::Rename, Some(from), text(), errno),
        };
        let moving_dir = matches!(st.image.node(ino), Some(Node::Dir { .. }));
        match st.image.entry(to_dir, to_name).and_then(|t| st.image.node(t)) {
            Some(Node::Dir { .. }) if !moving_dir => {
                return self.fail(&mut st, FsCall::Rename, Some(from), text(), Errno::ISDIR);
            }
            Some(Node::File { .. }) if moving_dir => {
                return self.fail(&mut st, FsCall::Rename, Some(from), text(), Errno::NOTDIR);
            }
            _ => {}
        }
        let effects = if st.image.entry(to_dir, to_name) == Some(ino) {
            Vec::new()
        } else {
            vec![Effect::Mutation(Mutation::Rename {
                from_dir,
                from_name: Arc::from(from_name),
                to_dir,
                to_name: Arc::from(to_name),
                ino,
            })]
        };
        let text = text();
        self.commit(&mut st, text, effects);
        Ok(())
    }

    fn link(&self, from: &Path, to: &Path) -> FsResult<()> {
        let mut st = self.lock();
        let text = || format!("link {} -> {}", from.display(), to.display());
        self.begin(&mut st, FsCall::Link, Some(to), text)?;
        let found = st
            .image
            .lookup(from)
            .and_then(|ino| Ok((ino, st.image.lookup_parent(to)?)));
        let (ino, (dir, name)) = match found {
            Ok(found) => found,
            Err(errno) => return self.fail(&mut st, FsCall::Link, Some(to), text(), errno),
        };
        // Linux answers EEXIST before it looks at what the source is.
        if st.image.entry(dir, name).is_some() {
            return self.fail(&mut st, FsCall::Link, Some(to), text(), Errno::EXIST);
        }
        if matches!(st.image.node(ino), Some(Node::Dir { .. })) {
            return self.fail(&mut st, FsCall::Link, Some(to), text(), Errno::PERM);
        }
        let text = text();
        self.commit(
            &mut st,
            text,
            vec![Effect::Mutation(Mutation::Link {
                dir,
                name: Arc::from(name),
                ino,
            })],
        );
        Ok(())
    }

    fn unlink(&self, path: &Path) -> FsResult<()> {
        let mut st = self.lock();
        let text = || format!("unlink {}", path.display());
        self.begin(&mut st, FsCall::Unlink, Some(path), text)?;
        let found = st
            .image
            .lookup_parent(path)
            .and_then(|(dir, name)| Ok((dir, name, st.image.entry(dir, name).ok_or(Errno::NOENT)?)));
        let (dir, name, ino) = match found {
            Ok(found) => found,
            Err(errno) => return self.fail(&mut st, FsCall::Unlink, Some(path), text(), errno),
        };
        if matches!(st.image.node(ino), Some(Node::Dir { .. })) {
            return self.fail(&mut st, FsCall::Unlink, Some(path), text(), Errno::ISDIR);
        }
        let text = text();
        self.commit(
            &mut st,
            text,
            vec![Effect::Mutation(Mutation::Unlink {
                dir,
                name: Arc::from(name),
                ino,
            })],
        );
        Ok(())
    }

    fn mkdir(&self, path: &Path, mode: u32) -> FsResult<()> {
        let mut st = self.lock();
        let text = || format!("mkdir {} {mode:o}", path.display());
        self.begin(&mut st, FsCall::Mkdir, Some(path), text)?;
        let (dir, name) = match st.image.lookup_parent(path) {
            Ok(found) => found,
            Err(errno) => return self.fail(&mut st, FsCall::Mkdir, Some(path), text(), errno),
        };
        if st.image.entry(dir, name).is_some() {
            return self.fail(&mut st, FsCall::Mkdir, Some(path), text(), Errno::EXIST);
        }
        let ino = st.image.next_ino();
        let effects = vec![
            Effect::Mutation(Mutation::NewDir {
                ino,
                mode: mode & 0o7777,
            }),
            Effect::Mutation(Mutation::Link {
                dir,
                name: Arc::from(name),
                ino,
            }),
        ];
        let text = text();
        self.commit(&mut st, text, effects);
        Ok(())
    }

    fn ftruncate(&self, fd: Fd, len: u64) -> FsResult<()> {
        let mut st = self.lock();
        let text = || format!("ftruncate fd {} {len}", fd.0);
        self.begin(&mut st, FsCall::Truncate, None, text)?;
        let Some(of) = Self::file(&st, fd).filter(|of| of.writable) else {
            return self.fail(&mut st, FsCall::Truncate, None, text(), Errno::BADF);
        };
        let ino = of.ino;
        if len > MAX_FILE_LEN {
            return self.fail(&mut st, FsCall::Truncate, None, text(), Errno::FBIG);
        }
        let text = text();
        self.commit(
            &mut st,
            text,
            vec![Effect::Mutation(Mutation::Truncate { ino, len })],
        );
        Ok(())
    }

    fn fchmod(&self, fd: Fd, mode: u32) -> FsResult<()> {
        let mut st = self.lock();
        let text = || format!("fchmod fd {} {mode:o}", fd.0);
        self.begin(&mut st, FsCall::Chmod, None, text)?;
        let Some(of) = Self::file(&st, fd) else {
            return self.fail(&mut st, FsCall::Chmod, None, text(), Errno::BADF);
        };
        let ino = of.ino;
        let text = text();
        self.commit(
            &mut st,
            text,
            vec![Effect::Mutation(Mutation::SetMode {
                ino,
                mode: mode & 0o7777,
            })],
        );
        Ok(())
    }

    fn metadata(&self, path: &Path) -> FsResult<Metadata> {
        let mut st = self.lock();
        let text = || format!("stat {}", path.display());
        self.begin(&mut st, FsCall::Stat, Some(path), text)?;
        match st.image.lookup(path) {
            Ok(ino) => {
                let meta = metadata_of(&st.image, ino);
                self.push(&mut st, text(), None, Vec::new());
                Ok(meta)
            }
            Err(errno) => self.fail(&mut st, FsCall::Stat, Some(path), text(), errno),
        }
    }

    fn fstat(&self, fd: Fd) -> FsResult<Metadata> {
        let mut st = self.lock();
        let text = || format!("fstat fd {}", fd.0);
        self.begin(&mut st, FsCall::Stat, None, text)?;
        let Some(of) = Self::file(&st, fd) else {
            return self.fail(&mut st, FsCall::Stat, None, text(), Errno::BADF);
        };
        let meta = metadata_of(&st.image, of.ino);
        self.push(&mut st, text(), None, Vec::new());
        Ok(meta)
    }

    fn read_dir(&self, path: &Path) -> FsResult<Vec<String>> {
        let mut st = self.lock();
        let text = || format!("read_dir {}", path.display());
        self.begin(&mut st, FsCall::ReadDir, Some(path), text)?;
        let names = match st.image.lookup(path).map(|ino| st.image.entries(ino)) {
            Ok(Some(entries)) => entries.keys().map(|k| k.to_string()).collect(),
            Ok(None) => return self.fail(&mut st, FsCall::ReadDir, Some(path), text(), Errno::NOTDIR),
            Err(errno) => return self.fail(&mut st, FsCall::ReadDir, Some(path), text(), errno),
        };
        self.push(&mut st, text(), None, Vec::new());
        Ok(names)
    }

    fn flock(&self, fd: Fd, kind: LockKind, wait: LockWait) -> FsResult<()> {
        let mut st = self.lock();
        let text = || {
            format!(
                "flock fd {} {kind:?}{}",
                fd.0,
                if wait == LockWait::NonBlocking {
                    "|LOCK_NB"
                } else {
                    ""
                }
            )
        };
        self.begin(&mut st, FsCall::Lock, None, text)?;
        let Some(of) = Self::file(&st, fd) else {
            return self.fail(&mut st, FsCall::Lock, None, text(), Errno::BADF);
        };
        let ino = of.ino;
        let lock = st.locks.entry(ino).or_default();
        let conflict = match kind {
            LockKind::Shared => lock.exclusive.is_some_and(|h| h != fd.0),
            LockKind::Exclusive => {
                lock.exclusive.is_some_and(|h| h != fd.0) || lock.shared.iter().any(|h| *h != fd.0)
            }
        };
        if conflict {
            let errno = if wait == LockWait::NonBlocking {
                Errno::WOULDBLOCK
            } else {
                Errno::DEADLK
            };
            return self.fail(&mut st, FsCall::Lock, None, text(), errno);
        }
        // flock converts an existing lock of the same description rather than stacking.
        lock.release(fd);
        match kind {
            LockKind::Shared => {
                lock.shared.insert(fd.0);
            }
            LockKind::Exclusive => lock.exclusive = Some(fd.0),
        }
        self.push(&mut st, text(), None, Vec::new());
        Ok(())
    }

    fn unlock(&self, fd: Fd) -> FsResult<()> {
        let mut st = self.lock();
        let text = || format!("flock fd {} LOCK_UN", fd.0);
        self.begin(&mut st, FsCall::Lock, None, text)?;
        let Some(of) = Self::file(&st, fd) else {
            return self.fail(&mut st, FsCall::Lock, None, text(), Errno::BADF);
        };
        let ino = of.ino;
        release_lock(&mut st, ino, fd);
        self.push(&mut st, text(), None, Vec::new());
        Ok(())
    }

    fn crash_point(&self, name: &'static str) {
        if self.record {
            let mut st = self.lock();
            st.trace.push(TraceEntry {
                call: String::new(),
                errno: None,
                crash_point: Some(name),
                effects: Vec::new(),
            });
        }
        // The hook is taken out while it runs: code it calls reaches crash points too, and
        // those must not re-enter it.
        let taken = self.hook.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut hook) = taken {
            hook(self, name);
            let mut slot = self.hook.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(hook);
            }
        }
    }

    fn process_id(&self) -> u32 {
        self.pid
    }

    fn process_alive(&self, pid: u32) -> bool {
        pid == self.pid
    }

    fn random_u64(&self) -> u64 {
        self.lock().rng.next_u64()
    }
}

fn metadata_of(image: &FsImage, ino: Ino) -> Metadata {
    match image.node(ino) {
        Some(Node::File { data, mode }) => Metadata {
            kind: FileKind::File,
            len: data.len(),
            mode: *mode,
            ino,
        },
        Some(Node::Dir { mode, .. }) => Metadata {
            kind: FileKind::Dir,
            len: 0,
            mode: *mode,
            ino,
        },
        None => Metadata {
            kind: FileKind::Other,
            len: 0,
            mode: 0,
            ino,
        },
    }
}
