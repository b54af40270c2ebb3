//! A checked scenario: what to run, which faults, which oracle, and what each variant must do.
//!
//! These are the types every detector and family reads; the file is read and checked by
//! [`crate::scenario_file`], where each section is parsed by its owner (a family's own
//! section, such as `[lock]`, by the family: its [`Plan`]). This module reads nothing and runs
//! nothing.

use std::any::Any;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use crate::program::CommandRoles;
pub use crate::results::{COMMAND_FAMILY, Expectation};

/// Versions a document program writer writes when the scenario does not say.
pub const PROGRAM_VERSIONS: u32 = 20;

/// Makes the error for a span of the file: its line and column, and the message.
pub type At<'a> = &'a dyn Fn(Range<usize>, String) -> ScenarioError;

/// A family's own section of a scenario (`[lock]`, `[queue]`), as the family parsed it. Only
/// the family reads it back ([`Scenario::plan`]).
pub trait Plan: std::fmt::Debug + Send + Sync + Any {
    /// Itself, to be read back as the family's type.
    fn as_any(&self) -> &dyn Any;
}

/// A scenario file that cannot be run, with where the problem is.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct ScenarioError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and what to do.
    pub message: String,
}

/// A property judged in process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// Every read equals one complete version (`TornRead`, `ParseError`).
    TornRead,
    /// With one writer, no reader sees an older version after a newer one (`StaleRegression`).
    StaleRegression,
    /// Programs: every read a reader program printed is, byte for byte, a version the writers
    /// left (compared by hash), whatever the format (`TornRead`).
    ReadsAreVersions,
    /// After a kill, the file is one complete version (`TornFile`, `MissingFile`).
    OldOrNew,
    /// After a kill and recovery, no temps remain (`LeakedTemp`).
    NoLeakedTemps,
    /// Writers never fail with no fault injected (`UnexpectedError`).
    NoWriterErrors,
    /// No exclusive holder overlaps another holder (`TwoHolders`).
    TwoHolders,
    /// Every acknowledged increment of the locked counter is in it (`LostUpdate`).
    LostUpdate,
    /// Every acquirer gets the lock within its timeout (`StuckLock`).
    NoStuckLock,
    /// A holder's owner record stays its own while it holds the lock (`OwnerRecordErased`).
    OwnerRecord,
    /// A symlink planted at the lock path leaves its target untouched (`FollowedSymlink`).
    SymlinkVictim,
    /// The lock-order graph of every acquisition has no cycle (`LockOrderInversion`).
    LockOrder,
    /// Queues: every acknowledged item processed, none invented, none corrupt, none
    /// delivered again after its ack (`LostItem`, `PhantomItem`, `CorruptRecord`,
    /// `DuplicateDelivery`).
    ExactlyOnce,
}

impl Check {
    /// Every check, in report order.
    pub const ALL: [Check; 13] = [
        Check::TornRead,
        Check::StaleRegression,
        Check::ReadsAreVersions,
        Check::OldOrNew,
        Check::NoLeakedTemps,
        Check::NoWriterErrors,
        Check::TwoHolders,
        Check::LostUpdate,
        Check::NoStuckLock,
        Check::OwnerRecord,
        Check::SymlinkVictim,
        Check::LockOrder,
        Check::ExactlyOnce,
    ];

    /// Its name in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Check::TornRead => "torn-read",
            Check::StaleRegression => "stale-regression",
            Check::ReadsAreVersions => "reads-are-versions",
            Check::OldOrNew => "old-or-new",
            Check::NoLeakedTemps => "no-leaked-temps",
            Check::NoWriterErrors => "no-writer-errors",
            Check::TwoHolders => "two-holders",
            Check::LostUpdate => "lost-update",
            Check::NoStuckLock => "no-stuck-lock",
            Check::OwnerRecord => "owner-record",
            Check::SymlinkVictim => "symlink-victim",
            Check::LockOrder => "lock-order",
            Check::ExactlyOnce => "exactly-once",
        }
    }
}

/// Kill a writer with SIGKILL at a random time after the start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RandomKill {
    /// Earliest offset from the release of the workers.
    pub offset_ms_min: u64,
    /// Latest offset.
    pub offset_ms_max: u64,
}

/// A writer kills itself at the `hit`-th pass of `point`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CrashPointKill {
    /// The crash point's name.
    pub point: &'static str,
    /// Which pass kills (from 1).
    pub hit: u64,
}

/// One step of a race window held open on purpose: the worker stops itself at the `hit`-th
/// pass of `point`, or dies there with `kill` (see [`Scenario::window`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WindowStep {
    /// The worker: writers from 1, then readers.
    pub worker: u32,
    /// The crash point's name.
    pub point: &'static str,
    /// Which pass stops it (from 1).
    pub hit: u64,
    /// The worker dies at its point (as a crash-point kill) instead of stopping there: the
    /// next step goes once it is gone. A window that needs a holder dead inside opens this way.
    pub kill: bool,
}

/// Stop a writer with SIGSTOP for a while, then SIGCONT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Pause {
    /// Earliest offset from the release.
    pub after_ms_min: u64,
    /// Latest offset.
    pub after_ms_max: u64,
    /// How long the writer stays stopped.
    pub for_ms: u64,
}

/// A checked scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file it came from.
    pub path: PathBuf,
    /// The file's stem: `config-race`.
    pub name: String,
    /// One line on what it reproduces.
    pub description: String,
    /// The family.
    pub family: &'static str,
    /// The variants to compare, in order (before first, after last).
    pub variants: Vec<String>,
    /// Seeds every trial's choices.
    pub seed: u64,
    /// Writer processes.
    pub writers: u32,
    /// Reader processes.
    pub readers: u32,
    /// Threads in each writer process (store family).
    pub threads: u32,
    /// Size of each document written.
    pub document_bytes: usize,
    /// Reads each reader makes.
    pub reads_per_reader: u32,
    /// Replaces each writer makes at most (it also stops when the readers are done).
    pub writes_per_writer: u32,
    /// Versions each document program writer writes while readers read: `[workload]
    /// writes_per_writer` if given, else [`PROGRAM_VERSIONS`]. Readers of program writers read
    /// until the writers are done, so reads and writes overlap however slowly the programs
    /// start.
    pub program_versions: u32,
    /// Pause between reads.
    pub read_pause_us: u64,
    /// Pause between writes.
    pub write_pause_us: u64,
    /// Random kill of a writer.
    pub kill: Option<RandomKill>,
    /// Crash-point kills: trials cycle through them.
    pub crash_points: Vec<CrashPointKill>,
    /// SIGSTOP pause of a writer.
    pub pause: Option<Pause>,
    /// A race window held open on purpose, in the trials [`Scenario::turns`] gives it (others keep
    /// random timing): step 1's worker stops itself at its crash point (or dies there); each next step's worker is held
    /// (stopped by the runner) until the one before has stopped or ended, then runs to its
    /// own point; once every step's worker has stopped or ended, they go on one at a time, in
    /// order. A bug that lives between two points is then met in the first trial, on a fast
    /// machine or a slow one.
    pub window: Vec<WindowStep>,
    /// The properties judged.
    pub checks: Vec<Check>,
    /// Trials per variant (when no duration is given).
    pub trials: u64,
    /// Variants that run their own number of trials.
    pub trials_per_variant: BTreeMap<String, u64>,
    /// Run each variant for this long instead of a trial count.
    pub duration_s: Option<f64>,
    /// A trial that runs longer than this is a `Deadlock`.
    pub watchdog_ms: u64,
    /// Per variant.
    pub expect: BTreeMap<String, Expectation>,
    /// The family's own section (`[lock]`, `[queue]`), parsed by the family; `None` for
    /// families without one.
    pub plan: Option<Arc<dyn Plan>>,
    /// Family `command`: each variant's programs.
    pub commands: BTreeMap<String, CommandRoles>,
    /// Family `command`: judge the crash states of a recorded run of the writer instead of
    /// running processes.
    pub explore: Option<CommandExplore>,
    /// Programs: run the writer on a live FUSE mount and cut the power under it, each trial
    /// at a seeded moment, instead of running processes.
    pub live: Option<LivePlan>,
}

/// Which of the scenario's faults one trial uses ([`Scenario::turns`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Turns {
    /// The random kill.
    pub kill: bool,
    /// The crash point to use, as an index into the cycle of crash points.
    pub crash: Option<u64>,
    /// The race window.
    pub window: bool,
}

impl Scenario {
    /// The family's section as the family's type `T`, if it has one of that type.
    pub fn plan<T: Plan>(&self) -> Option<&T> {
        self.plan.as_deref().and_then(|p| p.as_any().downcast_ref::<T>())
    }

    /// Which faults trial `trial` uses. With both random kills and crash points, even trials
    /// kill at random and odd ones cycle through the crash points. The race window takes
    /// every other trial of those that would kill at random, and kills there only as its
    /// steps say, so a worker it needs alive is never killed by a timer first; with no random
    /// kill it takes the even trials. The pause, if any, is in every trial.
    pub fn turns(&self, trial: u64) -> Turns {
        let has_kill = self.kill.is_some();
        let has_crash = !self.crash_points.is_empty();
        let (kill, crash, kill_index) = match (has_kill, has_crash) {
            (true, true) if trial % 2 == 0 => (true, None, trial / 2),
            (true, true) => (false, Some(trial / 2), 0),
            (true, false) => (true, None, trial),
            (false, true) => (false, Some(trial), 0),
            (false, false) => (false, None, 0),
        };
        let window = !self.window.is_empty()
            && if has_kill {
                kill && kill_index % 2 == 0
            } else {
                trial % 2 == 0
            };
        Turns {
            kill: kill && !window,
            crash,
            window,
        }
    }
}

/// The `[explore]` table of a `command` scenario: record the writer writing `versions`
/// versions one after the other (under strace), and judge every crash state of that trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CommandExplore {
    /// Which crashes.
    pub model: faultline_core::PersistenceModel,
    /// Where writes tear.
    pub block_size: u64,
    /// Versions written in the recorded run.
    pub versions: u32,
}

/// The `[live]` table of a programs scenario: each trial mounts a fresh directory holding
/// version 0, runs the writer for `versions` versions on the mount, cuts the power at a
/// seeded moment and judges the state the cut left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LivePlan {
    /// Versions each trial writes.
    pub versions: u32,
    /// Whether a cut keeps a seeded random subset of the changes in doubt (else none).
    pub keep_random: bool,
    /// Where writes tear.
    pub block_size: u64,
}

/// The error for TOML's error `e` in the file.
pub fn toml_error(e: &toml::de::Error, at: At<'_>) -> ScenarioError {
    at(e.span().unwrap_or(0..0), e.message().trim().to_string())
}

/// A scenario number within `range`, or an error at its place saying the range and `why` the
/// limit is there.
pub fn within<T>(
    value: &toml::Spanned<T>,
    name: &str,
    range: std::ops::RangeInclusive<T>,
    why: &str,
    at: At<'_>,
) -> Result<T, ScenarioError>
where
    T: PartialOrd + Copy + std::fmt::Display,
{
    let v = *value.get_ref();
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(at(
            value.span(),
            format!(
                "{name} must be from {} to {} ({why}), got {v}",
                range.start(),
                range.end()
            ),
        ))
    }
}
