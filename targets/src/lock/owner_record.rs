//! The owner-record lock: a lock file whose presence is the lock and whose contents name the
//! owner (PID, host, process start time). It stays after its holder crashed, so the next
//! acquirer can see who held it, and breaks it only when that owner is provably gone.
//!
//! Taking it: write the record to a unique temp file, then `link(2)` the temp to the lock
//! path. The link either fails (someone holds it) or publishes a complete record at once, so
//! no one ever sees an empty lock file (the window L6 mistakes for a stale lock).
//!
//! Breaking a stale lock, safely when several waiters race to break it: every breaker takes an
//! exclusive flock on `<path>.break`, then checks by name that the lock path is still the very
//! inode it judged stale before unlinking it. A breaker that lost the race sees another inode
//! (or none) and retries instead of deleting the winner's fresh lock. While the stale file
//! exists no one can create a new one, so the inode cannot be replaced between the check and
//! the unlink. A live owner (same host, PID running with the same start time) is never broken,
//! however long it holds the lock: a paused holder is still a holder (L7 breaks by age).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use faultline_core::Errno;
use rustix::fs::{FlockOperation, Mode as FileMode, OFlags};

use super::{Backoff, LockError};

/// When a lock file counts as stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stale {
    /// Its owner is not running (the reference).
    WhenOwnerDead,
    /// It is older than this, whoever owns it (L7).
    OlderThan(Duration),
}

/// A held owner-record lock.
pub(crate) struct OwnerHeld {
    record: String,
    dev: u64,
    ino: u64,
}

/// Takes the lock at `path`.
pub(crate) fn lock(path: &Path, stale: Stale, timeout: Option<Duration>) -> Result<OwnerHeld, LockError> {
    let record = super::owner_record();
    let temp = temp_path(path);
    std::fs::write(&temp, &record).map_err(|e| LockError::std("write", &temp, &e))?;
    let result = take(path, &temp, &record, stale, timeout);
    let _ = std::fs::remove_file(&temp);
    result
}

fn take(
    path: &Path,
    temp: &Path,
    record: &str,
    stale: Stale,
    timeout: Option<Duration>,
) -> Result<OwnerHeld, LockError> {
    let mut backoff = Backoff::new(timeout.or(Some(Duration::MAX)));
    loop {
        match std::fs::hard_link(temp, path) {
            Ok(()) => {
                let meta = std::fs::symlink_metadata(path).map_err(|e| LockError::std("stat", path, &e))?;
                return Ok(OwnerHeld {
                    record: record.to_string(),
                    dev: meta.dev(),
                    ino: meta.ino(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(LockError::std("link", path, &e)),
        }
        match judge(path, stale) {
            Some((dev, ino)) => break_stale(path, dev, ino)?,
            None => backoff.wait(path)?,
        }
    }
}

/// The lock file's (dev, ino) when it is stale; `None` when it is live or already gone. The
/// record and the inode come from one open of the file, so they belong together.
fn judge(path: &Path, stale: Stale) -> Option<(u64, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let is_stale = match stale {
        Stale::WhenOwnerDead => !owner_alive(&bytes),
        Stale::OlderThan(ttl) => meta.modified().ok()?.elapsed().is_ok_and(|age| age > ttl),
    };
    is_stale.then_some((meta.dev(), meta.ino()))
}

/// Whether the record names a process that is still running. A record from another host, or
/// one that cannot be read, counts as alive: only a provably dead owner loses its lock.
fn owner_alive(record: &[u8]) -> bool {
    let Some(owner) = Owner::parse(record) else {
        return true;
    };
    // Another host's process cannot be looked up here; a record without a start time cannot
    // tell a reused PID from its owner.
    if owner.host != super::host_name() || owner.start == 0 {
        return true;
    }
    match super::liveness(owner.pid) {
        super::Liveness::Running(start) => start == owner.start,
        super::Liveness::Gone => false,
        super::Liveness::Unknown => true,
    }
}

fn break_stale(path: &Path, dev: u64, ino: u64) -> Result<(), LockError> {
    let breaker = break_path(path);
    let fd = rustix::fs::open(
        &breaker,
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        FileMode::from_raw_mode(0o644),
    )
    .map_err(|e| LockError::io("open", &breaker, e))?;
    loop {
        match rustix::fs::flock(&fd, FlockOperation::LockExclusive) {
            Err(Errno::INTR) => continue,
            Err(e) => return Err(LockError::io("flock", &breaker, e)),
            Ok(()) => break,
        }
    }
    // Under the breakers' lock: unlink only the very file judged stale.
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.dev() == dev
        && meta.ino() == ino
    {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

impl OwnerHeld {
    pub(crate) fn check_owner(&self, path: &Path) -> Result<(), String> {
        let meta = std::fs::symlink_metadata(path).map_err(|e| format!("the lock file is gone: {e}"))?;
        let bytes = std::fs::read(path).map_err(|e| format!("the lock file is gone: {e}"))?;
        if (meta.dev(), meta.ino()) != (self.dev, self.ino) {
            let held = String::from_utf8_lossy(&bytes);
            return Err(format!(
                "the lock file was replaced by another holder's ({})",
                held.trim()
            ));
        }
        compare(&bytes, &self.record)
    }

    pub(crate) fn release(self, path: &Path) {
        // Only our own file: if it is another inode, someone broke our lock (that is a bug
        // the check reports), and deleting theirs would make it worse.
        if let Ok(meta) = std::fs::symlink_metadata(path)
            && meta.dev() == self.dev
            && meta.ino() == self.ino
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `Ok` when `bytes` is exactly `record`; else what the file holds.
pub(crate) fn compare(bytes: &[u8], record: &str) -> Result<(), String> {
    if bytes == record.as_bytes() {
        return Ok(());
    }
    let held = String::from_utf8_lossy(bytes);
    let held = held.trim();
    Err(if held.is_empty() {
        format!("the owner record ({}) was erased", record.trim())
    } else {
        format!("the owner record ({}) was replaced by ({held})", record.trim())
    })
}

struct Owner {
    pid: u32,
    host: String,
    start: u64,
}

impl Owner {
    fn parse(record: &[u8]) -> Option<Owner> {
        let text = std::str::from_utf8(record).ok()?;
        let mut words = text.split_whitespace();
        let mut field = |name: &str| (words.next()? == name).then(|| words.next()).flatten();
        let pid = field("pid")?.parse().ok()?;
        let host = field("host")?.to_string();
        let start = field("start")?.parse().ok()?;
        Some(Owner { pid, host, start })
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let mut bytes = [0u8; 8];
    rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()).ok();
    path.with_file_name(format!(
        ".{name}.{}.{:016x}.owner",
        std::process::id(),
        u64::from_le_bytes(bytes)
    ))
}

fn break_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".break");
    path.with_file_name(name)
}
