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

pub use crate::results::Faults;
use faultline_core::{CrashPlan, Failure, FailureKind};
use nix::sys::signal::Signal;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use rustix::event::{PollFd, PollFlags};

use super::fork::{Ended as ForkEnded, Group};
pub use super::outcome::{TrialError, TrialOutcome};
use super::roles::{Ended, Role, Roles, Start, Stop, Trial};
use super::waits::Look;
use super::window::Window;
use super::worker::{FirstFailure, Pipes, Report, now_ns};
use crate::scenario::{Check, Scenario};

/// The name of the file every trial works on.
pub const FILE_NAME: &str = "config.json";

/// Which trial of which scenario.
pub struct TrialPlan<'s> {
    /// The scenario.
    pub scenario: &'s Scenario,
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
        crate::scratch::private_dir("faultline-trial-", root)
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

/// The faults in the release's line: `; planned: ...`, or nothing.
fn faults_note(faults: &Faults) -> String {
    let planned = faults.describe();
    if planned.is_empty() {
        String::new()
    } else {
        format!("; planned: {}", planned.join("; "))
    }
}

/// Chooses the trial's faults from its seed.
pub fn choose_faults(plan: &TrialPlan<'_>, roles: &dyn Roles) -> Faults {
    let s = plan.scenario;
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed());
    let mut pick = |lo: u64, hi: u64| lo + rng.next_u64() % (hi - lo + 1);
    let mut faults = Faults::default();
    let writer = 1 + (pick(0, u64::from(s.writers) - 1) as u32);
    let turns = s.turns(plan.trial);
    if let Some(k) = s.kill.filter(|_| turns.kill) {
        let victim = if roles.kills_any_worker() {
            1 + (pick(0, u64::from(s.writers + s.readers) - 1) as u32)
        } else {
            writer
        };
        faults.kill = Some((victim, pick(k.offset_ms_min, k.offset_ms_max)));
    }
    // Only the points the workers pass: a trial armed elsewhere would run to its end unhurt.
    let points: Vec<_> = s
        .crash_points
        .iter()
        .filter(|cp| roles.passes(cp.point))
        .collect();
    if let Some(turn) = turns.crash.filter(|_| !points.is_empty()) {
        let cp = points[(turn % points.len() as u64) as usize];
        let readers_pass = s.readers > 0 && roles.readers_pass(cp.point);
        let worker = if readers_pass {
            s.writers + 1 + (pick(0, u64::from(s.readers) - 1) as u32)
        } else {
            writer
        };
        // A point readers pass is armed in every reader: whichever gets there dies, so the
        // kill does not hang on which reader the scheduler happened to feed.
        faults.every_reader = readers_pass;
        faults.crash = Some((
            worker,
            CrashPlan {
                point: cp.point.to_string(),
                hit: cp.hit,
                stop: false,
            },
        ));
    }
    if let Some(p) = s.pause {
        faults.pause = Some((writer, pick(p.after_ms_min, p.after_ms_max), p.for_ms));
    }
    faults.window = turns.window;
    faults
}

/// The pipes of one trial: the barrier that releases the workers together, and the stop pipe
/// (only with readers).
struct TrialPipes {
    barrier: (Option<OwnedFd>, Option<OwnedFd>),
    stop: (Option<OwnedFd>, Option<OwnedFd>),
}

impl TrialPipes {
    fn new(s: &Scenario) -> Result<Self, TrialError> {
        let barrier = if s.writers + s.readers > 1 {
            pipe(false, false).map(|(r, w)| (Some(r), Some(w)))?
        } else {
            (None, None)
        };
        let stop = if s.readers > 0 {
            pipe(true, true).map(|(r, w)| (Some(r), Some(w)))?
        } else {
            (None, None)
        };
        Ok(TrialPipes { barrier, stop })
    }

    /// Writes `n` bytes to the stop pipe: each tells one worker to stop.
    fn stop(&self, n: usize) {
        if let Some(stop) = &self.stop.1 {
            let _ = rustix::io::write(stop, &vec![b's'; n]);
        }
    }
}

/// The trial's workers, as the loop tracks them.
#[derive(Default)]
struct Crew {
    group: Group,
    /// Worker number -> group index, for the workers faults may hit.
    killable: BTreeMap<u32, usize>,
    /// Group index -> worker number, for holders (their kill times are noted).
    holders: BTreeMap<usize, u32>,
    /// Worker number -> group index, for every worker.
    by_number: BTreeMap<u32, usize>,
    writers: Vec<usize>,
    readers: Vec<usize>,
}

impl Crew {
    /// Starts every writer, then every reader, through the family's roles.
    fn start(
        roles: &dyn Roles,
        trial: &Trial<'_>,
        faults: &Faults,
        pipes: &Pipes<'_>,
    ) -> Result<Crew, TrialError> {
        let s = trial.scenario;
        let mut crew = Crew::default();
        // A worker in the trial's window stops at its step's point instead of any kill there.
        let crash_of = |number: u32| {
            let step = s.window.iter().find(|w| faults.window && w.worker == number);
            match step {
                Some(w) => Some(CrashPlan {
                    point: w.point.to_string(),
                    hit: w.hit,
                    stop: !w.kill,
                }),
                None => faults
                    .crash
                    .as_ref()
                    .filter(|(w, _)| *w == number || (faults.every_reader && number > s.writers))
                    .map(|(_, c)| c.clone()),
            }
        };
        let starts = (1..=s.writers)
            .map(|index| (Role::Writer, index, index))
            .chain((1..=s.readers).map(|index| (Role::Reader, index, s.writers + index)));
        for (role, index, number) in starts {
            let start = Start {
                role,
                index,
                number,
                crash: crash_of(number),
            };
            let started = roles.start(&start, trial, &mut crew.group, pipes)?;
            crew.by_number.insert(number, started.index);
            if started.killable {
                crew.killable.insert(number, started.index);
            }
            if started.holder {
                crew.holders.insert(started.index, number);
            }
            match role {
                Role::Writer => crew.writers.push(started.index),
                Role::Reader => crew.readers.push(started.index),
            }
        }
        Ok(crew)
    }

    /// How the timeline names the worker at group index `index`.
    fn name(&self, index: usize) -> String {
        let number = self
            .by_number
            .iter()
            .find(|(_, i)| **i == index)
            .map_or(index as u32 + 1, |(n, _)| *n);
        // Numbered as their reports number them: holders by worker number, writers and
        // readers each from 1.
        if self.holders.contains_key(&index) {
            format!("holder {number}")
        } else if let Some(i) = self.writers.iter().position(|w| *w == index) {
            format!("writer {}", i + 1)
        } else if let Some(i) = self.readers.iter().position(|r| *r == index) {
            format!("reader {}", i + 1)
        } else {
            format!("worker {number}")
        }
    }

    fn all_ended(&self, indices: &[usize]) -> bool {
        indices.iter().all(|i| self.group.workers[*i].ended.is_some())
    }

    /// Killable workers that died by SIGKILL.
    fn killed(&self) -> u64 {
        let sigkill = Some(ForkEnded::Killed(Signal::SIGKILL as i32));
        self.killable
            .values()
            .filter(|i| self.group.workers[**i].ended == sigkill)
            .count() as u64
    }
}

/// Why the loop stopped the workers before they all ended.
enum Cut {
    /// Processes wait for each other's locks (a cycle read from the kernel): the detail.
    Deadlock(String),
    /// No end, no progress and no evidence: the trial is inconclusive. The reason.
    Inconclusive(String),
}

/// What the loop saw while the workers ran.
struct Watched {
    cut: Option<Cut>,
    killed_at: BTreeMap<u32, u64>,
    end_ns: u64,
}

/// Runs one trial in `workspace`, which it leaves clean for the next: `roles` prepare the
/// directory, start the workers and judge what they left.
pub fn run_trial(
    plan: &TrialPlan<'_>,
    roles: &mut dyn Roles,
    workspace: &mut Workspace,
    cancel: &AtomicBool,
    keep: bool,
) -> Result<TrialOutcome, TrialError> {
    let s = plan.scenario;
    let (dir, file) = (workspace.dir.path().to_path_buf(), workspace.file());
    let trial = Trial {
        scenario: s,
        number: plan.trial,
        dir: &dir,
        file: &file,
    };
    roles.setup(&trial)?;
    let mut outcome = TrialOutcome {
        faults: choose_faults(plan, roles),
        ..TrialOutcome::default()
    };
    let trial_pipes = TrialPipes::new(s)?;
    let pipes = Pipes {
        barrier: trial_pipes.barrier.0.as_ref().map(AsFd::as_fd),
        stop: trial_pipes.stop.0.as_ref().map(AsFd::as_fd),
        results: workspace.results_w.as_fd(),
    };
    let mut crew = Crew::start(roles, &trial, &outcome.faults, &pipes)?;
    let steps = if outcome.faults.window {
        s.window
            .iter()
            .filter_map(|w| crew.by_number.get(&w.worker).copied())
            .collect()
    } else {
        Vec::new()
    };
    let mut window = Window::open(&crew.group, steps);

    // Release everyone at once: one byte per worker in a single write.
    if let Some(barrier) = &trial_pipes.barrier.1 {
        let _ = rustix::io::write(barrier, &vec![b'g'; crew.group.workers.len()]);
    }
    let start = Instant::now();
    let release_ns = now_ns();
    let mut timeline = Timeline::new(start);
    timeline.note(
        start,
        format!(
            "released {} writer(s) and {} reader(s) together{}",
            s.writers,
            s.readers,
            faults_note(&outcome.faults)
        ),
    );
    let mut reports = Vec::new();
    let first_write = roles
        .clock_starts_at_first_write()
        .then(|| FirstWrite::new(&file));
    let watched = watch(
        &mut crew,
        &mut window,
        first_write,
        roles.stop(),
        &trial_pipes,
        workspace,
        &outcome.faults,
        &mut reports,
        s,
        cancel,
        &mut timeline,
    )?;
    if roles.runs_programs()
        && let Some(id) = crew.group.id
    {
        wait_for_programs(id);
    }
    drain(&workspace.results_r, &mut Vec::new(), &mut reports);

    outcome.writer_killed = crew.killed() > 0;
    collect(&mut outcome, &reports, s);
    match &watched.cut {
        Some(Cut::Deadlock(detail)) => {
            outcome.trial_failures.push(Failure {
                kind: FailureKind::Deadlock,
                detail: detail.clone(),
            });
            outcome.note(FirstFailure {
                kind: FailureKind::Deadlock,
                detail: detail.clone(),
                at_s: start.elapsed().as_secs_f64(),
            });
        }
        Some(Cut::Inconclusive(reason)) => outcome.inconclusive = Some(reason.clone()),
        None => {}
    }
    let ended = Ended {
        cut_short: watched.cut.is_some(),
        killed: crew.killed(),
        killed_at: watched.killed_at,
        end_ns: watched.end_ns,
        release_ns,
        group: crew.group.id,
        at_s: start.elapsed().as_secs_f64(),
    };
    let extra = roles.judge(&mut outcome, &trial, &ended)?;
    let judged = Instant::now();
    if let Some(Cut::Inconclusive(reason)) = &watched.cut {
        timeline.note(judged, format!("stopped, inconclusive: {reason}"));
    }
    for f in &outcome.trial_failures {
        timeline.note(judged, format!("after the trial: {}: {}", f.kind, f.detail));
    }
    // First failures the workers' reports did not carry (the checks after a kill, say), at
    // the time they were seen.
    for (kind, f) in &outcome.first_by_kind {
        if !timeline.entries.iter().any(|e| e.event.contains(&f.detail)) {
            timeline.push(f.at_s * 1e3, format!("{kind}: {}", f.detail));
        }
    }
    // What the family's judgement placed on the timeline (lock holds, say).
    for e in std::mem::take(&mut outcome.timeline) {
        timeline.push(e.at_ms, e.event);
    }
    outcome.timeline = timeline.finish();

    if keep && outcome.failed() {
        outcome.kept = Some(workspace.keep()?);
    } else {
        workspace.clean(extra)?;
    }
    Ok(outcome)
}

/// The loop while workers run: faults on their timeline, stop bytes when the family's rule
/// says, reports drained as they come, until every worker has ended or the watchdog expires.
/// Leaves no worker running.
#[allow(clippy::too_many_arguments)]
fn watch(
    crew: &mut Crew,
    window: &mut Window,
    mut first_write: Option<FirstWrite>,
    stop: Stop,
    pipes: &TrialPipes,
    workspace: &Workspace,
    faults: &Faults,
    reports: &mut Vec<Report>,
    s: &Scenario,
    cancel: &AtomicBool,
    timeline: &mut Timeline,
) -> Result<Watched, TrialError> {
    let start = Instant::now();
    let names: Vec<String> = (0..crew.group.workers.len()).map(|i| crew.name(i)).collect();
    let mut watchdog = Watchdog::new(start, s.watchdog_ms);
    let mut events = signal_plan(faults, &crew.killable);
    let mut buffer = Vec::with_capacity(8192);
    let mut stop_sent = false;
    let mut cut = None;
    let mut killed_at = BTreeMap::new();
    loop {
        if cancel.load(Ordering::SeqCst) {
            // Workers die with the group (its Drop); helpers they started may have outlived
            // them, so the whole process group goes.
            if let Some(id) = crew.group.id {
                let _ = nix::sys::signal::killpg(id, Signal::SIGKILL);
            }
            return Err(TrialError::Cancelled);
        }
        reap_all(crew, &names, timeline);
        window.advance(&crew.group);
        stop_sent = stop_sent || send_stop(stop, crew, pipes, s);
        let seen = reports.len();
        drain(&workspace.results_r, &mut buffer, reports);
        for report in &reports[seen..] {
            timeline.report(report);
        }
        if crew.group.workers.iter().all(|w| w.ended.is_some()) {
            break;
        }
        let now = Instant::now();
        // The faults' clock starts at the file's first change: until then, nothing fires.
        if first_write.as_ref().is_some_and(FirstWrite::changed) {
            let shift = now.saturating_duration_since(start);
            for event in &mut events {
                event.0 += shift;
            }
            first_write = None;
        }
        let clock_running = first_write.is_none();
        let killed = if clock_running {
            fire_due(&mut events, crew, now, &mut killed_at, &names, timeline)
        } else {
            None
        };
        if let Some(index) = killed {
            // A SIGKILLed worker is gone within tens of microseconds. Waiting for it without
            // going to sleep saves every kill a context switch and a wake-up.
            let until = Instant::now() + Duration::from_micros(200);
            while crew.group.workers[index].ended.is_none() && Instant::now() < until {
                reap_one(crew, index, &names, timeline);
                std::hint::spin_loop();
            }
            continue;
        }
        if now >= watchdog.deadline {
            cut = watchdog.expired(crew, window, now);
            if cut.is_some() {
                break;
            }
            continue;
        }
        let deadline = watchdog.deadline;
        let next = match events.first() {
            _ if !clock_running => (now + FirstWrite::POLL).min(deadline),
            Some((at, _, _)) => (*at).min(deadline),
            None => deadline,
        };
        wait_for_any(
            &crew.group,
            &workspace.results_r,
            next.saturating_duration_since(now)
                .min(Duration::from_millis(100)),
        );
    }
    let end_ns = now_ns();
    group_kill(&mut crew.group);
    let seen = reports.len();
    drain(&workspace.results_r, &mut buffer, reports);
    for report in &reports[seen..] {
        timeline.report(report);
    }
    Ok(Watched {
        cut,
        killed_at,
        end_ns,
    })
}

/// Tells the workers the family's rule says to stop, once the others are done; whether it did.
fn send_stop(stop: Stop, crew: &Crew, pipes: &TrialPipes, s: &Scenario) -> bool {
    match stop {
        Stop::WritersAfterReaders if !crew.readers.is_empty() && crew.all_ended(&crew.readers) => {
            pipes.stop(s.writers as usize);
            true
        }
        Stop::ReadersAfterWriters if !crew.readers.is_empty() && crew.all_ended(&crew.writers) => {
            pipes.stop(crew.readers.len());
            true
        }
        _ => false,
    }
}

/// Reaps every worker that ended, noting each on the timeline.
fn reap_all(crew: &mut Crew, names: &[String], timeline: &mut Timeline) {
    for i in 0..crew.group.workers.len() {
        reap_one(crew, i, names, timeline);
    }
}

/// Reaps worker `i` if it ended, noting it on the timeline.
fn reap_one(crew: &mut Crew, i: usize, names: &[String], timeline: &mut Timeline) {
    let w = &mut crew.group.workers[i];
    if w.ended.is_some() {
        return;
    }
    let Some(ended) = w.reap() else { return };
    let how = match ended {
        ForkEnded::Exited(0) => "exited".to_string(),
        ForkEnded::Exited(code) => format!("exited with code {code}"),
        ForkEnded::Killed(sig) => format!(
            "died by {}",
            Signal::try_from(sig).map_or_else(|_| format!("signal {sig}"), |s| s.to_string())
        ),
    };
    let who = names.get(i).map_or("worker", String::as_str);
    timeline.note(Instant::now(), format!("{who} {how}"));
}

/// What happened in a trial, in order, with times from the release; at most
/// [`Timeline::MAX`] events, so a long trial's page stays readable.
pub(crate) struct Timeline {
    start: Instant,
    entries: Vec<crate::results::TimelineEntry>,
}

impl Timeline {
    const MAX: usize = 200;

    fn new(start: Instant) -> Self {
        Timeline {
            start,
            entries: Vec::new(),
        }
    }

    fn push(&mut self, at_ms: f64, event: String) {
        if self.entries.len() < Self::MAX {
            self.entries.push(crate::results::TimelineEntry { at_ms, event });
        }
    }

    fn note(&mut self, at: Instant, event: String) {
        self.push(
            at.saturating_duration_since(self.start).as_secs_f64() * 1e3,
            event,
        );
    }

    /// A worker's final report, and the first failure it saw at its own time.
    fn report(&mut self, report: &Report) {
        let now = Instant::now();
        let (who, summary, first) = match report {
            Report::Writer {
                id,
                writes,
                errors,
                first,
                ..
            } => (
                format!("writer {id}"),
                format!("{writes} replaces returned, {errors} failed"),
                first,
            ),
            Report::Reader {
                id,
                reads,
                failures,
                first,
            } => (
                format!("reader {id}"),
                format!("{reads} reads, {} failed", failures.values().sum::<u64>()),
                first,
            ),
            Report::Holder {
                id,
                sections,
                failures,
                first,
                gave_up,
                ..
            } => (
                format!("holder {id}"),
                format!(
                    "{sections} critical sections, {} failures{}",
                    failures.values().sum::<u64>(),
                    gave_up
                        .as_deref()
                        .map(|g| format!("; gave up: {g}"))
                        .unwrap_or_default()
                ),
                first,
            ),
        };
        if let Some(f) = first {
            self.push(f.at_s * 1e3, format!("{who}: {}: {}", f.kind, f.detail));
        }
        self.note(now, format!("{who} reported: {summary}"));
    }

    /// The events in time order.
    fn finish(mut self) -> Vec<crate::results::TimelineEntry> {
        self.entries.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
        self.entries
    }
}

/// Sends the signals of `events` that are due at `now`; the last worker SIGKILLed, if any.
/// A holder's kill time is noted in `killed_at`.
fn fire_due(
    events: &mut Vec<Event>,
    crew: &Crew,
    now: Instant,
    killed_at: &mut BTreeMap<u32, u64>,
    names: &[String],
    timeline: &mut Timeline,
) -> Option<usize> {
    let mut killed = None;
    while let Some((at, _, _)) = events.first()
        && *at <= now
    {
        let (_, index, signal) = events.remove(0);
        // A holder killed inside held the lock until the signal; the time is taken before
        // it, so nobody can have entered after its death but "before" it.
        let sent_at = now_ns();
        if crew.group.workers[index].ended.is_none() {
            timeline.note(
                Instant::now(),
                format!(
                    "{signal} sent to {} ({})",
                    names[index],
                    match signal {
                        Signal::SIGKILL => "the random kill",
                        Signal::SIGSTOP => "paused",
                        _ => "continued",
                    }
                ),
            );
        }
        crew.group.workers[index].signal(signal);
        if signal == Signal::SIGKILL {
            killed = Some(index);
            if let Some(id) = crew.holders.get(&index) {
                killed_at.insert(*id, sent_at);
            }
        }
    }
    killed
}

/// The trial's file as it was at the release, to see when a program first changes it.
struct FirstWrite {
    path: PathBuf,
    before: Option<(u64, u64, i64, i64)>,
}

impl FirstWrite {
    /// How often the file is looked at until it changes.
    const POLL: Duration = Duration::from_millis(1);

    fn new(path: &Path) -> Self {
        FirstWrite {
            path: path.to_path_buf(),
            before: Self::stamp(path),
        }
    }

    /// Inode, size and modification time: a replace changes the inode, a write in place
    /// the size or the time.
    fn stamp(path: &Path) -> Option<(u64, u64, i64, i64)> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some((m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
    }

    fn changed(&self) -> bool {
        Self::stamp(&self.path) != self.before
    }
}

/// The watchdog: when it expires, the kernel is asked what the trial's processes are doing.
/// A wait-for cycle between them is a deadlock; progress since the last look (any process
/// scheduled, or asleep in a timed sleep) moves the deadline on by the watchdog's period, up
/// to a hard limit; neither is an inconclusive trial. Time alone never fails a trial.
struct Watchdog {
    period: Duration,
    deadline: Instant,
    limit: Instant,
    last: Option<Look>,
}

impl Watchdog {
    /// The hard limit: the period times this, and never under [`Watchdog::MIN_LIMIT`].
    const LIMIT_PERIODS: u32 = 20;
    const MIN_LIMIT: Duration = Duration::from_secs(30);

    fn new(start: Instant, watchdog_ms: u64) -> Self {
        let period = Duration::from_millis(watchdog_ms.max(1));
        Watchdog {
            period,
            deadline: start + period,
            limit: start + Self::limit(period),
            last: None,
        }
    }

    /// How long a trial that keeps making progress may run.
    fn limit(period: Duration) -> Duration {
        (period * Self::LIMIT_PERIODS).max(Self::MIN_LIMIT)
    }

    /// The watchdog expired at `now`: why to stop the workers, or `None` to go on watching.
    fn expired(&mut self, crew: &Crew, window: &mut Window, now: Instant) -> Option<Cut> {
        let Some(group) = crew.group.id else {
            return Some(Cut::Inconclusive(
                "the trial's workers have no process group".into(),
            ));
        };
        let group = group.as_raw().unsigned_abs();
        let look = Look::group(group);
        if let Some(detail) = confirmed_deadlock(&look, group, crew) {
            return Some(Cut::Deadlock(detail));
        }
        let moving = self.last.as_ref().is_none_or(|last| look.moved_since(last)) || look.someone_sleeping();
        // Stuck on a worker the race window keeps stopped: let the next one go.
        let unblocked = !moving && now < self.limit && window.unblock(&crew.group);
        if (moving || unblocked) && now < self.limit {
            self.deadline = now + self.period;
            self.last = Some(look);
            return None;
        }
        let waiting = look.processes.values().filter(|p| p.waiting.is_some()).count();
        Some(Cut::Inconclusive(if moving {
            format!(
                "still running at the hard limit ({} s) with no wait-for cycle between its processes",
                Self::limit(self.period).as_secs()
            )
        } else {
            format!(
                "no process ran for {} ms and none waits in a cycle ({} of {} asleep in a lock call)",
                self.period.as_millis(),
                waiting,
                look.processes.len()
            )
        }))
    }
}

/// A wait-for cycle in `look`, described, if a second look a moment later shows the same
/// cycle with none of its processes having run in between.
fn confirmed_deadlock(look: &Look, group: u32, crew: &Crew) -> Option<String> {
    let cycle = look.cycle()?;
    std::thread::sleep(Duration::from_millis(20));
    let again = Look::group(group);
    let still = again.cycle().is_some_and(|c| {
        let mut a = c.clone();
        let mut b = cycle.clone();
        a.sort_unstable();
        b.sort_unstable();
        a == b
    });
    let ran = cycle.iter().any(|pid| {
        look.processes.get(pid).map(|p| p.switches) != again.processes.get(pid).map(|p| p.switches)
    });
    if !still || ran {
        return None;
    }
    let name = |pid: u32| {
        let holder = crew
            .group
            .workers
            .iter()
            .position(|w| w.pid.as_raw().unsigned_abs() == pid)
            .and_then(|i| crew.holders.get(&i));
        match (holder, look.processes.get(&pid)) {
            (Some(h), _) => format!("holder {h} (pid {pid})"),
            (None, Some(p)) => format!("{} (pid {pid})", p.name),
            (None, None) => format!("pid {pid}"),
        }
    };
    Some(look.describe(&cycle, &name))
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

fn signal_plan(faults: &Faults, writers: &BTreeMap<u32, usize>) -> Vec<Event> {
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
                gave_up,
                ..
            } => {
                if let Some(reason) = gave_up {
                    outcome.inconclusive.get_or_insert_with(|| reason.clone());
                }
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
