//! Persistence models: which file-system states can survive a crash, given a trace.
//!
//! [`Durability`] replays a trace's effects and keeps two things: the durable image (what
//! every crash keeps) and the pending mutations (what a crash may keep or lose). The models:
//!
//! - **process-crash**: the kernel survives, so every completed call survives; only the write
//!   in flight at the moment of the crash may be partial, as a prefix of its blocks.
//! - **power-loss**: only what was made durable survives for certain. A file's writes,
//!   truncations and mode changes wait for an fsync of that file (fdatasync: not the mode); a
//!   directory's creates, links, renames and unlinks wait for an fsync of that directory (a
//!   cross-directory rename, for both). Any subset of the pending mutations may survive, and a
//!   write may keep any subset of its blocks (a torn write). An fsync of a file does not make
//!   its name durable: a rename that no directory fsync covered can be undone.
//!
//! Not modelled: reordering *within* one barrier's durable set (fsync is taken as atomic),
//! metadata-journal ordering guarantees of particular file systems (ext4 data=ordered would
//! allow fewer states; we allow more), and errors reported by fsync after a failed writeback.

use std::fmt;
use std::str::FromStr;

use crate::image::{FsImage, Ino};
use crate::trace::{Barrier, Effect, Mutation};

/// Which crashes to consider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PersistenceModel {
    /// The process dies; the kernel and its page cache survive.
    ProcessCrash,
    /// The machine loses power; only fsynced data and fsynced directory entries survive.
    PowerLoss,
}

impl PersistenceModel {
    /// Every model, in the order reports list them.
    pub const ALL: [PersistenceModel; 2] = [PersistenceModel::ProcessCrash, PersistenceModel::PowerLoss];

    /// The model's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            PersistenceModel::ProcessCrash => "process-crash",
            PersistenceModel::PowerLoss => "power-loss",
        }
    }
}

impl fmt::Display for PersistenceModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown model name; its message lists the valid ones.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown model '{0}'; valid models: process-crash, power-loss")]
pub struct UnknownModel(pub String);

impl FromStr for PersistenceModel {
    type Err = UnknownModel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PersistenceModel::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| UnknownModel(s.to_string()))
    }
}

/// The unit in which a write can tear: a power of two from 512 bytes to 1 MiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct BlockSize(u32);

impl BlockSize {
    /// The smallest block a device writes atomically.
    pub const MIN_BYTES: u32 = 512;
    /// A bound that keeps a block meaningful as a device write unit.
    pub const MAX_BYTES: u32 = 1 << 20;
    /// The default: a page, and the block size of most Linux file systems.
    pub const DEFAULT: BlockSize = BlockSize(4096);

    /// A block size, if `bytes` is a power of two in range.
    pub fn new(bytes: u64) -> Result<Self, BadBlockSize> {
        match u32::try_from(bytes) {
            Ok(b) if b.is_power_of_two() && (Self::MIN_BYTES..=Self::MAX_BYTES).contains(&b) => {
                Ok(BlockSize(b))
            }
            _ => Err(BadBlockSize(bytes)),
        }
    }

    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        u64::from(self.0)
    }
}

impl Default for BlockSize {
    fn default() -> Self {
        BlockSize::DEFAULT
    }
}

/// A block size that is zero, not a power of two, or out of range.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid block size {0}; use a power of two from 512 to 1048576 bytes, e.g. 512 or 4096")]
pub struct BadBlockSize(pub u64);

/// A mutation a crash may keep or lose, with where in the trace it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// Index of the trace entry that made it.
    pub trace_index: usize,
    /// The change.
    pub mutation: Mutation,
    /// The fsyncs still needed before it is durable (inodes); never empty while pending.
    waiting_on: Vec<Ino>,
}

/// Durable image plus pending mutations, kept up to date one trace entry at a time.
#[derive(Clone, Debug)]
pub struct Durability {
    model: PersistenceModel,
    block_size: BlockSize,
    durable: FsImage,
    pending: Vec<Pending>,
}

impl Durability {
    /// Starts from `base`, taken as fully durable.
    pub fn new(base: FsImage, model: PersistenceModel, block_size: BlockSize) -> Self {
        Durability {
            model,
            block_size,
            durable: base,
            pending: Vec::new(),
        }
    }

    /// What every crash from here keeps.
    pub fn durable(&self) -> &FsImage {
        &self.durable
    }

    /// What a crash from here may keep or lose, in trace order.
    pub fn pending(&self) -> &[Pending] {
        &self.pending
    }

    /// The model this tracker follows.
    pub fn model(&self) -> PersistenceModel {
        self.model
    }

    /// The block size writes tear at.
    pub fn block_size(&self) -> BlockSize {
        self.block_size
    }

    /// Takes in the effects of trace entry `trace_index`.
    pub fn record(&mut self, trace_index: usize, effects: &[Effect]) {
        match self.model {
            PersistenceModel::ProcessCrash => self.record_process_crash(trace_index, effects),
            PersistenceModel::PowerLoss => self.record_power_loss(trace_index, effects),
        }
    }

    fn make_durable(&mut self, mutation: &Mutation) {
        mutation.apply(&mut self.durable, u64::MAX, self.block_size.bytes());
    }

    /// Under process-crash only the last write is ever in doubt: everything before it is
    /// applied for good as soon as a later entry arrives.
    fn record_process_crash(&mut self, trace_index: usize, effects: &[Effect]) {
        if effects.is_empty() {
            return;
        }
        for pending in std::mem::take(&mut self.pending) {
            self.make_durable(&pending.mutation);
        }
        for effect in effects {
            let Effect::Mutation(mutation) = effect else {
                continue;
            };
            if let Mutation::Write { ino, .. } = mutation {
                self.pending.push(Pending {
                    trace_index,
                    mutation: mutation.clone(),
                    waiting_on: vec![*ino],
                });
            } else {
                // A write is the only call that can be cut short; once a write of the same
                // entry is pending, later effects of that entry wait behind it.
                if self.pending.is_empty() {
                    self.make_durable(mutation);
                } else {
                    self.pending.push(Pending {
                        trace_index,
                        mutation: mutation.clone(),
                        waiting_on: Vec::new(),
                    });
                }
            }
        }
    }

    fn record_power_loss(&mut self, trace_index: usize, effects: &[Effect]) {
        for effect in effects {
            match effect {
                Effect::Mutation(m @ (Mutation::NewFile { .. } | Mutation::NewDir { .. })) => {
                    self.make_durable(m)
                }
                Effect::Mutation(m) => self.pending.push(Pending {
                    trace_index,
                    mutation: m.clone(),
                    waiting_on: m.waits_on(),
                }),
                Effect::Barrier(barrier) => self.barrier(*barrier),
            }
        }
    }

    fn barrier(&mut self, barrier: Barrier) {
        let mut now_durable = Vec::new();
        self.pending.retain_mut(|p| {
            let covered = match barrier {
                Barrier::File(ino) => !p.mutation.is_entry() && p.waiting_on == [ino],
                Barrier::FileData(ino) => p.mutation.is_data() && p.waiting_on == [ino],
                Barrier::Dir(ino) => p.mutation.is_entry() && p.waiting_on.contains(&ino),
            };
            if !covered {
                return true;
            }
            p.waiting_on.retain(|w| *w != barrier_ino(barrier));
            if p.mutation.is_entry() && !p.waiting_on.is_empty() {
                return true;
            }
            now_durable.push(p.mutation.clone());
            false
        });
        for mutation in &now_durable {
            self.make_durable(mutation);
        }
    }

    /// Bytes of file data the pending mutations hold.
    pub fn pending_bytes(&self) -> u64 {
        self.pending
            .iter()
            .map(|p| match &p.mutation {
                Mutation::Write { data, .. } => data.len() as u64,
                _ => 0,
            })
            .sum()
    }

    /// Makes the `n` oldest pending mutations durable, in order, as a page cache under
    /// memory pressure writes back what it holds longest. Every crash state from here keeps
    /// them: the states that remain are those of the whole pending list that keep this
    /// prefix, so nothing outside the model's states can arise.
    pub fn write_back_oldest(&mut self, n: usize) {
        let n = n.min(self.pending.len());
        let oldest: Vec<Pending> = self.pending.drain(..n).collect();
        for pending in &oldest {
            self.make_durable(&pending.mutation);
        }
    }

    /// How many units each pending mutation has (see [`Mutation::units`]).
    pub fn units(&self) -> Vec<u32> {
        self.pending
            .iter()
            .map(|p| p.mutation.units(self.block_size.bytes()))
            .collect()
    }

    /// The crash state in which pending mutation `i` keeps the units in `masks[i]`.
    /// Missing masks count as 0 (lost).
    pub fn materialize(&self, masks: &[u64]) -> FsImage {
        let mut image = self.durable.clone();
        for (i, pending) in self.pending.iter().enumerate() {
            let mask = masks.get(i).copied().unwrap_or(0);
            pending.mutation.apply(&mut image, mask, self.block_size.bytes());
        }
        image
    }
}

fn barrier_ino(barrier: Barrier) -> Ino {
    match barrier {
        Barrier::File(ino) | Barrier::FileData(ino) | Barrier::Dir(ino) => ino,
    }
}
