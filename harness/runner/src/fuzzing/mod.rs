//! What the fuzz targets run, as library functions so that a plain `cargo test` replays the
//! committed corpora and every minimised crash through exactly the same code.
//!
//! Each function takes the fuzzer's bytes and returns `Err` with a sentence when it found a
//! bug (the fuzz target panics with it); inputs that do not decode are `Ok`. Operations are
//! decoded with `arbitrary` from few bytes each (a tag byte and small fields), so that the
//! interesting sequences are short.

pub mod atomic_write_ops;
pub mod parse;
pub mod queue_ops;
pub mod queue_recover;

use faultline_core::{BlockSize, Durability, FsImage, PersistenceModel, SimFs};

/// A power cut at one moment of a simulated file system's trace.
#[derive(Clone, Copy, Debug, arbitrary::Arbitrary)]
pub struct Cut {
    /// Where in the trace (taken modulo its length + 1).
    pub at: u16,
    /// Which pending changes survive: bit `i` of the mask stream decides unit `i`.
    pub keep: u64,
}

/// The image a power cut at `cut` leaves, for a file system booted from `base` whose trace
/// is `sim`'s; and the moment it chose. Any choice of kept units is a state the power-loss
/// model allows (each pending change, or block of a pending write, kept or lost).
pub fn power_cut(base: &FsImage, sim: &SimFs, cut: Cut, block_size: BlockSize) -> (FsImage, usize) {
    let trace = sim.trace();
    let moment = usize::from(cut.at) % (trace.len() + 1);
    let mut durability = Durability::new(base.clone(), PersistenceModel::PowerLoss, block_size);
    for (i, entry) in trace[..moment].iter().enumerate() {
        durability.record(i, &entry.effects);
    }
    // Spread the 64 bits of `keep` over the units, repeating with a rotation when there are
    // more units than bits.
    let mut bits = cut.keep;
    let masks: Vec<u64> = durability
        .units()
        .iter()
        .map(|&units| {
            let n = units.min(64);
            let mask = if n == 64 { bits } else { bits & ((1u64 << n) - 1) };
            bits = bits.rotate_right(n.max(1));
            mask
        })
        .collect();
    (durability.materialize(&masks), moment)
}
