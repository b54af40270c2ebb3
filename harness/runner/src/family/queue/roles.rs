//! Producers and consumers: worker processes of family `queue`, sharing one queue directory.
//!
//! A producer enqueues its items in order and logs each one to `prod.<id>.log`: `T <seq>`
//! before the enqueue (attempted), `A <seq>` once it returned Ok (acknowledged). A consumer
//! dequeues until told to stop and the queue is empty, and logs to `cons.<id>.log`: `D <item>`
//! once it has the item (processed) or `G <detail>` for a payload that is no item's, then
//! passes the crash point `queue.processed`, acks, and logs `K`. A queue error is logged as
//! `X C <detail>` (corrupt) or `X E <detail>`. Each line is one `write` to a file opened
//! O_APPEND, so a kill never leaves half of one, and the logs outlive any kill.
//!
//! After the workers are gone, the runner drains what is left with the variant's own open
//! (its recovery) and judges the whole run with the exactly-once accounting.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use faultline_core::{CrashPlan, Failure, Fs, RealFs};
use faultline_targets::queue::{Options, Queue, Variant};

use super::plan::QueuePlan;
use super::{Item, Ledger, Processed, account, parse_payload, payload};
use crate::process::fork::{Group, SpawnError};
use crate::process::outcome::{TrialError, TrialOutcome};
use crate::process::roles::{Ended, Role, Roles, Start, Started, Stop, Trial};
use crate::process::worker::{FirstFailure, Pipes, told_to_stop, wait_at_barrier};
use crate::results::{QueueItems, VariantResult};
use crate::scenario::Scenario;

/// The queue's directory inside the trial directory.
pub const QUEUE_DIR: &str = "queue";

/// A producer's or consumer's instructions.
#[derive(Clone, Debug)]
pub struct RolePlan {
    /// Worker number: producers from 1, then consumers.
    pub id: u32,
    /// The queue variant.
    pub variant: Variant,
    /// The trial directory.
    pub dir: PathBuf,
    /// Items to enqueue (producers).
    pub items: u32,
    /// Size of each payload.
    pub payload_bytes: usize,
    /// The scenario's `[queue]` table.
    pub queue: QueuePlan,
    /// Pause between items.
    pub pause_us: u64,
    /// Kill itself at this crash point.
    pub crash: Option<CrashPlan>,
}

impl RolePlan {
    fn fs(&self) -> RealFs {
        match &self.crash {
            Some(plan) => RealFs::with_crash_plan(plan.clone()),
            None => RealFs::new(),
        }
    }
}

/// The queue's options for a scenario.
pub fn options(queue: &QueuePlan) -> Options {
    Options {
        segment_bytes: queue.segment_bytes,
        ..Options::default()
    }
}

fn log(dir: &Path, name: String) -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .ok()
}

fn line(file: &mut std::fs::File, text: String) {
    let one_line: String = text.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    let _ = file.write_all(format!("{one_line}\n").as_bytes());
}

/// What producers and consumers do first: wait at the barrier, open the log and the queue;
/// then `body`. Returns the exit code.
fn role(
    plan: &RolePlan,
    pipes: &Pipes<'_>,
    log_name: &str,
    body: impl FnOnce(&mut std::fs::File, &RealFs, &mut dyn Queue) -> i32,
) -> i32 {
    if !wait_at_barrier(pipes) {
        return 0;
    }
    let Some(mut out) = log(&plan.dir, format!("{log_name}.{}.log", plan.id)) else {
        return 2;
    };
    let fs = plan.fs();
    match plan
        .variant
        .open(&fs, &plan.dir.join(QUEUE_DIR), options(&plan.queue))
    {
        Ok(mut queue) => body(&mut out, &fs, &mut *queue),
        Err(e) => {
            line(&mut out, format!("X {} open: {e}", error_class(&e)));
            1
        }
    }
}

/// A producer's body; returns its exit code.
pub fn producer(plan: &RolePlan, pipes: &Pipes<'_>) -> i32 {
    role(plan, pipes, "prod", |out, _, queue| {
        for seq in 0..plan.items {
            let item = Item {
                producer: plan.id,
                seq,
            };
            line(out, format!("T {seq}"));
            match queue.enqueue(&payload(item, plan.payload_bytes)) {
                Ok(_) => line(out, format!("A {seq}")),
                Err(e) => {
                    line(out, format!("X {} enqueue of {item}: {e}", error_class(&e)));
                    return 1;
                }
            }
            if plan.pause_us > 0 {
                std::thread::sleep(Duration::from_micros(plan.pause_us));
            }
        }
        0
    })
}

fn error_class(e: &faultline_targets::queue::QueueError) -> char {
    match e {
        faultline_targets::queue::QueueError::Corrupt { .. } => 'C',
        _ => 'E',
    }
}

/// A consumer's body; returns its exit code.
pub fn consumer(plan: &RolePlan, pipes: &Pipes<'_>) -> i32 {
    role(plan, pipes, "cons", |out, fs, queue| {
        // Stop once told to and the queue was empty after that.
        let mut told = false;
        loop {
            match queue.dequeue() {
                Ok(Some(d)) => {
                    let now = crate::process::worker::now_ns();
                    match parse_payload(&d.payload) {
                        Ok(item) => line(out, format!("D {now} {item}")),
                        Err(detail) => line(out, format!("G {now} {detail}")),
                    }
                    fs.crash_point("queue.processed");
                    match queue.ack(d.id) {
                        Ok(()) => line(out, "K".into()),
                        Err(e) => {
                            line(out, format!("X {} ack: {e}", error_class(&e)));
                            return 1;
                        }
                    }
                    if plan.pause_us > 0 {
                        std::thread::sleep(Duration::from_micros(plan.pause_us));
                    }
                }
                Ok(None) if told => return 0,
                Ok(None) => {
                    told = told_to_stop(pipes);
                    if !told {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
                Err(e) => {
                    line(out, format!("X {} dequeue: {e}", error_class(&e)));
                    return 1;
                }
            }
        }
    })
}

/// Before the workers start: enqueues the preloaded items as producer 0 and, with
/// `torn_tail`, tears the last one. Returns what was attempted and acknowledged.
pub fn setup(
    variant: Variant,
    dir: &Path,
    queue: &QueuePlan,
    payload_bytes: usize,
) -> Result<Ledger, String> {
    let mut ledger = Ledger::default();
    if queue.preload == 0 {
        return Ok(ledger);
    }
    let fs = RealFs::new();
    let qdir = dir.join(QUEUE_DIR);
    let mut q = variant
        .open(&fs, &qdir, options(queue))
        .map_err(|e| format!("opening the queue to preload it: {e}"))?;
    for seq in 0..queue.preload {
        let item = Item { producer: 0, seq };
        ledger.attempted.insert(item);
        q.enqueue(&payload(item, payload_bytes))
            .map_err(|e| format!("preloading {item}: {e}"))?;
        ledger.acknowledged.insert(item);
    }
    drop(q);
    if queue.torn_tail {
        // The newest file holds the last record: keep its first half, as a crash mid-append
        // would. That record was never acknowledged.
        let mut files: Vec<PathBuf> = std::fs::read_dir(&qdir)
            .map_err(|e| format!("listing the queue: {e}"))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                name.ends_with(".log") || name.ends_with(".jsonl")
            })
            .collect();
        files.sort();
        let last = files.pop().ok_or("the preloaded queue has no data file")?;
        let len = std::fs::metadata(&last).map_err(|e| format!("{e}"))?.len();
        let tear = (payload_bytes as u64 / 2).min(len);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&last)
            .and_then(|f| f.set_len(len - tear))
            .map_err(|e| format!("tearing {}: {e}", last.display()))?;
        ledger.acknowledged.remove(&Item {
            producer: 0,
            seq: queue.preload - 1,
        });
    }
    Ok(ledger)
}

/// After the workers are gone: reads their logs into `ledger` (which holds the preloaded
/// items), drains the queue with the variant's own open, and records every violated property.
pub fn judge(
    outcome: &mut TrialOutcome,
    variant: Variant,
    dir: &Path,
    plan: &RolePlan,
    mut ledger: Ledger,
    at_s: f64,
) {
    let names = std::fs::read_dir(dir)
        .map(|d| {
            let mut n: Vec<String> = d
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            n.sort();
            n
        })
        .unwrap_or_default();
    for name in &names {
        let Some(id) = name
            .strip_prefix("prod.")
            .or_else(|| name.strip_prefix("cons."))
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        for l in text.lines() {
            let (tag, rest) = l.split_once(' ').unwrap_or((l, ""));
            let seq = || rest.parse::<u32>().ok().map(|seq| Item { producer: id, seq });
            match tag {
                "T" => ledger.attempted.extend(seq()),
                "A" => ledger.acknowledged.extend(seq()),
                "D" | "G" => {
                    let (at, what) = rest.split_once(' ').unwrap_or(("0", rest));
                    ledger.processed.push(Processed {
                        item: if tag == "D" {
                            parse_item(what)
                        } else {
                            Err(what.to_string())
                        },
                        consumer: id,
                        acked: false,
                        at_ns: at.parse().unwrap_or(0),
                    });
                }
                "K" => {
                    if let Some(last) = ledger.processed.iter_mut().rev().find(|p| p.consumer == id) {
                        last.acked = true;
                    }
                }
                "X" => match rest.split_once(' ') {
                    Some(("C", detail)) => ledger.corrupt.push(format!("worker {id}: {detail}")),
                    _ => ledger.errors.push(format!("worker {id}: {rest}")),
                },
                _ => {}
            }
        }
    }
    let fs = RealFs::new();
    match variant.open(&fs, &dir.join(QUEUE_DIR), options(&plan.queue)) {
        Ok(mut q) => ledger.drain(&mut *q, "after the run"),
        Err(e) => ledger.note_error("opening the queue after the run", e),
    }
    let (failures, tally) = account(&ledger);
    outcome.writes += ledger.acknowledged.len() as u64;
    outcome.processed += tally.processed;
    outcome.allowed_duplicates += tally.allowed_duplicates;
    for Failure { kind, detail } in failures {
        outcome.trial_failures.push(Failure {
            kind,
            detail: detail.clone(),
        });
        outcome.note(FirstFailure { kind, detail, at_s });
    }
}

fn parse_item(text: &str) -> Result<Item, String> {
    let bad = || format!("an unreadable log entry {text:?}");
    let (p, s) = text
        .strip_prefix('p')
        .and_then(|t| t.split_once('-'))
        .ok_or_else(bad)?;
    Ok(Item {
        producer: p.parse().map_err(|_| bad())?,
        seq: s.parse().map_err(|_| bad())?,
    })
}

/// A queue variant's roles: writers are producers, readers consumers; after the trial the
/// queue is drained with the variant's own open and the whole run is accounted.
pub struct QueueRoles<'s> {
    scenario: &'s Scenario,
    variant: Variant,
    /// What the preload attempted and acknowledged, from setup to the judgement.
    preloaded: Option<Ledger>,
}

impl<'s> QueueRoles<'s> {
    /// The roles of `variant` in trials of `scenario`.
    pub fn new(scenario: &'s Scenario, variant: Variant) -> Self {
        QueueRoles {
            scenario,
            variant,
            preloaded: None,
        }
    }

    fn plan(&self, id: u32, dir: &Path, crash: Option<CrashPlan>, pause_us: u64) -> RolePlan {
        let s = self.scenario;
        RolePlan {
            id,
            variant: self.variant,
            dir: dir.to_path_buf(),
            items: s.writes_per_writer,
            payload_bytes: s.document_bytes,
            queue: QueuePlan::of(s),
            pause_us,
            crash,
        }
    }
}

impl Roles for QueueRoles<'_> {
    fn setup(&mut self, trial: &Trial<'_>) -> Result<(), TrialError> {
        let s = self.scenario;
        let ledger = setup(self.variant, trial.dir, &QueuePlan::of(s), s.document_bytes)
            .map_err(|e| TrialError::Setup(format!("queue: {e}")))?;
        self.preloaded = Some(ledger);
        Ok(())
    }

    fn start(
        &self,
        worker: &Start,
        trial: &Trial<'_>,
        group: &mut Group,
        pipes: &Pipes<'_>,
    ) -> Result<Started, SpawnError> {
        let s = self.scenario;
        let index = match worker.role {
            Role::Writer => {
                let plan = self.plan(worker.number, trial.dir, worker.crash.clone(), s.write_pause_us);
                group.spawn(|| producer(&plan, pipes))?
            }
            Role::Reader => {
                let plan = self.plan(worker.number, trial.dir, worker.crash.clone(), s.read_pause_us);
                group.spawn(|| consumer(&plan, pipes))?
            }
        };
        // Consumers can be killed too, so they are on the kill timeline.
        Ok(Started {
            index,
            killable: true,
            holder: false,
        })
    }

    fn stop(&self) -> Stop {
        Stop::ReadersAfterWriters
    }

    fn kills_any_worker(&self) -> bool {
        true
    }

    fn readers_pass(&self, point: &str) -> bool {
        // Consumers pass the points of delivery, processing and the cursor.
        !matches!(
            point,
            "queue.after_header" | "queue.between_chunks" | "queue.after_write" | "queue.after_sync"
        )
    }

    fn judge(
        &mut self,
        outcome: &mut TrialOutcome,
        trial: &Trial<'_>,
        ended: &Ended,
    ) -> Result<Option<Vec<String>>, TrialError> {
        let plan = self.plan(0, trial.dir, None, 0);
        let ledger = self.preloaded.take().unwrap_or_default();
        judge(outcome, self.variant, trial.dir, &plan, ledger, ended.at_s);
        Ok(None)
    }

    fn add_figures(&self, result: &mut VariantResult, outcome: &TrialOutcome) {
        let q = result.queue_items.get_or_insert_with(QueueItems::default);
        q.processed += outcome.processed;
        q.allowed_duplicates += outcome.allowed_duplicates;
    }
}
