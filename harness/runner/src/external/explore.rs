//! `faultline explore --trace`: every crash state of a recorded trace, materialised as a real
//! directory and judged by the user's checker program.
//!
//! States come from the same enumerator as the built-in variants' (so the same model, block
//! size, bound and seed give the same states). Each distinct state is written into a slot
//! directory, the checker runs there (exit 0: the state is fine), and up to `jobs` checkers run
//! at once. Failed states are grouped by their cause, the set of trace entries the crash lost
//! or tore, and each cause is shown with those entries' system calls and where strace saw them:
//! the ALICE view, which also shows a lost rename.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use faultline_core::crash_state::{self, BadStateId, CrashStateId, EnumerationConfig, EnumerationStats};
use faultline_core::persistence::Pending;
use faultline_core::stats::FailureCount;
use faultline_core::{FsImage, PersistenceModel};

use super::persistent;
use super::trace_file::{TraceFile, Unsupported};
use crate::crash::{list_files, materialise};

/// The placeholders a checker's words may use.
pub const CHECKER_PLACEHOLDERS: &[(&str, &str)] = &[
    (
        "{dir}",
        "the crash state's directory (also the checker's working directory)",
    ),
    (
        "{stdout}",
        "a file holding what the program printed on standard output before the crash",
    ),
    (
        "{finished}",
        "1 if the crash came after the program's last call, else 0",
    ),
    ("{moment}", "how many trace entries ran before the crash"),
    ("{state}", "the crash state's id"),
];

/// What to explore.
#[derive(Clone, Debug)]
pub struct TraceExploreRequest {
    /// The trace file (for the reproduce command).
    pub trace_path: PathBuf,
    /// The checker's words, with placeholders.
    pub checker: Vec<String>,
    /// Model, block size, bound and seed.
    pub config: EnumerationConfig,
    /// Checkers run at once.
    pub jobs: usize,
    /// A checker that runs longer fails its state.
    pub timeout: Duration,
    /// Only this state.
    pub only: Option<CrashStateId>,
    /// Keep the directories of failed states here (the first of each cause).
    pub keep: Option<PathBuf>,
    /// Where states are written; `None`: tmpfs where there is one.
    pub temp_dir: Option<PathBuf>,
    /// Start the checker once per worker and send it states on stdin, one per line
    /// ([`persistent`]), instead of once per state.
    pub persistent: bool,
}

/// How a checker ended on one state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckerEnd {
    /// It exited with this code.
    Exit(i32),
    /// A signal killed it.
    Signal(i32),
    /// It ran past the timeout and was killed.
    Timeout,
    /// It could not be started.
    NotStarted(String),
}

/// One failed state.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FailedTraceState {
    /// Its id, for `--state`.
    pub state: String,
    /// Entries before the crash.
    pub moment: usize,
    /// The last entry before the crash, with where it came from.
    pub crash_after: Option<String>,
    /// In-doubt changes the crash kept, with their calls.
    pub persisted: Vec<String>,
    /// In-doubt changes the crash lost.
    pub lost: Vec<String>,
    /// Writes kept only in part.
    pub torn: Vec<String>,
    /// How the checker ended.
    pub checker: CheckerEnd,
    /// What it printed (shortened).
    pub checker_output: String,
    /// The files of the state.
    pub files: Vec<String>,
    /// Where the state's directory was kept, with `--keep`.
    pub kept: Option<String>,
    /// The command that checks exactly this state again.
    pub reproduce: String,
}

/// A group of failed states with one root cause: a smallest set of lost or torn changes that
/// still fails the checker when every other change in doubt persists.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Cause {
    /// The lost or torn entries' calls and sources: what the program must make durable first.
    pub entries: Vec<String>,
    /// What to change in the program, one line per lost or torn change.
    pub advice: Vec<String>,
    /// The state that loses only those changes, and the command that checks it.
    pub root_state: Option<String>,
    /// Failed states with this cause.
    pub states: u64,
    /// The first of them.
    pub example: FailedTraceState,
}

/// The result of exploring a trace under one model.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceExploreResult {
    /// The trace file.
    pub trace: String,
    /// The recorded command.
    pub command: Vec<String>,
    /// The checker's words.
    pub checker: Vec<String>,
    /// The persistence model.
    pub model: PersistenceModel,
    /// Where writes tear.
    pub block_size_bytes: u64,
    /// Seeds the sample of the level the budget cuts.
    pub seed: u64,
    /// The budget of choices for the whole exploration.
    pub max_choices: u64,
    /// Entries in the trace.
    pub trace_len: usize,
    /// What the recording noted (extended attributes, strings strace cut short, ...).
    pub warnings: Vec<String>,
    /// Calls the recording could not model.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unsupported: Vec<Unsupported>,
    /// Distinct states after the first unsupported call: not judged.
    pub unsupported_states: u64,
    /// What the enumeration covered.
    pub enumeration: EnumerationStats,
    /// Failed states out of distinct states checked.
    pub failed_states: FailureCount,
    /// Failed states grouped by cause, most frequent first.
    pub causes: Vec<Cause>,
}

/// Wall-clock figures.
#[derive(Clone, Copy, Debug)]
pub struct TraceTiming {
    /// From the first state to the last checker's end.
    pub elapsed: Duration,
    /// States materialised and checked per second.
    pub states_per_second: f64,
}

/// Errors that stop an exploration.
#[derive(Debug, thiserror::Error)]
pub enum TraceExploreError {
    /// The scratch directory could not be made or written.
    #[error("materialising crash states: {0}")]
    Io(#[from] std::io::Error),
    /// `--state` does not fit the trace.
    #[error(transparent)]
    BadState(#[from] BadStateId),
    /// Ctrl-C.
    #[error("interrupted")]
    Cancelled,
    /// Another worker's error stopped this one: not reported itself.
    #[error("stopped")]
    Stopped,
    /// A persistent checker answered something other than `ok` or `fail ...`.
    #[error(
        "the persistent checker answered {0:?}; it must answer each state's line with one line, \
         `ok` or `fail REASON`"
    )]
    Protocol(String),
    /// The checker could not be started for a state (the system refused a process): no
    /// verdict on that state, so none on the trace.
    #[error("the checker could not be started: {0}")]
    CheckerNotStarted(String),
    /// The checker failed a state that must pass: it is wrong, not the program.
    #[error(
        "the checker fails {what} ({end}{}): fix the checker first. It runs inside each state's \
         directory; a relative path that names a file where explore was started, and no file of \
         the trace, is made absolute",
        if output.is_empty() { String::new() } else { format!(": {output}") }
    )]
    BadChecker {
        /// Which state.
        what: &'static str,
        /// How the checker ended.
        end: String,
        /// What it printed.
        output: String,
    },
}

/// One state for a worker to judge.
struct Job {
    /// Its place in enumeration order: results are tallied in this order, whatever order
    /// the workers finish in, so reports do not depend on timing.
    seq: u64,
    id: CrashStateId,
    lost: Vec<usize>,
    torn: Vec<usize>,
    persisted: Vec<usize>,
    image: FsImage,
}

/// A job judged: how its checker ended and what it printed, or why it could not be judged.
struct Judged {
    job: Job,
    verdict: Result<(CheckerEnd, String), TraceExploreError>,
}

/// What every worker shares: the request, the trace, where states are written, and the
/// flags that stop it.
struct Workshop<'a> {
    request: &'a TraceExploreRequest,
    trace: &'a TraceFile,
    /// On tmpfs when there is one: the states are simulated, so their medium does not
    /// matter, and writing them there costs a fraction of a disk's time.
    scratch: tempfile::TempDir,
    /// Set by Ctrl-C or SIGTERM.
    cancel: &'a AtomicBool,
    /// Set when the exploration stops for another reason (an error): workers stop too.
    stop: AtomicBool,
}

impl Workshop<'_> {
    fn stopped(&self) -> bool {
        self.cancel.load(Ordering::SeqCst) || self.stop.load(Ordering::SeqCst)
    }

    fn slot_dir(&self, slot: &str) -> PathBuf {
        self.scratch.path().join(format!("state-{slot}"))
    }

    fn side_file(&self, slot: &str, what: &str) -> PathBuf {
        self.scratch.path().join(format!("{what}-{slot}"))
    }

    /// Writes `image` into slot `slot` as the state at `moment`, with the program's output
    /// so far beside it: the state's directory, that output's file, and whether the program
    /// had finished.
    fn write_out(
        &self,
        slot: &str,
        image: &FsImage,
        moment: usize,
    ) -> std::io::Result<(PathBuf, PathBuf, bool)> {
        let dir = self.slot_dir(slot);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        materialise(image, &dir)?;
        let stdout = self.side_file(slot, "stdout");
        std::fs::write(&stdout, self.trace.output_before(moment))?;
        Ok((dir, stdout, moment == self.trace.entries.len()))
    }

    /// Writes the state at `moment` (named `state`) into slot `slot` and gives the checker's
    /// command for it.
    fn prepare(&self, slot: &str, image: &FsImage, moment: usize, state: &str) -> std::io::Result<Command> {
        let (dir, stdout, finished) = self.write_out(slot, image, moment)?;
        let finished = if finished { "1" } else { "0" };
        let words: Vec<String> = self
            .request
            .checker
            .iter()
            .map(|w| {
                w.replace("{dir}", &dir.display().to_string())
                    .replace("{stdout}", &stdout.display().to_string())
                    .replace("{finished}", finished)
                    .replace("{moment}", &moment.to_string())
                    .replace("{state}", state)
            })
            .collect();
        let out = std::fs::File::create(self.side_file(slot, "output"))?;
        let err = out.try_clone()?;
        let mut command = Command::new(&words[0]);
        command
            .args(&words[1..])
            .current_dir(&dir)
            .env("FAULTLINE_STATE_DIR", &dir)
            .env("FAULTLINE_STDOUT", &stdout)
            .env("FAULTLINE_FINISHED", finished)
            .env("FAULTLINE_MOMENT", moment.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        Ok(command)
    }

    /// Runs the checker on `image` as the state at `moment` in slot `slot`: how it ended and
    /// what it printed. Ctrl-C kills it at once; a checker past its time is killed and fails.
    fn judge(
        &self,
        slot: &str,
        image: &FsImage,
        moment: usize,
        state: &str,
        server: &mut Option<persistent::Server>,
        group: &mut crate::child::Group,
    ) -> Result<(CheckerEnd, String), TraceExploreError> {
        if self.request.persistent {
            return self.judge_persistent(slot, image, moment, state, server);
        }
        let mut command = self.prepare(slot, image, moment, state)?;
        group.join(&mut command)?;
        let mut child = command.spawn().map_err(|e| {
            TraceExploreError::CheckerNotStarted(format!(
                "{} for state {state}: {e}",
                self.request.checker[0]
            ))
        })?;
        let deadline = Instant::now() + self.request.timeout;
        let end = match crate::child::wait(&mut child, Some(deadline), &|| self.stopped())? {
            crate::child::Waited::Cancelled if self.cancel.load(Ordering::SeqCst) => {
                return Err(TraceExploreError::Cancelled);
            }
            crate::child::Waited::Cancelled => return Err(TraceExploreError::Stopped),
            crate::child::Waited::TimedOut => CheckerEnd::Timeout,
            crate::child::Waited::Exited(status) => checker_end(status),
        };
        let output = std::fs::read(self.side_file(slot, "output")).unwrap_or_default();
        Ok((
            end,
            crate::text::shortened(&String::from_utf8_lossy(&output), 600),
        ))
    }

    /// Sends the state at `moment`, written into slot `slot`, to this worker's persistent
    /// checker (started first if it is not running) and reads its answer.
    fn judge_persistent(
        &self,
        slot: &str,
        image: &FsImage,
        moment: usize,
        state: &str,
        server: &mut Option<persistent::Server>,
    ) -> Result<(CheckerEnd, String), TraceExploreError> {
        let (dir, stdout, finished) = self.write_out(slot, image, moment)?;
        if server.is_none() {
            let stderr = std::fs::File::create(self.side_file(slot, "stderr"))?;
            *server = Some(
                persistent::Server::start(&self.request.checker, self.scratch.path(), stderr).map_err(
                    |e| TraceExploreError::CheckerNotStarted(format!("{}: {e}", self.request.checker[0])),
                )?,
            );
        }
        let line = persistent::request_line(&dir, &stdout, finished, moment, state);
        let deadline = Instant::now() + self.request.timeout;
        let running = server.as_mut().expect("started above");
        let answer = running.ask(&line, deadline, &|| self.stopped());
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                *server = None;
                return Err(e.into());
            }
        };
        match answer {
            persistent::Answer::Pass => Ok((CheckerEnd::Exit(0), String::new())),
            persistent::Answer::Fail(reason) => Ok((CheckerEnd::Exit(1), reason)),
            persistent::Answer::Garbled(text) => {
                *server = None;
                Err(TraceExploreError::Protocol(text))
            }
            persistent::Answer::Ended(status) => {
                let end = checker_end(status);
                // It died judging this state: the state fails, and the next gets a new one.
                let said = std::fs::read(self.side_file(slot, "stderr")).unwrap_or_default();
                *server = None;
                Ok((end, crate::text::shortened(&String::from_utf8_lossy(&said), 600)))
            }
            persistent::Answer::TimedOut => {
                *server = None;
                Ok((CheckerEnd::Timeout, String::new()))
            }
            persistent::Answer::Cancelled if self.cancel.load(Ordering::SeqCst) => {
                *server = None;
                Err(TraceExploreError::Cancelled)
            }
            persistent::Answer::Cancelled => {
                *server = None;
                Err(TraceExploreError::Stopped)
            }
        }
    }

    /// A worker: judges jobs until there are none or the exploration stops.
    fn work(&self, slot: usize, jobs: &Mutex<Receiver<Job>>, judged: &Sender<Judged>) {
        let slot = slot.to_string();
        let mut server = None;
        let mut group = crate::child::Group::default();
        loop {
            let job = match jobs.lock() {
                Ok(rx) => rx.recv(),
                Err(_) => return,
            };
            let Ok(job) = job else { return };
            if self.stopped() {
                return;
            }
            let verdict = self.judge(
                &slot,
                &job.image,
                job.id.moment,
                &job.id.to_string(),
                &mut server,
                &mut group,
            );
            if judged.send(Judged { job, verdict }).is_err() {
                return;
            }
        }
    }
}

/// Tallies judged states in enumeration order.
struct Checker<'a> {
    request: &'a TraceExploreRequest,
    trace: &'a TraceFile,
    checked: u64,
    failed: u64,
    /// States after the first call the recording could not model: not judged.
    unsupported: u64,
    causes: BTreeMap<Option<(usize, bool)>, Cause>,
    /// Judged states waiting for those before them, by sequence number.
    waiting: BTreeMap<u64, Judged>,
    /// The next sequence number to tally.
    next: u64,
}

impl<'a> Checker<'a> {
    fn new(request: &'a TraceExploreRequest, trace: &'a TraceFile) -> Self {
        Checker {
            request,
            trace,
            checked: 0,
            failed: 0,
            unsupported: 0,
            causes: BTreeMap::new(),
            waiting: BTreeMap::new(),
            next: 0,
        }
    }

    /// Takes in a judged state and tallies every state now in order; the first error stops.
    fn take(&mut self, judged: Judged) -> Result<(), TraceExploreError> {
        self.waiting.insert(judged.job.seq, judged);
        while let Some(judged) = self.waiting.remove(&self.next) {
            self.next += 1;
            let Judged { job, verdict } = judged;
            let (end, output) = verdict?;
            self.tally(job.id, end, output, job.lost, job.torn, job.persisted, &job.image);
        }
        Ok(())
    }

    /// The checker must pass the directory before the program ran and the one it left with
    /// everything persisted: a checker that fails either is wrong, not the program.
    fn check_the_checker(&mut self, shop: &Workshop<'_>) -> Result<(), TraceExploreError> {
        let mut states = vec![(self.trace.base.clone(), 0, "the directory before the program ran")];
        // After an unsupported call the final state is not one the trace can give.
        if self.trace.unsupported.is_empty() {
            let len = self.trace.entries.len();
            states.push((
                self.trace.final_image(),
                len,
                "the directory the program left, with everything persisted",
            ));
        }
        for (image, moment, what) in states {
            let (end, output) = match shop.judge(
                "check",
                &image,
                moment,
                "check",
                &mut None,
                &mut Default::default(),
            ) {
                Err(TraceExploreError::CheckerNotStarted(why)) => {
                    (CheckerEnd::NotStarted(why), String::new())
                }
                other => other?,
            };
            if end != CheckerEnd::Exit(0) {
                return Err(TraceExploreError::BadChecker {
                    what,
                    end: describe_end(&end),
                    output: output.trim().to_string(),
                });
            }
        }
        Ok(())
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one state's parts, taken apart by the caller"
    )]
    fn tally(
        &mut self,
        id: CrashStateId,
        end: CheckerEnd,
        output: String,
        lost: Vec<usize>,
        torn: Vec<usize>,
        persisted: Vec<usize>,
        image: &FsImage,
    ) {
        self.checked += 1;
        if end == CheckerEnd::Exit(0) {
            return;
        }
        self.failed += 1;
        // The cause: the latest change in trace order the crash dropped or tore. What a checker
        // sees is usually the newest step that did not reach the disk (a rename, the write
        // under it); earlier losses (a temp file's own name) rarely matter. The example lists
        // every loss.
        let first = lost
            .iter()
            .map(|i| (*i, false))
            .chain(torn.iter().map(|i| (*i, true)))
            .max();
        let key = first;
        if let Some(cause) = self.causes.get_mut(&key) {
            cause.states += 1;
            return;
        }
        let describe =
            |indices: &[usize]| -> Vec<String> { indices.iter().map(|i| self.describe(*i)).collect() };
        let kept = self.request.keep.as_ref().and_then(|keep| {
            let to = keep.join(format!("state-{}", id.to_string().replace([':', '.'], "_")));
            let _ = std::fs::remove_dir_all(&to);
            materialise(image, &to).ok().map(|()| to.display().to_string())
        });
        let example = FailedTraceState {
            state: id.to_string(),
            moment: id.moment,
            crash_after: id.moment.checked_sub(1).map(|i| self.describe(i)),
            persisted: describe(&persisted),
            lost: describe(&lost),
            torn: describe(&torn),
            checker: end,
            checker_output: output,
            files: list_files(image),
            kept,
            reproduce: reproduce_command(self.request, Some(&id)),
        };
        let entries = match first {
            Some((i, torn)) => {
                let how = if torn { "torn" } else { "lost" };
                let later: Vec<String> = persisted
                    .iter()
                    .filter(|p| **p > i)
                    .map(|p| format!("#{p}"))
                    .collect();
                let mut text = format!("{how}: {}", self.describe(i));
                if !later.is_empty() {
                    text.push_str(&format!(" while later {} persisted", later.join(", ")));
                }
                vec![text]
            }
            None => vec!["nothing lost: the state every crash at this moment keeps fails the checker".into()],
        };
        self.causes.insert(
            key,
            Cause {
                entries,
                advice: Vec::new(),
                root_state: None,
                states: 1,
                example,
            },
        );
    }

    /// The causes regrouped by their roots. A cause's first state is shrunk: each change it
    /// lost or tore is made to persist in turn, and kept persisted while the checker still
    /// fails, so what is left lost is needed for the failure. Causes with the same root merge.
    fn root_causes(&mut self, shop: &Workshop<'_>) -> Result<Vec<Cause>, TraceExploreError> {
        /// A root problem: the fixes its states need, each with the changes it covers, and
        /// the lost or torn changes themselves.
        struct Problem {
            fixes: Vec<(String, Vec<usize>)>,
            root: Vec<(usize, bool)>,
            cause: Cause,
        }
        let mut server = None;
        let mut group = crate::child::Group::default();
        let mut problems: Vec<Problem> = Vec::new();
        for (_, mut cause) in std::mem::take(&mut self.causes) {
            let id: CrashStateId = cause.example.state.parse()?;
            let (root, root_id, pending) = self.shrink(shop, &id, &mut server, &mut group)?;
            let mut fixes: Vec<(String, Vec<usize>)> = Vec::new();
            for (i, torn) in &root {
                let Some(p) = pending.iter().find(|p| p.trace_index == *i) else {
                    continue;
                };
                let fix = self.advice(&p.mutation, *torn);
                match fixes.iter_mut().find(|(f, _)| *f == fix) {
                    Some((_, at)) => at.push(*i),
                    None => fixes.push((fix, vec![*i])),
                }
            }
            // States that need the same fixes are one problem, whichever changes they lost
            // (the renames of different saves into one unsynced directory, say).
            let same = |p: &Problem| {
                p.fixes.len() == fixes.len() && fixes.iter().all(|(f, _)| p.fixes.iter().any(|(g, _)| g == f))
            };
            if let Some(p) = problems.iter_mut().find(|p| same(p)) {
                p.cause.states += cause.states;
                for (fix, at) in fixes {
                    if let Some((_, into)) = p.fixes.iter_mut().find(|(f, _)| *f == fix) {
                        into.extend(at);
                    }
                }
                p.root.extend(root);
                continue;
            }
            cause.root_state = Some(reproduce_command(self.request, Some(&root_id)));
            problems.push(Problem { fixes, root, cause });
        }
        Ok(problems
            .into_iter()
            .map(|mut p| {
                p.root.sort_unstable();
                p.root.dedup();
                p.cause.entries = match p.root.as_slice() {
                    [] => vec![
                        "nothing lost: the state every crash at this moment keeps fails the checker".into(),
                    ],
                    root => root
                        .iter()
                        .map(|(i, torn)| {
                            format!("{}: {}", if *torn { "torn" } else { "lost" }, self.describe(*i))
                        })
                        .collect(),
                };
                p.cause.advice = p
                    .fixes
                    .into_iter()
                    .map(|(fix, mut at)| {
                        at.sort_unstable();
                        at.dedup();
                        let at: Vec<String> = at.iter().map(|i| format!("#{i}")).collect();
                        fix.replace("{at}", &at.join(", "))
                    })
                    .collect();
                p.cause
            })
            .collect())
    }

    /// The changes state `id` lost or tore that its failure needs, the state that loses only
    /// those, and the changes in doubt at its moment.
    fn shrink(
        &self,
        shop: &Workshop<'_>,
        id: &CrashStateId,
        server: &mut Option<persistent::Server>,
        group: &mut crate::child::Group,
    ) -> Result<Shrunk, TraceExploreError> {
        let config = &self.request.config;
        let (_, pending) = crash_state::reproduce(&self.trace.base, &self.trace.entries, config, id)?;
        let block = config.block_size.bytes();
        let full = |p: &Pending| match p.mutation.units(block) {
            u if u >= 64 => u64::MAX,
            u => (1u64 << u) - 1,
        };
        let mut masks = id.masks.clone();
        for (j, p) in pending.iter().enumerate() {
            if masks[j] & full(p) == full(p) {
                continue;
            }
            let mut trial = masks.clone();
            trial[j] = full(p);
            let trial_id = CrashStateId {
                moment: id.moment,
                masks: trial.clone(),
            };
            let (image, _) =
                crash_state::reproduce(&self.trace.base, &self.trace.entries, config, &trial_id)?;
            let (end, _) = shop.judge("root", &image, id.moment, &trial_id.to_string(), server, group)?;
            if end != CheckerEnd::Exit(0) {
                masks = trial;
            }
        }
        let root = pending
            .iter()
            .zip(&masks)
            .filter(|(p, m)| **m & full(p) != full(p))
            .map(|(p, m)| (p.trace_index, *m != 0))
            .collect();
        Ok((
            root,
            CrashStateId {
                moment: id.moment,
                masks,
            },
            pending,
        ))
    }

    /// What the program should do so that `mutation` is not lost or torn; `{at}` stands for
    /// the changes it covers.
    fn advice(&self, mutation: &faultline_core::trace::Mutation, torn: bool) -> String {
        use faultline_core::trace::Mutation;
        let last = self.trace.final_image();
        let dir = |ino| match last.path_of(ino).or_else(|| self.trace.base.path_of(ino)) {
            Some(p) if p == "/" => "the recorded directory itself".to_string(),
            Some(p) => format!("the directory {p}"),
            None => format!("directory inode {ino}"),
        };
        if torn {
            return "{at} tore: write the new bytes into a temp file, fsync it, and rename it over the file"
                .into();
        }
        match mutation {
            Mutation::Rename { from_dir, to_dir, .. } if from_dir != to_dir => format!(
                "add an fsync of {} and of {} after {{at}}: a rename is durable only once both its directories are",
                dir(*to_dir),
                dir(*from_dir)
            ),
            Mutation::Rename { to_dir: d, .. }
            | Mutation::Link { dir: d, .. }
            | Mutation::Unlink { dir: d, .. } => {
                format!(
                    "add an fsync of {} after {{at}}: a name is durable only once its directory is",
                    dir(*d)
                )
            }
            Mutation::Write { .. } | Mutation::Truncate { .. } => {
                "fsync (or fdatasync) the file after {at}, \
                 before any step that depends on its bytes (a rename over the old file, an acknowledgement)"
                    .into()
            }
            Mutation::SetMode { .. } => {
                "fsync the file after {at}: a mode is durable only once the file is".into()
            }
            Mutation::NewFile { .. } | Mutation::NewDir { .. } => "make {at} durable with an fsync".into(),
        }
    }

    /// Entry `i` with where strace saw it.
    fn describe(&self, i: usize) -> String {
        let entry = &self.trace.entries[i];
        match self.trace.sources.get(i).filter(|s| s.line > 0) {
            Some(s) => format!("#{i} {} (strace line {}: {})", entry.call, s.line, s.syscall),
            None => format!("#{i} {}", entry.call),
        }
    }
}

/// A failed state shrunk to its root: the changes its failure needs (trace index, torn), the
/// state that loses only those, and the changes in doubt at its moment.
type Shrunk = (Vec<(usize, bool)>, CrashStateId, Vec<Pending>);

/// How a checker that exited or was killed ended.
fn checker_end(status: std::process::ExitStatus) -> CheckerEnd {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => CheckerEnd::Exit(code),
        (None, Some(signal)) => CheckerEnd::Signal(signal),
        (None, None) => CheckerEnd::Exit(-1),
    }
}

/// How a checker ended, in words.
fn describe_end(end: &CheckerEnd) -> String {
    match end {
        CheckerEnd::Exit(code) => format!("exit {code}"),
        CheckerEnd::Signal(s) => format!("killed by signal {s}"),
        CheckerEnd::Timeout => "timed out".to_string(),
        CheckerEnd::NotStarted(why) => format!("could not start: {why}"),
    }
}

/// The checker's words with relative paths made absolute where they name a file from `from`
/// (where explore was started) and no file of the trace: the checker runs inside each state's
/// directory, where `check.py` would not be found, while `config.json` means the state's.
pub fn resolve_checker(words: Vec<String>, from: &Path, trace: &TraceFile) -> Vec<String> {
    let last = trace.final_image();
    words
        .into_iter()
        .map(|word| {
            let path = Path::new(&word);
            let in_state = |image: &FsImage| image.lookup(&Path::new("/").join(path)).is_ok();
            let resolve = !word.is_empty()
                && path.is_relative()
                && !word.starts_with('-')
                && !word.contains('{')
                && !in_state(&trace.base)
                && !in_state(&last)
                && from.join(path).exists();
            if resolve {
                from.join(path).display().to_string()
            } else {
                word
            }
        })
        .collect()
}

/// The command that explores the trace again, optionally at one state.
pub fn reproduce_command(request: &TraceExploreRequest, state: Option<&CrashStateId>) -> String {
    let checker = shell_words::join(&request.checker);
    let mut cmd = format!(
        "faultline explore --trace {} --checker {} --model {}",
        shell_words::quote(&request.trace_path.display().to_string()),
        shell_words::quote(&checker),
        request.config.model
    );
    if request.config.block_size != faultline_core::BlockSize::DEFAULT {
        cmd.push_str(&format!(" --block-size {}", request.config.block_size.bytes()));
    }
    if request.config.seed != 0 {
        cmd.push_str(&format!(" --seed {:#x}", request.config.seed));
    }
    if request.config.max_choices != EnumerationConfig::DEFAULT_MAX_CHOICES {
        cmd.push_str(&format!(" --max-choices {}", request.config.max_choices));
    }
    if let Some(id) = state {
        cmd.push_str(&format!(" --state {id}"));
    }
    cmd
}

/// Explores `trace` under `request`, calling `progress(states checked)` as it goes.
pub fn explore_trace(
    request: &TraceExploreRequest,
    trace: &TraceFile,
    cancel: &AtomicBool,
    mut progress: impl FnMut(u64),
) -> Result<(TraceExploreResult, TraceTiming), TraceExploreError> {
    let shop = Workshop {
        request,
        trace,
        scratch: match &request.temp_dir {
            Some(dir) => crate::scratch::private_dir("faultline-states-", Some(dir))?,
            None => crate::scratch::fast_dir("faultline-states-")?,
        },
        cancel,
        stop: AtomicBool::new(false),
    };
    let mut checker = Checker::new(request, trace);
    let len = trace.entries.len();
    let mut printed = Vec::with_capacity(len + 1);
    let mut total = 0usize;
    for m in 0..=len {
        printed.push(total as u64);
        total += trace.output.get(m).map_or(0, Vec::len);
    }
    // States before and after the program printed something, or before and after its end,
    // are judged apart even when their files are equal.
    let class = |moment: usize| printed[moment] << 1 | u64::from(moment == len);
    if request.only.is_none() {
        checker.check_the_checker(&shop)?;
    }
    let started = Instant::now();
    let block = request.config.block_size.bytes();
    let supported_until = trace.supported_until();
    let job = |seq: u64, id: CrashStateId, image: FsImage, pending: &[Pending]| {
        let (mut lost, mut torn, mut persisted) = (Vec::new(), Vec::new(), Vec::new());
        for (p, fate) in crate::crash::fates(pending, &id, block) {
            match fate {
                crate::crash::Fate::Lost => lost.push(p.trace_index),
                crate::crash::Fate::Persisted => persisted.push(p.trace_index),
                crate::crash::Fate::Torn { .. } => torn.push(p.trace_index),
            }
        }
        Job {
            seq,
            id,
            lost,
            torn,
            persisted,
            image,
        }
    };
    let workers = request.jobs.max(1);
    let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<Job>(workers);
    let job_rx = Mutex::new(job_rx);
    let (judged_tx, judged_rx) = std::sync::mpsc::channel::<Judged>();
    let mut failure: Option<TraceExploreError> = None;
    let stats = std::thread::scope(|scope| {
        for slot in 0..workers {
            let (shop, job_rx, judged_tx) = (&shop, &job_rx, judged_tx.clone());
            scope.spawn(move || shop.work(slot, job_rx, &judged_tx));
        }
        drop(judged_tx);
        let mut seq = 0u64;
        let send = |checker: &mut Checker<'_>, job: Job| -> Result<(), TraceExploreError> {
            job_tx.send(job).map_err(|_| TraceExploreError::Stopped)?;
            while let Ok(judged) = judged_rx.try_recv() {
                checker.take(judged)?;
            }
            Ok(())
        };
        let stats = if let Some(id) = &request.only {
            match crash_state::reproduce(&trace.base, &trace.entries, &request.config, id) {
                Ok(_) if supported_until.is_some_and(|until| id.moment > until) => checker.unsupported += 1,
                Ok((image, pending)) => {
                    if let Err(e) = send(&mut checker, job(0, id.clone(), image, &pending)) {
                        failure = Some(e);
                    }
                }
                Err(e) => failure = Some(e.into()),
            }
            EnumerationStats {
                moments: 1,
                choices: 1,
                distinct_states: 1,
                space: 1,
                complete_below: 0,
                cut_level: None,
                cut_sampled: 0,
            }
        } else {
            crash_state::enumerate(&trace.base, &trace.entries, &request.config, class, |state| {
                if cancel.load(Ordering::SeqCst) {
                    failure = Some(TraceExploreError::Cancelled);
                    return ControlFlow::Break(());
                }
                // After a call the trace could not hold, a state may not be one the program
                // could leave: neither a pass nor a failure.
                if supported_until.is_some_and(|until| state.id.moment > until) {
                    checker.unsupported += 1;
                    return ControlFlow::Continue(());
                }
                if let Err(e) = send(&mut checker, job(seq, state.id, state.image, state.pending)) {
                    failure = Some(e);
                    return ControlFlow::Break(());
                }
                seq += 1;
                progress(checker.checked);
                ControlFlow::Continue(())
            })
        };
        drop(job_tx);
        if failure.is_some() {
            shop.stop.store(true, Ordering::SeqCst);
        }
        // The rest, in order; the first error stops the workers. A send refused because every
        // worker stopped says only that: the worker's own error is the one to report.
        for judged in judged_rx.iter() {
            if failure
                .as_ref()
                .is_some_and(|f| !matches!(f, TraceExploreError::Stopped))
            {
                continue;
            }
            match checker.take(judged) {
                Err(TraceExploreError::Stopped) | Ok(()) => {}
                Err(e) => {
                    shop.stop.store(true, Ordering::SeqCst);
                    failure = Some(e);
                }
            }
        }
        stats
    });
    if cancel.load(Ordering::SeqCst) && failure.is_some() {
        return Err(TraceExploreError::Cancelled);
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let elapsed = started.elapsed();
    let mut causes = checker.root_causes(&shop)?;
    causes.sort_by(|a, b| {
        b.states
            .cmp(&a.states)
            .then(a.example.moment.cmp(&b.example.moment))
    });
    let result = TraceExploreResult {
        trace: request.trace_path.display().to_string(),
        command: trace.command.clone(),
        checker: request.checker.clone(),
        model: request.config.model,
        block_size_bytes: request.config.block_size.bytes(),
        seed: request.config.seed,
        max_choices: request.config.max_choices,
        trace_len: len,
        warnings: trace.warnings.clone(),
        unsupported: trace.unsupported.clone(),
        unsupported_states: checker.unsupported,
        enumeration: stats,
        failed_states: FailureCount::new(checker.failed, checker.checked),
        causes,
    };
    let timing = TraceTiming {
        elapsed,
        states_per_second: checker.checked as f64 / elapsed.as_secs_f64().max(1e-9),
    };
    Ok((result, timing))
}

/// One or more explorations of a trace, as `trace-explore.json` holds them.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceReport {
    /// Always `trace-explore`.
    pub kind: &'static str,
    /// The report layout's version.
    pub format_version: u32,
    /// One result per model.
    pub results: Vec<TraceExploreResult>,
}

impl TraceReport {
    /// A report of `results`.
    pub fn new(results: Vec<TraceExploreResult>) -> Self {
        TraceReport {
            kind: "trace-explore",
            format_version: crate::envelope::FORMAT_VERSION,
            results,
        }
    }

    /// Whether any state failed its checker.
    pub fn failed(&self) -> bool {
        self.results.iter().any(|r| r.failed_states.failures > 0)
    }

    /// Whether states went unjudged after a call the recording could not model.
    pub fn unsupported(&self) -> bool {
        self.results.iter().any(|r| r.unsupported_states > 0)
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialise infallibly") + "\n"
    }

    /// The Markdown text (also what the terminal shows).
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        for r in &self.results {
            out.push_str(&result_markdown(r));
        }
        out
    }
}

fn result_markdown(r: &TraceExploreResult) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let command = shell_words::join(&r.command);
    let _ = writeln!(out, "## `{command}` under {}\n", r.model);
    let _ = writeln!(out, "- trace: `{}` ({} entries)", r.trace, r.trace_len);
    let checker = shell_words::join(&r.checker);
    let _ = writeln!(out, "- checker: `{checker}`");
    let seed = if r.enumeration.exhaustive() {
        String::new()
    } else {
        format!(", seed {:#x}", r.seed)
    };
    let _ = writeln!(
        out,
        "- explored: {} distinct crash states at {} moments ({}{seed}; blocks of {} bytes)",
        r.enumeration.distinct_states,
        r.enumeration.moments,
        r.enumeration.coverage(),
        r.block_size_bytes
    );
    // The states are the whole set the model allows (not a sample), so no interval.
    let verdict = if r.failed_states.failures > 0 {
        "FAIL"
    } else if r.unsupported_states > 0 {
        "UNSUPPORTED"
    } else {
        "PASS"
    };
    let _ = writeln!(
        out,
        "- **{verdict}**: {} of {} states failed the checker, in {} cause(s)",
        r.failed_states.failures,
        r.failed_states.trials,
        r.causes.len()
    );
    if r.unsupported_states > 0 {
        let _ = writeln!(
            out,
            "- **unsupported**: {} state(s) after a call faultline cannot model were not judged",
            r.unsupported_states
        );
    }
    for u in &r.unsupported {
        let _ = writeln!(
            out,
            "- unsupported after entry {}: {} (strace line {}: {})",
            u.moment, u.why, u.line, u.syscall
        );
    }
    for w in &r.warnings {
        let _ = writeln!(out, "- warning: {w}");
    }
    for (n, cause) in r.causes.iter().enumerate() {
        let e = &cause.example;
        let _ = writeln!(out, "\n### Cause {}: {} state(s)\n", n + 1, cause.states);
        for entry in &cause.entries {
            let _ = writeln!(out, "- {entry}");
        }
        for advice in &cause.advice {
            let _ = writeln!(out, "- advice: {advice}");
        }
        if let Some(root) = &cause.root_state {
            let _ = writeln!(out, "- only these lost: `{root}`");
        }
        let _ = writeln!(
            out,
            "\nFirst state `{}` (crash after {} entries):\n",
            e.state, e.moment
        );
        if let Some(after) = &e.crash_after {
            let _ = writeln!(out, "- crash after: {after}");
        }
        for p in &e.persisted {
            let _ = writeln!(out, "- persisted: {p}");
        }
        let checker = describe_end(&e.checker);
        let _ = writeln!(out, "- checker: {checker}: {}", e.checker_output.trim());
        let _ = writeln!(out, "- files: {}", e.files.join("; "));
        if let Some(kept) = &e.kept {
            let _ = writeln!(out, "- kept: `{kept}`");
        }
        let _ = writeln!(out, "- reproduce: `{}`", e.reproduce);
    }
    out.push('\n');
    out
}
