//! What a live mount knows: the file system as its users see it (a [`TraceBuilder`]'s live
//! image), what a power cut would keep and lose (a [`Durability`] under the power-loss model,
//! the rules the explorer uses), the triggers that cut, and, once cut, the crash state.
//!
//! Every call that changes something becomes a trace entry, is handed to the durability
//! tracker and then forgotten: memory follows the files and the changes still in doubt, not
//! the length of the run.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use faultline_core::crash_state::{self, Fate};
use faultline_core::image::ROOT_INO;
use faultline_core::persistence::{BlockSize, Durability, PersistenceModel};
use faultline_core::trace_builder::TraceBuilder;
use faultline_core::{CrashStateId, FsImage, Ino};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use super::trigger::{Op, Trigger};

/// What a cut keeps of the changes still in doubt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Keep {
    /// Nothing: every change no fsync covered is lost (the harshest power loss).
    Nothing,
    /// A seeded subset: each change kept or lost, each block of a write kept or lost.
    Random,
}

impl std::str::FromStr for Keep {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nothing" => Ok(Keep::Nothing),
            "random" => Ok(Keep::Random),
            _ => Err(format!(
                "unknown keep policy '{s}'; use 'nothing' (lose every change no fsync covered) or 'random' (a seeded subset, writes torn at the block size)"
            )),
        }
    }
}

/// A power cut: why, the crash state it left and what it lost.
#[derive(Clone, Debug)]
pub struct Cut {
    /// What cut the power: "faultline cut", "trigger fsync:*.wal:3", "random moment 17", ...
    pub why: String,
    /// The state: the moment (calls with an effect before the cut) and a mask per change in
    /// doubt, as the explorer names its states.
    pub id: CrashStateId,
    /// The file system the cut left.
    pub image: FsImage,
    /// One line per change in doubt: kept, lost or torn, with the call that made it.
    pub log: Vec<String>,
}

/// The mount's state behind one lock.
pub struct Core {
    builder: TraceBuilder,
    durability: Durability,
    /// Trace entries so far: the moment a cut now would name.
    moment: usize,
    /// The call text of each entry whose changes are still in doubt, by entry index.
    calls: BTreeMap<usize, String>,
    /// A name for each inode seen: its directory and its name there.
    names: HashMap<Ino, (Ino, Arc<str>)>,
    triggers: Vec<(Trigger, u64)>,
    /// Cut right after this many calls with an effect (a seeded random moment).
    cut_after_changes: Option<u64>,
    changes: u64,
    keep: Keep,
    seed: u64,
    /// Set when a trigger or a command asks for a cut: from then on only the kernel's
    /// write-back of data already written is taken, until [`Core::settle`] cuts.
    requested: Option<String>,
    /// Set once the power is cut; every call after it fails.
    cut: Option<Cut>,
    /// Set when the mount is being taken down cleanly: calls fail, nothing is lost.
    frozen: bool,
    /// The most data in doubt kept before the oldest is written back.
    cache_limit: u64,
    written_back: u64,
}

/// The default [`Core::with_cache_limit`]: 256 MiB of data in doubt.
pub const DEFAULT_CACHE_LIMIT: u64 = 256 << 20;

/// The most changes kept in doubt, whatever their size: a program that creates and renames
/// files for hours without a directory fsync would otherwise grow the list (and the cost of
/// each fsync, which looks through it) without end.
pub const MAX_PENDING: usize = 100_000;

impl Core {
    /// A mount of `base` (the backing directory as it was) with these triggers.
    pub fn new(base: FsImage, block_size: BlockSize, keep: Keep, seed: u64) -> Self {
        Core {
            durability: Durability::new(base.clone(), PersistenceModel::PowerLoss, block_size),
            builder: TraceBuilder::new(base),
            moment: 0,
            calls: BTreeMap::new(),
            names: HashMap::new(),
            triggers: Vec::new(),
            cut_after_changes: None,
            changes: 0,
            keep,
            seed,
            requested: None,
            cut: None,
            frozen: false,
            cache_limit: DEFAULT_CACHE_LIMIT,
            written_back: 0,
        }
    }

    /// Writes back the oldest changes once more than `bytes` of data are in doubt.
    pub fn with_cache_limit(mut self, bytes: u64) -> Self {
        self.cache_limit = bytes;
        self
    }

    /// Cut after the `n`th matching call of each trigger.
    pub fn with_triggers(mut self, triggers: Vec<Trigger>) -> Self {
        self.triggers = triggers.into_iter().map(|t| (t, 0)).collect();
        self
    }

    /// Cut right after the `n`th call that changes something.
    pub fn with_cut_after_changes(mut self, n: Option<u64>) -> Self {
        self.cut_after_changes = n;
        self
    }

    /// The file system as its users see it.
    pub fn live(&self) -> &FsImage {
        self.builder.live()
    }

    /// Stops every further call (they fail with EIO), for a clean unmount: what the users
    /// wrote so far is what the backing directory gets.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// Whether [`Core::freeze`] was called.
    pub fn frozen(&self) -> bool {
        self.frozen
    }

    /// Whether a cut was asked for or made: the mount's users may make no more calls.
    pub fn cut_requested(&self) -> bool {
        self.requested.is_some() || self.cut.is_some()
    }

    /// Asks for a cut (the first ask wins): calls stop now, and [`Core::settle`] makes the
    /// crash state once the kernel has handed over the data its users had written.
    pub fn request_cut(&mut self, why: String) {
        if !self.cut_requested() {
            self.requested = Some(why);
        }
    }

    /// Makes the cut asked for (or `why`, if none was) and returns it.
    pub fn settle(&mut self, why: &str) -> &Cut {
        let why = self.requested.take().unwrap_or_else(|| why.to_string());
        self.cut_power(why)
    }

    /// The cut, once there was one.
    pub fn cut(&self) -> Option<&Cut> {
        self.cut.as_ref()
    }

    /// Calls that changed something so far.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Changes still in doubt: what a cut now could lose.
    pub fn pending(&self) -> usize {
        self.durability.pending().len()
    }

    /// Remembers that `ino` is `name` in `dir` (from a lookup, a create or a rename).
    pub fn name(&mut self, dir: Ino, name: &str, ino: Ino) {
        if ino != ROOT_INO {
            self.names.insert(ino, (dir, Arc::from(name)));
        }
    }

    /// A path for `ino` relative to the mount (`db/a.wal`), from the names seen.
    pub fn path(&self, ino: Ino) -> String {
        let mut parts = Vec::new();
        let mut at = ino;
        while at != ROOT_INO && parts.len() < 64 {
            let Some((dir, name)) = self.names.get(&at) else {
                return format!("inode {ino}");
            };
            parts.push(name.clone());
            at = *dir;
        }
        parts.reverse();
        parts.join("/")
    }

    /// `name` in directory `dir`, relative to the mount.
    pub fn child_path(&self, dir: Ino, name: &str) -> String {
        if dir == ROOT_INO {
            name.to_string()
        } else {
            format!("{}/{name}", self.path(dir))
        }
    }

    /// Runs one call against the builder, then takes its entries into the durability tracker
    /// and checks the triggers on `op` at `paths`. Returns what `act` returned.
    pub fn apply<T>(&mut self, op: Op, paths: &[&str], act: impl FnOnce(&mut TraceBuilder) -> T) -> T {
        let out = act(&mut self.builder);
        let mut changed = false;
        for entry in self.builder.take_entries() {
            if entry.effects.is_empty() {
                continue;
            }
            changed = true;
            self.durability.record(self.moment, &entry.effects);
            self.calls.insert(self.moment, entry.call);
            self.moment += 1;
        }
        if changed {
            self.changes += 1;
            self.forget_settled_calls();
            self.limit_cache();
        }
        self.check_triggers(op, paths, changed);
        out
    }

    /// Keeps the data in doubt under the cache limit and the changes in doubt under
    /// [`MAX_PENDING`]: past either, the oldest changes are written back (made durable), as a
    /// page cache under pressure does. Checked every
    /// 64 changes, so a long run costs one pass over the pending list per 64 calls.
    fn limit_cache(&mut self) {
        if self.changes % 64 != 0 {
            return;
        }
        let mut bytes = self.durability.pending_bytes();
        let count = self.durability.pending().len();
        if bytes <= self.cache_limit && count <= MAX_PENDING {
            return;
        }
        // Down to half of each limit, oldest first.
        let mut n = 0;
        for p in self.durability.pending() {
            if bytes <= self.cache_limit / 2 && count - n <= MAX_PENDING / 2 {
                break;
            }
            if let faultline_core::trace::Mutation::Write { data, .. } = &p.mutation {
                bytes -= data.len() as u64;
            }
            n += 1;
        }
        self.durability.write_back_oldest(n);
        self.written_back += n as u64;
    }

    /// Changes written back early because the data in doubt passed the cache limit.
    pub fn written_back(&self) -> u64 {
        self.written_back
    }

    /// Drops the call text of entries no change in doubt came from.
    fn forget_settled_calls(&mut self) {
        if self.calls.len() < 2 * self.durability.pending().len() + 64 {
            return;
        }
        let live: std::collections::BTreeSet<usize> =
            self.durability.pending().iter().map(|p| p.trace_index).collect();
        self.calls.retain(|i, _| live.contains(i));
    }

    fn check_triggers(&mut self, op: Op, paths: &[&str], changed: bool) {
        if self.cut_requested() {
            return;
        }
        let mut fired = None;
        for (trigger, seen) in &mut self.triggers {
            if trigger.op == op && paths.iter().any(|p| trigger.matches(p)) {
                *seen += 1;
                if *seen == trigger.nth && fired.is_none() {
                    fired = Some(format!("trigger {trigger} ({})", paths.join(" -> ")));
                }
            }
        }
        if fired.is_none() && changed && self.cut_after_changes == Some(self.changes) {
            fired = Some(format!(
                "random moment: after change {} ({} {})",
                self.changes,
                op.name(),
                paths.join(" -> ")
            ));
        }
        if let Some(why) = fired {
            self.request_cut(why);
        }
    }

    /// A crash point reached by a program (written to the control socket): asks for a cut if
    /// a trigger names it. Returns whether a cut is asked for.
    pub fn crash_point(&mut self, name: &str) -> bool {
        self.check_triggers(Op::Point, &[name], false);
        self.cut_requested()
    }

    /// Cuts the power now (once; later calls keep the first cut) and returns the cut.
    fn cut_power(&mut self, why: String) -> &Cut {
        if self.cut.is_none() {
            let cut = self.crash_state(why);
            self.cut = Some(cut);
        }
        self.cut.as_ref().expect("set above")
    }

    fn crash_state(&self, why: String) -> Cut {
        let block = self.durability.block_size().bytes();
        let pending = self.durability.pending();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x6c69_7665_6375_7421);
        let masks: Vec<u64> = pending
            .iter()
            .map(|p| match self.keep {
                Keep::Nothing => 0,
                Keep::Random => {
                    let units = p.mutation.units(block);
                    let full = if units >= 64 {
                        u64::MAX
                    } else {
                        (1u64 << units) - 1
                    };
                    // Whole or nothing half the time; otherwise block by block.
                    match rng.next_u32() % 4 {
                        0 => 0,
                        1 => full,
                        _ => rng.next_u64() & full,
                    }
                }
            })
            .collect();
        let id = CrashStateId {
            moment: self.moment,
            masks,
        };
        let image = self.durability.materialize(&id.masks);
        let log = crash_state::fates(pending, &id, block)
            .into_iter()
            .map(|(p, fate)| {
                let call = self
                    .calls
                    .get(&p.trace_index)
                    .map_or("(call forgotten)", String::as_str);
                let fate = match fate {
                    Fate::Persisted => "kept".to_string(),
                    Fate::Lost => "lost".to_string(),
                    Fate::Torn { kept, units } => format!("torn: kept blocks {kept:?} of {units}"),
                };
                format!("{fate}: {call} (call {})", p.trace_index + 1)
            })
            .collect();
        Cut { why, id, image, log }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core over an empty root, with one file `a.wal` created and written.
    fn with_wal(keep: Keep, seed: u64, triggers: &str) -> (Core, Ino) {
        let mut core = Core::new(FsImage::new(), BlockSize::new(512).expect("block"), keep, seed)
            .with_triggers(vec![triggers.parse().expect("trigger")]);
        let ino = core.apply(Op::Create, &["a.wal"], |b| {
            b.create_file_at("create a.wal".into(), ROOT_INO, "a.wal", 0o644)
        });
        core.name(ROOT_INO, "a.wal", ino);
        core.apply(Op::Write, &["a.wal"], |b| {
            b.write("write a.wal".into(), ino, 0, &[7; 2000])
        });
        (core, ino)
    }

    #[test]
    fn a_trigger_asks_for_the_cut_at_its_nth_call_and_the_cut_loses_what_no_fsync_covered() {
        let (mut core, ino) = with_wal(Keep::Nothing, 0, "fsync:*.wal:2");
        core.apply(Op::Fsync, &["a.wal"], |b| {
            b.fsync("fsync a.wal".into(), ino, false)
        });
        assert!(!core.cut_requested(), "the first fsync does not fire");
        core.apply(Op::Write, &["a.wal"], |b| {
            b.write("write a.wal again".into(), ino, 2000, &[8; 10])
        });
        core.apply(Op::Fsync, &["a.wal"], |b| {
            b.fsync("fsync a.wal".into(), ino, false)
        });
        assert!(core.cut_requested(), "the second does");
        assert!(
            core.cut().is_none(),
            "asked for, not made: the kernel's cache comes first"
        );
        let cut = core.settle("unused").clone();
        assert!(cut.why.starts_with("trigger fsync:*.wal:2"), "{}", cut.why);
        // The file's data is durable; its name never had a directory fsync.
        assert_eq!(cut.log, ["lost: create a.wal (call 1)"]);
        assert!(cut.image.lookup(std::path::Path::new("/a.wal")).is_err());
        assert_eq!(core.path(ino), "a.wal");
    }

    #[test]
    fn a_random_keep_is_the_same_for_a_seed_and_tears_writes_at_the_block_size() {
        let ids = |seed| {
            let (mut core, _) = with_wal(Keep::Random, seed, "write:none:1");
            core.settle("now").id.to_string()
        };
        assert_eq!(ids(3), ids(3), "a seed replays its subset");
        let distinct: std::collections::HashSet<String> = (0..40).map(ids).collect();
        assert!(distinct.len() >= 4, "seeds reach different subsets: {distinct:?}");
        let torn = (0..40).find_map(|seed| {
            let (mut core, _) = with_wal(Keep::Random, seed, "write:none:1");
            let cut = core.settle("now").clone();
            cut.log.iter().find(|l| l.starts_with("torn")).cloned()
        });
        assert!(
            torn.is_some_and(|l| l.contains("of 4") && l.ends_with("write a.wal (call 2)")),
            "2000 bytes at 512-byte blocks tear in 4"
        );
    }

    #[test]
    fn past_the_cache_limit_the_oldest_changes_are_written_back_and_stay_in_every_cut() {
        let (core, ino) = with_wal(Keep::Nothing, 0, "write:none:1");
        let mut core = core.with_cache_limit(64 * 1024);
        for i in 0..200u64 {
            core.apply(Op::Write, &["a.wal"], |b| {
                b.write(format!("write {i}"), ino, 2000 + i * 1000, &[9; 1000])
            });
        }
        assert!(core.written_back() > 0);
        assert!(
            core.durability.pending_bytes() <= 64 * 1024 + 64 * 1000,
            "{}",
            core.durability.pending_bytes()
        );
        let cut = core.settle("now").clone();
        // The create was the oldest change: written back, so even a cut that keeps nothing
        // keeps the file, with the oldest writes in it.
        let data = cut.image.read(std::path::Path::new("/a.wal")).expect("kept");
        assert!(data.len() >= 3000, "{}", data.len());
    }

    #[test]
    fn changes_in_doubt_stay_under_their_count_limit_however_small() {
        let mut core = Core::new(FsImage::new(), BlockSize::DEFAULT, Keep::Nothing, 0);
        for i in 0..MAX_PENDING + 200 {
            let name = format!("f{i}");
            core.apply(Op::Create, &[&name], |b| {
                b.create_file_at(format!("create {name}"), ROOT_INO, &name, 0o644)
            });
        }
        assert!(core.pending() <= MAX_PENDING, "{}", core.pending());
        assert!(core.written_back() > 0);
    }

    #[test]
    fn a_frozen_core_and_a_cut_core_take_no_more_calls() {
        let (mut core, _) = with_wal(Keep::Nothing, 0, "write:none:1");
        assert!(!core.frozen() && !core.cut_requested());
        core.freeze();
        assert!(core.frozen());
        let (mut core, _) = with_wal(Keep::Nothing, 0, "point:after-commit:2");
        assert!(!core.crash_point("after-commit"));
        assert!(!core.crash_point("other"));
        assert!(
            core.crash_point("after-commit"),
            "the second report of the point cuts"
        );
        let first = core.settle("x").why.clone();
        core.request_cut("later".into());
        assert_eq!(core.settle("y").why, first, "the first cut stands");
    }
}
