//! Queue workloads and the exactly-once accounting oracle, shared by the process runner
//! (producers and consumers as processes, killed) and the crash-state exploration (an
//! enqueue/dequeue workload on the simulated file system, under power loss).
//!
//! Every item a producer enqueues has a payload that names it (`p<producer>-<seq>;`) and a
//! filler derived from that name, so a delivery is recognised as one item, or as garbage. The
//! oracle, given what producers attempted and were acknowledged and what consumers processed:
//! - `LostItem`: an acknowledged enqueue was never processed;
//! - `PhantomItem`: an item was processed that no producer had begun to enqueue;
//! - `CorruptRecord`: a payload was no item's, or the queue reported a corrupt record;
//! - `DuplicateDelivery`: an item was processed again after a consumer had acknowledged it.
//!   Processing it again after a delivery that was never acknowledged (the consumer died
//!   between delivery and ack) is what at-least-once delivery allows: counted, not failed.

pub mod explore;
pub mod plan;
pub mod programs;
pub mod roles;

/// A queue scenario's crash states (`[queue] model`): the workload's states under `model`,
/// with the scenario's payload, segment and block sizes, each state one trial.
fn bundled_crash_trials(
    scenario: &crate::scenario::Scenario,
    variant: faultline_targets::queue::Variant,
    model: faultline_core::PersistenceModel,
    select: &dyn Fn(u64) -> bool,
) -> Result<crate::crash::Sweep, String> {
    let block_size = faultline_core::BlockSize::new(plan::QueuePlan::of(scenario).block_size)
        .map_err(|e| format!("block size: {e}"))?;
    let plan = explore::Plan::new(
        model,
        block_size,
        scenario.document_bytes,
        plan::QueuePlan::of(scenario).segment_bytes,
    );
    explore::explore(variant, &plan, select)
        .map_err(|e| format!("the simulated workload could not start: {e}"))
}

/// Family `queue`: a durable queue, producers and consumers; bundled or programs (judged by
/// their recorded runs' crash states).
pub struct QueueFamily;

impl super::Family for QueueFamily {
    fn info(&self) -> &'static faultline_targets::registry::FamilyInfo {
        &faultline_targets::queue::INFO
    }

    fn checks(&self) -> &'static [crate::scenario::Check] {
        &[crate::scenario::Check::ExactlyOnce]
    }

    fn section(&self) -> Option<&'static str> {
        Some("queue")
    }

    fn plan(
        &self,
        text: &str,
        at: crate::scenario::At<'_>,
    ) -> Result<std::sync::Arc<dyn crate::scenario::Plan>, crate::scenario::ScenarioError> {
        Ok(std::sync::Arc::new(plan::parse(text, at)?))
    }

    fn programs(&self) -> Option<super::ProgramKind> {
        use crate::program::ProgramRole;
        Some(super::ProgramKind {
            kind: "queue",
            gives: "producer = [...] and consumer = [...]",
            roles: &[
                ProgramRole {
                    name: "producer",
                    required: true,
                    critical: None,
                },
                ProgramRole {
                    name: "consumer",
                    required: true,
                    critical: None,
                },
            ],
            needs: "a queue needs both producer = [...] (enqueues {item}) and consumer = [...] (delivers up to {count})",
        })
    }

    fn program_rules(&self, explore: bool, _readers: u32) -> Result<(), &'static str> {
        if explore {
            return Ok(());
        }
        Err(
            "queue programs are judged by their crash states: add [explore] with model = \"power-loss\" (or \"process-crash\")",
        )
    }

    /// Queue programs are judged by their recorded runs' crash states only: no roles.
    fn roles<'s>(
        &self,
        scenario: &'s crate::scenario::Scenario,
        target: super::target::Target<'s>,
    ) -> Option<Box<dyn crate::process::roles::Roles + 's>> {
        match target {
            super::target::Target::BuiltIn(v) => {
                let variant = faultline_targets::queue::Variant::by_name(v.name)?;
                Some(Box::new(roles::QueueRoles::new(scenario, variant)))
            }
            super::target::Target::Program(_) => None,
        }
    }

    fn crash_trials(
        &self,
        scenario: &crate::scenario::Scenario,
        target: super::target::Target<'_>,
        select: &dyn Fn(u64) -> bool,
    ) -> Option<Result<crate::crash::Sweep, String>> {
        use super::target::Target;
        match (target, plan::QueuePlan::of(scenario).model, scenario.explore) {
            (Target::BuiltIn(v), Some(model), _) => {
                let variant = faultline_targets::queue::Variant::by_name(v.name)?;
                Some(bundled_crash_trials(scenario, variant, model, select))
            }
            (Target::Program(p), _, Some(plan)) => Some(
                programs::explore(p, plan, scenario.document_bytes, select)
                    .map_err(|e| format!("recording or judging the programs failed: {e}")),
            ),
            _ => None,
        }
    }

    fn simulated(&self) -> Option<&dyn super::Simulated> {
        Some(self)
    }
}

use std::collections::{BTreeMap, BTreeSet};

use faultline_core::{Failure, FailureKind};
use faultline_targets::queue::{Queue, QueueError};

/// One item: its producer and its number there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Item {
    /// The producer (0 for items the harness enqueued itself).
    pub producer: u32,
    /// Its sequence number at that producer, from 0.
    pub seq: u32,
}

impl std::fmt::Display for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "p{}-{}", self.producer, self.seq)
    }
}

/// The payload of `item`, `bytes` long (at least its name and a `;`).
pub fn payload(item: Item, bytes: usize) -> Vec<u8> {
    let mut out = format!("{item};").into_bytes();
    let mut x = u64::from(item.producer) << 32 | u64::from(item.seq);
    while out.len() < bytes {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.push(b'a' + (x >> 59) as u8 % 26);
    }
    out
}

/// The item a payload names, if it is exactly that item's payload; else a description.
pub fn parse_payload(bytes: &[u8]) -> Result<Item, String> {
    let garbage = || {
        let shown: String = String::from_utf8_lossy(&bytes[..bytes.len().min(24)])
            .chars()
            .map(|c| if c.is_ascii_graphic() { c } else { '.' })
            .collect();
        format!(
            "a payload of {} bytes that no producer wrote: {shown:?}",
            bytes.len()
        )
    };
    let end = bytes.iter().position(|b| *b == b';').ok_or_else(garbage)?;
    let name = std::str::from_utf8(&bytes[..end]).map_err(|_| garbage())?;
    let (p, s) = name
        .strip_prefix('p')
        .and_then(|n| n.split_once('-'))
        .ok_or_else(garbage)?;
    let item = Item {
        producer: p.parse().map_err(|_| garbage())?,
        seq: s.parse().map_err(|_| garbage())?,
    };
    if payload(item, bytes.len()) != bytes {
        return Err(garbage());
    }
    Ok(item)
}

/// One item processed by a consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Processed {
    /// What was delivered: an item, or garbage.
    pub item: Result<Item, String>,
    /// Which consumer (0: the harness's own drain after the run).
    pub consumer: u32,
    /// Whether its ack returned Ok.
    pub acked: bool,
    /// When (monotonic nanoseconds, comparable across processes; 0 when unknown): the
    /// accounting orders processings by it.
    pub at_ns: u64,
}

/// What the producers and consumers of one run (or one crash state) did and saw.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Items whose enqueue began.
    pub attempted: BTreeSet<Item>,
    /// Items whose enqueue returned Ok.
    pub acknowledged: BTreeSet<Item>,
    /// Every processing, in order per consumer.
    pub processed: Vec<Processed>,
    /// Errors the queue returned to consumers or to the drain: corrupt records first.
    pub corrupt: Vec<String>,
    /// Other errors: the queue could not be opened or read after the crash.
    pub errors: Vec<String>,
}

impl Ledger {
    /// Files a queue error: corruption apart from the rest.
    pub fn note_error(&mut self, what: &str, e: QueueError) {
        match e {
            QueueError::Corrupt { .. } => self.corrupt.push(format!("{what}: {e}")),
            other => self.errors.push(format!("{what}: {other}")),
        }
    }

    /// Dequeues, processes (as consumer 0) and acks until the queue is empty or fails. A
    /// queue that delivers more than twice what was ever attempted is repeating itself; the
    /// drain stops there.
    pub fn drain(&mut self, queue: &mut dyn Queue, when: &str) {
        let cap = self.attempted.len() * 2 + 4;
        for _ in 0..cap {
            match queue.dequeue() {
                Ok(Some(d)) => {
                    let acked = queue.ack(d.id);
                    self.processed.push(Processed {
                        item: parse_payload(&d.payload),
                        consumer: 0,
                        acked: acked.is_ok(),
                        at_ns: u64::MAX,
                    });
                    if let Err(e) = acked {
                        return self.note_error(&format!("ack {when}"), e);
                    }
                }
                Ok(None) => return,
                Err(e) => return self.note_error(&format!("dequeue {when}"), e),
            }
        }
    }
}

/// What the accounting found besides failures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Items processed (all deliveries).
    pub processed: u64,
    /// Duplicates after an unacknowledged delivery: allowed by at-least-once.
    pub allowed_duplicates: u64,
}

/// Judges a ledger: one failure per violated property, with the first example.
pub fn account(ledger: &Ledger) -> (Vec<Failure>, Tally) {
    let mut failures = Vec::new();
    let mut fail = |kind, detail: String| failures.push(Failure { kind, detail });
    let mut tally = Tally::default();
    let mut seen: BTreeMap<Item, Vec<&Processed>> = BTreeMap::new();
    let mut garbage = Vec::new();
    let mut phantom = Vec::new();
    // Consumers' logs are read one after another; time puts them back in order.
    let mut in_order: Vec<&Processed> = ledger.processed.iter().collect();
    in_order.sort_by_key(|p| p.at_ns);
    for p in in_order {
        tally.processed += 1;
        match &p.item {
            Ok(item) => {
                if !ledger.attempted.contains(item) {
                    phantom.push(*item);
                }
                seen.entry(*item).or_default().push(p);
            }
            Err(detail) => garbage.push(detail.clone()),
        }
    }
    if !ledger.corrupt.is_empty() || !garbage.is_empty() {
        let first = ledger
            .corrupt
            .first()
            .or(garbage.first())
            .cloned()
            .unwrap_or_default();
        fail(
            FailureKind::CorruptRecord,
            format!(
                "{} corrupt record(s) reported, {} garbage payload(s) delivered; first: {first}",
                ledger.corrupt.len(),
                garbage.len()
            ),
        );
    }
    if !ledger.errors.is_empty() {
        fail(
            FailureKind::RecoveryFailed,
            format!("the queue failed: {}", ledger.errors[0]),
        );
    }
    if let Some(first) = phantom.first() {
        fail(
            FailureKind::PhantomItem,
            format!(
                "{} item(s) processed that no producer had begun to enqueue, first {first}",
                phantom.len()
            ),
        );
    }
    let lost: Vec<&Item> = ledger
        .acknowledged
        .iter()
        .filter(|i| !seen.contains_key(i))
        .collect();
    if let Some(first) = lost.first() {
        fail(
            FailureKind::LostItem,
            format!(
                "{} of {} acknowledged item(s) never processed, first {first}",
                lost.len(),
                ledger.acknowledged.len()
            ),
        );
    }
    let mut bad_duplicates = Vec::new();
    for (item, times) in &seen {
        // Every processing but the last must have ended without an ack to be allowed.
        for earlier in &times[..times.len() - 1] {
            if earlier.acked {
                bad_duplicates.push((*item, earlier.consumer, times.len()));
            } else {
                tally.allowed_duplicates += 1;
            }
        }
    }
    if let Some((item, consumer, n)) = bad_duplicates.first() {
        fail(
            FailureKind::DuplicateDelivery,
            format!(
                "{} delivery(ies) after an ack, first {item}: processed {n} times, acked by consumer {consumer} before it came again",
                bad_duplicates.len()
            ),
        );
    }
    (failures, tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(producer: u32, seq: u32) -> Item {
        Item { producer, seq }
    }

    fn processed(i: Item, consumer: u32, acked: bool) -> Processed {
        Processed {
            item: Ok(i),
            consumer,
            acked,
            at_ns: 0,
        }
    }

    fn kinds(ledger: &Ledger) -> Vec<FailureKind> {
        account(ledger).0.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn payloads_name_their_item_and_garbage_is_recognised() {
        let p = payload(item(3, 17), 100);
        assert_eq!(p.len(), 100);
        assert_eq!(parse_payload(&p), Ok(item(3, 17)));
        let mut damaged = p.clone();
        damaged[50] ^= 1;
        assert!(parse_payload(&damaged).is_err());
        assert!(parse_payload(&[0u8; 40]).is_err());
    }

    #[test]
    fn every_property_can_fail_and_a_clean_ledger_passes() {
        let a = item(1, 0);
        let b = item(1, 1);
        let mut ledger = Ledger::default();
        ledger.attempted.extend([a, b]);
        ledger.acknowledged.extend([a, b]);
        ledger.processed = vec![processed(a, 1, true), processed(b, 2, true)];
        assert_eq!(kinds(&ledger), vec![]);

        // Processed without an ack, then again: allowed, and counted.
        let mut retry = ledger.clone();
        retry.processed.insert(0, processed(a, 2, false));
        assert_eq!(kinds(&retry), vec![]);
        assert_eq!(account(&retry).1.allowed_duplicates, 1);

        // The same, logged in the other order but timed: still allowed.
        let mut timed = ledger.clone();
        timed.processed[0].at_ns = 20;
        timed.processed.push(Processed {
            at_ns: 10,
            ..processed(a, 3, false)
        });
        assert_eq!(kinds(&timed), vec![]);
        timed.processed[0].at_ns = 5;
        assert_eq!(kinds(&timed), vec![FailureKind::DuplicateDelivery]);

        let mut dup = ledger.clone();
        dup.processed.push(processed(a, 0, true));
        assert_eq!(kinds(&dup), vec![FailureKind::DuplicateDelivery]);

        let mut lost = ledger.clone();
        lost.processed.pop();
        assert_eq!(kinds(&lost), vec![FailureKind::LostItem]);

        let mut phantom = ledger.clone();
        phantom.processed.push(processed(item(9, 9), 1, true));
        assert_eq!(kinds(&phantom), vec![FailureKind::PhantomItem]);

        let mut garbage = ledger.clone();
        garbage.processed.push(Processed {
            item: Err("zeros".into()),
            consumer: 0,
            acked: true,
            at_ns: 0,
        });
        assert_eq!(kinds(&garbage), vec![FailureKind::CorruptRecord]);

        // An attempted but unacknowledged item may be missing.
        let mut unacked = ledger.clone();
        unacked.attempted.insert(item(1, 2));
        assert_eq!(kinds(&unacked), vec![]);
    }
}
