//! Crash-state enumeration: every distinct state a persistence model allows for a trace.
//!
//! A crash may happen after any trace entry (a *moment*: moment `k` is after the first `k`
//! entries, moment 0 is the checkpoint). At each moment, the model's pending mutations may each
//! keep any subset of their units (see [`crate::persistence`]); a *choice* is one mask per
//! pending mutation. States are deduplicated by the digest of the image together with a
//! caller-given class of the moment (what the workload had been told by then), since the same
//! bytes can pass before an acknowledgement and fail after it.
//!
//! Bound: when a moment allows more than `max_choices_per_moment` choices, a seeded random
//! sample of that many is taken instead, and the run is marked as sampled. The default bound,
//! 4096, enumerates exhaustively any moment with at most 12 pending units in doubt.
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
    /// Above this many choices at one moment, sample this many instead.
    pub max_choices_per_moment: u64,
    /// Seeds the sample.
    pub seed: u64,
}

impl EnumerationConfig {
    /// The default bound on choices per moment.
    pub const DEFAULT_MAX_CHOICES_PER_MOMENT: u64 = 4096;

    /// Defaults for `model`: 4096-byte blocks, the default bound, seed 0.
    pub fn new(model: PersistenceModel) -> Self {
        EnumerationConfig {
            model,
            block_size: BlockSize::DEFAULT,
            max_choices_per_moment: Self::DEFAULT_MAX_CHOICES_PER_MOMENT,
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
}

/// What an enumeration covered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnumerationStats {
    /// Moments considered (trace length + 1).
    pub moments: u64,
    /// Choices materialised, before deduplication.
    pub choices: u64,
    /// Distinct states handed to the visitor.
    pub distinct_states: u64,
    /// Moments whose choices were sampled rather than enumerated.
    pub sampled_moments: u64,
}

/// Visits every distinct crash state of `trace` starting from `base`, in a fixed order
/// (moment, then choice). `class(moment)` distinguishes moments whose equal images must be
/// judged separately. The visitor may stop early with `ControlFlow::Break`.
pub fn enumerate(
    base: &FsImage,
    trace: &[TraceEntry],
    config: &EnumerationConfig,
    class: impl Fn(usize) -> u64,
    mut visit: impl FnMut(CrashState<'_>) -> ControlFlow<()>,
) -> EnumerationStats {
    let mut stats = EnumerationStats::default();
    let mut seen: HashSet<u128> = HashSet::new();
    let mut durability = Durability::new(base.clone(), config.model, config.block_size);
    for moment in 0..=trace.len() {
        if moment > 0 {
            let entry = &trace[moment - 1];
            durability.record(moment - 1, &entry.effects);
            // A moment after an entry that changed nothing repeats the previous one, unless
            // the workload's history moved on (its class changed).
            if !entry.has_effects() && class(moment) == class(moment - 1) {
                continue;
            }
        }
        stats.moments += 1;
        let key = u128::from(class(moment)).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        let plan = ChoicePlan::new(&durability, config, moment);
        stats.sampled_moments += u64::from(plan.sampled);
        let flow = plan.for_each(|masks| {
            stats.choices += 1;
            let image = durability.materialize(masks);
            if !seen.insert(image.digest() ^ key) {
                return ControlFlow::Continue(());
            }
            stats.distinct_states += 1;
            let id = CrashStateId {
                moment,
                masks: masks.to_vec(),
            };
            visit(CrashState {
                id,
                image,
                pending: durability.pending(),
            })
        });
        if flow.is_break() {
            break;
        }
    }
    stats
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

/// The choices to try at one moment: all of them, prefixes only (process-crash), or a sample.
struct ChoicePlan {
    units: Vec<u32>,
    prefix_only: bool,
    sampled: bool,
    samples: u64,
    seed: u64,
}

impl ChoicePlan {
    fn new(durability: &Durability, config: &EnumerationConfig, moment: usize) -> Self {
        let units = durability.units();
        let prefix_only = config.model == PersistenceModel::ProcessCrash;
        let total_bits: u32 = units.iter().sum();
        let count = if prefix_only {
            units.iter().map(|u| u64::from(*u) + 1).product::<u64>()
        } else if total_bits >= 63 {
            u64::MAX
        } else {
            1u64 << total_bits
        };
        let sampled = count > config.max_choices_per_moment;
        ChoicePlan {
            units,
            prefix_only,
            sampled,
            samples: config.max_choices_per_moment,
            seed: config.seed ^ (moment as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u64]) -> ControlFlow<()>) -> ControlFlow<()> {
        let mut masks = vec![0u64; self.units.len()];
        if self.sampled {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
            for _ in 0..self.samples {
                for (mask, units) in masks.iter_mut().zip(&self.units) {
                    *mask = if self.prefix_only {
                        prefix_mask(rng.next_u64() % (u64::from(*units) + 1))
                    } else {
                        rng.next_u64() & prefix_mask(u64::from(*units))
                    };
                }
                f(&masks)?;
            }
            return ControlFlow::Continue(());
        }
        // An odometer over the masks; the first pending mutation turns fastest.
        let limits: Vec<u64> = self
            .units
            .iter()
            .map(|u| {
                if self.prefix_only {
                    u64::from(*u) + 1
                } else {
                    1u64 << u
                }
            })
            .collect();
        let mut digits = vec![0u64; self.units.len()];
        loop {
            for ((mask, digit), _) in masks.iter_mut().zip(&digits).zip(&self.units) {
                *mask = if self.prefix_only {
                    prefix_mask(*digit)
                } else {
                    *digit
                };
            }
            f(&masks)?;
            let mut i = 0;
            loop {
                if i == digits.len() {
                    return ControlFlow::Continue(());
                }
                digits[i] += 1;
                if digits[i] < limits[i] {
                    break;
                }
                digits[i] = 0;
                i += 1;
            }
        }
    }
}

/// The mask with the low `n` bits set.
fn prefix_mask(n: u64) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}
