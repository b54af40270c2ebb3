//! `queue_ops`: any sequence of enqueues, dequeues, acks and power cuts (at any moment of the
//! trace, keeping any subset of pending changes and blocks) against a model of the queue.
//!
//! After a cut the queue is opened as the next start of the program would open it, one more
//! item is enqueued, and everything is drained and acknowledged. Then: every item whose
//! enqueue returned before the cut and whose ack had not returned must come out (else
//! `LostItem`), as must the item enqueued after recovery; no item whose ack returned may come
//! out again (`DuplicateDelivery`); every payload must be an item's, intact (`CorruptRecord`);
//! and nothing may come out that no enqueue had begun (`PhantomItem`). Items whose enqueue or
//! ack the cut interrupted may come out or not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use faultline_core::{BlockSize, Fs, FsImage, SimFs, SimOptions};
use faultline_targets::queue::{Delivery, Options, Variant};

use super::{Cut, power_cut};

/// One step.
#[derive(Clone, Copy, Debug, Arbitrary)]
pub enum Op {
    /// Enqueue an item of `len % 1200` bytes after its name.
    Enqueue {
        /// Its length, modulo 1200.
        len: u16,
    },
    /// Take the next item (if none is held).
    Dequeue,
    /// Acknowledge the item held (if any).
    Ack,
    /// Cut the power, then open the queue again, enqueue one item and drain it all.
    Cut(Cut),
}

/// The fuzzer's input.
#[derive(Clone, Debug, Arbitrary)]
pub struct Input {
    /// Tear writes in 512-byte blocks instead of 4096.
    pub small_blocks: bool,
    /// The steps (at most 32 are run).
    pub ops: Vec<Op>,
}

const DIR: &str = "/queue";
const OPTIONS: Options = Options {
    segment_bytes: 1500,
    max_payload: 4096,
};

/// Item `k`: its name, then a filler derived from it.
fn item(k: u64, len: u16) -> Vec<u8> {
    let mut data = format!("item-{k}:").into_bytes();
    data.extend((0..usize::from(len) % 1200).map(|i| b'a' + ((i * 11 + k as usize * 5) % 26) as u8));
    data
}

/// The item a payload names, if it is one intact.
fn which(payload: &[u8], lens: &BTreeMap<u64, u16>) -> Option<u64> {
    let text = std::str::from_utf8(payload.split(|b| *b == b':').next()?).ok()?;
    let k: u64 = text.strip_prefix("item-")?.parse().ok()?;
    let len = *lens.get(&k)?;
    (item(k, len) == payload).then_some(k)
}

/// Each item event of one boot with the trace entries its call spanned: (start, end, event).
type Spans = Vec<(usize, usize, Event)>;

/// What happened to an item in the trace of one boot.
#[derive(Clone, Copy, Debug)]
enum Event {
    Enqueued(u64),
    Acked(u64),
}

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

struct Model {
    lens: BTreeMap<u64, u16>,
    next: u64,
}

/// Opens the queue after a cut, enqueues one item and drains everything; checks the
/// accounting against what the trace up to `moment` had acknowledged.
fn recover(
    variant: Variant,
    sim: &SimFs,
    model: &mut Model,
    spans: &[(usize, usize, Event)],
    moment: usize,
) -> Result<(), String> {
    let done = |e: &dyn Fn(&Event) -> Option<u64>| -> BTreeSet<u64> {
        spans
            .iter()
            .filter(|(_, end, _)| *end <= moment)
            .filter_map(|(_, _, ev)| e(ev))
            .collect()
    };
    let enqueued = done(&|e| match e {
        Event::Enqueued(k) => Some(*k),
        Event::Acked(_) => None,
    });
    let acked = done(&|e| match e {
        Event::Acked(k) => Some(*k),
        Event::Enqueued(_) => None,
    });
    let begun = |e: &dyn Fn(&Event) -> Option<u64>| -> BTreeSet<u64> {
        spans
            .iter()
            .filter(|(start, _, _)| *start < moment)
            .filter_map(|(_, _, ev)| e(ev))
            .collect()
    };
    let enqueue_begun = begun(&|e| match e {
        Event::Enqueued(k) => Some(*k),
        Event::Acked(_) => None,
    });
    // An ack the cut interrupted may have taken effect or not.
    let ack_begun = begun(&|e| match e {
        Event::Acked(k) => Some(*k),
        Event::Enqueued(_) => None,
    });
    let mut q = variant
        .open(sim, Path::new(DIR), OPTIONS)
        .map_err(|e| format!("opening after a power cut at trace entry {moment} failed: {e:?}"))?;
    let marker = model.next;
    model.next += 1;
    model.lens.insert(marker, 40);
    q.enqueue(&item(marker, 40))
        .map_err(|e| format!("the first enqueue after a power cut at trace entry {moment} failed: {e:?}"))?;
    let mut out = BTreeSet::new();
    for _ in 0..=model.next + 2 {
        let Some(Delivery { id, payload }) = q
            .dequeue()
            .map_err(|e| format!("draining after a power cut at trace entry {moment}: {e:?}"))?
        else {
            break;
        };
        let Some(k) = which(&payload, &model.lens) else {
            return Err(format!(
                "CorruptRecord: after a power cut at trace entry {moment}, a delivery of {} bytes is no item's",
                payload.len()
            ));
        };
        if acked.contains(&k) || out.contains(&k) {
            return Err(format!(
                "DuplicateDelivery: item-{k}, acknowledged before the power cut at trace entry {moment}, came out again"
            ));
        }
        if k != marker && !enqueue_begun.contains(&k) {
            return Err(format!(
                "PhantomItem: item-{k} came out after a power cut at trace entry {moment}, before its enqueue began"
            ));
        }
        out.insert(k);
        q.ack(id)
            .map_err(|e| format!("ack while draining after a power cut at trace entry {moment}: {e:?}"))?;
    }
    if let Some(lost) = enqueued
        .iter()
        .chain(std::iter::once(&marker))
        .find(|k| !ack_begun.contains(k) && !out.contains(k))
    {
        return Err(format!(
            "LostItem: item-{lost}{} never came out after a power cut at trace entry {moment} ({} acknowledged enqueues, {} acks before it)",
            if *lost == marker {
                ", enqueued after recovery,"
            } else {
                ", whose enqueue had returned,"
            },
            enqueued.len(),
            acked.len()
        ));
    }
    Ok(())
}

/// Runs decoded steps against `variant`.
pub fn run(variant: Variant, input: &Input) -> Result<(), String> {
    let block_size = BlockSize::new(if input.small_blocks { 512 } else { 4096 }).expect("valid sizes");
    let setup = SimFs::default();
    setup.mkdir(Path::new(DIR), 0o755).map_err(|e| e.to_string())?;
    let mut image = setup.image();
    let mut pid = 1000;
    let mut model = Model {
        lens: BTreeMap::new(),
        next: 0,
    };
    let mut ops = input.ops.iter().take(32).peekable();
    let mut after_cut: Option<(Spans, usize)> = None;
    loop {
        if let Some((spans, moment)) = after_cut.take() {
            let sim = boot(image, pid);
            recover(variant, &sim, &mut model, &spans, moment)?;
            // What recovery and the drain did is the next boot's durable start.
            image = sim.image();
            pid += 1;
        }
        if ops.peek().is_none() {
            return Ok(());
        }
        let sim = boot(image.clone(), pid);
        let mut q = variant
            .open(&sim, Path::new(DIR), OPTIONS)
            .map_err(|e| format!("open failed with nothing injected: {e:?}"))?;
        let mut spans: Spans = Vec::new();
        let mut held: Option<(u64, u64)> = None;
        let mut live: BTreeSet<u64> = BTreeSet::new();
        for op in ops.by_ref() {
            match *op {
                Op::Enqueue { len } => {
                    let k = model.next;
                    model.next += 1;
                    model.lens.insert(k, len);
                    let start = sim.trace_len();
                    q.enqueue(&item(k, len))
                        .map_err(|e| format!("enqueue failed with nothing injected: {e:?}"))?;
                    spans.push((start, sim.trace_len(), Event::Enqueued(k)));
                    live.insert(k);
                }
                Op::Dequeue if held.is_none() => {
                    let d = q
                        .dequeue()
                        .map_err(|e| format!("dequeue failed with nothing injected: {e:?}"))?;
                    if let Some(d) = d {
                        let k = which(&d.payload, &model.lens).ok_or_else(|| {
                            format!(
                                "CorruptRecord: a delivery of {} bytes is no item's",
                                d.payload.len()
                            )
                        })?;
                        if !live.contains(&k) {
                            return Err(format!("item-{k} was delivered, but it is not in the queue"));
                        }
                        held = Some((d.id, k));
                    }
                }
                Op::Ack => {
                    if let Some((id, k)) = held.take() {
                        let start = sim.trace_len();
                        q.ack(id)
                            .map_err(|e| format!("ack failed with nothing injected: {e:?}"))?;
                        spans.push((start, sim.trace_len(), Event::Acked(k)));
                        live.remove(&k);
                    }
                }
                Op::Dequeue => {}
                Op::Cut(cut) => {
                    let (cut_image, moment) = power_cut(&image, &sim, cut, block_size);
                    image = cut_image;
                    pid += 1;
                    after_cut = Some((spans, moment));
                    break;
                }
            }
        }
        if after_cut.is_none() {
            return Ok(());
        }
    }
}
