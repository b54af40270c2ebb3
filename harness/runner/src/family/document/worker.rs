//! The document family's workers: writers replace the file in a loop, readers read and
//! classify it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use faultline_core::fs::read_file;
use faultline_core::{CrashPlan, Errno, FailureKind, RealFs};
use faultline_targets::atomic_write::AtomicWrite;

use super::{DocumentProgram, Writes};
use crate::document::{Read, Version, classify, document};
use crate::process::worker::{FirstFailure, Pipes, Report, send, short, told_to_stop, wait_at_barrier};
use crate::program::{self, Vars};

/// A writer's instructions.
#[derive(Clone, Debug)]
pub struct WriterPlan<'s> {
    /// Writer number, from 1 (0 wrote the initial version).
    pub id: u32,
    /// What writes.
    pub writes: Writes<'s>,
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
    /// With `reads-are-versions`: where to log the hash of each version a program left.
    pub versions_log: Option<PathBuf>,
}

/// A reader's instructions.
#[derive(Clone, Debug)]
pub struct ReaderPlan<'s> {
    /// Reader number.
    pub id: u32,
    /// The file.
    pub path: PathBuf,
    /// Document size.
    pub size: usize,
    /// How many reads; with `until_stopped`, read on until told to stop instead.
    pub reads: u32,
    /// Read until the runner says stop (once the writers are done), not for `reads`.
    pub until_stopped: bool,
    /// Pause between reads.
    pub pause_us: u64,
    /// Only one writer: versions must never go backwards for this reader.
    pub check_regression: bool,
    /// Document programs: their reader program (if any) reads, and JSON that a program
    /// wrote its own way counts as complete.
    pub program: Option<DocumentProgram<'s>>,
    /// With `reads-are-versions`: where to log the hash of each complete read.
    pub reads_log: Option<PathBuf>,
}

/// A writer's body; returns its exit code.
pub fn writer(plan: &WriterPlan<'_>, pipes: &Pipes<'_>) -> i32 {
    if !wait_at_barrier(pipes) {
        return 0;
    }
    let start = Instant::now();
    let fs = match &plan.crash {
        Some(crash) => RealFs::with_crash_plan(crash.clone()),
        None => RealFs::new(),
    };
    let tally = Tally::default();
    let final_generation = match plan.writes {
        Writes::AtomicWrite(variant) => {
            for seq in 1..=u64::from(plan.max_writes) {
                let doc = document(Version { writer: plan.id, seq }, plan.size);
                tally.record(variant.replace(&fs, &plan.path, &doc), plan, seq, start);
                if pause_or_stop(plan, pipes, &tally) {
                    break;
                }
            }
            None
        }
        Writes::Store(variant) => {
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
        Writes::Program(p) => {
            let dir = faultline_core::fs::parent_dir(&plan.path);
            for seq in 1..=u64::from(plan.max_writes) {
                let doc = document(Version { writer: plan.id, seq }, plan.size);
                let vars = Vars {
                    writer: plan.id,
                    version: seq,
                    document: std::str::from_utf8(&doc).expect("documents are ASCII"),
                    ..Vars::new(&plan.path, plan.size)
                };
                let words = p.roles.expand(p.writer, &vars);
                match program::run(&words, dir) {
                    Ok(out) if out.status.success() => {
                        tally.ok();
                        // The version it left, for `reads-are-versions` (with two writers,
                        // possibly the other's write in progress: the check only weakens).
                        if let Some(log) = &plan.versions_log
                            && let Ok(bytes) = std::fs::read(&plan.path)
                        {
                            super::log_hash(log, super::content_hash(&bytes));
                        }
                    }
                    Ok(out) => tally.fail(program::failure_detail(&words, &out), plan, seq, start),
                    Err(e) => tally.fail(format!("cannot run `{}`: {e}", words[0]), plan, seq, start),
                }
                if pause_or_stop(plan, pipes, &tally) {
                    break;
                }
            }
            None
        }
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
    fn record(&self, result: faultline_core::FsResult<()>, plan: &WriterPlan<'_>, seq: u64, start: Instant) {
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

    fn fail(&self, detail: String, plan: &WriterPlan<'_>, seq: u64, start: Instant) {
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
fn pause_or_stop(plan: &WriterPlan<'_>, pipes: &Pipes<'_>, tally: &Tally) -> bool {
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
pub fn reader(plan: &ReaderPlan<'_>, pipes: &Pipes<'_>) -> i32 {
    if !wait_at_barrier(pipes) {
        return 0;
    }
    let start = Instant::now();
    let fs = RealFs::new();
    let mut failures: BTreeMap<FailureKind, u64> = BTreeMap::new();
    let mut first = None;
    let mut newest: Option<Version> = None;
    let mut reads = 0u64;
    loop {
        let done = if plan.until_stopped {
            told_to_stop(pipes)
        } else {
            reads >= u64::from(plan.reads)
        };
        if done {
            break;
        }
        reads += 1;
        let read = match plan.program.and_then(|p| p.reader.map(|r| (p, r))) {
            Some((p, reader)) => program_read(p, reader, plan),
            None => read_itself(&fs, plan),
        };
        let failure = match read {
            Err(failure) => Some(failure),
            // A reader program's exit 0 vouches for a read in a format of its own.
            Ok(None) => None,
            Ok(Some(v)) => match newest {
                Some(n) if plan.check_regression && v.seq < n.seq => Some((
                    FailureKind::StaleRegression,
                    format!("read seq {} after seq {} had been read", v.seq, n.seq),
                )),
                _ => {
                    newest = Some(newest.map_or(v, |n| n.max(v)));
                    None
                }
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
            reads,
            failures,
            first,
        },
    );
    0
}

/// One read of the file by faultline itself: the version read, or why it is no version.
fn read_itself(fs: &RealFs, plan: &ReaderPlan<'_>) -> Result<Option<Version>, (FailureKind, String)> {
    let bytes = match read_file(fs, &plan.path) {
        Ok(bytes) => bytes,
        Err(e) if e.errno == Errno::NOENT => {
            return Err((FailureKind::MissingFile, "the file did not exist".to_string()));
        }
        Err(e) => {
            return Err((
                FailureKind::UnexpectedError,
                format!("read failed: {e}: {}", e.errno),
            ));
        }
    };
    // Program writers write JSON their own way; bundled ones the exact document.
    let read = match plan.program {
        Some(_) => program::classify_json(&bytes, plan.size),
        None => classify(&bytes, plan.size),
    };
    match read {
        Read::Complete(v) => Ok(Some(v)),
        Read::Bad { kind, detail } => Err((kind, detail)),
    }
}

/// One read by the scenario's reader program, judged by its exit code: 0 is a complete read.
/// What it printed gives the version when it is faultline's own format, and cut-off JSON (a
/// reader that prints the file, as `cat` does) is still a torn read; other output is the
/// reader's own format, and its exit 0 vouches for it (the version is then unknown).
fn program_read(
    p: DocumentProgram<'_>,
    reader: &[String],
    plan: &ReaderPlan<'_>,
) -> Result<Option<Version>, (FailureKind, String)> {
    let words = p.roles.expand(reader, &Vars::new(&plan.path, plan.size));
    let out = program::run(&words, faultline_core::fs::parent_dir(&plan.path)).map_err(|e| {
        (
            FailureKind::UnexpectedError,
            format!("the reader could not run: {e}"),
        )
    })?;
    if !out.status.success() {
        let detail = program::failure_detail(&words, &out);
        return Err((
            FailureKind::TornRead,
            format!("the reader said the read failed: {detail}"),
        ));
    }
    // Judged against the versions written once the trial is over (`reads-are-versions`).
    if let Some(log) = &plan.reads_log {
        super::log_hash(log, super::content_hash(&out.stdout));
    }
    let json = out
        .stdout
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['));
    match program::classify_json(&out.stdout, plan.size) {
        Read::Complete(v) => Ok(Some(v)),
        Read::Bad { kind, detail } if json && kind == FailureKind::TornRead => Err((kind, detail)),
        Read::Bad { .. } => Ok(None),
    }
}
