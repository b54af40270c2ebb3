//! Scenario files: what to run, which faults, which oracle, and what each variant must do.
//!
//! A scenario is a TOML file (format in `scenarios/README.md`). Parsing is strict: a syntax
//! error, an unknown key, a wrong type, an unknown family, variant, crash point or failure kind
//! is a [`ScenarioError`] naming the file, line and column, and nothing runs.
//! This module reads and checks files; it runs nothing.

mod programs;
mod raw;
mod sections;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use faultline_core::FailureKind;
use faultline_targets::registry;

use self::raw::{RawScenario, RawWorkload};
use crate::program::{CommandRoles, Programs};
pub use crate::results::{COMMAND_FAMILY, Expectation};

/// Makes the error for a span of the file: its line and column, and the message.
type At<'a> = &'a dyn Fn(Range<usize>, String) -> ScenarioError;

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
    pub const ALL: [Check; 12] = [
        Check::TornRead,
        Check::StaleRegression,
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

    /// The families whose trials it judges, and whose default checks it is.
    pub fn families(self) -> &'static [&'static str] {
        use faultline_targets::{atomic_write, lock, queue, store};
        match self {
            Check::TornRead
            | Check::StaleRegression
            | Check::OldOrNew
            | Check::NoLeakedTemps
            | Check::NoWriterErrors => &[atomic_write::FAMILY, store::FAMILY],
            Check::TwoHolders
            | Check::LostUpdate
            | Check::NoStuckLock
            | Check::OwnerRecord
            | Check::SymlinkVictim
            | Check::LockOrder => &[lock::FAMILY],
            Check::ExactlyOnce => &[queue::FAMILY],
        }
    }

    /// Its name in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Check::TornRead => "torn-read",
            Check::StaleRegression => "stale-regression",
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

/// What lock holders do in each critical section (family `lock`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockWorkload {
    /// Enter, log, hold, check the owner record, log, leave.
    CriticalSection,
    /// Increment a counter file under the lock.
    Counter,
    /// Readers take the lock shared and upgrade it to exclusive every other section.
    Upgrade,
    /// Take two locks, naming them in one order in one section and in the other order in
    /// the next (holders start on alternate orders), in the variant's acquisition order,
    /// holding the first for `hold_us` before taking the second.
    Nested,
}

impl LockWorkload {
    const ALL: [(LockWorkload, &'static str); 4] = [
        (LockWorkload::CriticalSection, "critical-section"),
        (LockWorkload::Counter, "counter"),
        (LockWorkload::Upgrade, "upgrade"),
        (LockWorkload::Nested, "nested"),
    ];
}

/// The `[lock]` table: how lock holders behave (family `lock`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LockPlan {
    /// What a critical section does.
    pub workload: LockWorkload,
    /// Time inside each critical section.
    pub hold_us: u64,
    /// An acquirer that waits longer reports `StuckLock`; 0 waits forever.
    pub timeout_ms: u64,
    /// Holders start a helper program (`sleep`) inside the critical section that outlives them.
    pub spawn_helper: bool,
    /// A symlink to a victim file is planted at the lock path before the holders start.
    pub plant_symlink: bool,
    /// Record every acquisition for the lock-order graph.
    pub lockdep: bool,
}

impl Default for LockPlan {
    fn default() -> Self {
        LockPlan {
            workload: LockWorkload::CriticalSection,
            hold_us: 100,
            timeout_ms: 5000,
            spawn_helper: false,
            plant_symlink: false,
            lockdep: false,
        }
    }
}

/// The `[queue]` table: the queue's shape and how its trials run (family `queue`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct QueuePlan {
    /// Segment size: a segment is closed once a record would take it past this.
    pub segment_bytes: u64,
    /// Items the harness enqueues before the workers start.
    pub preload: u32,
    /// Tear the last preloaded record before the workers start (as a crash mid-append
    /// would), so producers append after a torn tail.
    pub torn_tail: bool,
    /// Instead of processes, enumerate the crash states of a workload on the simulated file
    /// system under this model; each state is one trial.
    pub model: Option<faultline_core::PersistenceModel>,
    /// Where simulated writes tear.
    pub block_size: u64,
}

impl Default for QueuePlan {
    fn default() -> Self {
        QueuePlan {
            segment_bytes: 64 << 10,
            preload: 0,
            torn_tail: false,
            model: None,
            block_size: 512,
        }
    }
}

/// A checked scenario, ready to run.
#[derive(Clone, Debug, serde::Serialize)]
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
    /// How lock holders behave (family `lock`).
    pub lock: LockPlan,
    /// The queue and its trials (family `queue`).
    pub queue: QueuePlan,
    /// Family `command`: each variant's programs.
    pub commands: BTreeMap<String, CommandRoles>,
    /// Family `command`: judge the crash states of a recorded run of the writer instead of
    /// running processes.
    pub explore: Option<CommandExplore>,
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

/// Reads and checks the scenario at `path`.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        path: path.to_path_buf(),
        line: 1,
        column: 1,
        message: format!("cannot read the file ({e}); give the path of a scenario .toml file"),
    })?;
    parse(path, &text)
}

/// Checks scenario `text` as if read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let at = |span: Range<usize>, message: String| {
        let (line, column) = line_column(text, span.start);
        ScenarioError {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        at(span, e.message().trim().to_string())
    })?;
    let named = sections::family(&raw.family, &at)?;
    let (family_name, commands) =
        programs::commands(raw.commands.as_ref(), named, raw.family.span(), path, &at)?;
    let family = registry::family(family_name).ok_or_else(|| {
        at(
            raw.family.span(),
            "name the family the programs implement: atomic-write, queue or lock".into(),
        )
    })?;
    let variants = sections::variants(&raw.variants, family, &commands, raw.family.span(), &at)?;
    if *raw.roles.writers.get_ref() == 0 {
        return Err(at(
            raw.roles.writers.span(),
            "[roles] writers must be at least 1".into(),
        ));
    }
    let workload = raw.workload.unwrap_or(RawWorkload {
        document_bytes: None,
        reads_per_reader: None,
        writes_per_writer: None,
        read_pause_us: None,
        write_pause_us: None,
    });
    let document_bytes = sections::document_bytes(&workload, &at)?;
    let programs: Vec<&CommandRoles> = variants.iter().filter_map(|v| commands.get(v)).collect();
    let bundled = variants
        .iter()
        .find(|v| !commands.contains_key(*v))
        .map(String::as_str);
    let faults = sections::faults(raw.faults, family, !programs.is_empty(), &at)?;
    let explore = sections::explore(raw.explore, bundled, family, &at)?;
    program_rules(
        &programs,
        explore.is_some(),
        raw.roles.readers,
        raw.family.span(),
        &at,
    )?;
    let document_programs = programs
        .iter()
        .any(|p| matches!(p.programs, Programs::Document { .. }));
    let (expect, trials_per_variant) = sections::expectations(&raw.expect, &variants, &at)?;
    Ok(Scenario {
        path: path.to_path_buf(),
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        description: raw.description.unwrap_or_default(),
        family: family.name,
        variants,
        seed: raw.seed.unwrap_or(0),
        writers: *raw.roles.writers.get_ref(),
        readers: raw.roles.readers,
        threads: raw.roles.threads.unwrap_or(1).max(1),
        document_bytes,
        reads_per_reader: workload.reads_per_reader.unwrap_or(100),
        writes_per_writer: workload.writes_per_writer.unwrap_or(10_000),
        read_pause_us: workload.read_pause_us.unwrap_or(0),
        write_pause_us: workload.write_pause_us.unwrap_or(0),
        kill: faults.kill,
        crash_points: faults.crash_points,
        pause: faults.pause,
        checks: sections::checks(raw.oracle, family, document_programs, &at)?,
        trials: sections::trials(&raw.run, &at)?,
        trials_per_variant,
        duration_s: raw.run.duration_s.map(|d| *d.get_ref()),
        watchdog_ms: raw.run.watchdog_ms.unwrap_or(10_000),
        expect,
        lock: sections::lock(raw.lock, &at)?,
        queue: sections::queue(raw.queue, family, &at)?,
        commands,
        explore,
    })
}

/// What each kind of program can be run under.
fn program_rules(
    programs: &[&CommandRoles],
    explore: bool,
    readers: u32,
    family_span: Range<usize>,
    at: At<'_>,
) -> Result<(), ScenarioError> {
    let Some(first) = programs.first() else {
        return Ok(());
    };
    let message = match first.programs.kind() {
        "queue" if !explore => {
            "queue programs are judged by their crash states: add [explore] with model = \"power-loss\" (or \"process-crash\")"
        }
        "lock" if explore => "lock programs run as processes, not from a recorded trace: remove [explore]",
        "lock" if readers > 0 => {
            "lock programs hold exclusively: set [roles] readers = 0 and use writers for holders"
        }
        _ => return Ok(()),
    };
    Err(at(family_span, message.into()))
}

pub(super) fn kind_names() -> String {
    FailureKind::ALL
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The `*.toml` files in `dir`, sorted; empty if the directory is missing.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
