//! Command-line arguments, and the checks that turn bad ones into one-line errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use faultline_core::{BlockSize, EnumerationConfig, PersistenceModel};
use faultline_runner::explore::{Explorable, ExploreRequest};
use faultline_runner::family::document::workload::oracle::Oracle;
use faultline_targets::registry;

/// faultline tests whether code that keeps state in files survives concurrency, process
/// crashes and power loss, and says how often it fails, before and after each fix.
#[derive(Parser, Debug)]
#[command(
    name = "faultline",
    version,
    after_help = faultline_runner::exit::HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List families, their variants with catalogue IDs, crash points, and scenario files.
    List(ListArgs),
    /// Run scenario files with real processes on the real file system, and report failure
    /// rates before and after each fix. With no file: every scenario in scenarios/.
    Run(RunArgs),
    /// Enumerate the crash states of a variant's workload on the simulated file system and
    /// judge every one. With no --family, --variant or --model: every one of each.
    Explore(ExploreArgs),
    /// Combine run reports (the shards of one run, written by `run --shard`) into one, exactly:
    /// counts add and intervals and verdicts are recomputed. Exit codes as for run.
    Merge(MergeArgs),
    /// The CI regression gate: run the suite (or the given scenarios, or judge a report with
    /// --from) and fail when a fixed variant fails (exit 1), when a broken variant is not
    /// caught or no longer required to be caught where the baseline required it (3), or when
    /// a rate is worse than the baseline beyond both 99.9% intervals (4). Writes run.json,
    /// run.md, run.html, run.junit.xml, gate.json and gate.md.
    Gate(GateArgs),
    /// Write or update the baseline the gate compares with, from a run (or --from a
    /// report). A ratchet: it refuses to record anything the gate would fail unless
    /// --allow-worse.
    Baseline(BaselineArgs),
    /// Run one recorded failure of a report again (a process trial with its seed and kill
    /// plan, a crash state, or a model-checker schedule) and say whether it reproduced.
    /// Exit 0 reproduced, 1 not reproduced, 2 bad input.
    Replay(ReplayArgs),
    /// Model-check the in-process families (store, tasks) with shuttle, seeded random and
    /// PCT scheduling, and report each variant like a run: found or not, executions
    /// explored, time to the failure, and the schedule that replays it. Needs the
    /// faultline-model checker, built with --cfg shuttle (the error says how).
    Model(ModelArgs),
    /// Run an unmodified program (any language) under strace and record the file-system calls
    /// it makes inside --dir into a trace, after snapshotting --dir. Explore the trace's crash
    /// states with `faultline explore --trace TRACE --checker CMD`.
    Record(RecordArgs),
    /// A peer crate (or the bundled reference) as a program, for `command` scenarios
    /// (scenarios/examples/peers-*.toml): an atomic replace writes ARGS (one document) to PATH;
    /// a queue producer enqueues ARGS (one item) at PATH; a queue consumer delivers up to ARGS
    /// (a count) items, printing `delivered PAYLOAD` and `acked` for each; a lock holder takes
    /// the lock at PATH and runs ARGS (a command) while it holds it. Exits 0 once the call
    /// returned Ok, 3 if a queue reported corruption.
    Adapter(AdapterArgs),
    /// Acknowledge, from a program under `faultline record`: writes the words as one line to
    /// the descriptor named by FAULTLINE_ACK_FD (unbuffered, so each acknowledgement counts
    /// from the moment it was made), or to stdout outside a recording.
    Ack(AckArgs),
    /// Serve BACKING on MOUNTPOINT through FUSE, keeping (like the simulated file system) what
    /// is durable and what a power cut may lose: file data until an fsync of the file,
    /// creates, renames and unlinks until an fsync of their directory. A cut (a --cut-after
    /// trigger, --cut-at-random, `faultline cut MOUNTPOINT`, or a crash point written to the
    /// control socket) stops the processes using the mount, leaves BACKING in the crash state,
    /// prints what was lost and unmounts. Ctrl-C unmounts cleanly, keeping everything written.
    Mount(MountArgs),
    /// Cut the power under a running `faultline mount`, through its control socket.
    Cut(CutArgs),
    /// Repeat mount, run PROGRAM, cut, unmount, run --check on the crash state, restore: N
    /// times or for a duration, at seeded random moments or at --cut-after triggers. Reports
    /// the failure rate with its interval and a command that reproduces each failing cut.
    /// Exit 0 when the checker accepted every state, 1 when it rejected one.
    Live(LiveArgs),
    /// Used by lock scenarios' `{critical}`: log entering a critical section, stay, log
    /// leaving. Dies with the holder program that runs it.
    #[command(hide = true)]
    CriticalSection(CriticalSectionArgs),
}

#[derive(Args, Debug)]
pub struct AdapterArgs {
    /// Which implementation.
    #[arg(value_enum)]
    pub name: AdapterName,
    /// The file to replace, the queue, or the lock file.
    pub path: String,
    /// The document, the item, the count, or the command to run under the lock.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// The implementations `faultline adapter` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AdapterName {
    /// faultline's reference atomic replace: temp, fsync, rename, fsync the directory.
    FaultlineDurable,
    /// The tempfile crate: `NamedTempFile::new_in(dir)`, write, `persist(path)`.
    TempfilePersist,
    /// The atomic-write-file crate: `AtomicWriteFile::open(path)`, write, `commit()`.
    AtomicWriteFile,
    /// faultline's reference queue (segmented, in the directory PATH): enqueue one item.
    FaultlineQueueProduce,
    /// faultline's reference queue: dequeue, print, ack, up to COUNT items.
    FaultlineQueueConsume,
    /// The queue-file crate: `QueueFile::open(path)`, `add(item)`.
    QueueFileProduce,
    /// The queue-file crate: `peek()`, print, `remove()`, up to COUNT items.
    QueueFileConsume,
    /// faultline's reference lock (flock on a lock file that is never deleted).
    FaultlineFlock,
    /// The standard library's `std::fs::File::lock` (exclusive).
    StdFileLock,
}

#[derive(Args, Debug)]
pub struct AckArgs {
    /// What was acknowledged: `saved 3`.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub words: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CriticalSectionArgs {
    /// The holder's log file.
    pub log: PathBuf,
    /// The holder's number.
    pub holder: u32,
    /// The section's number.
    pub section: u32,
    /// How long to stay inside, in microseconds.
    pub hold_us: u64,
}

#[derive(Args, Debug)]
pub struct RecordArgs {
    /// Where to write the trace (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// The directory whose files the trace covers; calls elsewhere are ignored.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The strace binary.
    #[arg(long, default_value = "strace", env = "FAULTLINE_STRACE")]
    pub strace: PathBuf,
    /// How long the program may run, with what it starts; past it, all of it is killed and
    /// nothing is recorded (exit 2): 30m, 90s.
    #[arg(long, default_value = "30m", value_parser = duration_arg)]
    pub timeout: Duration,
    /// The program and its arguments, after `--`.
    #[arg(required = true, last = true)]
    pub command: Vec<String>,
}

/// What a cut keeps and where it can tear; shared by `mount` and `live`.
#[derive(Args, Debug, Clone)]
pub struct CutOptions {
    /// Cut after the Nth call of OP on a path (relative to the mount) matching GLOB:
    /// OP:GLOB:N, e.g. 'fsync:*.wal:3', 'rename:*:1', 'point:after-commit:2' (a crash point
    /// written to the control socket). May be repeated; the first to fire cuts.
    #[arg(long = "cut-after", value_name = "OP:GLOB:N")]
    pub cut_after: Vec<faultline_runner::live::Trigger>,
    /// What a cut keeps of the changes no fsync covered: nothing, or a seeded random subset
    /// with writes torn at --block-size.
    #[arg(long, default_value = "nothing", value_name = "nothing|random")]
    pub keep_pending: faultline_runner::live::Keep,
    /// The unit writes tear in (a power of two, 512 to 1048576).
    #[arg(long, default_value_t = 4096)]
    pub block_size: u64,
    /// Seeds the random moment and the subset kept (decimal or 0x hex).
    #[arg(long, default_value = "0")]
    pub seed: String,
    /// Send every write call to faultline as it is made, instead of letting the kernel cache
    /// writes and hand them over in large pieces (at an fsync, at a cut, or when it writes
    /// back). Slower; a `write` trigger then counts write calls, not pieces.
    #[arg(long)]
    pub no_write_back: bool,
}

#[derive(Args, Debug)]
pub struct MountArgs {
    /// The directory the program's files live in; it gets the crash state.
    #[arg(required_unless_present = "cleanup")]
    pub backing: Option<PathBuf>,
    /// An empty directory to mount on.
    pub mountpoint: Option<PathBuf>,
    #[command(flatten)]
    pub cut: CutOptions,
    /// Cut after a seeded random number of calls that change something, from 1 to N.
    #[arg(long, value_name = "N", value_parser = trials_arg)]
    pub cut_at_random: Option<u64>,
    /// The control socket (default: in the temp directory, named after the mount point).
    #[arg(long)]
    pub control: Option<PathBuf>,
    /// Also write what a cut lost to this file (it is always printed).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Unmount a faultline mount left behind at the given mount point (the first argument)
    /// and remove its stale control socket.
    #[arg(long)]
    pub cleanup: bool,
}

#[derive(Args, Debug)]
pub struct CutArgs {
    /// The mount point of a running `faultline mount`.
    pub mountpoint: PathBuf,
    /// Its control socket, when it was given one with --control.
    #[arg(long)]
    pub control: Option<PathBuf>,
    /// Send this instead of `cut`: `status`, or `point NAME`.
    #[arg(long, default_value = "cut")]
    pub command: String,
}

#[derive(Args, Debug)]
pub struct LiveArgs {
    /// The checker: exits 0 when the crash state is acceptable. Placeholders: {dir} (the
    /// backing directory, holding the crash state), {stdout} (a file with what the program
    /// printed before the cut), {faultline}.
    #[arg(long, value_name = "COMMAND", allow_hyphen_values = true)]
    pub check: String,
    /// The state every trial starts from (copied; never changed). Default: empty.
    #[arg(long)]
    pub start: Option<PathBuf>,
    /// Trials (cuts) to run.
    #[arg(long, default_value_t = 100, conflicts_with = "duration", value_parser = trials_arg)]
    pub trials: u64,
    /// Run trials for this long instead: 30s, 5m.
    #[arg(long, value_parser = duration_arg)]
    pub duration: Option<Duration>,
    /// Run only this trial, as a reproduce line does.
    #[arg(long)]
    pub trial: Option<u64>,
    #[command(flatten)]
    pub cut: CutOptions,
    /// Keep the directories of failing trials (crash state, program output).
    #[arg(long)]
    pub keep: bool,
    /// Where trial directories go.
    #[arg(long, env = "FAULTLINE_TEMP_DIR")]
    pub temp_dir: Option<PathBuf>,
    /// Where the report (live.json, live.md) goes.
    #[arg(long, default_value = "reports/out/live")]
    pub out: PathBuf,
    /// The program and its arguments, after `--`. Placeholders: {dir} (the mount point, also
    /// its working directory), {control} (the control socket), {faultline}.
    #[arg(required = true, last = true)]
    pub program: Vec<String>,
}

#[derive(Args, Debug)]
pub struct GateArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The baseline to compare with. Default: reports/baseline.json, if it exists.
    #[arg(long, env = "FAULTLINE_BASELINE", help_heading = "Gate")]
    pub baseline: Option<PathBuf>,
    /// Judge expectations only; compare with no baseline.
    #[arg(long, conflicts_with = "baseline", help_heading = "Gate")]
    pub no_baseline: bool,
    /// Judge this run.json (a merge of shards, say; or the directory holding it) instead of
    /// running.
    #[arg(long, value_name = "REPORT", help_heading = "Gate")]
    pub from: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The baseline file to write or update.
    #[arg(
        long,
        default_value = "reports/baseline.json",
        env = "FAULTLINE_BASELINE",
        help_heading = "Baseline"
    )]
    pub baseline: PathBuf,
    /// Record this run.json instead of running.
    #[arg(long, value_name = "REPORT", help_heading = "Baseline")]
    pub from: Option<PathBuf>,
    /// Record the run even where it is worse than the current baseline (an expectation
    /// relaxed, a scenario removed, a rate worse beyond the intervals).
    #[arg(long, help_heading = "Baseline")]
    pub allow_worse: bool,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The report: run.json, model.json or explore.json, or the directory a command wrote
    /// its report set into (reports/out/gate, say).
    pub report: PathBuf,
    /// The failure to replay, numbered as run.md, run.html and the text output list them.
    #[arg(long)]
    pub case: usize,
    /// Process trials race real timing: try this many times before saying it did not
    /// reproduce.
    #[arg(long, default_value_t = 5)]
    pub attempts: u32,
    /// Make trial directories here.
    #[arg(long, env = "FAULTLINE_TEMP_DIR")]
    pub temp_dir: Option<PathBuf>,
    /// The model checker binary, for cases of model.json.
    #[arg(long, env = "FAULTLINE_MODEL_BIN")]
    pub checker: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The run.json files to merge.
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Where the merged run.json and its renderings are written. Default: reports/out/merge.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Parses `I/N` into slice I-1 of N.
pub fn parse_shard(text: &str) -> Result<faultline_runner::run::Shard, UsageError> {
    let bad = || UsageError::Shard(text.to_string());
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i == 0 || i > n {
        return Err(bad());
    }
    Ok(faultline_runner::run::Shard {
        index: i - 1,
        count: n,
    })
}

#[derive(Args, Debug)]
pub struct ModelArgs {
    /// Executions per variant and scheduler (a search stops at its first failure).
    #[arg(long, default_value_t = 2000)]
    pub iterations: u64,
    /// Seed of the schedulers (decimal or 0x-hex).
    #[arg(long, default_value = "0x5eed0006", env = "FAULTLINE_SEED")]
    pub seed: String,
    /// The checker binary. Default: target/shuttle/release/faultline-model, or one next to
    /// this program.
    #[arg(long, env = "FAULTLINE_MODEL_BIN")]
    pub checker: Option<PathBuf>,
    /// Replay one failure: the workload (family:variant) a report names...
    #[arg(long, requires = "schedule")]
    pub replay: Option<String>,
    /// ...and the schedule it printed.
    #[arg(long, requires = "replay")]
    pub schedule: Option<String>,
    /// Where model.json and its renderings are written. Default: reports/out/model.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs: the report's JSON.
    Json,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Where scenario files are looked for.
    #[arg(long, default_value = "scenarios", env = "FAULTLINE_SCENARIOS")]
    pub scenarios: PathBuf,
}

#[derive(Args, Debug)]
pub struct ExploreArgs {
    /// Family to explore (see `faultline list`). Default: every family.
    #[arg(long, help_heading = "What to explore")]
    pub family: Option<String>,
    /// Variant to explore. Default: every variant of the family.
    #[arg(long, help_heading = "What to explore")]
    pub variant: Option<String>,
    /// Persistence model: process-crash or power-loss. Default: both.
    #[arg(long, help_heading = "Crash model")]
    pub model: Option<String>,
    /// Size in bytes at which writes tear: a power of two from 512 to 1048576. Default: 4096
    /// for documents, 512 (a sector) for queue records.
    #[arg(long, help_heading = "Crash model")]
    pub block_size: Option<u64>,
    /// Budget of crash choices for the whole exploration. States losing fewer pending changes
    /// come first; the level the budget cuts gets a seeded sample, and the report says so.
    #[arg(long = "max-choices", default_value_t = EnumerationConfig::DEFAULT_MAX_CHOICES, help_heading = "Crash model")]
    pub max_choices: u64,
    /// Properties to judge, comma-separated: old-or-new, acknowledged-durable,
    /// no-leaked-temps, metadata-preserved. Default: all.
    #[arg(long, value_delimiter = ',', help_heading = "What to explore")]
    pub oracle: Vec<String>,
    /// Seed for the workload's temp names and the sample (decimal or 0x-hex).
    #[arg(
        long,
        default_value = "0",
        env = "FAULTLINE_SEED",
        help_heading = "Crash model"
    )]
    pub seed: String,
    /// Show one crash state in full, by the id a failure printed (e.g. 12:1.0.3).
    #[arg(long, help_heading = "Output")]
    pub state: Option<String>,
    /// Output format; text for people, json for programs.
    #[arg(long, value_enum, default_value = "text", help_heading = "Output")]
    pub format: Format,
    /// Also write explore.json and explore.md (with --trace: trace-explore.json and .md)
    /// into this directory.
    #[arg(long, env = "FAULTLINE_OUT", help_heading = "Output")]
    pub out: Option<PathBuf>,
    /// Explore a trace written by `faultline record` instead of a built-in variant.
    #[arg(long, conflicts_with_all = ["family", "variant", "oracle"], requires = "checker", help_heading = "Recorded programs")]
    pub trace: Option<PathBuf>,
    /// The program that judges each crash state: exit 0 means the state is fine. Shell words
    /// with placeholders {dir}, {stdout}, {finished}, {moment}, {state}; it runs inside the
    /// state's directory. Example: --checker 'python3 check.py {stdout}'.
    #[arg(long, requires = "trace", help_heading = "Recorded programs")]
    pub checker: Option<String>,
    /// Checkers run at once. Default: one per core.
    #[arg(long, value_parser = jobs_arg, help_heading = "Recorded programs")]
    pub jobs: Option<usize>,
    /// A checker that runs longer than this fails its state: 10s, 500ms.
    #[arg(long, default_value = "10s", value_parser = duration_arg, help_heading = "Recorded programs")]
    pub checker_timeout: Duration,
    /// Keep the directory of the first failed state of each cause under this directory.
    #[arg(long, help_heading = "Recorded programs")]
    pub keep: Option<PathBuf>,
    /// Start the checker once per job and send it states on stdin, one line each
    /// (`DIR<TAB>STDOUT<TAB>FINISHED<TAB>MOMENT<TAB>STATE`); it answers each with one line, `ok` or
    /// `fail REASON`. An interpreter then starts once, not once per state.
    #[arg(long, help_heading = "Recorded programs")]
    pub persistent: bool,
    /// Where crash states are written for the checker. Default: /dev/shm (tmpfs) where there
    /// is one, else the system's temp directory.
    #[arg(long, env = "FAULTLINE_TEMP_DIR", help_heading = "Recorded programs")]
    pub temp_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Scenario files to run. Default: every *.toml in --scenarios.
    pub scenarios: Vec<PathBuf>,
    /// Where scenario files are looked for when none is given.
    #[arg(
        long = "scenarios",
        default_value = "scenarios",
        env = "FAULTLINE_SCENARIOS",
        help_heading = "What to run"
    )]
    pub scenario_dir: PathBuf,
    /// Run only this variant of each scenario.
    #[arg(long, help_heading = "What to run")]
    pub variant: Option<String>,
    /// Trials per variant, instead of the scenario's.
    #[arg(long, conflicts_with = "duration", value_parser = trials_arg, help_heading = "How long")]
    pub trials: Option<u64>,
    /// Run each variant this long instead: 30s, 2m, 500ms, 1h 30m.
    #[arg(long, value_parser = duration_arg, help_heading = "How long")]
    pub duration: Option<Duration>,
    /// Seed for every trial's choices, instead of the scenario's (decimal or 0x-hex).
    #[arg(long, env = "FAULTLINE_SEED", help_heading = "How long")]
    pub seed: Option<String>,
    /// How long a variant that must fail may run trials beyond its scenario's until it shows
    /// every kind it must (on a slow machine a race can need more tries): 30s, 2m, 0s.
    #[arg(long, value_parser = budget_arg, default_value = "30s", help_heading = "How long")]
    pub catch_budget: Duration,
    /// Run only this trial (as a reproduce line prints it).
    #[arg(long, help_heading = "What to run")]
    pub trial: Option<u64>,
    /// Keep the directory of each failing trial and print its path.
    #[arg(long, help_heading = "Output")]
    pub keep: bool,
    /// Record every lock acquisition of lock scenarios and report lock-order cycles
    /// (LockOrderInversion), even where the scenario does not ask for it.
    #[arg(long, env = "FAULTLINE_LOCKDEP", value_parser = clap::builder::FalseyValueParser::new(), help_heading = "What to run")]
    pub lockdep: bool,
    /// Make trial directories here: the file system under test. Default: the system's temp
    /// directory.
    #[arg(long, env = "FAULTLINE_TEMP_DIR", help_heading = "What to run")]
    pub temp_dir: Option<PathBuf>,
    /// Run only slice I of N of every variant's trials (1/4 .. 4/4): trial t runs in shard
    /// t mod N + 1. Merge the shards' run.json with `faultline merge`; a shard judges only
    /// its references (exit 1 if one failed), the merge judges everything.
    #[arg(long, value_name = "I/N", help_heading = "What to run")]
    pub shard: Option<String>,
    /// Where the report set is written. Default: a directory of the command's own under
    /// reports/out (run, reproduce for a single --trial, gate, baseline).
    #[arg(long, env = "FAULTLINE_OUT", help_heading = "Output")]
    pub out: Option<PathBuf>,
    /// Print every expected catch in full, not one line per scenario.
    #[arg(long, short, help_heading = "Output")]
    pub verbose: bool,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "text", help_heading = "Output")]
    pub format: Format,
}

/// Where generated reports go: each command writes its own set into a directory of its own
/// below this one, so no command leaves another's files stale.
pub const REPORTS_ROOT: &str = "reports/out";

/// The directory of `command`'s report set: `out` when given, else `reports/out/<command>`.
pub fn out_dir(out: Option<&Path>, command: &str) -> PathBuf {
    out.map_or_else(|| Path::new(REPORTS_ROOT).join(command), Path::to_path_buf)
}

/// A report named by its file, or by the directory of a report set: there the first of
/// `names` that exists.
pub fn report_path(given: &Path, names: &[&str]) -> Result<PathBuf, UsageError> {
    if !given.is_dir() {
        return Ok(given.to_path_buf());
    }
    names
        .iter()
        .map(|n| given.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| UsageError::NoReportIn {
            dir: given.display().to_string(),
            names: names.join(", "),
        })
}

impl RunArgs {
    /// Where this run's report set goes: a single trial (a reproduce line) writes to
    /// `reproduce`, so it never replaces the run whose failure it reproduces.
    pub fn out_dir(&self, command: &str) -> PathBuf {
        let command = if command == "run" && self.trial.is_some() {
            "reproduce"
        } else {
            command
        };
        out_dir(self.out.as_deref(), command)
    }
}

/// Bad input, reported in one line with the valid choices; exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// A live mount or run that cannot be made as asked; the text says what to change.
    #[error("{0}")]
    Live(String),
    #[error("unknown family '{0}'; valid families: {valid}", valid = registry::family_names())]
    UnknownFamily(String),
    #[error("unknown variant '{name}' of family {family}; valid variants: {valid}")]
    UnknownVariant {
        name: String,
        family: &'static str,
        valid: String,
    },
    #[error("{}", not_explorable(.0))]
    NotExplorable(&'static str),
    /// `--oracle` names document oracles; a queue is judged by its accounting.
    #[error(
        "--oracle chooses among the document oracles; queues are judged by the exactly-once accounting: drop --oracle or pick --family atomic-write or store"
    )]
    OracleNotForQueues,
    #[error("--shard takes I/N with 1 <= I <= N (e.g. 2/4), got '{0}'")]
    Shard(String),
    #[error("{0}")]
    Model(#[from] faultline_core::persistence::UnknownModel),
    #[error("{0}")]
    BlockSize(#[from] faultline_core::persistence::BadBlockSize),
    #[error("invalid seed '{0}'; use a decimal number or 0x followed by hex digits")]
    Seed(String),
    #[error("{0}")]
    Oracle(String),
    #[error("--max-choices must be at least 1")]
    MaxChoices,
    #[error("{0}")]
    BadState(String),
    #[error("{0}")]
    Scenario(#[from] faultline_runner::scenario::ScenarioError),
    #[error("no scenario files in {0}; give a scenario path or --scenarios DIR")]
    NoScenarios(String),
    #[error("--state shows one crash state: give --family, --variant and --model too")]
    StateNeedsOneRun,
    #[error(
        "{0} judges a whole run: run the shards with `faultline run --shard`, merge them with `faultline merge`, then pass the merged run.json with --from"
    )]
    ShardedGate(&'static str),
    #[error("the baseline {0} does not exist; write it with `faultline baseline`, or pass --no-baseline")]
    NoBaseline(String),
    #[error(
        "{dir} is a directory with no report in it (looked for {names}); name a report file, or the directory a command wrote"
    )]
    NoReportIn { dir: String, names: String },
    #[error("{0}")]
    Read(#[from] faultline_runner::report::ReadError),
    #[error("--checker: {0}; give the checker as shell words, e.g. --checker 'python3 check.py {{stdout}}'")]
    Checker(String),
    #[error(
        "--from reads a report; give no scenario files, --trials, --duration, --seed, --variant or --trial with it"
    )]
    FromWithRunArgs,
}

/// A number of trials: at least 1 (a run of none is no evidence).
pub fn trials_arg(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("give a whole number of trials, at least 1: a run of none is no evidence".into()),
    }
}

/// A number of checkers at once: 1 to 1024.
pub fn jobs_arg(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err("give a whole number of checkers from 1 to 1024".into()),
    }
}

/// The longest duration accepted: a run or a timeout beyond it is a typo.
const LONGEST: Duration = Duration::from_secs(30 * 24 * 3600);

/// A duration as humantime reads it (`30s`, `2m`, `500ms`, `1h 30m`), from 1 ms to 30 days.
pub fn duration_arg(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("{e}; give a number with a unit, e.g. 30s, 2m, 500ms"))?;
    if d < Duration::from_millis(1) || d > LONGEST {
        return Err(format!("{text} is out of range; give from 1ms to 30days"));
    }
    Ok(d)
}

/// A catch budget: a duration as [`duration_arg`] takes it, or 0 (no trials beyond the
/// scenario's).
pub fn budget_arg(text: &str) -> Result<Duration, String> {
    if text.trim().trim_end_matches('s') == "0" {
        return Ok(Duration::ZERO);
    }
    duration_arg(text)
}

pub fn parse_seed(text: &str) -> Result<u64, UsageError> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| UsageError::Seed(text.to_string()))
}

impl ExploreArgs {
    /// Every (variant, model) run the arguments ask for, or the first bad argument.
    pub fn requests(&self) -> Result<Vec<ExploreRequest>, UsageError> {
        let families: Vec<&registry::FamilyInfo> = match &self.family {
            Some(name) => {
                let family = registry::family(name).ok_or_else(|| UsageError::UnknownFamily(name.clone()))?;
                if !Explorable::families().contains(&family.name) {
                    return Err(UsageError::NotExplorable(family.name));
                }
                vec![family]
            }
            None => registry::FAMILIES
                .iter()
                .filter(|f| Explorable::families().contains(&f.name))
                .collect(),
        };
        let mut variants = Vec::new();
        for family in &families {
            let names: Vec<&str> = match &self.variant {
                Some(name) => family.variant(name).map(|v| v.name).into_iter().collect(),
                None => family.variants.iter().map(|v| v.name).collect(),
            };
            variants.extend(
                names
                    .into_iter()
                    .filter_map(|n| Explorable::by_name(family.name, n)),
            );
        }
        if let (Some(name), [family, ..]) = (&self.variant, families.as_slice())
            && variants.is_empty()
        {
            return Err(UsageError::UnknownVariant {
                name: name.clone(),
                family: family.name,
                valid: family.variant_names(),
            });
        }
        let models = match &self.model {
            Some(name) => vec![name.parse::<PersistenceModel>()?],
            None => PersistenceModel::ALL.to_vec(),
        };
        let block_size = self.block_size.map(BlockSize::new).transpose()?;
        let seed = parse_seed(&self.seed)?;
        if self.max_choices == 0 {
            return Err(UsageError::MaxChoices);
        }
        let oracles = if self.oracle.is_empty() {
            Oracle::ALL.to_vec()
        } else {
            let oracles = self
                .oracle
                .iter()
                .map(|o| o.parse::<Oracle>().map_err(UsageError::Oracle))
                .collect::<Result<Vec<_>, _>>()?;
            // The oracles are the document families'; a queue is judged by its accounting.
            if self.family.is_some() && variants.iter().any(|v| !v.judges_documents()) {
                return Err(UsageError::OracleNotForQueues);
            }
            variants.retain(|v| v.judges_documents());
            oracles
        };
        let mut requests = Vec::new();
        for variant in variants {
            for model in &models {
                let mut request = ExploreRequest::new(variant, *model);
                if let Some(block_size) = block_size {
                    request.config.block_size = block_size;
                }
                request.config.seed = seed;
                request.config.max_choices = self.max_choices;
                request.oracles.clone_from(&oracles);
                requests.push(request);
            }
        }
        Ok(requests)
    }
}

fn not_explorable(family: &str) -> String {
    format!(
        "family {family} has no crash-state workload; explore families: {} (run its scenarios with `faultline run`, or `faultline model` for in-process logic)",
        Explorable::families().join(", ")
    )
}
