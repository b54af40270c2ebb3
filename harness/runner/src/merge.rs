//! `faultline merge`: combines the run reports of shards (or of any runs of the same
//! scenarios with the same seeds) into one, exactly: counts add, intervals and verdicts are
//! recomputed from the sums, and the first failure of each kind is the one of the lowest trial.

use std::collections::BTreeMap;
use std::path::Path;

use faultline_core::stats::{FailureCount, clean_trials_to_claim_fix};

use crate::report::{ReadError, RunReport, read_results};
use crate::results::{QueueItems, VariantResult, judge};

/// Why reports could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A report could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Two reports disagree on what was run.
    #[error("{scenario} / {variant}: {what} differs between the reports; merge only shards of one run")]
    Mismatch {
        /// The scenario.
        scenario: String,
        /// The variant.
        variant: String,
        /// What differs.
        what: &'static str,
    },
}

/// Reads a run report.
pub fn read(path: &Path) -> Result<Vec<VariantResult>, MergeError> {
    Ok(read_results(path, &["run"])?.results)
}

fn add(a: FailureCount, b: FailureCount) -> FailureCount {
    FailureCount::new(a.failures + b.failures, a.trials + b.trials)
}

/// Merges the results of several reports: one result per scenario and variant, in the order
/// they first appear.
pub fn merge(reports: Vec<Vec<VariantResult>>) -> Result<RunReport, MergeError> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut merged: BTreeMap<(String, String), VariantResult> = BTreeMap::new();
    for r in reports.into_iter().flatten() {
        let key = (r.scenario.clone(), r.variant.clone());
        let Some(m) = merged.get_mut(&key) else {
            order.push(key.clone());
            merged.insert(key, r);
            continue;
        };
        let mismatch = |what| MergeError::Mismatch {
            scenario: r.scenario.clone(),
            variant: r.variant.to_string(),
            what,
        };
        if m.seed != r.seed {
            return Err(mismatch("the seed"));
        }
        if m.expectation != r.expectation {
            return Err(mismatch("the expectation"));
        }
        if m.family != r.family {
            return Err(mismatch("the family"));
        }
        m.trials += r.trials;
        m.reads = add(m.reads, r.reads);
        m.failed_trials = add(m.failed_trials, r.failed_trials);
        m.trials_with_failures += r.trials_with_failures;
        m.writes += r.writes;
        m.writer_kills += r.writer_kills;
        m.inconclusive += r.inconclusive;
        if m.inconclusive_detail.is_none() {
            m.inconclusive_detail.clone_from(&r.inconclusive_detail);
        }
        m.max_shared_holders = match (m.max_shared_holders, r.max_shared_holders) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        m.queue_items = match (m.queue_items, r.queue_items) {
            (Some(a), Some(b)) => Some(QueueItems {
                processed: a.processed + b.processed,
                allowed_duplicates: a.allowed_duplicates + b.allowed_duplicates,
            }),
            (a, b) => a.or(b),
        };
        // Every shard enumerates the same states and judges its own slice of them.
        m.crash_states = m.crash_states.or(r.crash_states);
        for (kind, n) in r.failures_by_kind {
            *m.failures_by_kind.entry(kind).or_default() += n;
        }
        for (kind, first) in r.first_by_kind {
            match m.first_by_kind.get(&kind) {
                Some(have) if have.trial <= first.trial => {}
                _ => {
                    m.first_by_kind.insert(kind, first);
                }
            }
        }
        m.time_to_first_failure_s = match (m.time_to_first_failure_s, r.time_to_first_failure_s) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        m.elapsed_s += r.elapsed_s;
        m.kept.extend(r.kept);
        m.kept_dropped += r.kept_dropped;
    }
    let mut results: Vec<VariantResult> = order
        .into_iter()
        .map(|k| merged.remove(&k).expect("every key was inserted"))
        .collect();
    // The claim about a fix compares with the scenario's first variant, now with all trials.
    let mut first_rate: BTreeMap<String, Option<f64>> = BTreeMap::new();
    for r in &mut results {
        r.verdict = judge(r);
        let before = first_rate
            .entry(r.scenario.clone())
            .or_insert_with(|| r.primary().0.rate());
        let is_fix = r
            .expectation
            .as_ref()
            .is_some_and(|e| e.max_failures.is_some() || e.max_failure_rate.is_some());
        if r.clean_needed_to_claim_fix.is_some() || is_fix {
            r.clean_needed_to_claim_fix = before.and_then(clean_trials_to_claim_fix);
        }
    }
    Ok(RunReport::new(results))
}
