//! Scenario files: what to run, which faults, which oracle, and what each variant must do.
//!
//! A scenario is a TOML file (format in `scenarios/README.md`). Parsing is strict: a syntax
//! error, an unknown key, a wrong type, an unknown family, variant, crash point or failure kind
//! is a [`ScenarioError`] naming the file, line and column, and nothing runs.
//! This module reads and checks files; it runs nothing.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use faultline_core::FailureKind;
use faultline_targets::registry::{self, FamilyInfo};

use crate::program::{self, CommandRoles};
pub use crate::results::{COMMAND_FAMILY, Expectation};
use serde::Deserialize;
use toml::Spanned;

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

/// The raw file, as TOML gives it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    description: Option<String>,
    family: Spanned<String>,
    seed: Option<u64>,
    variants: Vec<Spanned<String>>,
    roles: RawRoles,
    workload: Option<RawWorkload>,
    faults: Option<RawFaults>,
    oracle: Option<RawOracle>,
    lock: Option<RawLock>,
    queue: Option<Spanned<RawQueue>>,
    commands: Option<Spanned<BTreeMap<String, Spanned<RawCommand>>>>,
    explore: Option<Spanned<RawExplore>>,
    #[serde(default)]
    run: RawRun,
    #[serde(default)]
    expect: BTreeMap<String, Spanned<RawExpectation>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoles {
    writers: Spanned<u32>,
    #[serde(default)]
    readers: u32,
    threads: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    document_bytes: Option<Spanned<usize>>,
    reads_per_reader: Option<u32>,
    writes_per_writer: Option<u32>,
    read_pause_us: Option<u64>,
    write_pause_us: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFaults {
    kill: Option<RawKill>,
    #[serde(default)]
    crash_points: Vec<Spanned<RawCrashPoint>>,
    pause: Option<RawPause>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKill {
    offset_ms: Spanned<[u64; 2]>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCrashPoint {
    point: Spanned<String>,
    #[serde(default = "one")]
    hit: u64,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPause {
    after_ms: Spanned<[u64; 2]>,
    for_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    workload: Option<Spanned<String>>,
    hold_us: Option<u64>,
    timeout_ms: Option<u64>,
    #[serde(default)]
    spawn_helper: bool,
    #[serde(default)]
    plant_symlink: bool,
    #[serde(default)]
    lockdep: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    segment_bytes: Option<Spanned<u64>>,
    #[serde(default)]
    torn_tail: bool,
    preload: Option<u32>,
    model: Option<Spanned<String>>,
    block_size: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    writer: Option<Spanned<Vec<String>>>,
    reader: Option<Spanned<Vec<String>>>,
    checker: Option<Spanned<Vec<String>>>,
    producer: Option<Spanned<Vec<String>>>,
    consumer: Option<Spanned<Vec<String>>>,
    holder: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExplore {
    model: Spanned<String>,
    block_size: Option<Spanned<u64>>,
    versions: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOracle {
    checks: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    trials: Option<Spanned<u64>>,
    duration_s: Option<Spanned<f64>>,
    watchdog_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectation {
    trials: Option<u64>,
    must_fail: Option<Vec<Spanned<String>>>,
    max_failures: Option<u64>,
    max_failure_rate: Option<f64>,
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

/// The programs of one `[commands.NAME]` table: a document writer (with an optional reader
/// and checker), a queue's producer and consumer, or a lock's holder.
fn command_programs(
    table: &Spanned<RawCommand>,
    at: &dyn Fn(Range<usize>, String) -> ScenarioError,
) -> Result<program::Programs, ScenarioError> {
    let c = table.get_ref();
    let roles = [
        ("writer", &c.writer),
        ("reader", &c.reader),
        ("checker", &c.checker),
        ("producer", &c.producer),
        ("consumer", &c.consumer),
        ("holder", &c.holder),
    ];
    for (role, words) in roles {
        let Some(w) = words else { continue };
        if w.get_ref().is_empty() {
            return Err(at(w.span(), "a command needs at least the program's name".into()));
        }
        if let Some(bad) = program::unknown_placeholder(w.get_ref()) {
            let valid: Vec<&str> = program::PLACEHOLDERS.iter().map(|(p, _)| *p).collect();
            return Err(at(
                w.span(),
                format!(
                    "unknown placeholder {bad}; valid placeholders: {}",
                    valid.join(", ")
                ),
            ));
        }
        let critical = w.get_ref().iter().filter(|x| x.contains("{critical}")).count();
        let whole = w.get_ref().iter().filter(|x| *x == "{critical}").count();
        if role == "holder" && (whole != 1 || critical != 1) {
            return Err(at(
                w.span(),
                "a holder must run the critical section while it holds the lock: give \"{critical}\" as one word of its own, once, e.g. holder = [\"flock\", \"{lock}\", \"{critical}\"]".into(),
            ));
        }
        if role != "holder" && critical > 0 {
            return Err(at(
                w.span(),
                format!("{{critical}} is for holders only, not a {role}"),
            ));
        }
    }
    let get = |w: &Option<Spanned<Vec<String>>>| w.as_ref().map(|w| w.get_ref().clone());
    let kinds = [
        ("writer", c.writer.is_some()),
        ("producer", c.producer.is_some() || c.consumer.is_some()),
        ("holder", c.holder.is_some()),
    ];
    let given: Vec<&str> = kinds.iter().filter(|(_, g)| *g).map(|(k, _)| *k).collect();
    let extra = |role: &str, words: &Option<Spanned<Vec<String>>>, kind: &str| {
        words.as_ref().map(|w| {
            at(
                w.span(),
                format!("`{role}` does not go with a {kind}'s programs; a variant is one kind of program"),
            )
        })
    };
    match given.as_slice() {
        ["writer"] => Ok(program::Programs::Document {
            writer: get(&c.writer).unwrap_or_default(),
            reader: get(&c.reader),
            checker: get(&c.checker),
        }),
        ["producer"] => {
            if let Some(e) = extra("reader", &c.reader, "queue").or(extra("checker", &c.checker, "queue")) {
                return Err(e);
            }
            match (get(&c.producer), get(&c.consumer)) {
                (Some(producer), Some(consumer)) => Ok(program::Programs::Queue { producer, consumer }),
                _ => Err(at(
                    table.span(),
                    "a queue needs both producer = [...] (enqueues {item}) and consumer = [...] (delivers up to {count})".into(),
                )),
            }
        }
        ["holder"] => {
            if let Some(e) = extra("reader", &c.reader, "lock").or(extra("checker", &c.checker, "lock")) {
                return Err(e);
            }
            Ok(program::Programs::Lock {
                holder: get(&c.holder).unwrap_or_default(),
            })
        }
        [] => Err(at(
            table.span(),
            "give writer = [...] (a document), producer and consumer (a queue), or holder (a lock)".into(),
        )),
        _ => Err(at(
            table.span(),
            format!(
                "a variant is one kind of program, but this table has {}",
                given.join(" and ")
            ),
        )),
    }
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

    let is_command = raw.family.get_ref() == COMMAND_FAMILY;
    static COMMAND_INFO: FamilyInfo = FamilyInfo {
        name: COMMAND_FAMILY,
        variants: &[],
        crash_points: &[],
    };
    let family: &FamilyInfo = if is_command {
        &COMMAND_INFO
    } else {
        registry::family(raw.family.get_ref()).ok_or_else(|| {
            at(
                raw.family.span(),
                format!(
                    "unknown family '{}'; valid families: {}, {COMMAND_FAMILY} (programs given in [commands])",
                    raw.family.get_ref(),
                    registry::family_names()
                ),
            )
        })?
    };
    if raw.variants.is_empty() {
        return Err(at(
            raw.family.span(),
            "list at least one variant in `variants`".into(),
        ));
    }
    let mut commands = BTreeMap::new();
    match (&raw.commands, is_command) {
        (Some(table), false) => {
            return Err(at(
                table.span(),
                format!(
                    "[commands] applies to family {COMMAND_FAMILY} only; this scenario's family is {}",
                    family.name
                ),
            ));
        }
        (None, true) => {
            return Err(at(
                raw.family.span(),
                format!(
                    "family {COMMAND_FAMILY} needs a [commands.NAME] table per variant, with writer = [\"program\", \"{{path}}\", ...]"
                ),
            ));
        }
        (Some(table), true) => {
            let scenario_dir = std::path::absolute(crate::program::scenario_dir(path))
                .unwrap_or_else(|_| crate::program::scenario_dir(path).to_path_buf());
            for (name, c) in table.get_ref() {
                let programs = command_programs(c, &at)?;
                commands.insert(
                    name.clone(),
                    CommandRoles {
                        programs,
                        scenario_dir: scenario_dir.clone(),
                    },
                );
            }
        }
        (None, false) => {}
    }
    let mut variants = Vec::new();
    for v in &raw.variants {
        if is_command {
            let name = commands
                .keys()
                .find(|k| **k == v.get_ref().as_str())
                .ok_or_else(|| {
                    at(
                        v.span(),
                        format!(
                            "variant '{}' has no [commands.{}] table; add one with writer = [...]",
                            v.get_ref(),
                            v.get_ref()
                        ),
                    )
                })?;
            let kind = commands[name].programs.kind();
            if let Some(first) = variants.first()
                && commands[first].programs.kind() != kind
            {
                return Err(at(
                    v.span(),
                    format!(
                        "variant '{}' is a {kind} but '{first}' is a {}; a scenario judges one kind of program",
                        v.get_ref(),
                        commands[first].programs.kind()
                    ),
                ));
            }
            variants.push(name.clone());
            continue;
        }
        let info = family.variant(v.get_ref()).ok_or_else(|| {
            at(
                v.span(),
                format!(
                    "unknown variant '{}' of family {}; valid variants: {}",
                    v.get_ref(),
                    family.name,
                    family.variant_names()
                ),
            )
        })?;
        variants.push(info.name.to_string());
    }
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
    let document_bytes = match &workload.document_bytes {
        Some(b) if !(64..=16 << 20).contains(b.get_ref()) => {
            return Err(at(
                b.span(),
                format!("document_bytes must be from 64 to 16777216, got {}", b.get_ref()),
            ));
        }
        Some(b) => *b.get_ref(),
        None => 4096,
    };

    let faults = raw.faults.unwrap_or(RawFaults {
        kill: None,
        crash_points: Vec::new(),
        pause: None,
    });
    let kill = match faults.kill {
        Some(k) if k.offset_ms.get_ref()[0] > k.offset_ms.get_ref()[1] => {
            return Err(at(
                k.offset_ms.span(),
                "offset_ms must be [min, max] with min <= max".into(),
            ));
        }
        Some(k) => {
            let [min, max] = *k.offset_ms.get_ref();
            Some(RandomKill {
                offset_ms_min: min,
                offset_ms_max: max,
            })
        }
        None => None,
    };
    let mut crash_points = Vec::new();
    for cp in &faults.crash_points {
        let name = cp.get_ref().point.get_ref();
        let point = family.crash_points.iter().find(|p| **p == name).ok_or_else(|| {
            at(
                cp.get_ref().point.span(),
                format!(
                    "unknown crash point '{name}'; valid points: {}",
                    family.crash_points.join(", ")
                ),
            )
        })?;
        if cp.get_ref().hit == 0 {
            return Err(at(cp.span(), "crash point hit counts from 1".into()));
        }
        crash_points.push(CrashPointKill {
            point,
            hit: cp.get_ref().hit,
        });
    }
    let pause = match faults.pause {
        Some(p) if p.after_ms.get_ref()[0] > p.after_ms.get_ref()[1] => {
            return Err(at(
                p.after_ms.span(),
                "after_ms must be [min, max] with min <= max".into(),
            ));
        }
        Some(p) if is_command => {
            return Err(at(
                p.after_ms.span(),
                format!(
                    "[faults.pause] is not supported for family {COMMAND_FAMILY}: it would stop the worker, not the program"
                ),
            ));
        }
        Some(p) => {
            let [min, max] = *p.after_ms.get_ref();
            Some(Pause {
                after_ms_min: min,
                after_ms_max: max,
                for_ms: p.for_ms,
            })
        }
        None => None,
    };

    let lock = match raw.lock {
        None => LockPlan::default(),
        Some(l) => {
            let workload = match &l.workload {
                None => LockWorkload::CriticalSection,
                Some(w) => LockWorkload::ALL
                    .iter()
                    .find(|(_, name)| *name == w.get_ref())
                    .map(|(k, _)| *k)
                    .ok_or_else(|| {
                        let valid: Vec<&str> = LockWorkload::ALL.iter().map(|(_, n)| *n).collect();
                        at(
                            w.span(),
                            format!(
                                "unknown lock workload '{}'; valid workloads: {}",
                                w.get_ref(),
                                valid.join(", ")
                            ),
                        )
                    })?,
            };
            let defaults = LockPlan::default();
            LockPlan {
                workload,
                hold_us: l.hold_us.unwrap_or(defaults.hold_us),
                timeout_ms: l.timeout_ms.unwrap_or(defaults.timeout_ms),
                spawn_helper: l.spawn_helper,
                plant_symlink: l.plant_symlink,
                lockdep: l.lockdep,
            }
        }
    };

    let queue = match raw.queue {
        None => QueuePlan::default(),
        Some(q) if family.name != "queue" => {
            return Err(at(
                q.span(),
                format!(
                    "[queue] applies to family queue only; this scenario's family is {}",
                    family.name
                ),
            ));
        }
        Some(spanned) => {
            let table = spanned.span();
            let q = spanned.into_inner();
            let defaults = QueuePlan::default();
            let segment_bytes = match &q.segment_bytes {
                Some(b) if *b.get_ref() < 256 => {
                    return Err(at(b.span(), "segment_bytes must be at least 256".into()));
                }
                Some(b) => *b.get_ref(),
                None => defaults.segment_bytes,
            };
            let model =
                match &q.model {
                    None => None,
                    Some(m) => Some(m.get_ref().parse::<faultline_core::PersistenceModel>().map_err(
                        |_| {
                            at(
                                m.span(),
                                format!(
                                    "unknown model '{}'; valid models: process-crash, power-loss",
                                    m.get_ref()
                                ),
                            )
                        },
                    )?),
                };
            let block_size = match &q.block_size {
                Some(b) if faultline_core::BlockSize::new(*b.get_ref()).is_err() => {
                    return Err(at(
                        b.span(),
                        format!("block_size must be a power of two from 512, got {}", b.get_ref()),
                    ));
                }
                Some(b) => *b.get_ref(),
                None => defaults.block_size,
            };
            let preload = q.preload.unwrap_or(u32::from(q.torn_tail) * 4);
            if q.torn_tail && preload == 0 {
                return Err(at(
                    table,
                    "[queue] torn_tail needs preload of at least 1 (the record to tear)".into(),
                ));
            }
            QueuePlan {
                segment_bytes,
                preload,
                torn_tail: q.torn_tail,
                model,
                block_size,
            }
        }
    };

    let explore = match raw.explore {
        None => None,
        Some(e) if !is_command => {
            return Err(at(
                e.span(),
                format!(
                    "[explore] applies to family {COMMAND_FAMILY} only (built-in variants: `faultline explore`)"
                ),
            ));
        }
        Some(e) => {
            let e = e.into_inner();
            let model = e
                .model
                .get_ref()
                .parse::<faultline_core::PersistenceModel>()
                .map_err(|_| {
                    at(
                        e.model.span(),
                        format!(
                            "unknown model '{}'; valid models: process-crash, power-loss",
                            e.model.get_ref()
                        ),
                    )
                })?;
            let block_size = match &e.block_size {
                Some(b) if faultline_core::BlockSize::new(*b.get_ref()).is_err() => {
                    return Err(at(
                        b.span(),
                        format!(
                            "block_size must be a power of two from 512 to 1048576, got {}",
                            b.get_ref()
                        ),
                    ));
                }
                Some(b) => *b.get_ref(),
                None => 4096,
            };
            let versions = match &e.versions {
                Some(v) if !(1..=20).contains(v.get_ref()) => {
                    return Err(at(v.span(), "versions must be from 1 to 20".into()));
                }
                Some(v) => *v.get_ref(),
                None => 2,
            };
            Some(CommandExplore {
                model,
                block_size,
                versions,
            })
        }
    };
    if is_command && !crash_points.is_empty() {
        return Err(at(
            raw.family.span(),
            format!(
                "family {COMMAND_FAMILY} has no crash points (programs do not call faultline); use [faults.kill]"
            ),
        ));
    }

    // What each kind of program can be run under.
    let command_kind = variants
        .first()
        .and_then(|v| commands.get(v))
        .map(|c| c.programs.kind());
    match command_kind {
        Some("queue") if explore.is_none() => {
            return Err(at(
                raw.family.span(),
                "queue programs are judged by their crash states: add [explore] with model = \"power-loss\" (or \"process-crash\")".into(),
            ));
        }
        Some("lock") if explore.is_some() => {
            return Err(at(
                raw.family.span(),
                "lock programs run as processes, not from a recorded trace: remove [explore]".into(),
            ));
        }
        Some("lock") if raw.roles.readers > 0 => {
            return Err(at(
                raw.family.span(),
                "lock programs hold exclusively: set [roles] readers = 0 and use writers for holders".into(),
            ));
        }
        _ => {}
    }

    let checks = match raw.oracle {
        None if command_kind == Some("queue") => vec![Check::ExactlyOnce],
        None if command_kind == Some("lock") => vec![Check::TwoHolders],
        None if is_command => Check::ALL[..5]
            .iter()
            .copied()
            .filter(|c| *c != Check::NoLeakedTemps)
            .collect(),
        None if family.name == "lock" => Check::ALL[5..11].to_vec(),
        None if family.name == "queue" => vec![Check::ExactlyOnce],
        None => Check::ALL[..5].to_vec(),
        Some(o) => {
            let mut checks = Vec::new();
            for c in &o.checks {
                let check = Check::ALL
                    .into_iter()
                    .find(|k| k.name() == c.get_ref())
                    .ok_or_else(|| {
                        let valid: Vec<&str> = Check::ALL.iter().map(|k| k.name()).collect();
                        at(
                            c.span(),
                            format!(
                                "unknown check '{}'; valid checks: {}",
                                c.get_ref(),
                                valid.join(", ")
                            ),
                        )
                    })?;
                checks.push(check);
            }
            checks
        }
    };

    let trials = match &raw.run.trials {
        Some(t) if *t.get_ref() == 0 => {
            return Err(at(
                t.span(),
                "trials must be at least 1 (or give duration_s instead)".into(),
            ));
        }
        Some(t) => *t.get_ref(),
        None => 10,
    };
    if let Some(d) = &raw.run.duration_s
        && !(*d.get_ref() > 0.0 && d.get_ref().is_finite())
    {
        return Err(at(
            d.span(),
            "duration_s must be a positive number of seconds".into(),
        ));
    }

    let mut expect = BTreeMap::new();
    let mut trials_per_variant = BTreeMap::new();
    for (name, e) in &raw.expect {
        let variant = variants.iter().find(|v| **v == name.as_str()).ok_or_else(|| {
            at(
                e.span(),
                format!(
                    "[expect.{name}] names a variant this scenario does not run; it runs: {}",
                    variants.join(", ")
                ),
            )
        })?;
        let raw_e = e.get_ref();
        let must_fail = match &raw_e.must_fail {
            None => None,
            Some(kinds) => {
                let mut out = Vec::new();
                for k in kinds {
                    let kind = FailureKind::ALL
                        .into_iter()
                        .find(|f| f.to_string() == *k.get_ref())
                        .ok_or_else(|| {
                            at(
                                k.span(),
                                format!(
                                    "unknown failure kind '{}'; valid kinds: {}",
                                    k.get_ref(),
                                    kind_names()
                                ),
                            )
                        })?;
                    out.push(kind);
                }
                Some(out)
            }
        };
        if let Some(rate) = raw_e.max_failure_rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(at(e.span(), "max_failure_rate is a fraction from 0 to 1".into()));
        }
        if must_fail.is_none() && raw_e.max_failures.is_none() && raw_e.max_failure_rate.is_none() {
            return Err(at(
                e.span(),
                "an expectation needs must_fail, max_failures or max_failure_rate".into(),
            ));
        }
        if raw_e.trials == Some(0) {
            return Err(at(e.span(), "trials must be at least 1".into()));
        }
        if let Some(t) = raw_e.trials {
            trials_per_variant.insert(variant.clone(), t);
        }
        expect.insert(
            variant.clone(),
            Expectation {
                must_fail,
                max_failures: raw_e.max_failures,
                max_failure_rate: raw_e.max_failure_rate,
            },
        );
    }

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
        kill,
        crash_points,
        pause,
        checks,
        trials,
        trials_per_variant,
        duration_s: raw.run.duration_s.map(|d| *d.get_ref()),
        watchdog_ms: raw.run.watchdog_ms.unwrap_or(10_000),
        expect,
        lock,
        queue,
        commands,
        explore,
    })
}

fn kind_names() -> String {
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
