//! The reference durable atomic write, and the recipe the broken variants bend.
//!
//! The procedure: create a temp in the target's directory with O_CREAT|O_EXCL|O_CLOEXEC and a
//! name that is random and carries the writer's pid; write everything; give it the target's
//! mode; fsync it; rename it over the target; fsync the directory. Any error before the rename
//! removes the temp. Its recovery (`AtomicWrite::recover` of [`Durable`]) removes temps whose writer is no longer running.
//!
//! Each broken variant is this procedure with one step of its recipe changed, so the variant
//! differs from the reference by exactly its catalogue bug.

use std::path::{Path, PathBuf};

use faultline_core::fs::{parent_dir, write_all};
use faultline_core::{Errno, FdGuard, FileKind, Fs, FsCall, FsError, FsResult, OpenOptions};

use super::{AFTER_CREATE, AFTER_RENAME, AFTER_WRITE, BEFORE_RENAME};

/// When the temp's data is fsynced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DataSync {
    /// Before the rename (correct).
    BeforeRename,
    /// After the rename (AW4).
    AfterRename,
    /// Never (AW2).
    Never,
}

/// How the temp is named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TempName {
    /// `.<name>.<pid>.<random>.tmp`, created with O_EXCL (correct).
    Unique,
    /// `<name>.tmp`, shared by every writer (AW5).
    Fixed,
}

/// The steps of a replace; [`Recipe::DURABLE`] is the reference.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Recipe {
    pub(crate) temp: TempName,
    pub(crate) data_sync: DataSync,
    pub(crate) dir_sync: bool,
    pub(crate) preserve_mode: bool,
    pub(crate) clean_stale_temps: bool,
}

impl Recipe {
    pub(crate) const DURABLE: Recipe = Recipe {
        temp: TempName::Unique,
        data_sync: DataSync::BeforeRename,
        dir_sync: true,
        preserve_mode: true,
        clean_stale_temps: true,
    };

    /// Runs the replace.
    pub(crate) fn replace<F: Fs + ?Sized>(&self, fs: &F, path: &Path, data: &[u8]) -> FsResult<()> {
        let dir = parent_dir(path);
        let existing_mode = match fs.metadata(path) {
            Ok(meta) if meta.kind == FileKind::Dir => {
                return Err(FsError::at(FsCall::Open, path, Errno::ISDIR));
            }
            Ok(meta) => Some(meta.mode),
            Err(e) if e.errno == Errno::NOENT => None,
            Err(e) => return Err(e),
        };
        // A new file gets the mode a plain create would (0666 less the umask, applied by the
        // kernel); an existing file's mode is copied onto the temp before it is renamed.
        let create_mode = if existing_mode.is_some() || !self.preserve_mode {
            0o600
        } else {
            0o666
        };
        let (tmp, file) = self.create_temp(fs, path, create_mode)?;
        fs.crash_point(AFTER_CREATE);
        match self.fill_and_rename(fs, &tmp, file, path, data, existing_mode) {
            Ok(()) => {}
            Err(e) => {
                // The temp is ours and unreachable by anyone else: remove it so errors leave
                // nothing behind. If the unlink fails too, recover() removes it later.
                if self.temp == TempName::Unique {
                    let _ = fs.unlink(&tmp);
                }
                return Err(e);
            }
        }
        fs.crash_point(AFTER_RENAME);
        if self.dir_sync {
            fs.fsync_dir(dir)?;
        }
        Ok(())
    }

    fn create_temp<'f, F: Fs + ?Sized>(
        &self,
        fs: &'f F,
        path: &Path,
        mode: u32,
    ) -> FsResult<(PathBuf, FdGuard<'f, F>)> {
        match self.temp {
            TempName::Fixed => {
                let tmp = fixed_temp_path(path);
                let options = OpenOptions::write_only().create(true).truncate(true).mode(mode);
                let file = FdGuard::open(fs, &tmp, &options)?;
                Ok((tmp, file))
            }
            TempName::Unique => {
                let options = OpenOptions::write_only()
                    .create_new()
                    .cloexec(true)
                    .nofollow(true)
                    .mode(mode);
                // A clash of 64 random bits is all but impossible; a few retries cover a
                // colliding leftover from a crash without looping forever on a broken rng.
                let mut attempts = 0;
                loop {
                    let tmp = unique_temp_path(fs, path);
                    match FdGuard::open(fs, &tmp, &options) {
                        Ok(file) => return Ok((tmp, file)),
                        Err(e) if e.errno == Errno::EXIST && attempts < 8 => attempts += 1,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    fn fill_and_rename<F: Fs + ?Sized>(
        &self,
        fs: &F,
        tmp: &Path,
        file: FdGuard<'_, F>,
        path: &Path,
        data: &[u8],
        existing_mode: Option<u32>,
    ) -> FsResult<()> {
        write_all(fs, file.fd(), data).map_err(|e| e.with_path(tmp))?;
        fs.crash_point(AFTER_WRITE);
        if let (true, Some(mode)) = (self.preserve_mode, existing_mode) {
            fs.fchmod(file.fd(), mode).map_err(|e| e.with_path(tmp))?;
        }
        if self.data_sync == DataSync::BeforeRename {
            fs.fsync(file.fd()).map_err(|e| e.with_path(tmp))?;
        }
        fs.crash_point(BEFORE_RENAME);
        if self.data_sync == DataSync::AfterRename {
            fs.rename(tmp, path)?;
            fs.fsync(file.fd()).map_err(|e| e.with_path(path))?;
            return file.close();
        }
        file.close().map_err(|e| e.with_path(tmp))?;
        fs.rename(tmp, path)
    }

    /// Removes temps of `path` whose writer is gone.
    pub(crate) fn recover<F: Fs + ?Sized>(&self, fs: &F, path: &Path) -> FsResult<()> {
        if !self.clean_stale_temps {
            return Ok(());
        }
        let dir = parent_dir(path);
        let removed = match self.temp {
            TempName::Fixed => {
                let tmp = fixed_temp_path(path);
                match fs.unlink(&tmp) {
                    Ok(()) => true,
                    Err(e) if e.errno == Errno::NOENT => false,
                    Err(e) => return Err(e),
                }
            }
            TempName::Unique => {
                let mut removed = false;
                for name in fs.read_dir(dir)? {
                    let Some(pid) = temp_owner(path, &name) else {
                        continue;
                    };
                    if fs.process_alive(pid) {
                        continue;
                    }
                    match fs.unlink(&dir.join(&name)) {
                        Ok(()) => removed = true,
                        // Another process recovering at the same time got there first.
                        Err(e) if e.errno == Errno::NOENT => {}
                        Err(e) => return Err(e),
                    }
                }
                removed
            }
        };
        if removed {
            fs.fsync_dir(dir)?;
        }
        Ok(())
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `<dir>/.<name>.<pid>.<16 hex digits>.tmp`
fn unique_temp_path<F: Fs + ?Sized>(fs: &F, path: &Path) -> PathBuf {
    let name = format!(
        ".{}.{}.{:016x}.tmp",
        file_name(path),
        fs.process_id(),
        fs.random_u64()
    );
    parent_dir(path).join(name)
}

/// `<path>.tmp`
fn fixed_temp_path(path: &Path) -> PathBuf {
    parent_dir(path).join(format!("{}.tmp", file_name(path)))
}

/// The pid in `entry` if it names a unique temp of `path`.
pub fn temp_owner(path: &Path, entry: &str) -> Option<u32> {
    let rest = entry
        .strip_prefix('.')?
        .strip_prefix(file_name(path).as_str())?
        .strip_prefix('.')?;
    let rest = rest.strip_suffix(".tmp")?;
    let (pid, random) = rest.split_once('.')?;
    (random.len() == 16 && random.bytes().all(|b| b.is_ascii_hexdigit())).then_some(())?;
    pid.parse().ok()
}

/// The reference: every step right.
///
/// This is what faultline itself uses to write its reports and baselines.
#[derive(Clone, Copy, Debug, Default)]
pub struct Durable;

super::recipe_variant!(Durable, Recipe::DURABLE);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_owner_parses_only_our_names() {
        let path = Path::new("/d/config.json");
        assert_eq!(
            temp_owner(path, ".config.json.4242.00ff00ff00ff00ff.tmp"),
            Some(4242)
        );
        assert_eq!(temp_owner(path, ".config.json.4242.short.tmp"), None);
        assert_eq!(temp_owner(path, ".other.json.4242.00ff00ff00ff00ff.tmp"), None);
        assert_eq!(temp_owner(path, "config.json.tmp"), None);
        assert_eq!(temp_owner(path, "config.json"), None);
    }
}
