//! Crash-state enumeration: every distinct state a persistence model allows for a trace.
//!
//! A crash may happen after any trace entry (a *moment*: moment `k` is after the first `k`
//! entries, moment 0 is the checkpoint). At each moment, the model's pending mutations may each
//! keep any subset of their units (see [`crate::persistence`]); a *choice* is one mask per
//! pending mutation. States are deduplicated by the digest of the image together with a
//! caller-given class of the moment (what the workload had been told by then), since the same
//! bytes can pass before an acknowledgement and fail after it.
//!
//! Order and bound: states that lose fewer pending changes come first (see [`enumerate`]),
//! and one budget of choices covers the whole exploration. Levels that fit are built whole;
//! the level the budget cuts gets a seeded sample without replacement, and the stats say so.
//!
//! A state's id, `moment:mask.mask...` with masks in hex, names the moment and the choice, so
//! [`reproduce`] rebuilds exactly that state from the same trace.

use std::collections::HashSet;
use std::fmt;
use std::ops::ControlFlow;
use std::str::FromStr;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::image::FsImage;
use crate::persistence::{BlockSize, Durability, Pending, PersistenceModel};
use crate::trace::TraceEntry;

/// Names one crash state of a trace: the moment and a mask per pending mutation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CrashStateId {
    /// How many trace entries ran before the crash.
    pub moment: usize,
    /// For each pending mutation at that moment, which of its units persisted.
    pub masks: Vec<u64>,
}

impl fmt::Display for CrashStateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.moment)?;
        if self.masks.is_empty() {
            return f.write_str("-");
        }
        for (i, mask) in self.masks.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{mask:x}")?;
        }
        Ok(())
    }
}

/// A crash-state id that does not parse, or does not fit the trace it is applied to.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BadStateId {
    /// Not of the form `moment:mask.mask...`.
    #[error("malformed state id '{0}'; expected MOMENT:MASK.MASK... as printed by explore, e.g. 12:1.0.3")]
    Malformed(String),
    /// The moment lies past the end of the trace.
    #[error("state id moment {moment} is past the end of the trace ({len} entries)")]
    MomentOutOfRange {
        /// The id's moment.
        moment: usize,
        /// The trace's length.
        len: usize,
    },
    /// The mask count or a mask does not match the pending mutations at that moment.
    #[error("state id {id} does not match the {pending} pending mutations at moment {moment}")]
    ChoiceMismatch {
        /// The id as given.
        id: String,
        /// The id's moment.
        moment: usize,
        /// Pending mutations at that moment.
        pending: usize,
    },
}

impl FromStr for CrashStateId {
    type Err = BadStateId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadStateId::Malformed(s.to_string());
        let (moment, masks) = s.split_once(':').ok_or_else(bad)?;
        let moment = moment.parse().map_err(|_| bad())?;
        let masks = if masks == "-" {
            Vec::new()
        } else {
            masks
                .split('.')
                .map(|m| u64::from_str_radix(m, 16).map_err(|_| bad()))
                .collect::<Result<_, _>>()?
        };
        Ok(CrashStateId { moment, masks })
    }
}

/// How to enumerate.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct EnumerationConfig {
    /// Which crashes.
    pub model: PersistenceModel,
    /// Where writes tear.
    pub block_size: BlockSize,
    /// The whole exploration builds at most this many choices (see [`enumerate`]).
    pub max_choices: u64,
    /// Seeds the sample of the level the budget cuts.
    pub seed: u64,
}

impl EnumerationConfig {
    /// The default budget: enough to cover whole the traces of small programs, and to bound
    /// a large one to seconds of building.
    pub const DEFAULT_MAX_CHOICES: u64 = 20_000;

    /// Defaults for `model`: 4096-byte blocks, the default budget, seed 0.
    pub fn new(model: PersistenceModel) -> Self {
        EnumerationConfig {
            model,
            block_size: BlockSize::DEFAULT,
            max_choices: Self::DEFAULT_MAX_CHOICES,
            seed: 0,
        }
    }
}

/// One crash state handed to the visitor.
pub struct CrashState<'a> {
    /// Its id.
    pub id: CrashStateId,
    /// The file system after the crash.
    pub image: FsImage,
    /// The mutations that were in doubt, in trace order; `id.masks[i]` says what of
    /// `pending[i]` persisted.
    pub pending: &'a [Pending],
    /// How many of them the state does not keep whole (lost or torn).
    pub lost: u32,
}

/// What an enumeration covered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnumerationStats {
    /// Moments considered (trace length + 1, less moments that repeat the one before).
    pub moments: u64,
    /// Choices built, before deduplication.
    pub choices: u64,
    /// Distinct states handed to the visitor.
    pub distinct_states: u64,
    /// Every choice the model allows, over all moments (saturating at `u128::MAX`).
    #[serde(default)]
    pub space: u128,
    /// Every choice that loses fewer than this many pending changes was built.
    #[serde(default)]
    pub complete_below: u32,
    /// The budget ran out at this level: a seeded sample, without replacement, of the choices
    /// that lose exactly this many changes was built, and none that lose more.
    #[serde(default)]
    pub cut_level: Option<u32>,
    /// How many choices of the cut level the sample built (what the budget had left).
    #[serde(default)]
    pub cut_sampled: u64,
}

impl EnumerationStats {
    /// Whether every choice the model allows was built.
    pub fn exhaustive(&self) -> bool {
        self.cut_level.is_none()
    }

    /// One line on what was covered: "all 1322 choices" or "12000 of 3.1e9 choices: every
    /// choice losing at most 1 change, a sample of those losing 2".
    pub fn coverage(&self) -> String {
        match self.cut_level {
            None => format!("all {} choices the model allows", self.choices),
            Some(level) => {
                let whole = match self.complete_below {
                    0 => String::new(),
                    1 => "every choice that loses nothing, then ".to_string(),
                    n => format!(
                        "every choice that loses at most {} change{}, then ",
                        n - 1,
                        plural(n - 1)
                    ),
                };
                let cut = if self.cut_sampled == 0 {
                    format!("none of those that lose {level}")
                } else {
                    format!("a seeded sample of those that lose {level}")
                };
                format!(
                    "{} of {} choices the model allows: {whole}{cut} (budget --max-choices)",
                    self.choices,
                    big_count(self.space)
                )
            }
        }
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A count for people: exact below a trillion, else in powers of ten.
pub fn big_count(n: u128) -> String {
    if n == u128::MAX {
        "more than 10^38".to_string()
    } else if n < 1_000_000_000_000 {
        n.to_string()
    } else {
        format!("{:.1e}", n as f64)
    }
}

/// Visits every distinct crash state of `trace` starting from `base`, fewest lost changes
/// first: every moment's state that keeps everything, then every state that loses (or
/// tears) exactly one pending change, then two, and so on; within a level, by moment, then
/// the most recent changes lost first. Bugs that need one lost change are found before any
/// budget runs out.
///
/// The whole exploration builds at most `config.max_choices` choices. Levels that fit are
/// built whole; the first that does not gets a seeded sample, without replacement and across
/// all moments, of what the budget has left, and the enumeration stops there. The stats say
/// which.
///
/// `class(moment)` distinguishes moments whose equal images must be judged separately. The
/// visitor may stop early with `ControlFlow::Break`.
pub fn enumerate(
    base: &FsImage,
    trace: &[TraceEntry],
    config: &EnumerationConfig,
    class: impl Fn(usize) -> u64,
    mut visit: impl FnMut(CrashState<'_>) -> ControlFlow<()>,
) -> EnumerationStats {
    let mut stats = EnumerationStats::default();
    let prefix_only = config.model == PersistenceModel::ProcessCrash;
    let replay = |at: &mut dyn FnMut(usize, &Durability) -> ControlFlow<()>| {
        let mut durability = Durability::new(base.clone(), config.model, config.block_size);
        for moment in 0..=trace.len() {
            if moment > 0 {
                let entry = &trace[moment - 1];
                durability.record(moment - 1, &entry.effects);
                // A moment after an entry that changed nothing repeats the previous one,
                // unless the workload's history moved on (its class changed).
                if !entry.has_effects() && class(moment) == class(moment - 1) {
                    continue;
                }
            }
            at(moment, &durability)?;
        }
        ControlFlow::Continue(())
    };
    // First the shape: moments, the space, and the most changes any moment has in doubt.
    let mut most_pending = 0usize;
    let _ = replay(&mut |_, durability| {
        let weights = Weights::new(durability, prefix_only);
        stats.moments += 1;
        stats.space = stats.space.saturating_add(weights.space());
        most_pending = most_pending.max(weights.lossy());
        ControlFlow::Continue(())
    });
    let mut seen: HashSet<u128> = HashSet::new();
    let mut budget = config.max_choices;
    for level in 0..=most_pending {
        let level32 = u32::try_from(level).unwrap_or(u32::MAX);
        let mut counts = Vec::new();
        let _ = replay(&mut |_, durability| {
            counts.push(Weights::new(durability, prefix_only).ways(level).count());
            ControlFlow::Continue(())
        });
        let total = counts.iter().fold(0u128, |a, c| a.saturating_add(*c));
        let picks = (total > u128::from(budget)).then(|| sample(total, budget, config.seed ^ level as u64));
        // Global index of the first choice of the moment being built.
        let mut first = 0u128;
        let mut next_pick = 0usize;
        let mut n = 0usize;
        let flow = replay(&mut |moment, durability| {
            let count = counts[n];
            n += 1;
            let block = first;
            first = first.saturating_add(count);
            if count == 0 {
                return ControlFlow::Continue(());
            }
            let weights = Weights::new(durability, prefix_only);
            let ways = weights.ways(level);
            let key = u128::from(class(moment)).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
            let mut build = |index: u128| {
                stats.choices += 1;
                let masks = ways.choice(&weights, index);
                let image = durability.materialize(&masks);
                if !seen.insert(image.digest() ^ key) {
                    return ControlFlow::Continue(());
                }
                stats.distinct_states += 1;
                visit(CrashState {
                    id: CrashStateId { moment, masks },
                    image,
                    pending: durability.pending(),
                    lost: level32,
                })
            };
            match &picks {
                None => {
                    let mut index = 0u128;
                    while index < count {
                        build(index)?;
                        index += 1;
                    }
                }
                Some(picks) => {
                    while next_pick < picks.len() && picks[next_pick] < first {
                        build(picks[next_pick] - block)?;
                        next_pick += 1;
                    }
                }
            }
            ControlFlow::Continue(())
        });
        // The visitor stopped: the level is not whole, and the caller knows why.
        if flow.is_break() {
            break;
        }
        if let Some(picks) = picks {
            stats.cut_level = Some(level32);
            stats.cut_sampled = picks.len() as u64;
            break;
        }
        budget -= u64::try_from(total).unwrap_or(u64::MAX);
        stats.complete_below = level32 + 1;
    }
    stats
}

/// `count` distinct indices below `total`, sorted, by Floyd's algorithm (seeded). The
/// remainder of a 128-bit draw favours small indices by at most `total / 2^128`.
fn sample(total: u128, count: u64, seed: u64) -> Vec<u128> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let count = u128::from(count).min(total);
    let mut chosen: HashSet<u128> = HashSet::new();
    for j in total - count..total {
        let draw = (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())) % (j + 1);
        if !chosen.insert(draw) {
            chosen.insert(j);
        }
    }
    let mut picks: Vec<u128> = chosen.into_iter().collect();
    picks.sort_unstable();
    picks
}

/// For each pending change, how many ways it can be kept less than whole: lost, or torn
/// (under process-crash, only a prefix of its blocks).
struct Weights {
    units: Vec<u32>,
    partial: Vec<u128>,
    prefix_only: bool,
}

impl Weights {
    fn new(durability: &Durability, prefix_only: bool) -> Self {
        let units = durability.units();
        let partial = units
            .iter()
            .map(|u| {
                if prefix_only {
                    u128::from(*u)
                } else {
                    u128::from(prefix_mask(u64::from(*u)))
                }
            })
            .collect();
        Weights {
            units,
            partial,
            prefix_only,
        }
    }

    /// Changes that can be kept less than whole.
    fn lossy(&self) -> usize {
        self.partial.iter().filter(|w| **w > 0).count()
    }

    /// Every choice at this moment: each change kept whole or in one of its partial ways.
    fn space(&self) -> u128 {
        self.partial
            .iter()
            .fold(1u128, |a, w| a.saturating_mul(w.saturating_add(1)))
    }

    /// The choices that keep exactly `lost` changes less than whole.
    fn ways(&self, lost: usize) -> Ways {
        // table[i][j]: ways to choose j changes among i.. and how each is kept partly.
        let n = self.partial.len();
        let mut table = vec![vec![0u128; lost + 1]; n + 1];
        table[n][0] = 1;
        for i in (0..n).rev() {
            for j in 0..=lost {
                let mut ways = table[i + 1][j];
                if j > 0 {
                    ways = ways.saturating_add(self.partial[i].saturating_mul(table[i + 1][j - 1]));
                }
                table[i][j] = ways;
            }
        }
        Ways { table, lost }
    }

    /// The mask that keeps change `i` in its `way`th partial way: 0 (lost) first.
    fn partial_mask(&self, i: usize, way: u128) -> u64 {
        let way = way.min(self.partial[i].saturating_sub(1));
        if self.prefix_only {
            prefix_mask(u64::try_from(way).unwrap_or(u64::MAX))
        } else {
            u64::try_from(way).unwrap_or(u64::MAX)
        }
    }
}

/// The choices of one moment and level, numbered so that they can be built by index.
struct Ways {
    table: Vec<Vec<u128>>,
    lost: usize,
}

impl Ways {
    fn count(&self) -> u128 {
        self.table[0][self.lost]
    }

    /// The `index`th choice: changes kept whole come first, so the lowest indices lose the
    /// most recent changes.
    fn choice(&self, weights: &Weights, mut index: u128) -> Vec<u64> {
        let mut masks: Vec<u64> = weights.units.iter().map(|u| prefix_mask(u64::from(*u))).collect();
        let mut left = self.lost;
        for (i, mask) in masks.iter_mut().enumerate() {
            if left == 0 {
                break;
            }
            let keep_whole = self.table[i + 1][left];
            if index < keep_whole {
                continue;
            }
            index -= keep_whole;
            let rest = self.table[i + 1][left - 1].max(1);
            *mask = weights.partial_mask(i, index / rest);
            index %= rest;
            left -= 1;
        }
        masks
    }
}

/// What a crash did to one change in doubt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Kept whole.
    Persisted,
    /// Lost whole.
    Lost,
    /// Kept in part: these of its `units` blocks.
    Torn {
        /// The blocks kept.
        kept: Vec<u32>,
        /// Its blocks in all.
        units: u32,
    },
}

/// The fate of each of `pending` (the changes in doubt at state `id`'s moment), with writes
/// torn at `block` bytes.
pub fn fates<'p>(pending: &'p [Pending], id: &CrashStateId, block: u64) -> Vec<(&'p Pending, Fate)> {
    pending
        .iter()
        .zip(&id.masks)
        .map(|(p, mask)| {
            let units = p.mutation.units(block);
            let full = if units >= 64 {
                u64::MAX
            } else {
                (1u64 << units) - 1
            };
            let fate = if *mask == 0 {
                Fate::Lost
            } else if mask & full == full {
                Fate::Persisted
            } else {
                Fate::Torn {
                    kept: (0..units).filter(|u| mask & (1 << u) != 0).collect(),
                    units,
                }
            };
            (p, fate)
        })
        .collect()
}

/// Rebuilds the state `id` names, with the pending mutations of its moment.
pub fn reproduce(
    base: &FsImage,
    trace: &[TraceEntry],
    config: &EnumerationConfig,
    id: &CrashStateId,
) -> Result<(FsImage, Vec<Pending>), BadStateId> {
    if id.moment > trace.len() {
        return Err(BadStateId::MomentOutOfRange {
            moment: id.moment,
            len: trace.len(),
        });
    }
    let mut durability = Durability::new(base.clone(), config.model, config.block_size);
    for (i, entry) in trace[..id.moment].iter().enumerate() {
        durability.record(i, &entry.effects);
    }
    let units = durability.units();
    let fits =
        units.len() == id.masks.len() && units.iter().zip(&id.masks).all(|(u, m)| *u >= 64 || m >> u == 0);
    if !fits {
        return Err(BadStateId::ChoiceMismatch {
            id: id.to_string(),
            moment: id.moment,
            pending: units.len(),
        });
    }
    Ok((durability.materialize(&id.masks), durability.pending().to_vec()))
}

/// The mask with the low `n` bits set.
fn prefix_mask(n: u64) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}
