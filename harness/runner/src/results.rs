//! What a run found, per scenario x variant: the result type every detector fills, the
//! expectation it is held to, and the verdict on it. It sits below everything that runs,
//! reads, writes, merges or renders results.

use std::collections::BTreeMap;

use faultline_core::stats::{FailureCount, percent};
use faultline_core::{CrashPlan, FailureKind};

/// What a variant must do in this scenario.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Expectation {
    /// The variant must fail, with each of these kinds (empty: any kind).
    pub must_fail: Option<Vec<FailureKind>>,
    /// At most this many failed checks.
    pub max_failures: Option<u64>,
    /// At most this failure rate (fraction of checks).
    pub max_failure_rate: Option<f64>,
}

/// The faults a trial's seed chose.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Faults {
    /// Random kill: the writer and the offset.
    pub kill: Option<(u32, u64)>,
    /// Crash-point kill: the worker and the plan.
    pub crash: Option<(u32, CrashPlan)>,
    /// The crash point is one readers pass, and the plan is armed in every reader.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub every_reader: bool,
    /// SIGSTOP: the writer, the offset and the length.
    pub pause: Option<(u32, u64, u64)>,
    /// The scenario's race window was held open in this trial.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub window: bool,
}

impl Faults {
    /// The faults, one phrase each.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some((worker, offset)) = self.kill {
            out.push(format!(
                "writer {worker} killed with SIGKILL {offset} ms after the trial started"
            ));
        }
        if let Some((worker, plan)) = &self.crash {
            let who = if self.every_reader {
                "every reader, from"
            } else {
                "worker"
            };
            let what = if plan.stop {
                "paused (SIGSTOP) to hold a race window open"
            } else {
                "killed with SIGKILL"
            };
            out.push(format!(
                "{who} {worker} {what} at crash point {} (hit {})",
                plan.point, plan.hit
            ));
        }
        if let Some((worker, offset, length)) = self.pause {
            out.push(format!(
                "writer {worker} paused (SIGSTOP) {offset} ms after the trial started, for {length} ms"
            ));
        }
        if self.window {
            out.push("the scenario's race window was held open".into());
        }
        out
    }
}

/// The legacy family name of programs given in a scenario's `[commands]`: scenarios now name
/// the family the programs implement, and results mark them [`VariantResult::program`]. Still
/// read in scenarios and in reports written before.
pub const COMMAND_FAMILY: &str = "command";

/// A family name read from a report: one of the registry's, or `command`; refused where it
/// stands, with its line and column.
fn known_family<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = <String as serde::Deserialize>::deserialize(d)?;
    if name == COMMAND_FAMILY || faultline_targets::registry::family(&name).is_some() {
        Ok(name)
    } else {
        Err(serde::de::Error::custom(format!(
            "unknown family or variant '{name}'"
        )))
    }
}

/// Queue items over a variant's trials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueItems {
    /// Items processed by consumers and the drain after each trial.
    pub processed: u64,
    /// Processed again after a delivery that was never acknowledged.
    pub allowed_duplicates: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One event of a trial, for its failure page: when (ms after the release) and what.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimelineEntry {
    /// Milliseconds after the workers were released.
    pub at_ms: f64,
    /// Who did what: `SIGKILL sent to writer 2 (the random kill)`, `reader 1: TornRead: ...`.
    pub event: String,
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
    /// What happened in that trial, in order (process trials; empty for crash states).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelineEntry>,
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

/// What one trial of a result is: a run of real processes, one crash state of an
/// enumeration, or one execution of a model checker's search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrialKind {
    /// Real processes, with random timing and faults drawn from the seed.
    #[default]
    Trials,
    /// Crash states of an enumeration (each judged once; not a random sample).
    States,
    /// Executions of a model checker's search, which stops at its first failure.
    Executions,
}

/// The figure a verdict was reached on, in its own unit: failing trials (or reads, for a
/// failure-rate limit), crash states, or a model search's executions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measure {
    /// Failed units of units.
    pub count: FailureCount,
    /// `trials`, `reads`, `states` or `executions`.
    pub unit: &'static str,
    /// For states: every state the model allows was judged (no sample was drawn).
    pub exhaustive: bool,
    /// For a model search: seconds to its failure.
    pub seconds_to_failure: Option<f64>,
}

impl Measure {
    /// The 95% interval, only where the units are random draws (trials, reads): an
    /// enumeration or a search has none.
    pub fn interval(&self) -> Option<faultline_core::stats::Interval> {
        if !matches!(self.unit, "trials" | "reads") {
            return None;
        }
        match self.count.zero_failure_upper_bound() {
            Some(high) => Some(faultline_core::stats::Interval { low: 0.0, high }),
            None => self.count.wilson(),
        }
    }

    /// `3 of 4 trials (75.0%, 95% CI ...)`, `0 of 131 states (exhaustive)`, `failed after
    /// 37 executions (0.42 s)`.
    pub fn summary(&self) -> String {
        let c = self.count;
        match self.unit {
            "trials" | "reads" => match (self.interval(), c.rate()) {
                (Some(ci), Some(_)) if c.failures == 0 => format!(
                    "0 of {} {} (95% upper bound {})",
                    c.trials,
                    self.unit,
                    percent(ci.high)
                ),
                (Some(ci), Some(rate)) => format!(
                    "{} of {} {} ({}, 95% CI {}-{})",
                    c.failures,
                    c.trials,
                    self.unit,
                    percent(rate),
                    percent(ci.low),
                    percent(ci.high)
                ),
                _ => format!("{} of {} {}", c.failures, c.trials, self.unit),
            },
            "states" => format!(
                "{} of {} states{}",
                c.failures,
                c.trials,
                if self.exhaustive {
                    " (exhaustive)"
                } else {
                    " (a bounded enumeration)"
                }
            ),
            _ => match (c.failures, self.seconds_to_failure) {
                (0, _) => format!("0 failures in {} executions", c.trials),
                (_, Some(s)) if s < 1.0 => {
                    format!("failed at execution {} ({:.1} ms)", c.trials, s * 1e3)
                }
                (_, Some(s)) => format!("failed at execution {} ({s:.2} s)", c.trials),
                (_, None) => format!("failed at execution {}", c.trials),
            },
        }
    }
}

/// One scenario x variant. Reports read back (for `faultline merge` and the gate) must name
/// families, variants and catalogue IDs the registry knows ([`VariantResult::check_names`]).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct VariantResult {
    /// The scenario's name.
    pub scenario: String,
    /// Its file.
    pub scenario_path: String,
    /// The family.
    #[serde(deserialize_with = "known_family")]
    pub family: String,
    /// The variant.
    pub variant: String,
    /// Its catalogue ID (`None` for the reference and for programs).
    pub catalogue_id: Option<String>,
    /// Programs given in the scenario rather than a bundled variant.
    #[serde(default)]
    pub program: bool,
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
    /// Trial runs that were inconclusive (the watchdog expired with no progress and no
    /// evidence such as a wait-for cycle) and were run again; they count neither as
    /// failures nor as passes.
    #[serde(default)]
    pub inconclusive: u64,
    /// Why the first of them was inconclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive_detail: Option<String>,
    /// Lock scenarios with shared holders: the most inside the shared lock at once.
    pub max_shared_holders: Option<u64>,
    /// Queue scenarios: items processed, and of those, processed again after a delivery
    /// that was never acknowledged (allowed by at-least-once delivery).
    pub queue_items: Option<QueueItems>,
    /// Crash-state scenarios: what the enumeration covered (each state is one trial).
    pub crash_states: Option<faultline_core::crash_state::EnumerationStats>,
    /// What one trial is (real trials, crash states, model executions).
    #[serde(default)]
    pub trial_kind: TrialKind,
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
    /// Failing trials whose directories `--keep` did not keep (beyond the first few that
    /// hold no case).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub kept_dropped: u64,
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

    /// The figure the verdict was reached on, in its unit: failing trials (any failure, of a
    /// read or of the trial), or failed reads when the expectation limits the rate and there
    /// were reads; crash states; a model search's executions.
    pub fn measure(&self) -> Measure {
        let kind = if self.crash_states.is_some() {
            TrialKind::States
        } else {
            self.trial_kind
        };
        let rate_limited = self
            .expectation
            .as_ref()
            .is_some_and(|e| e.max_failure_rate.is_some());
        let (count, unit) = match kind {
            TrialKind::States => (self.failing_trials(), "states"),
            TrialKind::Executions => (self.failing_trials(), "executions"),
            TrialKind::Trials if rate_limited && self.reads.trials > 0 => (self.reads, "reads"),
            TrialKind::Trials => (self.failing_trials(), "trials"),
        };
        Measure {
            count,
            unit,
            exhaustive: self.crash_states.is_some_and(|s| s.exhaustive()),
            seconds_to_failure: (kind == TrialKind::Executions)
                .then_some(self.time_to_first_failure_s)
                .flatten(),
        }
    }

    /// Its catalogue ID, `reference` for a bundled reference, or `program`.
    pub fn id_label(&self) -> &str {
        match &self.catalogue_id {
            Some(id) => id,
            None if self.is_program() => "program",
            None => "reference",
        }
    }

    /// Whether the variant is programs given in the scenario (also in reports written when
    /// they were family `command`).
    pub fn is_program(&self) -> bool {
        self.program || self.family == COMMAND_FAMILY
    }

    /// Whether its counts are evidence: at least one trial, and no more failures than
    /// trials or reads.
    pub fn check_counts(&self) -> Result<(), String> {
        let who = format!("{} / {}", self.scenario, self.variant);
        if self.trials == 0 {
            return Err(format!("{who} ran no trials: a result of nothing is no evidence"));
        }
        let counts = [
            (
                "failed trials",
                self.failed_trials.failures,
                self.failed_trials.trials,
            ),
            ("failed reads", self.reads.failures, self.reads.trials),
            ("trials with failures", self.trials_with_failures, self.trials),
        ];
        for (what, failures, of) in counts {
            if failures > of {
                return Err(format!("{who}: {failures} {what} out of {of}"));
            }
        }
        Ok(())
    }

    /// Whether the family is known, and a built-in family has the variant with this
    /// catalogue ID (programs have none).
    pub fn check_names(&self) -> Result<(), String> {
        if self.variant.is_empty() {
            return Err("an empty variant name".into());
        }
        let id = if self.is_program() {
            None
        } else {
            let family = faultline_targets::registry::family(&self.family)
                .ok_or_else(|| format!("unknown family '{}'", self.family))?;
            let info = family.variant(&self.variant).ok_or_else(|| {
                format!(
                    "unknown family or variant '{}' (family {})",
                    self.variant, self.family
                )
            })?;
            info.catalogue_id
        };
        if self.catalogue_id.as_deref() != id {
            return Err(format!(
                "variant '{}' has catalogue ID {}, not {}",
                self.variant,
                id.unwrap_or("none"),
                self.catalogue_id.as_deref().unwrap_or("none")
            ));
        }
        Ok(())
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
    if let (Some(max), Some(rate)) = (e.max_failure_rate, r.measure().count.rate())
        && rate > max
    {
        return Verdict::Exceeded {
            limit: format!("max_failure_rate = {max}"),
        };
    }
    Verdict::Held
}
