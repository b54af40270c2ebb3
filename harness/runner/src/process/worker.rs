//! What worker processes do: writers replace the file in a loop, readers read and classify it.
//!
//! Workers run in forked children. They wait at the barrier (a pipe the runner writes one
//! byte per worker into), do their work, and send one JSON line to the results pipe; a line is
//! kept under the pipe's atomic-write size so reports from many workers never interleave.
//! Workers print nothing: the terminal belongs to the runner.

use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use faultline_core::fs::read_file;
use faultline_core::{CrashPlan, Errno, FailureKind, RealFs};
use faultline_targets::atomic_write::AtomicWrite;

use super::target::{CommandTarget, Target};
use crate::external::command::{self, Programs, Vars};

use super::document::{Read, Version, classify, document};

/// The pipes a worker shares with the runner.
pub struct Pipes<'a> {
    /// Read one byte from here to start; `None` when the trial has a single worker, which
    /// has no one to start together with.
    pub barrier: Option<BorrowedFd<'a>>,
    /// Non-blocking; a byte (or end of file) here tells writers to stop. `None` when there are
    /// no readers: writers then stop after their last write or when killed.
    pub stop: Option<BorrowedFd<'a>>,
    /// One JSON line goes here at the end.
    pub results: BorrowedFd<'a>,
}

/// A writer's instructions.
#[derive(Clone, Debug)]
pub struct WriterPlan {
    /// Writer number, from 1 (0 wrote the initial version).
    pub id: u32,
    /// The implementation to run.
    pub target: Target,
    /// Threads per writer process (the store family's savers).
    pub threads: u32,
    /// The file.
    pub path: PathBuf,
    /// Document size.
    pub size: usize,
    /// Replaces at most.
    pub max_writes: u32,
    /// Pause between replaces.
    pub pause_us: u64,
    /// Kill itself at this crash point.
    pub crash: Option<CrashPlan>,
}

/// A reader's instructions.
#[derive(Clone, Debug)]
pub struct ReaderPlan {
    /// Reader number.
    pub id: u32,
    /// The file.
    pub path: PathBuf,
    /// Document size.
    pub size: usize,
    /// How many reads.
    pub reads: u32,
    /// Pause between reads.
    pub pause_us: u64,
    /// Only one writer: versions must never go backwards for this reader.
    pub check_regression: bool,
    /// A `command` variant: its reader program (if any) reads, and JSON that a program
    /// wrote its own way counts as complete.
    pub command: Option<&'static CommandTarget>,
}

/// The first failure a worker saw.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FirstFailure {
    /// Its kind.
    pub kind: FailureKind,
    /// What was seen.
    pub detail: String,
    /// Seconds after the release.
    pub at_s: f64,
}

/// What a worker reports at the end.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Report {
    /// From a writer that was not killed.
    Writer {
        /// Writer number.
        id: u32,
        /// Replaces that returned Ok.
        writes: u64,
        /// Replaces that returned an error.
        errors: u64,
        /// The first error.
        first: Option<FirstFailure>,
        /// For a store: the newest generation it made, which the file must end holding.
        final_generation: Option<u64>,
    },
    /// From a reader.
    Reader {
        /// Reader number.
        id: u32,
        /// Reads made.
        reads: u64,
        /// Failed reads by kind.
        failures: BTreeMap<FailureKind, u64>,
        /// The first failed read.
        first: Option<FirstFailure>,
    },
    /// From a lock holder that was not killed.
    Holder {
        /// Holder number.
        id: u32,
        /// Critical sections completed.
        sections: u64,
        /// Counter increments that returned Ok.
        acknowledged: u64,
        /// Acquisitions refused because the lock path was a symlink.
        refused: u64,
        /// Failures by kind (timeouts, erased owner records, errors).
        failures: BTreeMap<FailureKind, u64>,
        /// The first of them.
        first: Option<FirstFailure>,
    },
}

pub(super) fn wait_at_barrier(pipes: &Pipes<'_>) -> bool {
    let Some(barrier) = &pipes.barrier else {
        return true;
    };
    let mut byte = [0u8; 1];
    loop {
        match rustix::io::read(barrier, &mut byte) {
            Ok(1) => return true,
            Err(Errno::INTR) => {}
            // End of file: the runner gave up before the start.
            _ => return false,
        }
    }
}

pub(super) fn send(pipes: &Pipes<'_>, report: &Report) {
    let mut line = serde_json::to_vec(report).expect("reports serialise infallibly");
    line.push(b'\n');
    // One write of less than PIPE_BUF (4096) bytes is atomic; details are kept short.
    let _ = rustix::io::write(pipes.results, &line);
}

pub(super) fn short(text: String) -> String {
    if text.len() <= 300 {
        return text;
    }
    let mut cut = 300;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &text[..cut])
}

pub(crate) fn told_to_stop(pipes: &Pipes<'_>) -> bool {
    let Some(stop) = &pipes.stop else { return false };
    let mut byte = [0u8; 1];
    !matches!(rustix::io::read(stop, &mut byte), Err(Errno::AGAIN | Errno::INTR))
}

/// A writer's body; returns its exit code.
pub fn writer(plan: &WriterPlan, pipes: &Pipes<'_>) -> i32 {
    if !wait_at_barrier(pipes) {
        return 0;
    }
    let start = Instant::now();
    let fs = match &plan.crash {
        Some(crash) => RealFs::with_crash_plan(crash.clone()),
        None => RealFs::new(),
    };
    let tally = Tally::default();
    let final_generation = match plan.target {
        Target::AtomicWrite(variant) => {
            for seq in 1..=u64::from(plan.max_writes) {
                let doc = document(Version { writer: plan.id, seq }, plan.size);
                tally.record(variant.replace(&fs, &plan.path, &doc), plan, seq, start);
                if pause_or_stop(plan, pipes, &tally) {
                    break;
                }
            }
            None
        }
        Target::Store(variant) => {
            let store = variant.store();
            let render = |generation: u64| {
                document(
                    Version {
                        writer: plan.id,
                        seq: generation,
                    },
                    plan.size,
                )
            };
            std::thread::scope(|scope| {
                for _ in 0..plan.threads.max(1) {
                    scope.spawn(|| {
                        for _ in 0..plan.max_writes {
                            let generation = store.mutate();
                            tally.record(store.save(&fs, &plan.path, &render), plan, generation, start);
                            if pause_or_stop(plan, pipes, &tally) {
                                break;
                            }
                        }
                    });
                }
            });
            Some(store.generation())
        }
        Target::Command(c) => {
            let Programs::Document { writer, .. } = &c.roles.programs else {
                unreachable!("only document programs run as writers (see `trial`)")
            };
            let dir = faultline_core::fs::parent_dir(&plan.path);
            for seq in 1..=u64::from(plan.max_writes) {
                let doc = document(Version { writer: plan.id, seq }, plan.size);
                let vars = Vars {
                    writer: plan.id,
                    version: seq,
                    document: std::str::from_utf8(&doc).expect("documents are ASCII"),
                    ..Vars::new(&plan.path, plan.size)
                };
                let words = c.roles.expand(writer, &vars);
                match command::run(&words, dir) {
                    Ok(out) if out.status.success() => tally.ok(),
                    Ok(out) => tally.fail(command::failure_detail(&words, &out), plan, seq, start),
                    Err(e) => tally.fail(format!("cannot run `{}`: {e}", words[0]), plan, seq, start),
                }
                if pause_or_stop(plan, pipes, &tally) {
                    break;
                }
            }
            None
        }
        Target::Lock(_) => unreachable!("lock targets run holders (see `holder`), not writers"),
        Target::Queue(_) => unreachable!("queue targets run producers and consumers (see `queue_roles`)"),
    };
    let (writes, errors, first) = tally.take();
    send(
        pipes,
        &Report::Writer {
            id: plan.id,
            writes,
            errors,
            first,
            final_generation,
        },
    );
    0
}

/// Counts a writer's results across its threads.
#[derive(Default)]
struct Tally {
    inner: std::sync::Mutex<(u64, u64, Option<FirstFailure>)>,
    stop: std::sync::atomic::AtomicBool,
}

impl Tally {
    fn record(&self, result: faultline_core::FsResult<()>, plan: &WriterPlan, seq: u64, start: Instant) {
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(()) => t.0 += 1,
            Err(e) => {
                t.1 += 1;
                t.2.get_or_insert_with(|| FirstFailure {
                    kind: FailureKind::UnexpectedError,
                    detail: short(format!("writer {} at {seq}: {e}: {}", plan.id, e.errno)),
                    at_s: start.elapsed().as_secs_f64(),
                });
            }
        }
    }

    fn ok(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).0 += 1;
    }

    fn fail(&self, detail: String, plan: &WriterPlan, seq: u64, start: Instant) {
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        t.1 += 1;
        t.2.get_or_insert_with(|| FirstFailure {
            kind: FailureKind::UnexpectedError,
            detail: short(format!("writer {} at {seq}: {detail}", plan.id)),
            at_s: start.elapsed().as_secs_f64(),
        });
    }

    fn take(&self) -> (u64, u64, Option<FirstFailure>) {
        std::mem::take(&mut *self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Pauses between writes; true once the runner has said stop (seen by any thread).
fn pause_or_stop(plan: &WriterPlan, pipes: &Pipes<'_>, tally: &Tally) -> bool {
    use std::sync::atomic::Ordering;
    if plan.pause_us > 0 {
        std::thread::sleep(Duration::from_micros(plan.pause_us));
    }
    if tally.stop.load(Ordering::Relaxed) {
        return true;
    }
    let stop = told_to_stop(pipes);
    if stop {
        tally.stop.store(true, Ordering::Relaxed);
    }
    stop
}

/// A reader's body; returns its exit code.
pub fn reader(plan: &ReaderPlan, pipes: &Pipes<'_>) -> i32 {
    if !wait_at_barrier(pipes) {
        return 0;
    }
    let start = Instant::now();
    let fs = RealFs::new();
    let mut failures: BTreeMap<FailureKind, u64> = BTreeMap::new();
    let mut first = None;
    let mut newest: Option<Version> = None;
    for _ in 0..plan.reads {
        let read = match plan.command {
            Some(c) => read_with(c, plan),
            None => read_file(&fs, &plan.path),
        };
        let classify = |bytes: &[u8], size| match plan.command {
            Some(_) => command::classify_json(bytes, size),
            None => classify(bytes, size),
        };
        let failure = match read {
            Err(e) if e.errno == Errno::NOENT => {
                Some((FailureKind::MissingFile, "the file did not exist".to_string()))
            }
            Err(e) => Some((
                FailureKind::UnexpectedError,
                format!("read failed: {e}: {}", e.errno),
            )),
            Ok(bytes) => match classify(&bytes, plan.size) {
                Read::Bad { kind, detail } => Some((kind, detail)),
                Read::Complete(v) => match newest {
                    Some(n) if plan.check_regression && v.seq < n.seq => Some((
                        FailureKind::StaleRegression,
                        format!("read seq {} after seq {} had been read", v.seq, n.seq),
                    )),
                    _ => {
                        newest = Some(newest.map_or(v, |n| n.max(v)));
                        None
                    }
                },
            },
        };
        if let Some((kind, detail)) = failure {
            *failures.entry(kind).or_default() += 1;
            first.get_or_insert_with(|| FirstFailure {
                kind,
                detail: short(format!("reader {}: {detail}", plan.id)),
                at_s: start.elapsed().as_secs_f64(),
            });
        }
        if plan.pause_us > 0 {
            std::thread::sleep(Duration::from_micros(plan.pause_us));
        }
    }
    send(
        pipes,
        &Report::Reader {
            id: plan.id,
            reads: u64::from(plan.reads),
            failures,
            first,
        },
    );
    0
}

/// One read through a `command` variant: its reader program's output, or the file itself.
fn read_with(c: &CommandTarget, plan: &ReaderPlan) -> faultline_core::FsResult<Vec<u8>> {
    let Programs::Document {
        reader: Some(reader), ..
    } = &c.roles.programs
    else {
        return read_file(&RealFs::new(), &plan.path);
    };
    let words = c.roles.expand(reader, &Vars::new(&plan.path, plan.size));
    let err = |errno| {
        Err(faultline_core::FsError::at(
            faultline_core::FsCall::Open,
            &plan.path,
            errno,
        ))
    };
    match command::run(&words, faultline_core::fs::parent_dir(&plan.path)) {
        Ok(out) if out.status.success() => Ok(out.stdout),
        // A reader that could not open the file says so on stderr; count it as missing.
        Ok(_) => err(Errno::NOENT),
        Err(_) => err(Errno::NOEXEC),
    }
}
