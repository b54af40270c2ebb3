//! Builds a trace from calls that already happened: a recorded program's system calls.
//!
//! [`crate::SimFs`] decides what a call does and records it; a recording has no decisions left
//! to make, because the kernel made them. [`TraceBuilder`] keeps a live image beside the trace,
//! turns each successful call into the same [`Mutation`]s and [`Barrier`]s SimFs would emit,
//! and applies them to the image, so later calls resolve names against the state they saw.
//! Paths are image paths (`/data.json`); the caller maps host paths into them.

use std::path::Path;
use std::sync::Arc;

use crate::image::{FsImage, Ino, Node};
use crate::trace::{Barrier, Effect, Mutation, TraceEntry};

/// The mode bits a symbolic link is stored with: the image has no link node, so a link is a
/// file whose bytes are its target and whose mode carries `S_IFLNK`.
pub const SYMLINK_MODE: u32 = 0o120_777;

/// A trace under construction, with the image it leaves.
#[derive(Clone, Debug)]
pub struct TraceBuilder {
    base: FsImage,
    live: FsImage,
    entries: Vec<TraceEntry>,
}

impl TraceBuilder {
    /// Starts from `base`, which every crash keeps.
    pub fn new(base: FsImage) -> Self {
        TraceBuilder {
            live: base.clone(),
            base,
            entries: Vec::new(),
        }
    }

    /// The image every crash starts from.
    pub fn base(&self) -> &FsImage {
        &self.base
    }

    /// The file system after every call so far.
    pub fn live(&self) -> &FsImage {
        &self.live
    }

    /// The entries so far.
    pub fn entries(&self) -> &[TraceEntry] {
        &self.entries
    }

    /// The base image and the trace.
    pub fn finish(self) -> (FsImage, Vec<TraceEntry>) {
        (self.base, self.entries)
    }

    /// Adds an entry with `effects`, applying its mutations to the live image.
    pub fn push(&mut self, call: String, effects: Vec<Effect>) {
        for effect in &effects {
            if let Effect::Mutation(m) = effect {
                m.apply(&mut self.live, u64::MAX, 1 << 20);
            }
        }
        self.entries.push(TraceEntry {
            call,
            errno: None,
            crash_point: None,
            effects,
        });
    }

    /// The inode at `path`, if it exists.
    pub fn lookup(&self, path: &Path) -> Option<Ino> {
        self.live.lookup(path).ok()
    }

    /// Whether `ino` is a directory.
    pub fn is_dir(&self, ino: Ino) -> bool {
        matches!(self.live.node(ino), Some(Node::Dir { .. }))
    }

    /// The length of file `ino` (0 for anything else).
    pub fn len(&self, ino: Ino) -> u64 {
        match self.live.node(ino) {
            Some(Node::File { data, .. }) => data.len(),
            _ => 0,
        }
    }

    /// An `open` that succeeded: creates the file when it did not exist (and `create`), and
    /// truncates it when `truncate`. Returns the inode, or `None` when the path's directory is
    /// not in the image (the call touched something outside the workload).
    pub fn open(
        &mut self,
        call: String,
        path: &Path,
        create: bool,
        truncate: bool,
        mode: u32,
    ) -> Option<Ino> {
        if let Some(ino) = self.lookup(path) {
            if truncate && !self.is_dir(ino) && self.len(ino) > 0 {
                self.push(call, vec![Effect::Mutation(Mutation::Truncate { ino, len: 0 })]);
            }
            return Some(ino);
        }
        if !create {
            return None;
        }
        self.create(call, path, |ino| {
            vec![Effect::Mutation(Mutation::NewFile {
                ino,
                mode: mode & 0o7777,
            })]
        })
    }

    /// A new inode made by `make` (its allocation and contents), then named `path`. `None`
    /// when `path`'s directory is not in the image.
    fn create(&mut self, call: String, path: &Path, make: impl FnOnce(Ino) -> Vec<Effect>) -> Option<Ino> {
        let (dir, name) = self.live.lookup_parent(path).ok()?;
        Some(self.create_at(call, dir, name, make))
    }

    /// A new inode made by `make`, named `name` in directory `dir`.
    fn create_at(
        &mut self,
        call: String,
        dir: Ino,
        name: &str,
        make: impl FnOnce(Ino) -> Vec<Effect>,
    ) -> Ino {
        let name: Arc<str> = Arc::from(name);
        let ino = self.live.next_ino();
        let mut effects = make(ino);
        effects.push(Effect::Mutation(Mutation::Link { dir, name, ino }));
        self.push(call, effects);
        ino
    }

    /// A new empty file `name` in directory `dir`, by inode: what a file-system server is
    /// asked. The caller has checked that `dir` is a directory without that name.
    pub fn create_file_at(&mut self, call: String, dir: Ino, name: &str, mode: u32) -> Ino {
        self.create_at(call, dir, name, |ino| {
            vec![Effect::Mutation(Mutation::NewFile {
                ino,
                mode: mode & 0o7777,
            })]
        })
    }

    /// `mkdir` of `name` in directory `dir`, by inode.
    pub fn mkdir_at(&mut self, call: String, dir: Ino, name: &str, mode: u32) -> Ino {
        self.create_at(call, dir, name, |ino| {
            vec![Effect::Mutation(Mutation::NewDir {
                ino,
                mode: mode & 0o7777,
            })]
        })
    }

    /// `symlink` of `name` in directory `dir` to `target`, by inode.
    pub fn symlink_at(&mut self, call: String, dir: Ino, name: &str, target: &str) -> Ino {
        self.create_at(call, dir, name, |ino| symlink_effects(ino, target))
    }

    /// An unnamed file (`O_TMPFILE`); `link` may name it later.
    pub fn tmpfile(&mut self, call: String, mode: u32) -> Ino {
        let ino = self.live.next_ino();
        self.push(
            call,
            vec![Effect::Mutation(Mutation::NewFile {
                ino,
                mode: mode & 0o7777,
            })],
        );
        ino
    }

    /// Bytes written to `ino` at `offset`.
    pub fn write(&mut self, call: String, ino: Ino, offset: u64, data: &[u8]) {
        if data.is_empty() || self.is_dir(ino) {
            return;
        }
        self.push(
            call,
            vec![Effect::Mutation(Mutation::Write {
                ino,
                offset,
                data: Arc::from(data),
            })],
        );
    }

    /// The length of `ino` set to `len`.
    pub fn truncate(&mut self, call: String, ino: Ino, len: u64) {
        if self.is_dir(ino) {
            return;
        }
        self.push(call, vec![Effect::Mutation(Mutation::Truncate { ino, len })]);
    }

    /// The mode of `ino` set.
    pub fn set_mode(&mut self, call: String, ino: Ino, mode: u32) {
        self.push(
            call,
            vec![Effect::Mutation(Mutation::SetMode {
                ino,
                mode: mode & 0o7777,
            })],
        );
    }

    /// `fsync` (`data_only`: `fdatasync`) of `ino`, a file or a directory.
    pub fn fsync(&mut self, call: String, ino: Ino, data_only: bool) {
        let barrier = if self.is_dir(ino) {
            Barrier::Dir(ino)
        } else if data_only {
            Barrier::FileData(ino)
        } else {
            Barrier::File(ino)
        };
        self.push(call, vec![Effect::Barrier(barrier)]);
    }

    /// `sync` or `syncfs`: every file, then every directory, made durable.
    pub fn sync_all(&mut self, call: String) {
        let mut files = Vec::new();
        let mut dirs = vec![crate::image::ROOT_INO];
        let mut ino = 1;
        while ino < self.live.next_ino() {
            match self.live.node(ino) {
                Some(Node::File { .. }) => files.push(Effect::Barrier(Barrier::File(ino))),
                Some(Node::Dir { .. }) if ino != crate::image::ROOT_INO => dirs.push(ino),
                _ => {}
            }
            ino += 1;
        }
        files.extend(dirs.into_iter().map(|d| Effect::Barrier(Barrier::Dir(d))));
        self.push(call, files);
    }

    /// A rename that succeeded. A rename within the workload of a name it does not know (made
    /// outside it) records nothing.
    pub fn rename(&mut self, call: String, from: &Path, to: &Path) {
        let Ok((from_dir, from_name)) = self.live.lookup_parent(from) else {
            return;
        };
        let Ok((to_dir, to_name)) = self.live.lookup_parent(to) else {
            return;
        };
        self.rename_at(call, from_dir, from_name, to_dir, to_name);
    }

    /// A rename that succeeded, by directory inodes and names.
    pub fn rename_at(&mut self, call: String, from_dir: Ino, from_name: &str, to_dir: Ino, to_name: &str) {
        let Some(ino) = self.live.entry(from_dir, from_name) else {
            return;
        };
        // Two names of one file: rename succeeds and does nothing (POSIX), both names stay.
        if (from_dir == to_dir && from_name == to_name) || self.live.entry(to_dir, to_name) == Some(ino) {
            return;
        }
        self.push(
            call,
            vec![Effect::Mutation(Mutation::Rename {
                from_dir,
                from_name: Arc::from(from_name),
                to_dir,
                to_name: Arc::from(to_name),
                ino,
            })],
        );
    }

    /// A new name `to` for `ino`: `link`, or `linkat` (also of an `O_TMPFILE` file).
    pub fn link(&mut self, call: String, ino: Ino, to: &Path) {
        let Ok((dir, name)) = self.live.lookup_parent(to) else {
            return;
        };
        self.link_at(call, ino, dir, name);
    }

    /// A new name `name` in directory `dir` for `ino`.
    pub fn link_at(&mut self, call: String, ino: Ino, dir: Ino, name: &str) {
        self.push(
            call,
            vec![Effect::Mutation(Mutation::Link {
                dir,
                name: Arc::from(name),
                ino,
            })],
        );
    }

    /// `mkdir`.
    pub fn mkdir(&mut self, call: String, path: &Path, mode: u32) {
        self.create(call, path, |ino| {
            vec![Effect::Mutation(Mutation::NewDir {
                ino,
                mode: mode & 0o7777,
            })]
        });
    }

    /// `symlink`: a link node holding `target`, named `path`.
    pub fn symlink(&mut self, call: String, target: &str, path: &Path) {
        self.create(call, path, |ino| symlink_effects(ino, target));
    }

    /// `unlink` or `rmdir`.
    pub fn unlink(&mut self, call: String, path: &Path) {
        let Ok((dir, name)) = self.live.lookup_parent(path) else {
            return;
        };
        self.unlink_at(call, dir, name);
    }

    /// `unlink` or `rmdir` of `name` in directory `dir`.
    pub fn unlink_at(&mut self, call: String, dir: Ino, name: &str) {
        let Some(ino) = self.live.entry(dir, name) else {
            return;
        };
        self.push(
            call,
            vec![Effect::Mutation(Mutation::Unlink {
                dir,
                name: Arc::from(name),
                ino,
            })],
        );
    }

    /// The entries added since the last call, handed over: a server that runs for hours
    /// keeps only what its persistence model still needs, not the whole trace.
    pub fn take_entries(&mut self) -> Vec<TraceEntry> {
        std::mem::take(&mut self.entries)
    }

    /// An entry that changes nothing on disk: program output, a note. It still marks a
    /// moment, so a checker told about the output judges states before and after it apart.
    pub fn note(&mut self, call: String) {
        self.push(call, Vec::new());
    }
}

/// A link node holding `target`: a file with the link mode whose bytes are the target.
fn symlink_effects(ino: Ino, target: &str) -> Vec<Effect> {
    vec![
        Effect::Mutation(Mutation::NewFile {
            ino,
            mode: SYMLINK_MODE,
        }),
        Effect::Mutation(Mutation::Write {
            ino,
            offset: 0,
            data: Arc::from(target.as_bytes()),
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash_state::{self, EnumerationConfig};
    use crate::persistence::PersistenceModel;
    use std::ops::ControlFlow;

    /// The durable pattern built by hand: after the directory fsync, every crash state holds
    /// the new bytes; without it, some state holds the old.
    #[test]
    fn a_replace_is_durable_only_after_the_directory_fsync() {
        let run = |dir_fsync: bool| {
            let mut b = TraceBuilder::new(FsImage::new());
            let f = b
                .open("create".into(), Path::new("/f"), true, false, 0o644)
                .expect("root exists");
            b.write("w".into(), f, 0, b"old");
            b.sync_all("sync".into());
            let t = b
                .open("tmp".into(), Path::new("/f.tmp"), true, true, 0o644)
                .expect("root exists");
            b.write("w".into(), t, 0, b"new");
            b.fsync("fsync".into(), t, false);
            b.rename("rename".into(), Path::new("/f.tmp"), Path::new("/f"));
            if dir_fsync {
                b.fsync("fsync dir".into(), crate::image::ROOT_INO, false);
            }
            let (base, trace) = b.finish();
            let mut old_at_end = false;
            crash_state::enumerate(
                &base,
                &trace,
                &EnumerationConfig::new(PersistenceModel::PowerLoss),
                // The last moment is judged apart, or its states would be deduplicated away
                // against equal ones seen earlier.
                |m| u64::from(m == trace.len()),
                |state| {
                    if state.id.moment == trace.len()
                        && state
                            .image
                            .read(Path::new("/f"))
                            .is_ok_and(|d| **d == *b"old".as_slice())
                    {
                        old_at_end = true;
                    }
                    ControlFlow::Continue(())
                },
            );
            old_at_end
        };
        assert!(
            run(false),
            "without the directory fsync the old version can come back"
        );
        assert!(!run(true), "after the directory fsync it cannot");
    }
}
