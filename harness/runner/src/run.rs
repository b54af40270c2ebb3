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

use faultline_core::FailureKind;
use faultline_core::stats::{FailureCount, clean_trials_to_claim_fix};

use crate::process::target::Target;
use crate::process::trial::{Faults, TrialError, TrialPlan, Workspace, run_trial};
use crate::scenario::{Expectation, Scenario};

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

/// A family name read from a report: one of the registry's, or `command`.
fn registry_family<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let name = <String as serde::Deserialize>::deserialize(d)?;
    faultline_targets::registry::FAMILIES
        .iter()
        .map(|f| f.name)
        .chain([crate::scenario::COMMAND_FAMILY])
        .find(|n| *n == name)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown family or variant '{name}'")))
}

/// A variant name read from a report, as the registry's own string, or interned for the
/// variants of family `command`, which its scenario files name. Whether a built-in family has
/// the variant is checked once the whole result is read ([`VariantResult::check_names`]).
fn registry_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let name = <String as serde::Deserialize>::deserialize(d)?;
    faultline_targets::registry::FAMILIES
        .iter()
        .flat_map(|f| f.variants.iter().map(|v| v.name))
        .find(|n| *n == name)
        .or_else(|| (!name.is_empty()).then(|| crate::external::command::intern(&name)))
        .ok_or_else(|| serde::de::Error::custom("an empty variant name"))
}

/// A catalogue ID read from a report, as the registry's own string.
fn registry_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'static str>, D::Error> {
    let Some(id) = <Option<String> as serde::Deserialize>::deserialize(d)? else {
        return Ok(None);
    };
    faultline_targets::registry::FAMILIES
        .iter()
        .flat_map(|f| f.variants.iter().filter_map(|v| v.catalogue_id))
        .find(|c| *c == id)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown catalogue ID '{id}'")))
}

/// Queue items over a variant's trials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueItems {
    /// Items processed by consumers and the drain after each trial.
    pub processed: u64,
    /// Processed again after a delivery that was never acknowledged.
    pub allowed_duplicates: u64,
}

/// The first failure of one kind.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FirstSeen {
    /// The trial it happened in.
    pub trial: u64,
    /// What was seen.
    pub detail: String,
    /// Seconds after the variant's first trial started.
    pub after_s: f64,
    /// The faults that trial injected.
    pub faults: Faults,
    /// The command that runs that trial again.
    pub reproduce: String,
}

/// Whether a variant met its expectation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Verdict {
    /// It held.
    Held,
    /// A variant that must fail did not (with the kinds not seen): the detector lost its power.
    NotCaught {
        /// Kinds expected and not seen (empty: no failure at all).
        missing: Vec<FailureKind>,
    },
    /// A variant with a failure limit went over it.
    Exceeded {
        /// What limit.
        limit: String,
    },
    /// The scenario expects nothing of this variant.
    NoExpectation,
}

/// One scenario x variant. Reports read back (for `faultline merge`) name only families,
/// variants and catalogue IDs the registry knows.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct VariantResult {
    /// The scenario's name.
    pub scenario: String,
    /// Its file.
    pub scenario_path: String,
    /// The family.
    #[serde(deserialize_with = "registry_family")]
    pub family: &'static str,
    /// The variant.
    #[serde(deserialize_with = "registry_name")]
    pub variant: &'static str,
    /// Its catalogue ID (`None` for the reference).
    #[serde(deserialize_with = "registry_id")]
    pub catalogue_id: Option<&'static str>,
    /// The seed used.
    pub seed: u64,
    /// Trials run.
    pub trials: u64,
    /// Failed reads out of reads.
    pub reads: FailureCount,
    /// Failed trials out of trials.
    pub failed_trials: FailureCount,
    /// Trials with any failure, of a read or of the trial. Trials are independent (each
    /// has its own processes and seed) where the reads of one trial are not, so the gate
    /// compares these with the baseline.
    #[serde(default)]
    pub trials_with_failures: u64,
    /// Replaces that returned Ok.
    pub writes: u64,
    /// Trials in which a writer was killed.
    pub writer_kills: u64,
    /// Lock scenarios with shared holders: the most inside the shared lock at once.
    pub max_shared_holders: Option<u64>,
    /// Queue scenarios: items processed, and of those, processed again after a delivery
    /// that was never acknowledged (allowed by at-least-once delivery).
    pub queue_items: Option<QueueItems>,
    /// Crash-state scenarios: what the enumeration covered (each state is one trial).
    pub crash_states: Option<faultline_core::crash_state::EnumerationStats>,
    /// Failures (reads and trial-level) by kind.
    pub failures_by_kind: BTreeMap<FailureKind, u64>,
    /// The first failure of each kind.
    pub first_by_kind: BTreeMap<FailureKind, FirstSeen>,
    /// Seconds from the start to the first failure.
    pub time_to_first_failure_s: Option<f64>,
    /// For a variant after the first: clean units needed at 95% to claim the fix, given the
    /// first variant's rate.
    pub clean_needed_to_claim_fix: Option<u64>,
    /// Wall-clock seconds the variant took (not deterministic).
    pub elapsed_s: f64,
    /// What the scenario expected.
    pub expectation: Option<Expectation>,
    /// Whether it held.
    pub verdict: Verdict,
    /// Directories kept with `--keep`.
    pub kept: Vec<String>,
}

impl VariantResult {
    /// The unit rates are given in: reads when there were any, else trials.
    pub fn primary(&self) -> (FailureCount, &'static str) {
        if self.reads.trials > 0 {
            (self.reads, "reads")
        } else {
            (self.failed_trials, "trials")
        }
    }

    /// Its catalogue ID, `reference` for a built-in family's reference, or `command`.
    pub fn id_label(&self) -> &'static str {
        match self.catalogue_id {
            Some(id) => id,
            None if self.family == crate::scenario::COMMAND_FAMILY => "command",
            None => "reference",
        }
    }

    /// Whether the family is known and, for a built-in family, has the variant.
    pub fn check_names(&self) -> Result<(), String> {
        let known = self.family == crate::scenario::COMMAND_FAMILY
            || faultline_targets::registry::family(self.family)
                .is_some_and(|f| f.variant(self.variant).is_some());
        if known {
            Ok(())
        } else {
            Err(format!(
                "unknown family or variant '{}' (family {})",
                self.variant, self.family
            ))
        }
    }

    /// Trials with any failure, out of all trials.
    pub fn failing_trials(&self) -> FailureCount {
        FailureCount::new(self.trials_with_failures, self.trials)
    }

    /// Failed reads plus failed trials.
    pub fn total_failures(&self) -> u64 {
        self.reads.failures + self.failed_trials.failures
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
pub fn selected_variants(scenario: &Scenario, options: &RunOptions) -> Result<Vec<&'static str>, RunError> {
    match &options.variant {
        None => Ok(scenario.variants.clone()),
        Some(v) => scenario
            .variants
            .iter()
            .find(|n| **n == v.as_str())
            .map(|n| vec![*n])
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
    if options.lockdep && scenario.family == faultline_targets::lock::FAMILY {
        scenario.lock.lockdep = true;
        if !scenario.checks.contains(&crate::scenario::Check::LockOrder) {
            scenario.checks.push(crate::scenario::Check::LockOrder);
        }
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
    target: Target,
    options: &RunOptions,
    cancel: &AtomicBool,
    mut progress: impl FnMut(u64),
) -> Result<VariantResult, RunError> {
    let info = target.info();
    let start = Instant::now();
    let duration = options.duration.or_else(|| {
        (options.trials.is_none())
            .then_some(scenario.duration_s.map(Duration::from_secs_f64))
            .flatten()
    });
    let shard = options.shard;
    let trials: Box<dyn Iterator<Item = u64>> = match (options.trial, duration) {
        (Some(t), _) => Box::new(std::iter::once(t)),
        (None, Some(_)) => Box::new((0..).filter(move |t| shard.is_none_or(|s| s.has(*t)))),
        (None, None) => Box::new(
            (0..options.trials.unwrap_or_else(|| scenario.trials_for(info.name)))
                .filter(move |t| shard.is_none_or(|s| s.has(*t))),
        ),
    };
    let mut r = VariantResult {
        scenario: scenario.name.clone(),
        scenario_path: scenario.path.display().to_string(),
        family: scenario.family,
        variant: info.name,
        catalogue_id: info.catalogue_id,
        seed: scenario.seed,
        trials: 0,
        reads: FailureCount::new(0, 0),
        failed_trials: FailureCount::new(0, 0),
        trials_with_failures: 0,
        writes: 0,
        writer_kills: 0,
        max_shared_holders: None,
        queue_items: None,
        crash_states: None,
        failures_by_kind: BTreeMap::new(),
        first_by_kind: BTreeMap::new(),
        time_to_first_failure_s: None,
        clean_needed_to_claim_fix: None,
        elapsed_s: 0.0,
        expectation: scenario.expect.get(info.name).cloned(),
        verdict: Verdict::NoExpectation,
        kept: Vec::new(),
    };
    if let (Target::Queue(variant), Some(model)) = (target, scenario.queue.model) {
        crash_states(&mut r, scenario, variant, model, options.trial, options.shard)?;
        progress(r.trials);
        r.elapsed_s = start.elapsed().as_secs_f64();
        r.verdict = judge(&r);
        return Ok(r);
    }
    if let (Target::Command(c), Some(plan)) = (target, scenario.explore) {
        let select = |state: u64| match (options.trial, options.shard) {
            (Some(o), _) => state == o,
            (None, Some(s)) => s.has(state),
            (None, None) => true,
        };
        let explored = match &c.roles.programs {
            crate::external::command::Programs::Queue { .. } => {
                crate::external::queue_explore::explore(c, plan, scenario.document_bytes, &select)
            }
            _ => crate::external::scenario_explore::explore(c, plan, scenario.document_bytes, &select),
        };
        let outcome = explored.map_err(|e| RunError::Trial {
            scenario: scenario.name.clone(),
            variant: info.name.to_string(),
            trial: 0,
            source: TrialError::Setup(format!("recording or judging the programs failed: {e}")),
        })?;
        record_states(
            &mut r,
            scenario,
            (outcome.judged, outcome.failed),
            outcome.enumeration,
            outcome.by_kind,
            outcome.first_by_kind,
        );
        progress(r.trials);
        r.elapsed_s = start.elapsed().as_secs_f64();
        r.verdict = judge(&r);
        return Ok(r);
    }
    // The directory trials run in (the file system under test), made once per variant.
    let mut workspace = Workspace::new(options.temp_dir.as_deref()).map_err(|source| RunError::Trial {
        scenario: scenario.name.clone(),
        variant: info.name.to_string(),
        trial: 0,
        source,
    })?;
    for trial in trials {
        if let Some(d) = duration
            && options.trial.is_none()
            && start.elapsed() >= d
        {
            break;
        }
        let plan = TrialPlan {
            scenario,
            target,
            trial,
        };
        let trial_start = start.elapsed().as_secs_f64();
        let outcome =
            run_trial(&plan, &mut workspace, cancel, options.keep).map_err(|source| RunError::Trial {
                scenario: scenario.name.clone(),
                variant: info.name.to_string(),
                trial,
                source,
            })?;
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
        if let Target::Queue(_) = target {
            let q = r.queue_items.get_or_insert_with(QueueItems::default);
            q.processed += outcome.processed;
            q.allowed_duplicates += outcome.allowed_duplicates;
        }
        if matches!(target, Target::Lock(_)) && scenario.readers > 0 {
            r.max_shared_holders = Some(r.max_shared_holders.unwrap_or(0).max(outcome.max_shared_holders));
        }
        for (kind, n) in &outcome.failures_by_kind {
            *r.failures_by_kind.entry(*kind).or_default() += n;
        }
        for (kind, first) in &outcome.first_by_kind {
            let after_s = trial_start + first.at_s;
            r.time_to_first_failure_s =
                Some(r.time_to_first_failure_s.map_or(after_s, |t: f64| t.min(after_s)));
            r.first_by_kind.entry(*kind).or_insert_with(|| FirstSeen {
                trial,
                detail: first.detail.clone(),
                after_s,
                faults: outcome.faults.clone(),
                reproduce: reproduce_command(scenario, info.name, trial),
            });
        }
        if let Some(kept) = outcome.kept {
            r.kept.push(kept.display().to_string());
        }
        progress(r.trials);
    }
    r.elapsed_s = start.elapsed().as_secs_f64();
    r.verdict = judge(&r);
    Ok(r)
}

/// A crash-state scenario: the queue workload's states under `model`, each judged as one
/// trial (or only state `only`).
fn crash_states(
    r: &mut VariantResult,
    scenario: &Scenario,
    variant: faultline_targets::queue::Variant,
    model: faultline_core::PersistenceModel,
    only: Option<u64>,
    shard: Option<Shard>,
) -> Result<(), RunError> {
    use crate::queue::explore;
    let block_size = faultline_core::BlockSize::new(scenario.queue.block_size).expect("checked when parsed");
    let plan = explore::Plan::new(
        model,
        block_size,
        scenario.document_bytes,
        scenario.queue.segment_bytes,
    );
    let select = |state: u64| match (only, shard) {
        (Some(o), _) => state == o,
        (None, Some(s)) => s.has(state),
        (None, None) => true,
    };
    let outcome = explore::explore(variant, &plan, &select).map_err(|e| RunError::Trial {
        scenario: scenario.name.clone(),
        variant: r.variant.to_string(),
        trial: 0,
        source: TrialError::Setup(format!("the simulated workload could not start: {e}")),
    })?;
    record_states(
        r,
        scenario,
        (outcome.judged, outcome.failed),
        outcome.enumeration,
        outcome.by_kind,
        outcome.first_by_kind,
    );
    Ok(())
}

/// Fills `r` from judged crash states: each state is one trial.
fn record_states(
    r: &mut VariantResult,
    scenario: &Scenario,
    (judged, failed): (u64, u64),
    enumeration: faultline_core::crash_state::EnumerationStats,
    by_kind: BTreeMap<FailureKind, u64>,
    first_by_kind: BTreeMap<FailureKind, (u64, String)>,
) {
    r.trials = judged;
    r.failed_trials = FailureCount::new(failed, judged);
    r.trials_with_failures = failed;
    r.crash_states = Some(enumeration);
    r.failures_by_kind = by_kind;
    for (kind, (index, detail)) in first_by_kind {
        r.first_by_kind.insert(
            kind,
            FirstSeen {
                trial: index,
                detail,
                after_s: 0.0,
                faults: Faults::default(),
                reproduce: reproduce_command(scenario, r.variant, index),
            },
        );
    }
}

/// The command that runs exactly this trial again.
pub fn reproduce_command(scenario: &Scenario, variant: &str, trial: u64) -> String {
    format!(
        "faultline run {} --variant {variant} --seed {:#x} --trial {trial}",
        scenario.path.display(),
        scenario.seed
    )
}

/// Whether `r` met its expectation.
pub fn judge(r: &VariantResult) -> Verdict {
    let Some(e) = &r.expectation else {
        return Verdict::NoExpectation;
    };
    if let Some(kinds) = &e.must_fail {
        let missing: Vec<FailureKind> = kinds
            .iter()
            .copied()
            .filter(|k| !r.failures_by_kind.contains_key(k))
            .collect();
        if r.total_failures() == 0 || !missing.is_empty() {
            return Verdict::NotCaught { missing };
        }
    }
    if let Some(max) = e.max_failures
        && r.total_failures() > max
    {
        return Verdict::Exceeded {
            limit: format!("max_failures = {max}"),
        };
    }
    if let (Some(max), Some(rate)) = (e.max_failure_rate, r.primary().0.rate())
        && rate > max
    {
        return Verdict::Exceeded {
            limit: format!("max_failure_rate = {max}"),
        };
    }
    Verdict::Held
}
