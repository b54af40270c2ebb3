//! Family `lock`: file locks shared by processes, and the ways they fail.
//!
//! Three references: [`Variant::Flock`], a reader/writer lock on `flock(2)` (the one to use);
//! [`Variant::Ofd`], the same on open-file-description `fcntl` locks, which can lock byte
//! ranges and, unlike POSIX `fcntl` locks, are not dropped when the process closes some other
//! descriptor of the file; and [`Variant::OwnerRecord`], a lock file holding its owner's PID,
//! host and process start time, for locks that must stay visible after their holder crashed,
//! whose stale break is safe against racing breakers. [`lock_all`] takes several locks in one
//! global order, and the [`lockdep`] module records acquisitions for the lock-order graph.
//!
//! Locks are kernel objects, so this family runs on the real OS (rustix and nix), not through
//! [`faultline_core::Fs`]. A lock file is never deleted by the references: deleting a lock file
//! that others may have open splits them onto two inodes (L5).
//!
//! Use: open a [`LockFile`] once per process, then take guards from it; a guard releases the
//! lock when dropped.
//!
//! ```no_run
//! use std::time::Duration;
//! use faultline_targets::lock::{Mode, Variant};
//!
//! let lock = Variant::Flock.open("registry.json.lock".as_ref())?;
//! {
//!     let _guard = lock.lock(Mode::Exclusive, Some(Duration::from_secs(5)))?;
//!     // read, modify and write registry.json
//! }
//! # Ok::<(), faultline_targets::lock::LockError>(())
//! ```

mod fcntl_close_releases;
mod fd_lock;
mod follows_symlink;
mod inherited_by_child;
mod lock_order_inversion;
pub mod lockdep;
mod no_lock;
mod owner_record;
mod pid_file_stale_race;
mod split_rmw;
mod stale_by_age;
mod thread_mutex_only;
mod truncate_before_lock;
mod unlink_on_release;
mod upgrade_deadlock;

use std::fmt;
use std::io::{Read, Seek, Write};
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use faultline_core::{Errno, FailureKind};

use crate::info::{Detector, Expectation, FamilyInfo, VariantInfo};
use fd_lock::{FdHeld, Recipe};
use owner_record::{OwnerHeld, Stale};

/// The family's name.
pub const FAMILY: &str = "lock";

/// This family's entry in the registry.
pub const INFO: FamilyInfo = FamilyInfo {
    name: FAMILY,
    variants: VARIANTS,
    crash_points: CRASH_POINTS,
};

/// The crash points the family's code passes. `lock.held` is passed right after a lock is
/// taken, inside the critical section. L6's PID file passes two more: `lock.created` (the
/// file exists, empty, before its PID is written) and `lock.judged_stale` (its owner judged
/// dead, before the file is deleted). The counter workload passes `lock.counted` after each
/// increment, the lock released; L3 passes `lock.relock` between reading the counter and
/// taking the lock again to write it.
pub const CRASH_POINTS: &[&str] = &[
    "lock.held",
    "lock.created",
    "lock.judged_stale",
    "lock.relock",
    "lock.counted",
];

/// Shared (many readers) or exclusive (one writer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// Any number of shared holders, and no exclusive one.
    Shared,
    /// One holder.
    Exclusive,
}

impl Mode {
    /// `shared` or `exclusive`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Shared => "shared",
            Mode::Exclusive => "exclusive",
        }
    }
}

/// A byte range of a lock file: `len` bytes from `start`; `len` 0 reaches to the end of the
/// file, however long it grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// First byte.
    pub start: u64,
    /// Length; 0 for "to the end".
    pub len: u64,
}

impl Range {
    /// The whole file.
    pub const WHOLE: Range = Range { start: 0, len: 0 };
}

/// Why a lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Someone else held it for longer than the timeout.
    Timeout {
        /// The lock file.
        path: PathBuf,
        /// How long this caller waited.
        waited: Duration,
    },
    /// The lock path is a symbolic link; the lock refuses to follow it.
    Symlink {
        /// The lock file.
        path: PathBuf,
    },
    /// A byte range was asked of a lock that only locks whole files.
    NoRanges {
        /// The lock file.
        path: PathBuf,
    },
    /// A system call failed.
    Io {
        /// Which call.
        call: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        errno: Errno,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Timeout { path, waited } => write!(
                f,
                "timed out after {} ms waiting for the lock {}",
                waited.as_millis(),
                path.display()
            ),
            LockError::Symlink { path } => write!(
                f,
                "the lock path {} is a symbolic link; remove it (locks never follow links)",
                path.display()
            ),
            LockError::NoRanges { path } => write!(
                f,
                "the lock {} locks whole files only; use the ofd variant for byte ranges",
                path.display()
            ),
            LockError::Io { call, path, errno } => write!(f, "{call} {}: {errno}", path.display()),
        }
    }
}

impl std::error::Error for LockError {}

impl LockError {
    pub(crate) fn io(call: &'static str, path: &Path, errno: Errno) -> Self {
        LockError::Io {
            call,
            path: path.to_path_buf(),
            errno,
        }
    }

    pub(crate) fn std(call: &'static str, path: &Path, error: &std::io::Error) -> Self {
        Self::io(call, path, Errno::from_io_error(error).unwrap_or(Errno::IO))
    }
}

/// Waits between attempts: exponential from 20 µs to 1 ms, each wait jittered down to half,
/// so racing waiters spread out instead of retrying in step.
pub(crate) struct Backoff {
    started: Instant,
    timeout: Option<Duration>,
    next: Duration,
    rng: u64,
}

impl Backoff {
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        let seed = u64::from(std::process::id()) ^ Instant::now().elapsed().as_nanos() as u64;
        Backoff {
            started: Instant::now(),
            timeout,
            next: Duration::from_micros(20),
            rng: seed | 1,
        }
    }

    /// Sleeps before the next attempt; `Err` once the timeout has passed.
    pub(crate) fn wait(&mut self, path: &Path) -> Result<(), LockError> {
        let waited = self.started.elapsed();
        if let Some(timeout) = self.timeout
            && waited >= timeout
        {
            return Err(LockError::Timeout {
                path: path.to_path_buf(),
                waited,
            });
        }
        // xorshift64: jitter needs no quality, only independence between processes.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let half = self.next / 2;
        let jitter = Duration::from_nanos(self.rng % (half.as_nanos() as u64 + 1));
        std::thread::sleep(half + jitter);
        self.next = (self.next * 2).min(Duration::from_millis(1));
        Ok(())
    }
}

/// Every variant of the family, selectable by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Reference: flock reader/writer lock.
    Flock,
    /// Reference: open-file-description fcntl lock.
    Ofd,
    /// Reference: owner-record lock file with a safe stale break.
    OwnerRecord,
    /// L1
    NoLock,
    /// L2
    ThreadMutexOnly,
    /// L3
    SplitRmw,
    /// L4
    FcntlCloseReleases,
    /// L5
    UnlinkOnRelease,
    /// L6
    PidFileStaleRace,
    /// L7
    StaleByAge,
    /// L8
    TruncateBeforeLock,
    /// L9
    UpgradeDeadlock,
    /// L10
    LockOrderInversion,
    /// L11
    InheritedByChild,
    /// L12
    FollowsSymlink,
}

/// How a variant locks.
enum Mechanism {
    Fd(Recipe),
    Owner(Stale),
    PidFile,
    ThreadMutex,
    Nothing,
}

impl Variant {
    /// Every variant, references first (the order of [`VARIANTS`]).
    pub const ALL: [Variant; 15] = [
        Variant::Flock,
        Variant::Ofd,
        Variant::OwnerRecord,
        Variant::NoLock,
        Variant::ThreadMutexOnly,
        Variant::SplitRmw,
        Variant::FcntlCloseReleases,
        Variant::UnlinkOnRelease,
        Variant::PidFileStaleRace,
        Variant::StaleByAge,
        Variant::TruncateBeforeLock,
        Variant::UpgradeDeadlock,
        Variant::LockOrderInversion,
        Variant::InheritedByChild,
        Variant::FollowsSymlink,
    ];

    /// The variant called `name`.
    pub fn by_name(name: &str) -> Option<Variant> {
        crate::info::variant_by_name(&Variant::ALL, VARIANTS, name)
    }

    /// Its registry entry.
    pub fn info(self) -> &'static VariantInfo {
        crate::info::entry_of(&Variant::ALL, VARIANTS, &self)
    }

    fn mechanism(self) -> Mechanism {
        match self {
            Variant::Flock | Variant::SplitRmw | Variant::LockOrderInversion => Mechanism::Fd(Recipe::FLOCK),
            Variant::Ofd => Mechanism::Fd(Recipe::OFD),
            Variant::OwnerRecord => Mechanism::Owner(Stale::WhenOwnerDead),
            Variant::NoLock => no_lock::MECHANISM,
            Variant::ThreadMutexOnly => thread_mutex_only::MECHANISM,
            Variant::FcntlCloseReleases => Mechanism::Fd(fcntl_close_releases::RECIPE),
            Variant::UnlinkOnRelease => Mechanism::Fd(unlink_on_release::RECIPE),
            Variant::PidFileStaleRace => pid_file_stale_race::MECHANISM,
            Variant::StaleByAge => Mechanism::Owner(stale_by_age::STALE),
            Variant::TruncateBeforeLock => Mechanism::Fd(truncate_before_lock::RECIPE),
            Variant::UpgradeDeadlock => Mechanism::Fd(upgrade_deadlock::RECIPE),
            Variant::InheritedByChild => Mechanism::Fd(inherited_by_child::RECIPE),
            Variant::FollowsSymlink => Mechanism::Fd(follows_symlink::RECIPE),
        }
    }

    /// Opens (creating if needed) the lock file at `path`. Open it once per process and take
    /// every guard from it.
    pub fn open(self, path: &Path) -> Result<LockFile, LockError> {
        let kind = match self.mechanism() {
            Mechanism::Fd(recipe) => Kind::Fd(fd_lock::FdLock::open(path, recipe)?),
            Mechanism::Owner(stale) => Kind::Owner(stale),
            Mechanism::PidFile => Kind::PidFile,
            Mechanism::ThreadMutex => Kind::ThreadMutex,
            Mechanism::Nothing => Kind::Nothing,
        };
        Ok(LockFile {
            variant: self,
            path: path.to_path_buf(),
            class: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            kind,
        })
    }

    /// Whether [`increment`] drops the lock between its read and its write (L3).
    fn splits_rmw(self) -> bool {
        self == Variant::SplitRmw
    }

    /// Whether [`lock_all`] takes locks in the caller's order instead of sorting them (L10).
    fn keeps_caller_order(self) -> bool {
        self == Variant::LockOrderInversion
    }
}

enum Kind {
    Fd(fd_lock::FdLock),
    Owner(Stale),
    PidFile,
    ThreadMutex,
    Nothing,
}

/// A lock file opened by one process. Guards borrow it.
pub struct LockFile {
    variant: Variant,
    path: PathBuf,
    class: String,
    kind: Kind,
}

impl LockFile {
    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the lock in `mode`, waiting at most `timeout` (forever when `None`). Locks that
    /// have no shared mode (owner records, PID files) take `Shared` as `Exclusive`.
    #[track_caller]
    pub fn lock(&self, mode: Mode, timeout: Option<Duration>) -> Result<Guard<'_>, LockError> {
        self.lock_at(mode, Range::WHOLE, timeout, Location::caller())
    }

    /// Takes `range` of the lock file in `mode` (fcntl locks only: [`Variant::Ofd`]); holders of
    /// ranges that do not overlap do not exclude each other.
    #[track_caller]
    pub fn lock_range(
        &self,
        mode: Mode,
        range: Range,
        timeout: Option<Duration>,
    ) -> Result<Guard<'_>, LockError> {
        match &self.kind {
            Kind::Fd(lock) if lock.has_ranges() => self.lock_at(mode, range, timeout, Location::caller()),
            _ => Err(LockError::NoRanges {
                path: self.path.clone(),
            }),
        }
    }

    fn lock_at(
        &self,
        mode: Mode,
        range: Range,
        timeout: Option<Duration>,
        site: &'static Location<'static>,
    ) -> Result<Guard<'_>, LockError> {
        // Recorded before waiting, as lockdep does: an order that deadlocks is on record
        // even though the acquisition never completes.
        lockdep::acquiring(&self.class, mode, site);
        let held = match &self.kind {
            Kind::Fd(lock) => Held::Fd(lock.lock(mode, range, timeout)?),
            Kind::Owner(stale) => Held::Owner(owner_record::lock(&self.path, *stale, timeout)?),
            Kind::PidFile => Held::PidFile(pid_file_stale_race::lock(&self.path, timeout)?),
            Kind::ThreadMutex => Held::Mutex(thread_mutex_only::lock()),
            Kind::Nothing => Held::Nothing,
        };
        // Locks with no shared mode hold every lock exclusively.
        let mode = match &self.kind {
            Kind::Fd(_) => mode,
            Kind::Owner(_) | Kind::PidFile | Kind::ThreadMutex | Kind::Nothing => Mode::Exclusive,
        };
        let token = lockdep::acquired(&self.class, mode, site);
        Ok(Guard {
            file: self,
            held,
            mode,
            lockdep: token,
        })
    }
}

enum Held {
    Fd(FdHeld),
    Owner(OwnerHeld),
    PidFile(pid_file_stale_race::PidHeld),
    Mutex(#[expect(dead_code, reason = "held for its Drop")] std::sync::MutexGuard<'static, ()>),
    Nothing,
}

/// A held lock; dropping it releases the lock.
pub struct Guard<'a> {
    file: &'a LockFile,
    held: Held,
    mode: Mode,
    lockdep: Option<u64>,
}

impl Guard<'_> {
    /// The mode held: `Exclusive` for locks with no shared mode, whatever was asked.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Checks that the lock's owner record (for locks that keep one) still names this holder.
    /// `Err` says what the record holds instead.
    pub fn check_owner(&self) -> Result<(), String> {
        match &self.held {
            Held::Fd(held) => match &self.file.kind {
                Kind::Fd(lock) => lock.check_owner(held),
                _ => Ok(()),
            },
            Held::Owner(held) => held.check_owner(&self.file.path),
            Held::PidFile(held) => held.check_owner(&self.file.path),
            Held::Mutex(_) | Held::Nothing => Ok(()),
        }
    }

    /// Turns a shared hold into an exclusive one. The references release the shared lock
    /// first and then wait for the exclusive one, so two upgraders cannot deadlock; what was
    /// read under the shared lock may have changed by the time this returns. If it fails
    /// (a timeout), the guard holds nothing any more; dropping it is still fine.
    pub fn upgrade(&mut self, timeout: Option<Duration>) -> Result<(), LockError> {
        if self.mode == Mode::Exclusive {
            return Ok(());
        }
        if let (Held::Fd(held), Kind::Fd(lock)) = (&mut self.held, &self.file.kind) {
            lock.upgrade(held, timeout)?;
        }
        self.mode = Mode::Exclusive;
        Ok(())
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if let Some(token) = self.lockdep.take() {
            lockdep::released(token);
        }
        match std::mem::replace(&mut self.held, Held::Nothing) {
            Held::Fd(held) => {
                if let Kind::Fd(lock) = &self.file.kind {
                    lock.release(held);
                }
            }
            Held::Owner(held) => held.release(&self.file.path),
            Held::PidFile(held) => held.release(&self.file.path),
            Held::Mutex(_) | Held::Nothing => {}
        }
    }
}

/// The order in which [`lock_all`] takes `files`: the references sort them by path (and drop
/// duplicates), so processes that need the same locks always take them in the same order and
/// cannot deadlock on each other; L10 keeps the caller's order.
pub fn acquisition_order<'a>(files: &[&'a LockFile]) -> Vec<&'a LockFile> {
    let mut order: Vec<&'a LockFile> = files.to_vec();
    if !files.iter().any(|f| f.variant.keeps_caller_order()) {
        order.sort_by(|a, b| a.path.cmp(&b.path));
        order.dedup_by(|a, b| a.path == b.path);
    }
    order
}

/// Takes every lock in `files` in `mode`, in [`acquisition_order`]. On error the locks already
/// taken are released.
#[track_caller]
pub fn lock_all<'a>(
    files: &[&'a LockFile],
    mode: Mode,
    timeout: Option<Duration>,
) -> Result<Vec<Guard<'a>>, LockError> {
    let order = acquisition_order(files);
    let mut guards = Vec::with_capacity(order.len());
    for file in order {
        guards.push(file.lock_at(mode, Range::WHOLE, timeout, Location::caller())?);
    }
    Ok(guards)
}

/// Runs `f` holding the flock reference's shared lock on `path`.
pub fn with_read_lock<T>(
    path: &Path,
    timeout: Option<Duration>,
    f: impl FnOnce() -> T,
) -> Result<T, LockError> {
    with_lock(path, Mode::Shared, timeout, f)
}

/// Runs `f` holding the flock reference's exclusive lock on `path`.
pub fn with_write_lock<T>(
    path: &Path,
    timeout: Option<Duration>,
    f: impl FnOnce() -> T,
) -> Result<T, LockError> {
    with_lock(path, Mode::Exclusive, timeout, f)
}

fn with_lock<T>(
    path: &Path,
    mode: Mode,
    timeout: Option<Duration>,
    f: impl FnOnce() -> T,
) -> Result<T, LockError> {
    let lock = Variant::Flock.open(path)?;
    let _guard = lock.lock(mode, timeout)?;
    Ok(f())
}

/// Adds one to the counter kept as decimal text in `counter`, a read-modify-write under
/// `lock`; returns the new value. A missing or empty file counts as 0.
pub fn increment(lock: &LockFile, counter: &Path, timeout: Option<Duration>) -> Result<u64, LockError> {
    let guard = lock.lock(Mode::Exclusive, timeout)?;
    let value = read_counter(counter)?;
    let guard = if lock.variant.splits_rmw() {
        split_rmw::relock(guard, lock, timeout)?
    } else {
        guard
    };
    write_counter(counter, value + 1)?;
    drop(guard);
    faultline_core::crash_point::pass("lock.counted");
    Ok(value + 1)
}

fn read_counter(path: &Path) -> Result<u64, LockError> {
    let mut text = String::new();
    match std::fs::File::open(path) {
        Ok(mut f) => {
            f.read_to_string(&mut text)
                .map_err(|e| LockError::std("read", path, &e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(LockError::std("open", path, &e)),
    }
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    text.parse()
        .map_err(|_| LockError::io("parse", path, Errno::INVAL))
}

fn write_counter(path: &Path, value: u64) -> Result<(), LockError> {
    // In place: every access is under the lock, and the workload kills no one mid-write.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| LockError::std("open", path, &e))?;
    let text = format!("{value}\n");
    f.set_len(0)
        .and_then(|()| f.rewind())
        .and_then(|()| f.write_all(text.as_bytes()))
        .map_err(|e| LockError::std("write", path, &e))
}

/// This process's owner record: `pid <pid> host <host> start <ticks>\n`. The start time is 0
/// when /proc cannot tell it, and a record with start 0 is never judged dead.
pub(crate) fn owner_record() -> String {
    let pid = std::process::id();
    let start = match liveness(pid) {
        Liveness::Running(start) => start,
        Liveness::Gone | Liveness::Unknown => 0,
    };
    format!("pid {pid} host {} start {start}\n", host_name())
}

pub(crate) fn host_name() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

/// What can be known of a process from here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Running (or stopped), started at this many clock ticks after boot (field 22 of
    /// /proc/PID/stat).
    Running(u64),
    /// No such process, or it has exited (a zombie).
    Gone,
    /// It exists, but /proc could not be read: treat it as running.
    Unknown,
}

/// Whether process `pid` runs, and since when. Only `kill(pid, 0)` failing with ESRCH, or
/// /proc showing a zombie, says it is gone: a failed read of /proc is `Unknown`, never `Gone`,
/// so a lock is never broken on a guess.
pub(crate) fn liveness(pid: u32) -> Liveness {
    let Some(raw) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else {
        return Liveness::Unknown;
    };
    if rustix::process::test_kill_process(raw) == Err(rustix::io::Errno::SRCH) {
        return Liveness::Gone;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Liveness::Unknown;
    };
    // The command name (field 2) is in parentheses and may hold spaces: skip past it.
    let Some(rest) = stat.rfind(')').and_then(|i| stat.get(i + 2..)) else {
        return Liveness::Unknown;
    };
    // `rest` starts at field 3, the state; field 22 is the 20th from there.
    let fields: Vec<&str> = rest.split(' ').collect();
    match (fields.first(), fields.get(19).and_then(|f| f.parse().ok())) {
        (Some(&"Z") | Some(&"X"), _) => Liveness::Gone,
        (_, Some(start)) => Liveness::Running(start),
        _ => Liveness::Unknown,
    }
}

/// The registry entries, in the order of [`Variant::ALL`].
pub const VARIANTS: &[VariantInfo] = &[
    VariantInfo {
        name: "flock",
        catalogue_id: None,
        summary: "flock reader/writer lock: O_NOFOLLOW|O_CLOEXEC lock file, timeout with jittered backoff",
        expectations: &[],
    },
    VariantInfo {
        name: "ofd",
        catalogue_id: None,
        summary: "open-file-description fcntl lock: byte ranges, not dropped by closing another fd",
        expectations: &[],
    },
    VariantInfo {
        name: "owner_record",
        catalogue_id: None,
        summary: "lock file with PID, host and start time, published by link(2); breaks only dead owners' locks",
        expectations: &[],
    },
    no_lock::INFO,
    thread_mutex_only::INFO,
    split_rmw::INFO,
    fcntl_close_releases::INFO,
    unlink_on_release::INFO,
    pid_file_stale_race::INFO,
    stale_by_age::INFO,
    truncate_before_lock::INFO,
    upgrade_deadlock::INFO,
    lock_order_inversion::INFO,
    inherited_by_child::INFO,
    follows_symlink::INFO,
];

const fn expect(detector: Detector, kind: FailureKind) -> Expectation {
    Expectation { detector, kind }
}
