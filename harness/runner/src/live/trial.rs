//! `faultline live`: mount, run the program, cut, unmount, check, restore; many times.
//!
//! Each trial copies the starting state into a backing directory of its own, mounts it, runs
//! the program on the mount and cuts the power: at the trigger given, or else at a seeded
//! random moment among the calls that change something (a first, uncut run counts them). The
//! checker then runs on the backing directory, which holds the crash state; it exits 0 when
//! the state is acceptable. A failure is the checker's verdict on a state the cut left, never
//! a time that ran out.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use faultline_core::persistence::BlockSize;
use faultline_core::stats::FailureCount;
use faultline_core::{FailureKind, FsImage};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use super::core::Keep;
use super::mount::{Ending, LiveError, MountOptions, Mounted};
use super::trigger::Trigger;

/// The placeholders live commands may use.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    (
        "{dir}",
        "the program's: the mount point; the checker's: the backing directory holding the crash state",
    ),
    (
        "{stdout}",
        "the checker's: a file holding what the program printed before the cut (what it acknowledged)",
    ),
    (
        "{control}",
        "the control socket (a program writes `point NAME` to it at a crash point)",
    ),
    ("{faultline}", "the running faultline binary"),
];

/// One `faultline live` run.
#[derive(Clone, Debug)]
pub struct LiveRequest {
    /// The program, with placeholders.
    pub program: Vec<String>,
    /// The state every trial starts from.
    pub start: FsImage,
    /// Trials to run (after the uncut counting run).
    pub trials: u64,
    /// Or keep running trials until this much time has passed.
    pub duration: Option<Duration>,
    /// Seeds every trial's moment and kept subset.
    pub seed: u64,
    /// Run only this trial (as a reproduce line does).
    pub only_trial: Option<u64>,
    /// Cut at these instead of at a random moment.
    pub triggers: Vec<Trigger>,
    /// What a cut keeps of the changes in doubt.
    pub keep: Keep,
    /// Where writes tear.
    pub block_size: BlockSize,
    /// Where trial directories go.
    pub temp_dir: PathBuf,
    /// Let the kernel cache writes (see [`MountOptions::write_back`]).
    pub write_back: bool,
    /// Keep the directories of failing trials.
    pub keep_failures: bool,
    /// The command line to repeat in reproduce lines, without `--trials`/`--duration`; the
    /// program's words follow a `--`.
    pub reproduce_prefix: Vec<String>,
}

/// A family's checks of a crash state, given what the program printed before the cut: the
/// failure's kind and what was seen, or `None` when the state is acceptable.
pub type StateCheck<'a> = dyn Fn(&FsImage, &[u8]) -> Option<(FailureKind, String)> + 'a;

/// A family's live workload for one program: what each trial runs, where it starts, and
/// how the family judges what a cut left.
pub struct LiveWorkload<'a> {
    /// The program, with the live placeholders (`{dir}` the mount point).
    pub program: Vec<String>,
    /// The state each trial starts from.
    pub start: FsImage,
    /// The family's checks of a crash state, given what the program printed before the cut.
    pub judge: Box<StateCheck<'a>>,
}

/// What judges the state a cut left.
pub enum Judge<'a> {
    /// A checker program, with placeholders: exit 0 accepts the state; any other exit is
    /// [`FailureKind::CheckerFailed`].
    Command(Vec<String>),
    /// A family's own checks, given the state and what the program printed before the cut.
    InProcess(&'a StateCheck<'a>),
}

impl Judge<'_> {
    /// How reports name it.
    fn describe(&self) -> Vec<String> {
        match self {
            Judge::Command(words) => words.clone(),
            Judge::InProcess(_) => vec!["(the family's checks)".into()],
        }
    }
}

/// What one trial saw.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrialOutcome {
    /// The trial's number, from 1.
    pub trial: u64,
    /// The seed the trial's moment and subset came from.
    pub seed: u64,
    /// What cut the power.
    pub cut: String,
    /// The crash state's id, as the explorer writes them (moments count calls with effects).
    pub state: String,
    /// The changes in doubt at the cut and what became of each.
    pub lost: Vec<String>,
    /// How the program ended: "killed by the cut", "exit 0", ...
    pub program: String,
    /// `None` when the checker accepted the state; else what it said.
    pub failure: Option<String>,
    /// The kind of the failure.
    pub kind: Option<FailureKind>,
    /// The trial's directory, when kept.
    pub kept: Option<String>,
    /// The command that runs this trial again.
    pub reproduce: String,
}

/// A whole live run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LiveResult {
    /// The program, as given.
    pub program: Vec<String>,
    /// The checker, as given.
    pub checker: Vec<String>,
    /// The base seed.
    pub seed: u64,
    /// Calls that changed something in the uncut run.
    pub changes: u64,
    /// Every trial.
    pub trials: Vec<TrialOutcome>,
    /// Wall time of the trials, in seconds.
    pub seconds: f64,
}

impl LiveResult {
    /// Failing trials out of all.
    pub fn count(&self) -> FailureCount {
        FailureCount::new(
            self.trials.iter().filter(|t| t.failure.is_some()).count() as u64,
            self.trials.len() as u64,
        )
    }

    /// Cuts per minute over the run.
    pub fn cuts_per_minute(&self) -> f64 {
        if self.seconds > 0.0 {
            self.trials.len() as f64 * 60.0 / self.seconds
        } else {
            0.0
        }
    }
}

/// The seed of trial `t`.
pub fn trial_seed(seed: u64, trial: u64) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ trial.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    rng.next_u64()
}

/// The change a seeded random cut comes after: 1 to `changes`.
pub fn random_moment(seed: u64, changes: u64) -> u64 {
    1 + ChaCha8Rng::seed_from_u64(seed).next_u64() % changes.max(1)
}

fn expand(words: &[String], dir: &Path, stdout: &Path, control: &Path) -> Vec<String> {
    words
        .iter()
        .map(|w| {
            w.replace("{dir}", &dir.display().to_string())
                .replace("{stdout}", &stdout.display().to_string())
                .replace("{control}", &control.display().to_string())
                .replace("{faultline}", &crate::program::faultline_binary())
        })
        .collect()
}

/// The first `{name}` (a lower-case word in braces) in `words` that is not a live
/// placeholder; other braces (JSON, shell) are the program's own.
pub fn unknown_placeholder(words: &[String]) -> Option<String> {
    crate::program::unknown_among(words, PLACEHOLDERS, |word| {
        !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    })
}

/// Runs the live loop: the trials `select` picks (numbered from 1), each judged by `judge`;
/// `progress` hears of each trial, `cancel` stops it (Ctrl-C).
pub fn run(
    request: &LiveRequest,
    judge: &Judge<'_>,
    select: &dyn Fn(u64) -> bool,
    progress: &mut dyn FnMut(&TrialOutcome),
    cancel: &dyn Fn() -> bool,
) -> Result<LiveResult, LiveError> {
    let checker = match judge {
        Judge::Command(words) => Some(words),
        Judge::InProcess(_) => None,
    };
    for words in std::iter::once(&request.program).chain(checker) {
        if words.is_empty() {
            return Err(LiveError::Usage(
                "a live run needs a program and a checker".into(),
            ));
        }
        if let Some(bad) = unknown_placeholder(words) {
            return Err(LiveError::Usage(format!(
                "unknown placeholder {bad}; live commands may use {}",
                PLACEHOLDERS
                    .iter()
                    .map(|(p, _)| *p)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    // The counting run: no cut until the program ends, then the power is cut at its end,
    // and the checker must accept what a program that finished leaves... after a clean stop.
    let counting = one_trial(request, judge, 0, request.seed, None, true, cancel)?;
    if let Some(why) = &counting.outcome.failure {
        return Err(LiveError::Usage(format!(
            "the checker rejected the state the program leaves when nothing is cut ({why}); fix the program or the checker first"
        )));
    }
    let changes = counting.changes;
    let started = Instant::now();
    let mut trials = Vec::new();
    let range: Box<dyn Iterator<Item = u64>> = match request.only_trial {
        Some(t) => Box::new(std::iter::once(t)),
        None => Box::new(1..),
    };
    for trial in range {
        if cancel() {
            break;
        }
        if request.only_trial.is_none() {
            let done = match request.duration {
                Some(d) => started.elapsed() >= d,
                None => trial > request.trials,
            };
            if done {
                break;
            }
            if !select(trial) {
                continue;
            }
        }
        let seed = trial_seed(request.seed, trial);
        // One moment more than the changes: the cut right after the program ended, when
        // everything it acknowledged has been said and only durability is left to judge.
        let moment = if request.triggers.is_empty() {
            Some(random_moment(seed, changes + 1)).filter(|m| *m <= changes)
        } else {
            None
        };
        let done = one_trial(request, judge, trial, seed, moment, false, cancel)?;
        progress(&done.outcome);
        trials.push(done.outcome);
    }
    Ok(LiveResult {
        program: request.program.clone(),
        checker: judge.describe(),
        seed: request.seed,
        changes,
        trials,
        seconds: started.elapsed().as_secs_f64(),
    })
}

struct Done {
    outcome: TrialOutcome,
    changes: u64,
}

fn one_trial(
    request: &LiveRequest,
    judge: &Judge<'_>,
    trial: u64,
    seed: u64,
    moment: Option<u64>,
    clean: bool,
    cancel: &dyn Fn() -> bool,
) -> Result<Done, LiveError> {
    let dir = tempfile::Builder::new()
        .prefix("faultline-live-")
        .tempdir_in(&request.temp_dir)
        .map_err(|e| LiveError::Io {
            what: format!("a trial directory in {}", request.temp_dir.display()),
            source: e,
        })?;
    let (backing, mnt, stdout_path) = (
        dir.path().join("state"),
        dir.path().join("mnt"),
        dir.path().join("stdout"),
    );
    let image = &request.start;
    let mkdir = |p: &Path| {
        std::fs::create_dir(p).map_err(|e| LiveError::Io {
            what: format!("creating {}", p.display()),
            source: e,
        })
    };
    mkdir(&backing)?;
    mkdir(&mnt)?;
    super::mount::replace_dir(&backing, image)?;
    let mounted = Mounted::mount(&MountOptions {
        backing: backing.clone(),
        mountpoint: mnt.clone(),
        triggers: if clean {
            Vec::new()
        } else {
            request.triggers.clone()
        },
        cut_after_changes: moment,
        keep: request.keep,
        seed,
        block_size: request.block_size,
        control: Some(dir.path().join("control.sock")),
        write_back: request.write_back,
    })?;
    let control = mounted.control().map(Path::to_path_buf).unwrap_or_default();
    let program = expand(&request.program, mounted.mountpoint(), &stdout_path, &control);
    let stdout = std::fs::File::create(&stdout_path).map_err(|e| LiveError::Io {
        what: format!("creating {}", stdout_path.display()),
        source: e,
    })?;
    let mut command = Command::new(&program[0]);
    command
        .args(&program[1..])
        .current_dir(mounted.mountpoint())
        .env("FAULTLINE_CONTROL", &control)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null());
    crate::child::own_group(&mut command);
    let mut child = command.spawn().map_err(|e| LiveError::Io {
        what: format!("starting {}", program[0]),
        source: e,
    })?;
    let waited = crate::child::wait(&mut child, None, &|| {
        cancel() || mounted.is_cut() || mounted.is_gone()
    })
    .map_err(|e| LiveError::Io {
        what: "waiting for the program".into(),
        source: e,
    })?;
    let program_end = match waited {
        crate::child::Waited::Exited(status) => match status.code() {
            Some(code) => format!("exit {code}"),
            None => format!("killed: {status}"),
        },
        _ if mounted.is_cut() => "killed by the cut".to_string(),
        _ => "stopped (Ctrl-C)".to_string(),
    };
    if cancel() {
        drop(mounted);
        return Err(LiveError::Usage("interrupted".into()));
    }
    if !clean && !mounted.is_cut() {
        mounted.cut_now("after the program ended (no trigger fired before)");
    }
    let changes = mounted.changes();
    let ending = mounted.finish()?;
    let (cut, state, lost) = match ending {
        Ending::Cut(cut) => (cut.why, cut.id.to_string(), cut.log),
        Ending::Clean { .. } => ("none (the counting run)".to_string(), "-".to_string(), Vec::new()),
    };
    let (kind, failure) = match judge {
        Judge::Command(words) => {
            let checker = expand(words, &backing, &stdout_path, &control);
            let failure = check(&checker, &backing, dir.path(), cancel)?;
            (failure.as_ref().map(|_| FailureKind::CheckerFailed), failure)
        }
        Judge::InProcess(judge) => {
            let state =
                crate::external::record::snapshot(&backing).map_err(|e| LiveError::Usage(e.to_string()))?;
            let printed = std::fs::read(&stdout_path).unwrap_or_default();
            match judge(&state, &printed) {
                Some((kind, detail)) => (Some(kind), Some(detail)),
                None => (None, None),
            }
        }
    };
    let mut reproduce = request.reproduce_prefix.clone();
    // `--trial T` goes before the `--` that starts the program's words.
    let at = reproduce
        .iter()
        .position(|w| w == "--")
        .unwrap_or(reproduce.len());
    reproduce.splice(at..at, ["--trial".to_string(), trial.to_string()]);
    let kept = if failure.is_some() && request.keep_failures && !clean {
        let path = dir.keep();
        Some(path.display().to_string())
    } else {
        None
    };
    Ok(Done {
        outcome: TrialOutcome {
            trial,
            seed,
            cut,
            state,
            lost,
            program: program_end,
            failure,
            kind,
            kept,
            reproduce: shell_words::join(&reproduce),
        },
        changes,
    })
}

/// Runs the checker on the crash state; `None` when it exits 0. Its output goes to files in
/// `scratch` (the trial's directory), so a chatty checker cannot block on a pipe, and Ctrl-C
/// stops it with whatever it started.
fn check(
    words: &[String],
    dir: &Path,
    scratch: &Path,
    cancel: &dyn Fn() -> bool,
) -> Result<Option<String>, LiveError> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| LiveError::Io { what, source }
    };
    let (out_path, err_path) = (scratch.join("checker.out"), scratch.join("checker.err"));
    let mut command = Command::new(&words[0]);
    command
        .args(&words[1..])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).map_err(io("the checker's output file"))?)
        .stderr(std::fs::File::create(&err_path).map_err(io("the checker's error file"))?);
    crate::child::own_group(&mut command);
    let mut child = command
        .spawn()
        .map_err(io(&format!("starting the checker {}", words[0])))?;
    let status = match crate::child::wait(&mut child, None, cancel).map_err(io("waiting for the checker"))? {
        crate::child::Waited::Exited(status) => status,
        _ => return Err(LiveError::Usage("interrupted".into())),
    };
    if status.success() {
        return Ok(None);
    }
    let output = std::process::Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    };
    Ok(Some(crate::program::failure_detail(words, &output)))
}
