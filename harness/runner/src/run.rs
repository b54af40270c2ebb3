//! `faultline run`: every scenario x variant for its trials, aggregated into failure rates with
//! intervals, judged against the scenario's expectations, with a command that reproduces the
//! first failure of each kind.
//!
//! Rates: when a scenario has readers, the unit is a read (as the field reports count); with
//! no readers, it is a trial. Trial-level failures (after-kill checks, writer errors, deadlock)
//! are counted per trial beside the reads.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use faultline_core::stats::{FailureCount, clean_trials_to_claim_fix};

use crate::crash::Sweep;
use crate::family::target::Target;
use crate::process::roles::Roles;
use crate::process::trial::{TrialError, TrialOutcome, TrialPlan, Workspace, run_trial};
use crate::results::{Faults, FirstSeen, TrialKind, VariantResult, Verdict, judge};
use crate::scenario::Scenario;

/// Command-line overrides of a scenario.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Trials per variant instead of the scenario's.
    pub trials: Option<u64>,
    /// Run each variant this long instead of a trial count.
    pub duration: Option<Duration>,
    /// The seed instead of the scenario's.
    pub seed: Option<u64>,
    /// Only this variant.
    pub variant: Option<String>,
    /// Only this trial (to reproduce it).
    pub trial: Option<u64>,
    /// Keep the directories of failing trials.
    pub keep: bool,
    /// Where trial directories are made.
    pub temp_dir: Option<std::path::PathBuf>,
    /// Record lock acquisitions and check the lock-order graph in lock scenarios.
    pub lockdep: bool,
    /// Run only this deterministic slice of every variant's trials.
    pub shard: Option<Shard>,
    /// How long a variant that must fail may run more trials than its scenario's to show
    /// the kinds it must ([`DEFAULT_CATCH_BUDGET`] when `None`).
    pub catch_budget: Option<Duration>,
}

/// How long a variant that must fail may keep running trials to be caught, by default.
pub const DEFAULT_CATCH_BUDGET: Duration = Duration::from_secs(30);

impl RunOptions {
    /// The catch budget in force.
    pub fn catch_budget(&self) -> Duration {
        self.catch_budget.unwrap_or(DEFAULT_CATCH_BUDGET)
    }
}

/// Slice `index` (from 0) of `count`: the trials whose number leaves remainder `index` when
/// divided by `count`. The shards of a run together run exactly its trials, each once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// From 0.
    pub index: u64,
    /// At least 1.
    pub count: u64,
}

impl Shard {
    /// Whether trial `t` is in this slice.
    pub fn has(self, t: u64) -> bool {
        t % self.count == self.index
    }

    /// Trials of `0..n` in this slice.
    pub fn of(self, n: u64) -> u64 {
        (n + self.count - 1 - self.index) / self.count
    }
}

/// Errors that stop a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `--variant` names a variant the scenario does not run.
    #[error("{scenario} does not run variant '{variant}'; it runs: {valid}")]
    UnknownVariant {
        /// The scenario file.
        scenario: String,
        /// The name given.
        variant: String,
        /// The scenario's variants.
        valid: String,
    },
    /// The scenario's family has no process workload.
    #[error(
        "{scenario}: family {family} has no process workload; its in-process logic is model-checked by `faultline model`"
    )]
    NoProcessWorkload {
        /// The scenario file.
        scenario: String,
        /// Its family.
        family: &'static str,
    },
    /// A trial could not run.
    #[error("trial {trial} of {scenario} / {variant} could not run")]
    Trial {
        /// The scenario.
        scenario: String,
        /// The variant.
        variant: String,
        /// The trial.
        trial: u64,
        /// Why.
        #[source]
        source: TrialError,
    },
}

impl RunError {
    /// Whether the run was interrupted by Ctrl-C or SIGTERM.
    pub fn cancelled(&self) -> bool {
        matches!(
            self,
            RunError::Trial {
                source: TrialError::Cancelled,
                ..
            }
        )
    }
}

/// The variants of `scenario` that `options` select.
pub fn selected_variants<'s>(scenario: &'s Scenario, options: &RunOptions) -> Result<Vec<&'s str>, RunError> {
    match &options.variant {
        None => Ok(scenario.variants.iter().map(String::as_str).collect()),
        Some(v) => scenario
            .variants
            .iter()
            .find(|n| **n == *v)
            .map(|n| vec![n.as_str()])
            .ok_or_else(|| RunError::UnknownVariant {
                scenario: scenario.path.display().to_string(),
                variant: v.clone(),
                valid: scenario.variants.join(", "),
            }),
    }
}

/// How many trials the selected variants run in all (for progress); `None` when a duration
/// decides.
pub fn planned_trials(scenario: &Scenario, options: &RunOptions) -> Option<u64> {
    let variants = selected_variants(scenario, options).ok()?;
    if options.trial.is_some() {
        return Some(variants.len() as u64);
    }
    if options.duration.is_some() || (options.trials.is_none() && scenario.duration_s.is_some()) {
        return None;
    }
    Some(
        variants
            .iter()
            .map(|v| options.trials.unwrap_or_else(|| scenario.trials_for(v)))
            .map(|n| options.shard.map_or(n, |s| s.of(n)))
            .sum(),
    )
}

impl Scenario {
    /// Trials `variant` runs when nothing overrides them.
    pub fn trials_for(&self, variant: &str) -> u64 {
        self.trials_per_variant
            .get(variant)
            .copied()
            .unwrap_or(self.trials)
    }
}

/// Runs every selected variant of `scenario`. `progress` is called after each trial.
pub fn run_scenario(
    scenario: &Scenario,
    options: &RunOptions,
    cancel: &AtomicBool,
    mut progress: impl FnMut(&str, u64),
) -> Result<Vec<VariantResult>, RunError> {
    let mut scenario = scenario.clone();
    if let Some(seed) = options.seed {
        scenario.seed = seed;
    }
    // `--lockdep` turns on the lock-order check wherever it applies.
    if options.lockdep
        && let Some(family) = crate::family::by_name(scenario.family)
    {
        family.enable_lockdep(&mut scenario);
    }
    let mut results: Vec<VariantResult> = Vec::new();
    for name in selected_variants(&scenario, options)? {
        let target = Target::for_scenario(&scenario, name).ok_or_else(|| RunError::NoProcessWorkload {
            scenario: scenario.path.display().to_string(),
            family: scenario.family,
        })?;
        let mut result = run_variant(&scenario, target, options, cancel, |t| progress(name, t))?;
        // The claim is about a fix: only variants held to a failure limit are "after" ones.
        let is_fix = result
            .expectation
            .as_ref()
            .is_some_and(|e| e.max_failures.is_some() || e.max_failure_rate.is_some());
        if let Some(before) = results.first().filter(|_| options.variant.is_none() && is_fix) {
            result.clean_needed_to_claim_fix = before.primary().0.rate().and_then(clean_trials_to_claim_fix);
        }
        results.push(result);
    }
    Ok(results)
}

fn run_variant(
    scenario: &Scenario,
    target: Target<'_>,
    options: &RunOptions,
    cancel: &AtomicBool,
    mut progress: impl FnMut(u64),
) -> Result<VariantResult, RunError> {
    let start = Instant::now();
    let mut r = new_result(scenario, target);
    let mut detector = detector(scenario, target, options, cancel)?;
    detector.run(&mut r, &mut progress)?;
    r.elapsed_s = start.elapsed().as_secs_f64();
    r.verdict = judge(&r);
    Ok(r)
}

/// One way of running a variant's trials and folding what they show into its result. The
/// process detector runs real processes (kills, pauses, readers; lockdep's graph is one of
/// the lock family's checks there); the crash detector judges crash states, each one trial.
/// (The model checks of in-process logic, loom and shuttle, run as `faultline model`, under
/// their own test harness.)
pub trait Detector {
    /// Runs the trials `options` select, folding each into `r`; `progress` gets the trials
    /// run so far.
    fn run(&mut self, r: &mut VariantResult, progress: &mut dyn FnMut(u64)) -> Result<(), RunError>;
}

/// The detector for `target` in `scenario`: the crash detector where the scenario asks its
/// family for crash states (programs under `[explore]`, a queue's `[queue] model`), else the
/// process detector.
fn detector<'a>(
    scenario: &'a Scenario,
    target: Target<'a>,
    options: &'a RunOptions,
    cancel: &'a AtomicBool,
) -> Result<Box<dyn Detector + 'a>, RunError> {
    let failed = |source: TrialError| RunError::Trial {
        scenario: scenario.name.clone(),
        variant: target.name().to_string(),
        trial: 0,
        source,
    };
    let select = |state: u64| match (options.trial, options.shard) {
        (Some(o), _) => state == o,
        (None, Some(s)) => s.has(state),
        (None, None) => true,
    };
    let family = crate::family::by_name(scenario.family);
    if let (Some(plan), Some(workload)) = (
        scenario.live,
        family.and_then(|f| f.live_workload(scenario, target)),
    ) {
        return Ok(Box::new(LiveDetector {
            scenario,
            plan,
            workload: workload.map_err(|e| failed(TrialError::Setup(e)))?,
            options,
            cancel,
        }));
    }
    match family.and_then(|f| f.crash_trials(scenario, target, &select)) {
        Some(swept) => Ok(Box::new(CrashDetector {
            scenario,
            sweep: Some(swept.map_err(|e| failed(TrialError::Setup(e)))?),
        })),
        None => Ok(Box::new(ProcessDetector {
            scenario,
            target,
            options,
            cancel,
        })),
    }
}

/// The crash detector: a family's crash states of the scenario's workload, already swept.
struct CrashDetector<'a> {
    scenario: &'a Scenario,
    sweep: Option<Sweep>,
}

impl Detector for CrashDetector<'_> {
    fn run(&mut self, r: &mut VariantResult, progress: &mut dyn FnMut(u64)) -> Result<(), RunError> {
        if let Some(sweep) = self.sweep.take() {
            record_states(r, self.scenario, sweep);
            progress(r.trials);
        }
        Ok(())
    }
}

/// The live detector: the variant's program on a live FUSE mount, the power cut under it at
/// a seeded moment each trial, the state judged by the family.
struct LiveDetector<'a> {
    scenario: &'a Scenario,
    plan: crate::scenario::LivePlan,
    workload: crate::live::trial::LiveWorkload<'a>,
    options: &'a RunOptions,
    cancel: &'a AtomicBool,
}

impl Detector for LiveDetector<'_> {
    fn run(&mut self, r: &mut VariantResult, progress: &mut dyn FnMut(u64)) -> Result<(), RunError> {
        use crate::live::trial::{self, Judge, LiveRequest};
        let (scenario, options) = (self.scenario, self.options);
        let failed = |trial: u64, e: crate::live::LiveError| RunError::Trial {
            scenario: scenario.name.clone(),
            variant: r.variant.clone(),
            trial,
            source: if self.cancel.load(std::sync::atomic::Ordering::Relaxed) {
                TrialError::Cancelled
            } else {
                TrialError::Setup(e.to_string())
            },
        };
        let request = LiveRequest {
            program: self.workload.program.clone(),
            start: self.workload.start.clone(),
            trials: options.trials.unwrap_or_else(|| scenario.trials_for(&r.variant)),
            duration: options.duration.or_else(|| {
                options
                    .trials
                    .is_none()
                    .then_some(scenario.duration_s.map(Duration::from_secs_f64))
                    .flatten()
            }),
            seed: scenario.seed,
            only_trial: options.trial,
            triggers: Vec::new(),
            keep: if self.plan.keep_random {
                crate::live::Keep::Random
            } else {
                crate::live::Keep::Nothing
            },
            block_size: faultline_core::BlockSize::new(self.plan.block_size)
                .map_err(|e| failed(0, crate::live::LiveError::Usage(e.to_string())))?,
            temp_dir: options.temp_dir.clone().unwrap_or_else(std::env::temp_dir),
            keep_failures: options.keep,
            write_back: true,
            reproduce_prefix: Vec::new(),
        };
        let judge = Judge::InProcess(&*self.workload.judge);
        let shard = options.shard;
        let select = move |t: u64| shard.is_none_or(|s| s.has(t));
        let started = Instant::now();
        let mut seen = 0u64;
        let result = trial::run(
            &request,
            &judge,
            &select,
            &mut |_| {
                seen += 1;
                progress(seen);
            },
            &|| self.cancel.load(std::sync::atomic::Ordering::Relaxed),
        )
        .map_err(|e| failed(options.trial.unwrap_or(0), e))?;
        let failing = result.trials.iter().filter(|t| t.kind.is_some()).count() as u64;
        r.trials = result.trials.len() as u64;
        r.failed_trials = FailureCount::new(failing, r.trials);
        r.trials_with_failures = failing;
        for t in &result.trials {
            let Some(kind) = t.kind else { continue };
            *r.failures_by_kind.entry(kind).or_default() += 1;
            r.first_by_kind.entry(kind).or_insert_with(|| {
                let lost: Vec<&str> = t
                    .lost
                    .iter()
                    .filter(|l| !l.starts_with("kept"))
                    .take(6)
                    .map(String::as_str)
                    .collect();
                FirstSeen {
                    trial: t.trial,
                    detail: format!(
                        "{} (live cut: {}; state {}; {})",
                        t.failure.as_deref().unwrap_or_default(),
                        t.cut,
                        t.state,
                        if lost.is_empty() {
                            "nothing in doubt was lost".to_string()
                        } else {
                            lost.join("; ")
                        }
                    ),
                    after_s: started.elapsed().as_secs_f64(),
                    faults: Faults::default(),
                    reproduce: reproduce_command(scenario, &r.variant, t.trial),
                    timeline: Vec::new(),
                }
            });
            if let Some(k) = &t.kept {
                r.kept.push(k.clone());
            }
        }
        Ok(())
    }
}

/// The process detector: the variant's trials in real processes.
struct ProcessDetector<'a> {
    scenario: &'a Scenario,
    target: Target<'a>,
    options: &'a RunOptions,
    cancel: &'a AtomicBool,
}

impl Detector for ProcessDetector<'_> {
    fn run(&mut self, r: &mut VariantResult, progress: &mut dyn FnMut(u64)) -> Result<(), RunError> {
        process_trials(r, self.scenario, self.target, self.options, self.cancel, progress)
    }
}

/// An empty result for `target` in `scenario`.
fn new_result(scenario: &Scenario, target: Target<'_>) -> VariantResult {
    VariantResult {
        scenario: scenario.name.clone(),
        scenario_path: scenario.path.display().to_string(),
        family: scenario.family.to_string(),
        variant: target.name().to_string(),
        catalogue_id: target.catalogue_id().map(str::to_string),
        program: matches!(target, Target::Program(_)),
        seed: scenario.seed,
        trials: 0,
        reads: FailureCount::new(0, 0),
        failed_trials: FailureCount::new(0, 0),
        trials_with_failures: 0,
        writes: 0,
        writer_kills: 0,
        inconclusive: 0,
        inconclusive_detail: None,
        max_shared_holders: None,
        queue_items: None,
        crash_states: None,
        trial_kind: TrialKind::Trials,
        failures_by_kind: BTreeMap::new(),
        first_by_kind: BTreeMap::new(),
        time_to_first_failure_s: None,
        clean_needed_to_claim_fix: None,
        elapsed_s: 0.0,
        expectation: scenario.expect.get(target.name()).cloned(),
        verdict: Verdict::NoExpectation,
        kept: Vec::new(),
        kept_dropped: 0,
    }
}

/// The process detector: the variant's trials in real processes, each folded into `r`.
///
/// A variant that must fail and has not shown every kind it must by the end of its trials
/// runs more, numbered on, until it has or [`RunOptions::catch_budget`] (counted from the end
/// of its own trials) is spent: on a slow machine a race may need more tries, never a different verdict. Only
/// when the trials are the scenario's own (no `--trials`, `--trial`, `--duration` or
/// `--shard`).
fn process_trials(
    r: &mut VariantResult,
    scenario: &Scenario,
    target: Target<'_>,
    options: &RunOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64),
) -> Result<(), RunError> {
    let name = target.name();
    let mut roles = target
        .roles(scenario)
        .ok_or_else(|| RunError::NoProcessWorkload {
            scenario: scenario.path.display().to_string(),
            family: scenario.family,
        })?;
    let start = Instant::now();
    let duration = options.duration.or_else(|| {
        (options.trials.is_none())
            .then_some(scenario.duration_s.map(Duration::from_secs_f64))
            .flatten()
    });
    let shard = options.shard;
    let planned = options.trials.unwrap_or_else(|| scenario.trials_for(name));
    let trials: Box<dyn Iterator<Item = u64>> = match (options.trial, duration) {
        (Some(t), _) => Box::new(std::iter::once(t)),
        (None, Some(_)) => Box::new((0..).filter(move |t| shard.is_none_or(|s| s.has(*t)))),
        (None, None) => Box::new((0..planned).filter(move |t| shard.is_none_or(|s| s.has(*t)))),
    };
    let mut runner = TrialRunner {
        scenario,
        name,
        options,
        cancel,
        start,
        // The directory trials run in (the file system under test), made once per variant.
        workspace: Workspace::new(options.temp_dir.as_deref())
            .map_err(|e| trial_error(scenario, name, 0, e))?,
    };
    for trial in trials {
        if let Some(d) = duration
            && options.trial.is_none()
            && start.elapsed() >= d
        {
            break;
        }
        runner.run(r, &mut *roles, trial)?;
        progress(r.trials);
    }
    let own_trials =
        options.trials.is_none() && options.trial.is_none() && duration.is_none() && shard.is_none();
    let must_fail = r
        .expectation
        .as_ref()
        .and_then(|e| e.must_fail.clone())
        .unwrap_or_default();
    let caught = |r: &VariantResult| must_fail.iter().all(|k| r.failures_by_kind.contains_key(k));
    // The budget runs from the end of the scenario's own trials.
    let extra_from = Instant::now();
    let mut trial = planned;
    while own_trials && !must_fail.is_empty() && !caught(r) && extra_from.elapsed() < options.catch_budget() {
        runner.run(r, &mut *roles, trial)?;
        trial += 1;
        progress(r.trials);
    }
    Ok(())
}

/// The error of trial `trial` of variant `name` that could not run.
fn trial_error(scenario: &Scenario, name: &str, trial: u64, source: TrialError) -> RunError {
    RunError::Trial {
        scenario: scenario.name.clone(),
        variant: name.to_string(),
        trial,
        source,
    }
}

/// Runs one variant's trials, one by one, in its workspace.
struct TrialRunner<'a> {
    scenario: &'a Scenario,
    name: &'a str,
    options: &'a RunOptions,
    cancel: &'a AtomicBool,
    start: Instant,
    workspace: Workspace,
}

impl TrialRunner<'_> {
    /// Runs trial `trial` and folds it into `r`. An inconclusive run (no end, no progress,
    /// no evidence) is run again with the same choices, up to [`ATTEMPTS_PER_TRIAL`] times;
    /// a run with a failure seen counts whatever else happened.
    fn run(&mut self, r: &mut VariantResult, roles: &mut dyn Roles, trial: u64) -> Result<(), RunError> {
        let plan = TrialPlan {
            scenario: self.scenario,
            trial,
        };
        for _attempt in 0..ATTEMPTS_PER_TRIAL {
            let trial_start = self.start.elapsed().as_secs_f64();
            let outcome = run_trial(&plan, roles, &mut self.workspace, self.cancel, self.options.keep)
                .map_err(|e| trial_error(self.scenario, self.name, trial, e))?;
            if let Some(reason) = outcome.inconclusive.as_ref().filter(|_| !outcome.failed()) {
                r.inconclusive += 1;
                r.inconclusive_detail
                    .get_or_insert_with(|| format!("trial {trial}: {reason}"));
                continue;
            }
            fold_trial(r, self.scenario, trial, trial_start, &outcome);
            roles.add_figures(r, &outcome);
            break;
        }
        Ok(())
    }
}

/// Runs of one trial before it is given up as inconclusive (and not counted).
const ATTEMPTS_PER_TRIAL: u32 = 3;

/// Adds one trial's outcome to `r`; `trial_start` is when it started, in seconds after the
/// variant's first trial.
fn fold_trial(
    r: &mut VariantResult,
    scenario: &Scenario,
    trial: u64,
    trial_start: f64,
    outcome: &TrialOutcome,
) {
    r.trials += 1;
    r.reads = FailureCount::new(
        r.reads.failures + outcome.failed_reads,
        r.reads.trials + outcome.reads,
    );
    let trial_failed = !outcome.trial_failures.is_empty();
    r.failed_trials = FailureCount::new(r.failed_trials.failures + u64::from(trial_failed), r.trials);
    r.trials_with_failures += u64::from(trial_failed || outcome.failed_reads > 0);
    r.writes += outcome.writes;
    r.writer_kills += u64::from(outcome.writer_killed);
    for (kind, n) in &outcome.failures_by_kind {
        *r.failures_by_kind.entry(*kind).or_default() += n;
    }
    let holds_a_case = outcome
        .first_by_kind
        .keys()
        .any(|k| !r.first_by_kind.contains_key(k));
    for (kind, first) in &outcome.first_by_kind {
        let after_s = trial_start + first.at_s;
        r.time_to_first_failure_s = Some(r.time_to_first_failure_s.map_or(after_s, |t: f64| t.min(after_s)));
        r.first_by_kind.entry(*kind).or_insert_with(|| FirstSeen {
            trial,
            detail: first.detail.clone(),
            after_s,
            faults: outcome.faults.clone(),
            reproduce: reproduce_command(scenario, &r.variant, trial),
            timeline: outcome.timeline.clone(),
        });
    }
    if let Some(kept) = &outcome.kept {
        // The first few failing trials are kept, and every one holding a case: a long run
        // must not fill the disk with thousands of alike directories.
        if r.kept.len() >= KEPT_PER_VARIANT && !holds_a_case {
            if let Err(e) = std::fs::remove_dir_all(kept) {
                eprintln!("warning: failed to remove {}: {e}", kept.display());
            }
            r.kept_dropped += 1;
            return;
        }
        let labelled = label_kept(kept, &r.scenario, &r.variant, trial);
        // The trial's timeline beside what it left, readable (lock holds too, where the
        // holders' own logs are raw lines).
        let mut text = format!(
            "{} / {} trial {trial} (seed {:#x}): what happened, in ms after the release\n",
            r.scenario, r.variant, r.seed
        );
        for e in &outcome.timeline {
            text.push_str(&format!("{:>10.3}  {}\n", e.at_ms, e.event));
        }
        if let Err(e) = crate::envelope::write_files(&labelled, &[("faultline-timeline.txt", text)]) {
            eprintln!("warning: {e}");
        }
        r.kept.push(labelled.display().to_string());
    }
}

/// Failing trial directories `--keep` keeps per variant, beyond those holding a case.
pub const KEPT_PER_VARIANT: usize = 20;

/// Renames a kept trial directory to say whose trial it holds
/// (`faultline-kept-SCENARIO-VARIANT-trial-N`), never over an existing name; where it cannot,
/// the directory keeps its first name.
fn label_kept(kept: &std::path::Path, scenario: &str, variant: &str, trial: u64) -> std::path::PathBuf {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(60)
            .collect()
    };
    let name = format!(
        "faultline-kept-{}-{}-trial-{trial}",
        clean(scenario),
        clean(variant)
    );
    let labelled = kept.with_file_name(name);
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        kept,
        rustix::fs::CWD,
        &labelled,
        rustix::fs::RenameFlags::NOREPLACE,
    ) {
        Ok(()) => labelled,
        Err(_) => kept.to_path_buf(),
    }
}

/// Fills `r` from a crash sweep: each state judged is one trial.
fn record_states(r: &mut VariantResult, scenario: &Scenario, sweep: Sweep) {
    r.trials = sweep.judged;
    r.failed_trials = FailureCount::new(sweep.failed, sweep.judged);
    r.trials_with_failures = sweep.failed;
    r.crash_states = Some(sweep.enumeration);
    r.failures_by_kind = sweep.by_kind;
    for (kind, (index, detail)) in sweep.first_by_kind {
        r.first_by_kind.insert(
            kind,
            FirstSeen {
                trial: index,
                detail,
                after_s: 0.0,
                faults: Faults::default(),
                reproduce: reproduce_command(scenario, &r.variant, index),
                timeline: Vec::new(),
            },
        );
    }
}

/// The command that runs exactly this trial again, its words quoted for a shell: a crafted
/// file or variant name pastes as itself, never as another command.
pub fn reproduce_command(scenario: &Scenario, variant: &str, trial: u64) -> String {
    format!(
        "faultline run {} --variant {} --seed {:#x} --trial {trial}",
        shell_words::quote(&scenario.path.display().to_string()),
        shell_words::quote(variant),
        scenario.seed
    )
}
