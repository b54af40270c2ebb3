//! What one trial showed, and why a trial could not run: the types every family's roles fill
//! and the trial loop returns.

use std::collections::BTreeMap;
use std::path::PathBuf;

use faultline_core::{Failure, FailureKind};

use super::fork::SpawnError;
use super::worker::FirstFailure;
use crate::results::Faults;

/// What one trial showed.
#[derive(Clone, Debug, Default)]
pub struct TrialOutcome {
    /// Reads made by all readers.
    pub reads: u64,
    /// Reads that failed.
    pub failed_reads: u64,
    /// Replaces that returned Ok.
    pub writes: u64,
    /// Failed reads and trial-level failures, by kind.
    pub failures_by_kind: BTreeMap<FailureKind, u64>,
    /// Failures of the trial as a whole (after-kill checks, writer errors, deadlock).
    pub trial_failures: Vec<Failure>,
    /// The first failure of each kind, with its time after the release.
    pub first_by_kind: BTreeMap<FailureKind, FirstFailure>,
    /// Whether a writer died by SIGKILL (random or at its crash point).
    pub writer_killed: bool,
    /// The faults chosen.
    pub faults: Faults,
    /// The kept directory of a failing trial, with `keep`.
    pub kept: Option<PathBuf>,
    /// Store writers that finished: their number and the newest generation they made.
    pub final_generations: Vec<(u32, u64)>,
    /// Lock trials: the most holders inside the shared lock at once.
    pub max_shared_holders: u64,
    /// Lock trials: counter increments the holders had acknowledged.
    pub acknowledged: u64,
    /// Lock trials: acquisitions refused because the lock path was a symlink.
    pub refused: u64,
    /// Queue trials: items processed by consumers and by the drain after the run.
    pub processed: u64,
    /// Queue trials: items processed again after a delivery that was never acknowledged.
    pub allowed_duplicates: u64,
    /// Why the trial was inconclusive: the watchdog expired with no progress and no
    /// evidence. Such a trial is rerun; it never counts as a failure or a pass.
    pub inconclusive: Option<String>,
    /// What happened, in order: the release, signals sent, failures seen, reports, exits,
    /// and the checks after the trial.
    pub timeline: Vec<crate::results::TimelineEntry>,
}

impl TrialOutcome {
    /// Whether anything failed.
    pub fn failed(&self) -> bool {
        self.failed_reads > 0 || !self.trial_failures.is_empty()
    }

    pub(crate) fn note(&mut self, failure: FirstFailure) {
        *self.failures_by_kind.entry(failure.kind).or_default() += 1;
        self.first_by_kind.entry(failure.kind).or_insert(failure);
    }
}

/// A trial that could not run (as opposed to one that ran and failed).
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// Ctrl-C or SIGTERM.
    #[error("interrupted")]
    Cancelled,
    /// A worker could not be started.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// The trial directory or its pipes could not be set up.
    #[error("failed to set up the trial: {0}")]
    Setup(String),
}
