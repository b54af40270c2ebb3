//! One trial of a process scenario: a clean directory, writers and readers forked behind a
//! barrier, faults on a timeline, a watchdog, and the checks afterwards.
//!
//! Every way out (the end, the watchdog, Ctrl-C seen through `cancel`, a panic) kills the
//! trial's process group. A variant's trials share one [`Workspace`], cleaned after each trial
//! and removed when it drops (on Ctrl-C and panics too), unless `keep` keeps a failing one.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use faultline_core::{CrashPlan, Errno, Failure, FailureKind, Fs, RealFs};
use nix::sys::signal::Signal;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use rustix::event::{PollFd, PollFlags};

use super::document::{Read, Version, classify, document};
use super::fork::{Ended, Group, SpawnError};
use super::holder::{self, HolderPlan};
use super::lock_checks;
use super::queue_roles;
use super::target::Target;
use super::worker::{self, FirstFailure, Pipes, ReaderPlan, Report, WriterPlan};
use crate::scenario::{Check, Scenario};
use faultline_targets::lock::Mode;

/// The name of the file every trial works on.
pub const FILE_NAME: &str = "config.json";

/// What to run.
pub struct TrialPlan<'s> {
    /// The scenario.
    pub scenario: &'s Scenario,
    /// The implementation.
    pub target: Target,
    /// Trial number, from 0.
    pub trial: u64,
}

impl TrialPlan<'_> {
    /// The trial's own seed: the scenario's seed and the trial number, mixed.
    pub fn seed(&self) -> u64 {
        self.scenario.seed ^ self.trial.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// Where a variant's trials run: one directory and one results pipe, made once and cleaned
/// between trials, so a trial pays neither for making and removing a directory nor for a pipe.
/// Dropping it removes the directory.
pub struct Workspace {
    root: Option<PathBuf>,
    dir: tempfile::TempDir,
    results_r: OwnedFd,
    results_w: OwnedFd,
}

impl Workspace {
    /// A fresh workspace under `root` (the system's temp directory when `None`).
    pub fn new(root: Option<&Path>) -> Result<Self, TrialError> {
        let (results_r, results_w) = pipe(false, true)?;
        Ok(Workspace {
            root: root.map(Path::to_path_buf),
            dir: Self::make_dir(root)?,
            results_r,
            results_w,
        })
    }

    fn make_dir(root: Option<&Path>) -> Result<tempfile::TempDir, TrialError> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("faultline-trial-");
        match root {
            Some(root) => builder.tempdir_in(root),
            None => builder.tempdir(),
        }
        .map_err(|e| TrialError::Setup(format!("temp dir: {e}")))
    }

    /// The file trials work on.
    pub fn file(&self) -> PathBuf {
        self.dir.path().join(FILE_NAME)
    }

    /// Removes everything but the file, for the next trial. `known` is what else the
    /// directory holds when a check has just listed it, which saves listing it again.
    fn clean(&self, known: Option<Vec<String>>) -> Result<(), TrialError> {
        let extra = match known {
            Some(names) => names,
            None => std::fs::read_dir(self.dir.path())
                .map_err(|e| TrialError::Setup(format!("clean: {e}")))?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != FILE_NAME)
                .collect(),
        };
        for name in extra {
            let path = self.dir.path().join(name);
            // Queue trials leave their queue directory; everything else is a file.
            let removed = match std::fs::remove_file(&path) {
                Err(e) if e.raw_os_error() == Some(libc::EISDIR) => std::fs::remove_dir_all(&path),
                other => other,
            };
            removed.map_err(|e| TrialError::Setup(format!("clean: {e}")))?;
        }
        Ok(())
    }

    /// Keeps the current directory for the user and starts a new one; returns the kept path.
    fn keep(&mut self) -> Result<PathBuf, TrialError> {
        let fresh = Self::make_dir(self.root.as_deref())?;
        Ok(std::mem::replace(&mut self.dir, fresh).keep())
    }
}

/// The faults a trial's seed chose.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Faults {
    /// Random kill: the writer and the offset.
    pub kill: Option<(u32, u64)>,
    /// Crash-point kill: the writer and the plan.
    pub crash: Option<(u32, CrashPlan)>,
    /// SIGSTOP: the writer, the offset and the length.
    pub pause: Option<(u32, u64, u64)>,
}

/// What one trial showed.
#[derive(Clone, Debug, Default)]
pub struct TrialOutcome {
    /// Reads made by all readers.
    pub reads: u64,
    /// Reads that failed.
    pub failed_reads: u64,
    /// Replaces that returned Ok.
    pub writes: u64,
    /// Failed reads and trial-level failures, by kind.
    pub failures_by_kind: BTreeMap<FailureKind, u64>,
    /// Failures of the trial as a whole (after-kill checks, writer errors, deadlock).
    pub trial_failures: Vec<Failure>,
    /// The first failure of each kind, with its time after the release.
    pub first_by_kind: BTreeMap<FailureKind, FirstFailure>,
    /// Whether a writer died by SIGKILL (random or at its crash point).
    pub writer_killed: bool,
    /// The faults chosen.
    pub faults: Faults,
    /// The kept directory of a failing trial, with `keep`.
    pub kept: Option<PathBuf>,
    /// Store writers that finished: their number and the newest generation they made.
    pub final_generations: Vec<(u32, u64)>,
    /// Lock trials: the most holders inside the shared lock at once.
    pub max_shared_holders: u64,
    /// Lock trials: counter increments the holders had acknowledged.
    pub acknowledged: u64,
    /// Lock trials: acquisitions refused because the lock path was a symlink.
    pub refused: u64,
    /// Queue trials: items processed by consumers and by the drain after the run.
    pub processed: u64,
    /// Queue trials: items processed again after a delivery that was never acknowledged.
    pub allowed_duplicates: u64,
}

impl TrialOutcome {
    /// Whether anything failed.
    pub fn failed(&self) -> bool {
        self.failed_reads > 0 || !self.trial_failures.is_empty()
    }

    pub(crate) fn note(&mut self, failure: FirstFailure) {
        *self.failures_by_kind.entry(failure.kind).or_default() += 1;
        self.first_by_kind.entry(failure.kind).or_insert(failure);
    }
}

/// A trial that could not run (as opposed to one that ran and failed).
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// Ctrl-C or SIGTERM.
    #[error("interrupted")]
    Cancelled,
    /// A worker could not be started.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// The trial directory or its pipes could not be set up.
    #[error("failed to set up the trial: {0}")]
    Setup(String),
}

/// A pipe. `nonblocking` makes both ends non-blocking (for a pipe whose writer never fills
/// it); `nonblocking_read` only the read end (for one that workers must never lose a line to).
fn pipe(nonblocking: bool, nonblocking_read: bool) -> Result<(OwnedFd, OwnedFd), TrialError> {
    let mut flags = rustix::pipe::PipeFlags::CLOEXEC;
    if nonblocking {
        flags |= rustix::pipe::PipeFlags::NONBLOCK;
    }
    let (r, w) = rustix::pipe::pipe_with(flags).map_err(|e| TrialError::Setup(format!("pipe: {e}")))?;
    if nonblocking_read && !nonblocking {
        rustix::fs::fcntl_setfl(&r, rustix::fs::OFlags::NONBLOCK)
            .map_err(|e| TrialError::Setup(format!("fcntl: {e}")))?;
    }
    Ok((r, w))
}

/// Chooses the trial's faults from its seed.
pub fn choose_faults(plan: &TrialPlan<'_>) -> Faults {
    let s = plan.scenario;
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed());
    let mut pick = |lo: u64, hi: u64| lo + rng.next_u64() % (hi - lo + 1);
    let mut faults = Faults::default();
    let writer = 1 + (pick(0, u64::from(s.writers) - 1) as u32);
    // With both random kills and crash points, even trials kill at random and odd trials
    // cycle through the crash points.
    let both = s.kill.is_some() && !s.crash_points.is_empty();
    let crash_turn = !s.crash_points.is_empty() && (!both || plan.trial % 2 == 1);
    if let Some(k) = s.kill.filter(|_| !crash_turn) {
        // Queue trials kill any worker: a producer or a consumer.
        let victim = match plan.target {
            Target::Queue(_) => 1 + (pick(0, u64::from(s.writers + s.readers) - 1) as u32),
            _ => writer,
        };
        faults.kill = Some((victim, pick(k.offset_ms_min, k.offset_ms_max)));
    }
    if crash_turn {
        let turn = if both { plan.trial / 2 } else { plan.trial };
        let cp = &s.crash_points[(turn % s.crash_points.len() as u64) as usize];
        // Queue consumers pass the points of delivery, processing and the cursor.
        let consumer_point = matches!(plan.target, Target::Queue(_))
            && s.readers > 0
            && !matches!(
                cp.point,
                "queue.after_header" | "queue.after_write" | "queue.after_sync"
            );
        let worker = if consumer_point {
            s.writers + 1 + (pick(0, u64::from(s.readers) - 1) as u32)
        } else {
            writer
        };
        faults.crash = Some((
            worker,
            CrashPlan {
                point: cp.point.to_string(),
                hit: cp.hit,
            },
        ));
    }
    if let Some(p) = s.pause {
        faults.pause = Some((writer, pick(p.after_ms_min, p.after_ms_max), p.for_ms));
    }
    faults
}

/// Runs one trial in `workspace`, which it leaves clean for the next.
pub fn run_trial(
    plan: &TrialPlan<'_>,
    workspace: &mut Workspace,
    cancel: &AtomicBool,
    keep: bool,
) -> Result<TrialOutcome, TrialError> {
    let s = plan.scenario;
    // A `command` variant whose programs are lock holders: judged like family `lock`.
    let lock_programs = match plan.target {
        Target::Command(c) => {
            matches!(c.roles.programs, crate::external::command::Programs::Lock { .. }).then_some(c)
        }
        _ => None,
    };
    let path = workspace.file();
    let dir = workspace.dir.path().to_path_buf();
    let mut preloaded = None;
    if let Target::Queue(variant) = plan.target {
        preloaded = Some(
            queue_roles::setup(variant, &dir, &s.queue, s.document_bytes)
                .map_err(|e| TrialError::Setup(format!("queue: {e}")))?,
        );
    } else if let Target::Lock(_) = plan.target {
        if s.lock.plant_symlink {
            holder::plant_symlink(&dir)
                .map_err(|e| TrialError::Setup(format!("planting the symlink: {e}")))?;
        }
    } else if lock_programs.is_none() {
        let initial = document(Version { writer: 0, seq: 0 }, s.document_bytes);
        // Process runs keep the kernel alive, so version 0 needs no fsync to be there for
        // every reader and after every kill: a plain create and write is enough.
        std::fs::write(&path, &initial).map_err(|e| TrialError::Setup(format!("initial version: {e}")))?;
    }

    let mut outcome = TrialOutcome {
        faults: choose_faults(plan),
        ..TrialOutcome::default()
    };
    let workers = s.writers + s.readers;
    let (barrier_r, barrier_w) = if workers > 1 {
        pipe(false, false).map(|(r, w)| (Some(r), Some(w)))?
    } else {
        (None, None)
    };
    let (stop_r, stop_w) = if s.readers > 0 {
        pipe(true, true).map(|(r, w)| (Some(r), Some(w)))?
    } else {
        (None, None)
    };
    let pipes = Pipes {
        barrier: barrier_r.as_ref().map(AsFd::as_fd),
        stop: stop_r.as_ref().map(AsFd::as_fd),
        results: workspace.results_w.as_fd(),
    };
    let results_r = &workspace.results_r;

    let mut group = Group::default();
    let mut writer_index = BTreeMap::new();
    let mut holder_of = BTreeMap::new();
    let chosen_crash = outcome.faults.crash.clone();
    let crash_of = |id: u32| {
        chosen_crash
            .as_ref()
            .filter(|(w, _)| *w == id)
            .map(|(_, c)| c.clone())
    };
    let role_plan = |id: u32, variant| queue_roles::RolePlan {
        id,
        variant,
        dir: dir.clone(),
        items: s.writes_per_writer,
        payload_bytes: s.document_bytes,
        queue: s.queue,
        pause_us: s.write_pause_us,
        crash: crash_of(id),
    };
    for id in 1..=s.writers {
        let crash = crash_of(id);
        if let Target::Queue(variant) = plan.target {
            let rplan = role_plan(id, variant);
            writer_index.insert(id, group.spawn(|| queue_roles::producer(&rplan, &pipes))?);
            continue;
        }
        if let Target::Lock(variant) = plan.target {
            let hplan = HolderPlan {
                id,
                variant,
                dir: dir.clone(),
                mode: Mode::Exclusive,
                sections: s.writes_per_writer,
                pause_us: s.write_pause_us,
                lock: s.lock,
                crash,
            };
            let index = group.spawn(|| holder::holder(&hplan, &pipes))?;
            writer_index.insert(id, index);
            holder_of.insert(index, id);
            continue;
        }
        if let Some(target) = lock_programs {
            let hplan = holder::CommandHolderPlan {
                id,
                target,
                dir: dir.clone(),
                sections: s.writes_per_writer,
                pause_us: s.write_pause_us,
                hold_us: s.lock.hold_us,
            };
            let index = group.spawn(|| holder::command_holder(&hplan, &pipes))?;
            writer_index.insert(id, index);
            holder_of.insert(index, id);
            continue;
        }
        let wplan = WriterPlan {
            id,
            target: plan.target,
            threads: s.threads,
            path: path.clone(),
            size: s.document_bytes,
            max_writes: s.writes_per_writer,
            pause_us: s.write_pause_us,
            crash,
        };
        writer_index.insert(id, group.spawn(|| worker::writer(&wplan, &pipes))?);
    }
    let mut readers = Vec::new();
    let mut consumers = Vec::new();
    for id in 1..=s.readers {
        if let Target::Queue(variant) = plan.target {
            let rplan = queue_roles::RolePlan {
                pause_us: s.read_pause_us,
                ..role_plan(s.writers + id, variant)
            };
            let index = group.spawn(|| queue_roles::consumer(&rplan, &pipes))?;
            // Consumers can be killed, so they are on the kill timeline too.
            writer_index.insert(s.writers + id, index);
            consumers.push(index);
            continue;
        }
        if let Target::Lock(variant) = plan.target {
            let hplan = HolderPlan {
                id: s.writers + id,
                variant,
                dir: dir.clone(),
                mode: Mode::Shared,
                sections: s.reads_per_reader,
                pause_us: s.read_pause_us,
                lock: s.lock,
                crash: None,
            };
            let index = group.spawn(|| holder::holder(&hplan, &pipes))?;
            holder_of.insert(index, s.writers + id);
            continue;
        }
        let rplan = ReaderPlan {
            id,
            path: path.clone(),
            size: s.document_bytes,
            reads: s.reads_per_reader,
            pause_us: s.read_pause_us,
            check_regression: s.writers == 1 && s.checks.contains(&Check::StaleRegression),
            command: match plan.target {
                Target::Command(c) => Some(c),
                _ => None,
            },
        };
        readers.push(group.spawn(|| worker::reader(&rplan, &pipes))?);
    }

    // Release everyone at once: one byte per worker in a single write.
    if let Some(barrier) = &barrier_w {
        let _ = rustix::io::write(barrier, &vec![b'g'; group.workers.len()]);
    }
    let start = Instant::now();
    let deadline = start + Duration::from_millis(s.watchdog_ms);

    let mut events = timeline(&outcome.faults, &writer_index);
    let mut reports = Vec::new();
    let mut buffer = Vec::with_capacity(8192);
    let mut stop_sent = false;
    let mut deadlocked = false;
    let mut killed_at = BTreeMap::new();
    loop {
        if cancel.load(Ordering::SeqCst) {
            // Workers die with the group (its Drop); helpers lock holders started may have
            // outlived theirs, so the whole process group goes.
            if s.lock.spawn_helper
                && let Some(id) = group.id
            {
                let _ = nix::sys::signal::killpg(id, Signal::SIGKILL);
            }
            return Err(TrialError::Cancelled);
        }
        for w in group.workers.iter_mut() {
            w.reap();
        }
        // Lock holders run their sections and stop; atomic-write writers stop when the
        // readers are done; queue consumers stop once every producer has ended and the
        // queue is empty.
        if !stop_sent
            && !consumers.is_empty()
            && (1..=s.writers).all(|id| group.workers[writer_index[&id]].ended.is_some())
        {
            if let Some(stop) = &stop_w {
                let _ = rustix::io::write(stop, &vec![b's'; consumers.len()]);
            }
            stop_sent = true;
        }
        if !stop_sent && readers.iter().all(|r| group.workers[*r].ended.is_some()) && !readers.is_empty() {
            if let Some(stop) = &stop_w {
                let _ = rustix::io::write(stop, &vec![b's'; s.writers as usize]);
            }
            stop_sent = true;
        }
        drain(results_r, &mut buffer, &mut reports);
        if group.workers.iter().all(|w| w.ended.is_some()) {
            break;
        }
        let now = Instant::now();
        let mut killed = None;
        while let Some((at, _, _)) = events.first()
            && *at <= now
        {
            let (_, index, signal) = events.remove(0);
            // A holder killed inside held the lock until the signal; the time is taken
            // before it, so nobody can have entered after its death but "before" it.
            let sent_at = holder::now_ns();
            group.workers[index].signal(signal);
            if signal == Signal::SIGKILL {
                killed = Some(index);
                if let Some(id) = holder_of.get(&index) {
                    killed_at.insert(*id, sent_at);
                }
            }
        }
        if let Some(index) = killed {
            // A SIGKILLed worker is gone within tens of microseconds. Waiting for it without
            // going to sleep saves every kill a context switch and a wake-up.
            let until = Instant::now() + Duration::from_micros(200);
            while group.workers[index].reap().is_none() && Instant::now() < until {
                std::hint::spin_loop();
            }
            continue;
        }
        if now >= deadline {
            deadlocked = true;
            break;
        }
        let next = events.first().map_or(deadline, |(at, _, _)| (*at).min(deadline));
        wait_for_any(
            &group,
            results_r,
            next.saturating_duration_since(now)
                .min(Duration::from_millis(100)),
        );
    }
    let end = holder::now_ns();
    group_kill(&mut group);
    if let (Target::Command(_), Some(id)) = (plan.target, group.id) {
        wait_for_programs(id);
    }
    drain(results_r, &mut buffer, &mut reports);

    let sigkill = Some(Ended::Killed(Signal::SIGKILL as i32));
    outcome.writer_killed = writer_index.values().any(|i| group.workers[*i].ended == sigkill);
    collect(&mut outcome, &reports, s);
    if deadlocked {
        outcome.trial_failures.push(Failure {
            kind: FailureKind::Deadlock,
            detail: format!("no end within the watchdog's {} ms", s.watchdog_ms),
        });
        outcome.note(FirstFailure {
            kind: FailureKind::Deadlock,
            detail: format!("trial ran past the watchdog ({} ms)", s.watchdog_ms),
            at_s: start.elapsed().as_secs_f64(),
        });
    }
    let extra = if let Target::Queue(variant) = plan.target {
        let rplan = role_plan(0, variant);
        let ledger = preloaded.take().unwrap_or_default();
        queue_roles::judge(
            &mut outcome,
            variant,
            &dir,
            &rplan,
            ledger,
            start.elapsed().as_secs_f64(),
        );
        None
    } else if let Target::Lock(variant) = plan.target {
        // Once every holder is gone the lock must be free. Checked before the helpers the
        // holders started are killed: a helper that inherited the lock still holds it.
        if s.checks.contains(&Check::NoStuckLock) && !s.lock.plant_symlink && !deadlocked {
            lock_checks::lock_is_free(&mut outcome, variant, &dir, start.elapsed().as_secs_f64());
        }
        if s.lock.spawn_helper
            && let Some(id) = group.id
        {
            // Helpers are in the trial's process group; kill them now.
            let _ = nix::sys::signal::killpg(id, Signal::SIGKILL);
        }
        let killed = writer_index
            .values()
            .filter(|i| group.workers[**i].ended == sigkill)
            .count() as u64;
        let ends = lock_checks::Ends { killed_at, end };
        let acknowledged = outcome.acknowledged;
        lock_checks::judge(
            &mut outcome,
            &dir,
            s,
            &ends,
            acknowledged,
            killed,
            start.elapsed().as_secs_f64(),
        );
        None
    } else if lock_programs.is_some() {
        // The programs are gone (`wait_for_programs`), and with them their sections.
        let killed = writer_index
            .values()
            .filter(|i| group.workers[**i].ended == sigkill)
            .count() as u64;
        let ends = lock_checks::Ends { killed_at, end };
        lock_checks::judge(
            &mut outcome,
            &dir,
            s,
            &ends,
            0,
            killed,
            start.elapsed().as_secs_f64(),
        );
        None
    } else {
        after_checks(&mut outcome, plan.target, &path, s, start.elapsed().as_secs_f64())
    };

    if keep && outcome.failed() {
        outcome.kept = Some(workspace.keep()?);
    } else {
        workspace.clean(extra)?;
    }
    Ok(outcome)
}

/// Waits (up to 200 ms) until the programs the workers ran are gone too: they die with their
/// worker but are not its children to reap, and the checks must not read a file one of them
/// is still writing.
fn wait_for_programs(group: nix::unistd::Pid) {
    let _ = nix::sys::signal::killpg(group, Signal::SIGKILL);
    let until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < until {
        // ESRCH: no process is left in the group (zombies count until init reaps them).
        if nix::sys::signal::killpg(group, None).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Kills whatever is still running in the group and reaps it.
fn group_kill(group: &mut Group) {
    if group.workers.iter().all(|w| w.ended.is_some()) {
        return;
    }
    if let Some(id) = group.id {
        super::fork::kill_group(id, &mut group.workers);
    }
}

type Event = (Instant, usize, Signal);

fn timeline(faults: &Faults, writers: &BTreeMap<u32, usize>) -> Vec<Event> {
    let start = Instant::now();
    let mut events = Vec::new();
    if let Some((w, offset_ms)) = faults.kill {
        events.push((
            start + Duration::from_millis(offset_ms),
            writers[&w],
            Signal::SIGKILL,
        ));
    }
    if let Some((w, after_ms, for_ms)) = faults.pause {
        let at = start + Duration::from_millis(after_ms);
        events.push((at, writers[&w], Signal::SIGSTOP));
        events.push((at + Duration::from_millis(for_ms), writers[&w], Signal::SIGCONT));
    }
    events.sort_by_key(|(at, _, _)| *at);
    events
}

/// Sleeps until a worker ends, a report arrives, a signal interrupts, or `timeout` passes.
fn wait_for_any(group: &Group, results: &OwnedFd, timeout: Duration) {
    let mut fds: Vec<PollFd<'_>> = group
        .workers
        .iter()
        .filter(|w| w.ended.is_none())
        .map(|w| PollFd::new(&w.pidfd, PollFlags::IN))
        .collect();
    fds.push(PollFd::new(results, PollFlags::IN));
    let timeout = rustix::event::Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    // EINTR (Ctrl-C) and timeouts both just return to the loop, which checks everything.
    let _ = rustix::event::poll(&mut fds, Some(&timeout));
}

/// Reads every report line waiting in the results pipe. Reads go into `buffer`'s spare
/// capacity, so an empty pipe writes no memory: after a fork every page written is a
/// copy-on-write fault, and this runs on every turn of the wait loop.
fn drain(results: &OwnedFd, buffer: &mut Vec<u8>, reports: &mut Vec<Report>) {
    loop {
        if buffer.capacity() - buffer.len() < 4096 {
            buffer.reserve(8192);
        }
        match rustix::io::read(results.as_fd(), rustix::buffer::spare_capacity(buffer)) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = buffer.drain(..=end).collect();
        if let Ok(report) = serde_json::from_slice::<Report>(&line) {
            reports.push(report);
        }
    }
}

fn collect(outcome: &mut TrialOutcome, reports: &[Report], s: &Scenario) {
    for report in reports {
        match report {
            Report::Reader {
                reads,
                failures,
                first,
                ..
            } => {
                outcome.reads += reads;
                let failed: u64 = failures.values().sum();
                outcome.failed_reads += failed;
                for (kind, n) in failures {
                    *outcome.failures_by_kind.entry(*kind).or_default() += n;
                }
                if let Some(first) = first {
                    outcome
                        .first_by_kind
                        .entry(first.kind)
                        .or_insert_with(|| first.clone());
                }
            }
            Report::Holder {
                sections,
                acknowledged,
                refused,
                failures,
                first,
                ..
            } => {
                outcome.writes += sections;
                outcome.acknowledged += acknowledged;
                outcome.refused += refused;
                for (kind, n) in failures {
                    let checked = match kind {
                        FailureKind::StuckLock => s.checks.contains(&Check::NoStuckLock),
                        FailureKind::OwnerRecordErased => s.checks.contains(&Check::OwnerRecord),
                        _ => true,
                    };
                    if !checked {
                        continue;
                    }
                    outcome.trial_failures.push(Failure {
                        kind: *kind,
                        detail: format!("{n} times"),
                    });
                    *outcome.failures_by_kind.entry(*kind).or_default() += 1;
                    if let Some(first) = first.as_ref().filter(|f| f.kind == *kind) {
                        outcome
                            .first_by_kind
                            .entry(*kind)
                            .or_insert_with(|| first.clone());
                    }
                }
            }
            Report::Writer {
                id,
                writes,
                errors,
                first,
                final_generation,
            } => {
                outcome.writes += writes;
                if let Some(generation) = final_generation {
                    outcome.final_generations.push((*id, *generation));
                }
                if *errors > 0
                    && s.checks.contains(&Check::NoWriterErrors)
                    && let Some(first) = first
                {
                    outcome.trial_failures.push(Failure {
                        kind: first.kind,
                        detail: first.detail.clone(),
                    });
                    outcome.note(first.clone());
                }
            }
        }
    }
}

/// How the file's bytes are read: a program may write JSON its own way.
fn classify_for(target: Target, bytes: &[u8], size: usize) -> Read {
    match target {
        Target::Command(_) => crate::external::command::classify_json(bytes, size),
        _ => classify(bytes, size),
    }
}

/// After the workers are gone: the file must be a complete version, and after the variant's
/// recovery no temps may remain.
/// Returns what else the directory held after recovery, when that was checked.
fn after_checks(
    outcome: &mut TrialOutcome,
    target: Target,
    path: &Path,
    s: &Scenario,
    at_s: f64,
) -> Option<Vec<String>> {
    let fs = RealFs::new();
    let when = if outcome.writer_killed {
        "after the kill"
    } else {
        "after the trial"
    };
    if s.checks.contains(&Check::OldOrNew) {
        let problem = match faultline_core::fs::read_file(&fs, path) {
            Err(e) if e.errno == Errno::NOENT => {
                Some((FailureKind::MissingFile, format!("the file is missing {when}")))
            }
            Err(e) => Some((
                FailureKind::UnexpectedError,
                format!("reading the file {when} failed: {e}: {}", e.errno),
            )),
            Ok(bytes) => match classify_for(target, &bytes, s.document_bytes) {
                Read::Complete(_) => None,
                Read::Bad { detail, .. } => Some((FailureKind::TornFile, format!("{when}: {detail}"))),
            },
        };
        if let Some((kind, detail)) = problem {
            outcome.trial_failures.push(Failure {
                kind,
                detail: detail.clone(),
            });
            outcome.note(FirstFailure { kind, detail, at_s });
        }
    }
    // A store whose writer finished must end holding its newest generation.
    if s.checks.contains(&Check::StaleRegression)
        && !outcome.writer_killed
        && let [(writer, newest)] = outcome.final_generations.as_slice()
    {
        let expected = document(
            Version {
                writer: *writer,
                seq: *newest,
            },
            s.document_bytes,
        );
        let held = faultline_core::fs::read_file(&fs, path).ok();
        if held.as_deref() != Some(expected.as_slice()) {
            let seen = match held.as_deref().map(|b| classify(b, s.document_bytes)) {
                Some(Read::Complete(v)) => format!("generation {}", v.seq),
                Some(Read::Bad { detail, .. }) => detail,
                None => "nothing readable".to_string(),
            };
            let detail = format!(
                "after the last save the file holds {seen}, but the store reached generation {newest}"
            );
            outcome.trial_failures.push(Failure {
                kind: FailureKind::StaleRegression,
                detail: detail.clone(),
            });
            outcome.note(FirstFailure {
                kind: FailureKind::StaleRegression,
                detail,
                at_s,
            });
        }
    }
    if let Target::Command(c) = target
        && let crate::external::command::Programs::Document {
            checker: Some(checker),
            ..
        } = &c.roles.programs
    {
        let vars = crate::external::command::Vars::new(path, s.document_bytes);
        let words = c.roles.expand(checker, &vars);
        let problem = match crate::external::command::run(&words, faultline_core::fs::parent_dir(path)) {
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(format!(
                "{when}: {}",
                crate::external::command::failure_detail(&words, &out)
            )),
            Err(e) => Some(format!("cannot run the checker `{}`: {e}", words[0])),
        };
        if let Some(detail) = problem {
            let kind = FailureKind::CheckerFailed;
            outcome.trial_failures.push(Failure {
                kind,
                detail: detail.clone(),
            });
            outcome.note(FirstFailure { kind, detail, at_s });
        }
    }
    if !s.checks.contains(&Check::NoLeakedTemps) {
        return None;
    }
    let recovered = target.recover(&fs, path);
    let dir = faultline_core::fs::parent_dir(path);
    let listed: Option<Vec<String>> = fs
        .read_dir(dir)
        .ok()
        .map(|names| names.into_iter().filter(|n| n != FILE_NAME).collect());
    let extra = listed.clone().unwrap_or_default();
    let problem = match recovered {
        Err(e) => Some((
            FailureKind::RecoveryFailed,
            format!("recovery {when} failed: {e}: {}", e.errno),
        )),
        Ok(()) if !extra.is_empty() => Some((
            FailureKind::LeakedTemp,
            format!("{when} and recovery, left: {}", extra.join(", ")),
        )),
        Ok(()) => None,
    };
    if let Some((kind, detail)) = problem {
        outcome.trial_failures.push(Failure {
            kind,
            detail: detail.clone(),
        });
        outcome.note(FirstFailure { kind, detail, at_s });
    }
    listed
}
