//! `atomic_write_ops`: any sequence of replaces and power cuts (at any moment of the trace,
//! keeping any subset of the pending changes and blocks), each cut followed by the variant's
//! recovery, as the next start of the program would run it.
//!
//! After each cut the file must hold the newest acknowledged version or the one being
//! written when the power went (old-or-new and acknowledged-durable), or, before any version
//! was acknowledged, nothing or the version in flight; and recovery must leave no temp file.

use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use faultline_core::{BlockSize, Fs, FsImage, SimFs, SimOptions};
use faultline_targets::atomic_write::{AtomicWrite, Variant};

use super::{Cut, power_cut};

/// One step.
#[derive(Clone, Copy, Debug, Arbitrary)]
pub enum Op {
    /// Replace the file with a new version of `len % 9000` bytes.
    Replace {
        /// Its length, modulo 9000.
        len: u16,
    },
    /// Cut the power, then start again and recover.
    Cut(Cut),
}

/// The fuzzer's input.
#[derive(Clone, Debug, Arbitrary)]
pub struct Input {
    /// Tear writes in 512-byte blocks instead of 4096.
    pub small_blocks: bool,
    /// The steps (at most 16 are run).
    pub ops: Vec<Op>,
}

const DIR: &str = "/data";
const FILE: &str = "/data/doc";

/// Version `k` of the document: its number, then a filler derived from it.
fn version(k: usize, len: u16) -> Vec<u8> {
    let len = usize::from(len) % 9000;
    let mut data = format!("v{k}:").into_bytes();
    data.extend((0..len).map(|i| b'a' + ((i * 7 + k * 13) % 26) as u8));
    data
}

fn describe(content: Option<&[u8]>) -> String {
    match content {
        None => "no file".into(),
        Some(bytes) => {
            let head = bytes.split(|b| *b == b':').next().unwrap_or(&[]);
            match std::str::from_utf8(head) {
                Ok(h) if h.starts_with('v') && h.len() < 8 => format!("{h} ({} bytes)", bytes.len()),
                _ => format!("{} bytes that are no version", bytes.len()),
            }
        }
    }
}

/// A file system booted from `image`, taken as durable, as process `pid`.
fn boot(image: FsImage, pid: u32) -> SimFs {
    SimFs::from_image(
        image,
        SimOptions {
            seed: u64::from(pid),
            pid,
            record: true,
        },
    )
}

/// Runs the input against `variant`; `Err` names the first violated property.
pub fn check(variant: Variant, data: &[u8]) -> Result<(), String> {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return Ok(());
    };
    run(variant, &input)
}

/// Runs decoded steps against `variant`.
pub fn run(variant: Variant, input: &Input) -> Result<(), String> {
    let block_size = BlockSize::new(if input.small_blocks { 512 } else { 4096 }).expect("valid sizes");
    let setup = SimFs::default();
    setup.mkdir(Path::new(DIR), 0o755).map_err(|e| e.to_string())?;
    let mut pid = 1000;
    let mut base = setup.image();
    let mut sim = boot(base.clone(), pid);
    let path = Path::new(FILE);
    // What the file held when this boot started, and each replace of this boot:
    // (trace start, trace end, its bytes).
    let mut at_boot: Option<Vec<u8>> = None;
    let mut spans: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    let mut versions = 0;
    for op in input.ops.iter().take(16) {
        match *op {
            Op::Replace { len } => {
                versions += 1;
                let data = version(versions, len);
                let start = sim.trace_len();
                variant
                    .replace(&sim, path, &data)
                    .map_err(|e| format!("replace of v{versions} failed with nothing injected: {e}"))?;
                spans.push((start, sim.trace_len(), data));
            }
            Op::Cut(cut) => {
                let (image, moment) = power_cut(&base, &sim, cut, block_size);
                let acknowledged = spans
                    .iter()
                    .rev()
                    .find(|(_, end, _)| *end <= moment)
                    .map(|(_, _, d)| d.clone())
                    .or_else(|| at_boot.clone());
                let in_flight = spans
                    .iter()
                    .find(|(start, end, _)| *start < moment && moment < *end)
                    .map(|(_, _, d)| d.clone());
                pid += 1;
                let next = boot(image, pid);
                variant
                    .recover(&next, path)
                    .map_err(|e| format!("recovery failed after a power cut at entry {moment}: {e}"))?;
                let content = faultline_core::fs::read_file(&next, path).ok();
                let allowed = content == acknowledged || (in_flight.is_some() && content == in_flight);
                if !allowed {
                    return Err(format!(
                        "after a power cut at trace entry {moment} (keep {:#x}) and recovery, {FILE} holds {}; the newest acknowledged version is {}{}",
                        cut.keep,
                        describe(content.as_deref()),
                        describe(acknowledged.as_deref()),
                        in_flight
                            .as_deref()
                            .map(|d| format!(" and {} was being written", describe(Some(d))))
                            .unwrap_or_default()
                    ));
                }
                let names = next.read_dir(Path::new(DIR)).map_err(|e| e.to_string())?;
                if let Some(temp) = names.iter().find(|n| n.as_str() != "doc") {
                    return Err(format!(
                        "after a power cut at trace entry {moment} and recovery, {DIR} still holds {temp}"
                    ));
                }
                // The next boot starts from what recovery left, taken as durable.
                base = next.image();
                sim = boot(base.clone(), pid);
                at_boot = content;
                spans.clear();
            }
        }
    }
    Ok(())
}
