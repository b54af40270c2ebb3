//! The trace: every call a target made on [`crate::SimFs`], with the changes it made to the file
//! system broken down into [`Mutation`]s and the durability [`Barrier`]s it raised.
//!
//! The trace is the one format between running code and judging it: the persistence models
//! replay a trace's effects to decide which crash states it allows. A trace says nothing about
//! what the workload meant by its calls; callers keep that history beside it, keyed by
//! [`TraceEntry`] index.

use std::fmt;
use std::sync::Arc;

use crate::fs::Errno;
use crate::image::{FsImage, Ino, Node};

/// One change to the file system, in terms a crash may keep or lose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// A new, empty, unnamed file exists. Allocation is durable at once: without a durable
    /// name pointing at it, the inode is unreachable anyway.
    NewFile {
        /// Its inode.
        ino: Ino,
        /// Its permission bits.
        mode: u32,
    },
    /// A new, empty, unnamed directory exists (durable at once, as for files).
    NewDir {
        /// Its inode.
        ino: Ino,
        /// Its permission bits.
        mode: u32,
    },
    /// Bytes written at an offset.
    Write {
        /// The file.
        ino: Ino,
        /// Where the bytes start.
        offset: u64,
        /// The bytes.
        data: Arc<[u8]>,
    },
    /// The file's length set (by O_TRUNC or ftruncate).
    Truncate {
        /// The file.
        ino: Ino,
        /// The new length.
        len: u64,
    },
    /// The permission bits changed.
    SetMode {
        /// The file or directory.
        ino: Ino,
        /// The new bits.
        mode: u32,
    },
    /// A name added to a directory (create, link, mkdir).
    Link {
        /// The directory.
        dir: Ino,
        /// The new name.
        name: Arc<str>,
        /// What it names.
        ino: Ino,
    },
    /// A name removed from a directory.
    Unlink {
        /// The directory.
        dir: Ino,
        /// The removed name.
        name: Arc<str>,
        /// What it named.
        ino: Ino,
    },
    /// A name moved, replacing whatever the new name held. Atomic: kept or lost as a whole.
    Rename {
        /// Directory it left.
        from_dir: Ino,
        /// Name it left.
        from_name: Arc<str>,
        /// Directory it entered.
        to_dir: Ino,
        /// Name it took.
        to_name: Arc<str>,
        /// What moved.
        ino: Ino,
    },
}

impl Mutation {
    /// Whether this changes a file's bytes or length (what `fdatasync` makes durable).
    pub fn is_data(&self) -> bool {
        matches!(self, Mutation::Write { .. } | Mutation::Truncate { .. })
    }

    /// Whether this changes a directory entry; directory fsync makes these durable.
    pub fn is_entry(&self) -> bool {
        matches!(
            self,
            Mutation::Link { .. } | Mutation::Unlink { .. } | Mutation::Rename { .. }
        )
    }

    /// The inodes whose fsync makes this durable: the file for data and mode changes, every
    /// directory touched for entry changes (a cross-directory rename waits for both).
    pub fn waits_on(&self) -> Vec<Ino> {
        match self {
            Mutation::NewFile { .. } | Mutation::NewDir { .. } => Vec::new(),
            Mutation::Write { ino, .. } | Mutation::Truncate { ino, .. } | Mutation::SetMode { ino, .. } => {
                vec![*ino]
            }
            Mutation::Link { dir, .. } | Mutation::Unlink { dir, .. } => vec![*dir],
            Mutation::Rename { from_dir, to_dir, .. } if from_dir == to_dir => vec![*from_dir],
            Mutation::Rename { from_dir, to_dir, .. } => vec![*from_dir, *to_dir],
        }
    }

    /// How many independently persisting units this has at `block_size_bytes`: the blocks a
    /// write touches (capped at 63, grouping neighbours beyond that), 1 for anything else.
    pub fn units(&self, block_size_bytes: u64) -> u32 {
        match self {
            Mutation::Write { offset, data, .. } if !data.is_empty() => {
                let first = offset / block_size_bytes;
                let last = (offset + data.len() as u64 - 1) / block_size_bytes;
                u32::try_from((last - first + 1).min(63)).expect("capped at 63")
            }
            _ => 1,
        }
    }

    /// Applies the mutation to `image`. `mask` says which units persist (bit i = unit i);
    /// a mutation of one unit is applied when bit 0 is set. A write keeps the bytes of its
    /// persisted blocks; the file grows to the end of the last persisted block's bytes and
    /// the blocks in between that were lost read as zeros, like an unwritten extent.
    pub fn apply(&self, image: &mut FsImage, mask: u64, block_size_bytes: u64) {
        if mask == 0 {
            return;
        }
        match self {
            Mutation::NewFile { ino, mode } => image.insert(*ino, Node::empty_file(*mode)),
            Mutation::NewDir { ino, mode } => image.insert(*ino, Node::empty_dir(*mode)),
            Mutation::Write { ino, offset, data } => {
                let Some(Node::File { data: file, .. }) = image.node_mut(*ino) else {
                    return;
                };
                let units = u64::from(self.units(block_size_bytes));
                // Units are capped at 63, so the shift cannot overflow.
                let full = (1u64 << units) - 1;
                let file = Arc::make_mut(file);
                if mask & full == full {
                    file.write_at(*offset, data);
                    return;
                }
                let first_block = offset / block_size_bytes;
                let last_block = (offset + data.len() as u64 - 1) / block_size_bytes;
                let blocks = last_block - first_block + 1;
                for block in 0..blocks {
                    // Beyond 63 blocks, neighbours share a unit so the mask still fits.
                    let unit = block * units / blocks;
                    if mask & (1 << unit) == 0 {
                        continue;
                    }
                    let start = ((first_block + block) * block_size_bytes).max(*offset);
                    let end = ((first_block + block + 1) * block_size_bytes).min(offset + data.len() as u64);
                    let slice = &data[(start - offset) as usize..(end - offset) as usize];
                    file.write_at(start, slice);
                }
            }
            Mutation::Truncate { ino, len } => {
                if let Some(Node::File { data, .. }) = image.node_mut(*ino) {
                    Arc::make_mut(data).set_len(*len);
                }
            }
            Mutation::SetMode { ino, mode: new } => match image.node_mut(*ino) {
                Some(Node::File { mode, .. } | Node::Dir { mode, .. }) => *mode = *new,
                None => {}
            },
            Mutation::Link { dir, name, ino } => image.set_entry(*dir, name, *ino),
            Mutation::Unlink { dir, name, ino } => image.remove_entry(*dir, name, *ino),
            Mutation::Rename {
                from_dir,
                from_name,
                to_dir,
                to_name,
                ino,
            } => {
                image.remove_entry(*from_dir, from_name, *ino);
                image.set_entry(*to_dir, to_name, *ino);
            }
        }
    }
}

/// A request that earlier mutations become durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Barrier {
    /// `fsync` of a file: its data, length and mode.
    File(Ino),
    /// `fdatasync` of a file: its data and length, not its mode.
    FileData(Ino),
    /// `fsync` of a directory: the entries created, renamed or removed in it.
    Dir(Ino),
}

/// What one call did to the file system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A change that a crash may keep or lose.
    Mutation(Mutation),
    /// A durability barrier.
    Barrier(Barrier),
}

/// One call as the target made it, what it answered, and its effects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEntry {
    /// The call as a reader would write it: `rename /data/.a.tmp -> /data/a`.
    pub call: String,
    /// `None` when the call succeeded.
    pub errno: Option<Errno>,
    /// Set when the entry is a crash point rather than a call.
    pub crash_point: Option<&'static str>,
    /// The changes, in order.
    pub effects: Vec<Effect>,
}

impl TraceEntry {
    /// Whether the entry changed anything or raised a barrier.
    pub fn has_effects(&self) -> bool {
        !self.effects.is_empty()
    }
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.crash_point, self.errno) {
            (Some(point), _) => write!(f, "crash point {point}"),
            (None, Some(errno)) => write!(f, "{} = {errno}", self.call),
            (None, None) => f.write_str(&self.call),
        }
    }
}
