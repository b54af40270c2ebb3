//! [`check`] and [`Check`]: run a workload once on the simulated file system, then judge
//! every state a crash could leave.

use std::fmt::Write as _;
use std::io;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use faultline_core::crash_state::{self, CrashStateId, EnumerationConfig, Fate};
use faultline_core::persistence::Pending;
use faultline_core::trace::TraceEntry;
use faultline_core::{BlockSize, FsImage, Node, PersistenceModel, SimFs, SimOptions};

use crate::session::{Enter, Session};

/// The environment variable that names one state to judge alone, as a failure prints it:
/// `FAULTLINE_REPLAY=power-loss:7:1.0 cargo test save_`.
pub const REPLAY_VAR: &str = "FAULTLINE_REPLAY";

/// Which crash a state comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// The process dies; the kernel keeps everything it was given, and only the write in
    /// flight may be cut short.
    ProcessCrash,
    /// The machine loses power: only what was fsynced survives for certain; any other
    /// change may be lost, and a write may be torn at the block size.
    PowerLoss,
}

impl Model {
    fn core(self) -> PersistenceModel {
        match self {
            Model::ProcessCrash => PersistenceModel::ProcessCrash,
            Model::PowerLoss => PersistenceModel::PowerLoss,
        }
    }

    /// `process-crash` or `power-loss`.
    pub fn name(self) -> &'static str {
        self.core().name()
    }
}

type Step = Box<dyn Fn() -> io::Result<()>>;

/// A check with its options. [`check`] is `Check::new().run(...)`.
///
/// ```
/// use faultline::{Check, Model};
/// let summary = Check::new()
///     .models(&[Model::PowerLoss])
///     .block_size(512)
///     .setup(|| faultline::fs::write("counter", "0"))
///     .run(
///         || faultline::fs::write("counter", "1"),
///         |state| match state.read("counter").as_deref() {
///             // A power cut may leave the file truncated but not yet rewritten.
///             Some(b"0") | Some(b"1") | Some(b"") => Ok(()),
///             other => Err(format!("counter holds {other:?}")),
///         },
///     )
///     .expect("every state is one of the three");
/// assert!(summary.states > 1);
/// ```
pub struct Check {
    models: Vec<Model>,
    block_size: BlockSize,
    max_choices: u64,
    pub(crate) setup: Option<Step>,
    pub(crate) recover: Option<Step>,
}

impl Default for Check {
    fn default() -> Self {
        Check::new()
    }
}

/// What a passing check judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Calls the workload made on the file system.
    pub calls: usize,
    /// Distinct crash states judged, over all models.
    pub states: u64,
    /// Whether every state the models allow was judged (false: the budget cut a sample).
    pub exhaustive: bool,
}

/// A failed check: how many states failed, and the first failure of each model in full.
#[derive(Clone, Debug)]
pub struct Failures {
    /// Distinct states judged.
    pub states: u64,
    /// States the oracle (or the recovery) failed.
    pub failed: u64,
    /// The first failed state of each model, described.
    pub first: Vec<String>,
    /// How to judge the first failed state alone.
    pub replay: String,
}

impl std::fmt::Display for Failures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "faultline: {} of {} crash states failed",
            self.failed, self.states
        )?;
        for first in &self.first {
            f.write_str(first)?;
        }
        write!(f, "replay the first alone: {}", self.replay)
    }
}

impl std::error::Error for Failures {}

/// What the workload did: the trace, the image it started from, and its acknowledgements.
pub(crate) struct Run {
    base: FsImage,
    pub(crate) trace: Vec<TraceEntry>,
    acks: Vec<(usize, String)>,
}

impl Run {
    /// The acknowledgements made by the time `moment` trace entries had run.
    pub(crate) fn acknowledged_at(&self, moment: usize) -> Vec<String> {
        self.acks
            .iter()
            .filter(|(at, _)| *at <= moment)
            .map(|(_, label)| label.clone())
            .collect()
    }
}

impl Check {
    /// Both models, 4096-byte blocks, the enumerator's default budget.
    pub fn new() -> Self {
        Check {
            models: vec![Model::ProcessCrash, Model::PowerLoss],
            block_size: BlockSize::DEFAULT,
            max_choices: EnumerationConfig::DEFAULT_MAX_CHOICES,
            setup: None,
            recover: None,
        }
    }

    /// The crash models to judge under.
    pub fn models(mut self, models: &[Model]) -> Self {
        self.models = models.to_vec();
        self
    }

    /// The size at which writes tear: a power of two from 512 to 1048576.
    ///
    /// # Panics
    /// On any other size.
    pub fn block_size(mut self, bytes: u64) -> Self {
        match BlockSize::new(bytes) {
            Ok(b) => self.block_size = b,
            Err(e) => panic!("faultline: {e}"),
        }
        self
    }

    /// The budget of crash choices over the whole check; states that lose fewer changes
    /// come first.
    pub fn max_choices(mut self, choices: u64) -> Self {
        self.max_choices = choices.max(1);
        self
    }

    /// Files to start from, made before the workload and taken as durable.
    pub fn setup(mut self, setup: impl Fn() -> io::Result<()> + 'static) -> Self {
        self.setup = Some(Box::new(setup));
        self
    }

    /// What your program does when it starts after a crash (remove temps, replay a log):
    /// run on each crash state before the oracle judges it.
    pub fn recover(mut self, recover: impl Fn() -> io::Result<()> + 'static) -> Self {
        self.recover = Some(Box::new(recover));
        self
    }

    /// Runs `workload` once on a simulated file system, then judges every crash state (after
    /// the recovery, if any) with `oracle`. Panics with the first failure and a replay line.
    pub fn check(
        &self,
        workload: impl FnOnce() -> io::Result<()>,
        oracle: impl Fn(&State) -> Result<(), String>,
    ) -> Summary {
        match self.run(workload, oracle) {
            Ok(summary) => summary,
            Err(failures) => panic!("{failures}"),
        }
    }

    /// [`Check::check`], returning the failures instead of panicking.
    pub fn run(
        &self,
        workload: impl FnOnce() -> io::Result<()>,
        oracle: impl Fn(&State) -> Result<(), String>,
    ) -> Result<Summary, Failures> {
        let run = self.record(workload);
        let replay = std::env::var(REPLAY_VAR).ok();
        let mut failures = Failures {
            states: 0,
            failed: 0,
            first: Vec::new(),
            replay: String::new(),
        };
        let mut exhaustive = true;
        for model in &self.models {
            let config = EnumerationConfig {
                model: model.core(),
                block_size: self.block_size,
                max_choices: self.max_choices,
                seed: 0,
            };
            let class = |moment: usize| run.acks.iter().filter(|(at, _)| *at <= moment).count() as u64;
            let mut described = false;
            let mut judge = |id: &CrashStateId, image: FsImage, pending: &[Pending]| {
                failures.states += 1;
                let Err((why, recovered)) = self.judge(&run, *model, id, image, &oracle) else {
                    return;
                };
                failures.failed += 1;
                if !described {
                    described = true;
                    failures.first.push(describe(
                        &run,
                        *model,
                        id,
                        &recovered,
                        pending,
                        &why,
                        self.block_size.bytes(),
                    ));
                    if failures.replay.is_empty() {
                        let test = test_name().map_or_else(String::new, |t| format!(" -- --exact {t}"));
                        failures.replay = format!("{REPLAY_VAR}={}:{id} cargo test{test}", model.name());
                    }
                }
            };
            match replay
                .as_deref()
                .and_then(|r| r.strip_prefix(model.name())?.strip_prefix(':'))
            {
                Some(text) => {
                    let id: CrashStateId = text
                        .parse()
                        .unwrap_or_else(|e| panic!("faultline: {REPLAY_VAR}: {e}"));
                    let (image, pending) = crash_state::reproduce(&run.base, &run.trace, &config, &id)
                        .unwrap_or_else(|e| panic!("faultline: {REPLAY_VAR}: {e} (did the test change?)"));
                    judge(&id, image, &pending);
                }
                None if replay.is_some() => {}
                None => {
                    let stats = crash_state::enumerate(&run.base, &run.trace, &config, class, |state| {
                        judge(&state.id, state.image, state.pending);
                        ControlFlow::Continue(())
                    });
                    exhaustive &= stats.exhaustive();
                }
            }
        }
        // A replay that names no state of this check must not pass it silently.
        if let Some(replay) = &replay
            && failures.states == 0
        {
            panic!("faultline: {}={replay} names no state of this check", REPLAY_VAR);
        }
        if failures.failed > 0 {
            return Err(failures);
        }
        Ok(Summary {
            calls: run.trace.len(),
            states: failures.states,
            exhaustive,
        })
    }

    /// Runs the setup and the workload on a fresh simulated file system.
    pub(crate) fn record(&self, workload: impl FnOnce() -> io::Result<()>) -> Run {
        let session = Session::new(SimFs::new(SimOptions {
            record: true,
            ..SimOptions::default()
        }));
        let _enter = Enter::new(Arc::clone(&session));
        if let Some(setup) = &self.setup {
            setup().unwrap_or_else(|e| panic!("faultline: the setup failed: {e}"));
        }
        let base = session.fs.checkpoint();
        if let Err(e) = workload() {
            panic!("faultline: the workload failed before any crash: {e}");
        }
        let acks = std::mem::take(&mut *session.acks.lock().unwrap_or_else(|p| p.into_inner()));
        Run {
            base,
            trace: session.fs.trace(),
            acks,
        }
    }

    /// Boots the crash state, runs the recovery on it, and asks the oracle; on a failure, why
    /// and the files after the recovery.
    fn judge(
        &self,
        run: &Run,
        model: Model,
        id: &CrashStateId,
        image: FsImage,
        oracle: &dyn Fn(&State) -> Result<(), String>,
    ) -> Result<(), (String, FsImage)> {
        // The recovery is a new process: the workload's pid is not running any more, so
        // what it left (a temp named by its pid, a lock) is seen as left by the dead.
        let options = SimOptions {
            record: false,
            pid: SimOptions::default().pid + 1,
            ..SimOptions::default()
        };
        let session = Session::new(SimFs::from_image(image, options));
        let _enter = Enter::new(Arc::clone(&session));
        if let Some(Err(e)) = self.recover.as_ref().map(|recover| recover()) {
            return Err((format!("the recovery failed: {e}"), session.fs.image()));
        }
        let state = State {
            image: session.fs.image(),
            acknowledged: run.acknowledged_at(id.moment),
            model,
            id: id.to_string(),
        };
        oracle(&state).map_err(|why| (why, state.image))
    }
}

/// The running test's name: libtest names each test's thread after the test.
pub(crate) fn test_name() -> Option<String> {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(str::to_string)
}

/// A failed state, for people: the call the crash came after, what was lost, the files.
fn describe(
    run: &Run,
    model: Model,
    id: &CrashStateId,
    image: &FsImage,
    pending: &[Pending],
    why: &str,
    block: u64,
) -> String {
    let mut out = format!("\nfirst failed state under {}: {id}\n", model.name());
    let _ = writeln!(out, "  oracle: {why}");
    match id.moment.checked_sub(1).and_then(|i| run.trace.get(i)) {
        Some(entry) => {
            let _ = writeln!(out, "  crash after call #{}: {entry}", id.moment - 1);
        }
        None => out.push_str("  crash before the workload's first call\n"),
    }
    let acked: Vec<&str> = run
        .acks
        .iter()
        .filter(|(at, _)| *at <= id.moment)
        .map(|(_, l)| l.as_str())
        .collect();
    let _ = writeln!(out, "  acknowledged by then: {acked:?}");
    for (p, fate) in crash_state::fates(pending, id, block) {
        let fate = match fate {
            Fate::Persisted => continue,
            Fate::Lost => "lost".to_string(),
            Fate::Torn { kept, units } => format!("torn (kept blocks {kept:?} of {units})"),
        };
        let call = run
            .trace
            .get(p.trace_index)
            .map_or_else(String::new, ToString::to_string);
        let _ = writeln!(out, "  {fate}: call #{} {call}", p.trace_index);
    }
    out.push_str("  files after recovery:");
    out.push_str(&listing(image));
    out.push('\n');
    out
}

/// The files of an image, for a failure message: ` /a (3 bytes, mode 644); /d;`.
pub(crate) fn listing(image: &FsImage) -> String {
    let mut out = String::new();
    for (path, node) in image.walk() {
        match node {
            Node::File { data, mode } => {
                let _ = write!(out, " {path} ({} bytes, mode {mode:o});", data.len());
            }
            Node::Dir { .. } => {
                let _ = write!(out, " {path};");
            }
        }
    }
    out
}

/// A crash state after the recovery ran: a read-only view of its files and what the workload
/// had acknowledged when the crash came. Paths are as the workload used them.
pub struct State {
    pub(crate) image: FsImage,
    acknowledged: Vec<String>,
    model: Model,
    id: String,
}

impl State {
    /// A directory of the real file system after a kill, read into an image.
    pub(crate) fn real(image: FsImage, acknowledged: Vec<String>, id: String) -> Self {
        State {
            image,
            acknowledged,
            model: Model::ProcessCrash,
            id,
        }
    }

    /// The file's bytes; `None` if nothing, or a directory, is there.
    pub fn read(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        self.image
            .read(&crate::session::sim_path(path.as_ref()))
            .ok()
            .map(|data| data.to_vec())
    }

    /// Whether anything is at `path`.
    pub fn exists(&self, path: impl AsRef<Path>) -> bool {
        self.image
            .lookup(&crate::session::sim_path(path.as_ref()))
            .is_ok()
    }

    /// The names in directory `dir`, sorted; empty if it is not there.
    pub fn names(&self, dir: impl AsRef<Path>) -> Vec<String> {
        self.image
            .lookup(&crate::session::sim_path(dir.as_ref()))
            .ok()
            .and_then(|ino| self.image.entries(ino))
            .map(|entries| entries.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default()
    }

    /// Permission bits of what `path` names.
    pub fn mode(&self, path: impl AsRef<Path>) -> Option<u32> {
        let ino = self.image.lookup(&crate::session::sim_path(path.as_ref())).ok()?;
        self.image.node(ino).map(Node::mode)
    }

    /// Every [`crate::ack`] made before the crash, in order.
    pub fn acknowledged(&self) -> &[String] {
        &self.acknowledged
    }

    /// The last acknowledgement before the crash.
    pub fn last_ack(&self) -> Option<&str> {
        self.acknowledged.last().map(String::as_str)
    }

    /// The crash model of this state.
    pub fn model(&self) -> Model {
        self.model
    }

    /// The state's id, as a replay names it.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Runs `workload` on a simulated file system and judges every state a process crash or a
/// power cut could leave with `oracle`, with the default options (see [`Check`]). Panics
/// with the first failed state, what the crash lost, and a line that replays that state.
///
/// ```
/// use std::io::Write;
///
/// // An append-only log: each record is durable once `sync_data` returns.
/// faultline::check(
///     || {
///         let mut log = faultline::fs::OpenOptions::new().append(true).create(true).open("log")?;
///         faultline::fs::sync_dir(".")?; // the new name, before anything is promised
///         for n in 1..=3 {
///             log.write_all(format!("record {n}\n").as_bytes())?;
///             log.sync_data()?;
///             faultline::ack(n.to_string());
///         }
///         Ok(())
///     },
///     |state| {
///         let log = String::from_utf8(state.read("log").unwrap_or_default()).map_err(|e| e.to_string())?;
///         match state.last_ack() {
///             Some(n) if !log.contains(&format!("record {n}\n")) => Err(format!("record {n} was promised: {log:?}")),
///             _ => Ok(()),
///         }
///     },
/// );
/// ```
pub fn check(
    workload: impl FnOnce() -> io::Result<()>,
    oracle: impl Fn(&State) -> Result<(), String>,
) -> Summary {
    Check::new().check(workload, oracle)
}

/// Tells the check that the workload has promised something (a save returned, a reply
/// went out): states after this point are judged knowing it. Outside a check, nothing.
pub fn ack(label: impl Into<String>) {
    if let Some(session) = crate::session::current() {
        let at = session.fs.trace_len();
        session
            .acks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((at, label.into()));
    }
}
