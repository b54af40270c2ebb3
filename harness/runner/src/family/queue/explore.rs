//! Crash states of a queue workload: one producer and one consumer on the simulated file
//! system enqueue and consume in steps that rotate and delete segments; every crash state the
//! persistence model allows is recovered as the next run would (open, enqueue one more item,
//! reopen, drain) and judged by the exactly-once accounting.
//!
//! Deterministic: the same variant, plan and model give the same states in the same order, so
//! a state is named by its index and replayed with `faultline run ... --trial INDEX`.

use std::path::Path;

use faultline_core::crash_state::{self, EnumerationConfig};
use faultline_core::{BlockSize, Failure, Fs, FsError, FsImage, PersistenceModel, SimFs, SimOptions};
use faultline_targets::queue::{Options, Variant};

use super::{Item, Ledger, Processed, account, parse_payload, payload};
use crate::crash::Sweep;

/// The queue's directory on the simulated file system.
pub const QUEUE_DIR: &str = "/data/queue";

/// What the workload does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Payload size of every item.
    pub payload_bytes: usize,
    /// The queue's segment size: small, so the workload rotates and deletes segments.
    pub segment_bytes: u64,
    /// Steps: `Ok(n)` enqueues n items, `Err(n)` dequeues, processes and acks n.
    pub steps: Vec<Step>,
    /// The crash model and where writes tear.
    pub model: PersistenceModel,
    /// Where writes tear.
    pub block_size: BlockSize,
}

/// One step of the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Enqueue this many items.
    Enqueue(u32),
    /// Dequeue, process and ack this many.
    Consume(u32),
}

impl Plan {
    /// The default workload: enqueue 3, consume 2, enqueue 2, consume 3, enqueue 3, consume 1,
    /// enqueue 1, so that segments are created, filled and deleted (with items of 700 bytes in
    /// segments of 1500, two to a segment).
    pub fn new(
        model: PersistenceModel,
        block_size: BlockSize,
        payload_bytes: usize,
        segment_bytes: u64,
    ) -> Self {
        Plan {
            payload_bytes,
            segment_bytes,
            steps: vec![
                Step::Enqueue(3),
                Step::Consume(2),
                Step::Enqueue(2),
                Step::Consume(3),
                Step::Enqueue(3),
                Step::Consume(1),
                Step::Enqueue(1),
            ],
            model,
            block_size,
        }
    }
}

/// What the workload did or was told, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// An enqueue began.
    Began(Item),
    /// It returned Ok.
    Acknowledged(Item),
    /// A consumer processed a delivery (an item, or garbage).
    Processed(Result<Item, String>),
    /// The last processed delivery's ack returned Ok.
    AckReturned,
}

/// The workload's run on the simulated file system.
pub struct Recorded {
    /// The durable image the trace starts from.
    pub base: FsImage,
    /// Every call the queue made.
    pub trace: Vec<faultline_core::trace::TraceEntry>,
    events: Vec<(usize, Event)>,
    /// Errors the workload met with no fault injected.
    pub errors: Vec<String>,
}

impl Recorded {
    /// How many events had happened by each moment: moments with the same history are judged
    /// alike.
    pub fn classes(&self) -> Vec<u64> {
        (0..=self.trace.len())
            .map(|m| self.events.iter().take_while(|(at, _)| *at <= m).count() as u64)
            .collect()
    }
}

fn options(plan: &Plan) -> Options {
    Options {
        segment_bytes: plan.segment_bytes,
        ..Options::default()
    }
}

/// Runs the workload of `plan` with `variant` on a fresh simulated file system.
pub fn record(variant: Variant, plan: &Plan) -> Result<Recorded, FsError> {
    let fs = SimFs::new(SimOptions::default());
    fs.mkdir(Path::new("/data"), 0o755)?;
    fs.fsync_dir(Path::new("/"))?;
    let base = fs.checkpoint();
    let mut events = Vec::new();
    let mut errors = Vec::new();
    let dir = Path::new(QUEUE_DIR);
    let mut queue = match variant.open(&fs, dir, options(plan)) {
        Ok(q) => q,
        Err(e) => {
            errors.push(format!("open: {e}"));
            return Ok(Recorded {
                base,
                trace: fs.trace(),
                events,
                errors,
            });
        }
    };
    let mut seq = 0;
    for step in &plan.steps {
        match *step {
            Step::Enqueue(n) => {
                for _ in 0..n {
                    let item = Item { producer: 1, seq };
                    seq += 1;
                    events.push((fs.trace_len(), Event::Began(item)));
                    match queue.enqueue(&payload(item, plan.payload_bytes)) {
                        Ok(_) => events.push((fs.trace_len(), Event::Acknowledged(item))),
                        Err(e) => errors.push(format!("enqueue of {item}: {e}")),
                    }
                }
            }
            Step::Consume(n) => {
                for _ in 0..n {
                    match queue.dequeue() {
                        Ok(Some(d)) => {
                            events.push((fs.trace_len(), Event::Processed(parse_payload(&d.payload))));
                            match queue.ack(d.id) {
                                Ok(()) => events.push((fs.trace_len(), Event::AckReturned)),
                                Err(e) => errors.push(format!("ack: {e}")),
                            }
                        }
                        Ok(None) => errors.push("dequeue found the queue empty".into()),
                        Err(e) => errors.push(format!("dequeue: {e}")),
                    }
                }
            }
        }
    }
    drop(queue);
    Ok(Recorded {
        base,
        trace: fs.trace(),
        events,
        errors,
    })
}

/// The ledger of what the workload had done and been told by `moment`.
pub(crate) fn ledger_at(events: &[(usize, Event)], moment: usize) -> Ledger {
    let mut ledger = Ledger::default();
    for (at, event) in events {
        if *at > moment {
            break;
        }
        match event {
            Event::Began(item) => {
                ledger.attempted.insert(*item);
            }
            Event::Acknowledged(item) => {
                ledger.acknowledged.insert(*item);
            }
            Event::Processed(item) => ledger.processed.push(Processed {
                item: item.clone(),
                consumer: 1,
                acked: false,
                at_ns: *at as u64,
            }),
            Event::AckReturned => {
                if let Some(last) = ledger.processed.last_mut() {
                    last.acked = true;
                }
            }
        }
    }
    ledger
}

/// The item the recovery enqueues after the crash: appending after whatever the crash left.
pub const SENTINEL: Item = Item { producer: 0, seq: 0 };

/// Boots `image` as the next run would: opens the queue, enqueues [`SENTINEL`], reopens it
/// and drains it, adding all of that to `ledger`.
fn recover_and_drain(variant: Variant, plan: &Plan, image: FsImage, ledger: &mut Ledger) {
    let fs = SimFs::from_image(
        image,
        SimOptions {
            seed: 0,
            pid: 2,
            record: false,
        },
    );
    let dir = Path::new(QUEUE_DIR);
    match variant.open(&fs, dir, options(plan)) {
        Ok(mut q) => {
            ledger.attempted.insert(SENTINEL);
            match q.enqueue(&payload(SENTINEL, plan.payload_bytes)) {
                Ok(_) => {
                    ledger.acknowledged.insert(SENTINEL);
                }
                Err(e) => ledger.note_error("enqueue after the crash", e),
            }
        }
        Err(e) => return ledger.note_error("opening after the crash", e),
    }
    let mut q = match variant.open(&fs, dir, options(plan)) {
        Ok(q) => q,
        Err(e) => return ledger.note_error("reopening after the crash", e),
    };
    ledger.drain(&mut *q, "after the crash");
}

/// The enumeration's settings for `plan`.
pub fn config(plan: &Plan) -> EnumerationConfig {
    EnumerationConfig {
        block_size: plan.block_size,
        ..EnumerationConfig::new(plan.model)
    }
}

/// Enumerates the crash states of `variant`'s workload under `plan` and judges those whose
/// index (in enumeration order) `select` accepts: all, one (`--trial`), or a shard's slice.
pub fn explore(variant: Variant, plan: &Plan, select: &dyn Fn(u64) -> bool) -> Result<Sweep, FsError> {
    let recorded = record(variant, plan)?;
    let classes = recorded.classes();
    let swept = crate::crash::sweep(
        &recorded.base,
        &recorded.trace,
        &config(plan),
        |m| classes[m],
        select,
        |state| {
            Ok::<_, std::convert::Infallible>(judge_state(variant, plan, &recorded, state.image, &state.id))
        },
    );
    let mut sweep = match swept {
        Ok(sweep) => sweep,
        Err(never) => match never {},
    };
    if let Some(first) = recorded.errors.first() {
        sweep.workload_failed(format!("the workload failed with no fault: {first}"));
    }
    Ok(sweep)
}

/// Judges one crash state `image` (state `id`) of `recorded`: boots it as the next run would
/// and accounts what happened before the crash and after it.
pub fn judge_state(
    variant: Variant,
    plan: &Plan,
    recorded: &Recorded,
    image: FsImage,
    id: &crash_state::CrashStateId,
) -> Vec<Failure> {
    let mut ledger = ledger_at(&recorded.events, id.moment);
    recover_and_drain(variant, plan, image, &mut ledger);
    let (failures, _) = account(&ledger);
    let context = describe(recorded, id);
    failures
        .into_iter()
        .map(|Failure { kind, detail }| Failure {
            kind,
            detail: format!("{detail}; {context}"),
        })
        .collect()
}

/// Judges the crash states of a queue workload recorded elsewhere (its base image, trace and
/// events), as a queue program's are: the ledger of what had happened by the crash, plus what
/// `recover` saw booting the state, by the exactly-once accounting; `describe` names a state
/// in a failure's detail. Stops at `recover`'s first error.
pub(crate) fn judge_states<E>(
    (base, trace, events): (&FsImage, &[faultline_core::trace::TraceEntry], &[(usize, Event)]),
    config: &EnumerationConfig,
    select: &dyn Fn(u64) -> bool,
    mut recover: impl FnMut(FsImage, &mut Ledger) -> Result<(), E>,
    describe: impl Fn(&crash_state::CrashStateId) -> String,
) -> Result<Sweep, E> {
    let progress: Vec<u64> = (0..=trace.len())
        .map(|m| events.iter().take_while(|(at, _)| *at <= m).count() as u64)
        .collect();
    crate::crash::sweep(
        base,
        trace,
        config,
        |m| progress[m],
        select,
        |state| {
            let mut ledger = ledger_at(events, state.id.moment);
            let context = describe(&state.id);
            recover(state.image, &mut ledger)?;
            let (failures, _) = account(&ledger);
            Ok(failures
                .into_iter()
                .map(|Failure { kind, detail }| Failure {
                    kind,
                    detail: format!("{detail}; {context}"),
                })
                .collect())
        },
    )
}

fn describe(recorded: &Recorded, id: &crash_state::CrashStateId) -> String {
    let before = &recorded.trace[..id.moment];
    let call = before
        .iter()
        .rev()
        .find(|e| e.crash_point.is_none())
        .map_or("the start".to_string(), |e| e.to_string());
    let point = before
        .iter()
        .rev()
        .find_map(|e| e.crash_point)
        .map_or(String::new(), |p| format!(", last crash point {p}"));
    format!(
        "crash state {id} (power cut after trace entry {}: {call}{point})",
        id.moment
    )
}

/// Payload size of `faultline explore`'s queue items (as in the queue's power-loss scenario).
pub const EXPLORE_PAYLOAD_BYTES: usize = 700;
/// Segment size of `faultline explore`'s queue workload: two records to a segment.
pub const EXPLORE_SEGMENT_BYTES: u64 = 1500;

/// The queue workload as it ran, for the crash detector.
struct QueueRun {
    variant: Variant,
    plan: Plan,
    recorded: Recorded,
    classes: Vec<u64>,
}

impl crate::family::explorable::Recorded for QueueRun {
    fn base(&self) -> &FsImage {
        &self.recorded.base
    }

    fn trace(&self) -> &[faultline_core::trace::TraceEntry] {
        &self.recorded.trace
    }

    fn class(&self, moment: usize) -> u64 {
        self.classes[moment]
    }

    fn errors(&self) -> Vec<String> {
        self.recorded.errors.clone()
    }

    fn judge(&self, image: FsImage, id: &crash_state::CrashStateId) -> crate::family::explorable::Judged {
        crate::family::explorable::Judged {
            failures: judge_state(self.variant, &self.plan, &self.recorded, image, id),
            document: None,
        }
    }
}

impl crate::family::explorable::Simulated for super::QueueFamily {
    /// Queue records are small: they tear at the 512-byte sector, as in the queue's scenario.
    fn default_block_size(&self) -> BlockSize {
        BlockSize::new(512).unwrap_or(BlockSize::DEFAULT)
    }

    /// The simulated consumer processes each delivery at once, so a kill between delivery
    /// and processing (what K catches in queues) is for process runs only.
    fn detectors(&self, model: PersistenceModel) -> Vec<faultline_targets::registry::Detector> {
        match model {
            PersistenceModel::ProcessCrash => Vec::new(),
            PersistenceModel::PowerLoss => vec![faultline_targets::registry::Detector::PowerLoss],
        }
    }

    fn record(
        &self,
        variant: &str,
        request: &crate::family::explorable::ExploreRequest,
    ) -> Option<Result<Box<dyn crate::family::explorable::Recorded>, FsError>> {
        let variant = Variant::by_name(variant)?;
        let plan = Plan::new(
            request.config.model,
            request.config.block_size,
            EXPLORE_PAYLOAD_BYTES,
            EXPLORE_SEGMENT_BYTES,
        );
        Some(record(variant, &plan).map(|recorded| {
            Box::new(QueueRun {
                variant,
                classes: recorded.classes(),
                plan,
                recorded,
            }) as Box<dyn crate::family::explorable::Recorded>
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan::new(
            PersistenceModel::PowerLoss,
            BlockSize::new(512).expect("block"),
            700,
            1500,
        )
    }

    #[test]
    fn the_reference_survives_every_power_loss_state() {
        let outcome = explore(Variant::Segmented, &plan(), &|_| true).expect("explore");
        assert!(outcome.judged > 50, "{outcome:?}");
        assert_eq!(outcome.failed, 0, "{:?}", outcome.first_by_kind);
    }

    #[test]
    fn no_fsync_enqueue_loses_acknowledged_items_and_the_state_replays() {
        let outcome = explore(Variant::NoFsyncEnqueue, &plan(), &|_| true).expect("explore");
        use faultline_core::FailureKind;
        let (index, detail) = outcome.first_by_kind[&FailureKind::LostItem].clone();
        let again = explore(Variant::NoFsyncEnqueue, &plan(), &|s| s == index).expect("replay");
        assert_eq!(again.judged, 1);
        assert_eq!(again.first_by_kind[&FailureKind::LostItem], (index, detail));
    }
}
