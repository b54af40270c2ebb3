//! What a family is to the process detector: its [`Roles`] in a trial. The trial loop
//! ([`super::trial`]) owns the barrier, the fault timeline, the watchdog and the results pipe;
//! a family's roles prepare the directory, start its workers, say who is told to stop when,
//! and judge the trial once every worker is gone. The loop never asks which family it runs.

use std::collections::BTreeMap;
use std::path::Path;

use faultline_core::CrashPlan;
use nix::unistd::Pid;

use super::fork::{Group, SpawnError};
use super::outcome::{TrialError, TrialOutcome};
use super::worker::Pipes;
use crate::results::VariantResult;
use crate::scenario::Scenario;

/// Where one trial runs.
#[derive(Clone, Copy, Debug)]
pub struct Trial<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// The trial's number, from 0.
    pub number: u64,
    /// Its directory, empty but for what the last trial's family left on purpose.
    pub dir: &'a Path,
    /// The file document families work on, in `dir`.
    pub file: &'a Path,
}

/// A writer (`[roles] writers`) or a reader (`[roles] readers`), as the family calls them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Writers, producers, exclusive holders.
    Writer,
    /// Readers, consumers, shared holders.
    Reader,
}

/// A worker to start.
#[derive(Clone, Debug)]
pub struct Start {
    /// Its role.
    pub role: Role,
    /// Its number within the role, from 1.
    pub index: u32,
    /// Its number in the trial: writers from 1, then readers. Faults name workers by it.
    pub number: u32,
    /// Kill itself at this crash point.
    pub crash: Option<CrashPlan>,
}

/// How the loop treats a worker the family started.
#[derive(Clone, Copy, Debug)]
pub struct Started {
    /// Its place in the trial's group.
    pub index: usize,
    /// Random kills and pauses may hit it.
    pub killable: bool,
    /// It logs critical sections: the time of a kill is taken before the signal.
    pub holder: bool,
}

/// Who the loop tells to stop (through the stop pipe), and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The writers, once every reader has ended: writers replace until the readers are done.
    WritersAfterReaders,
    /// The readers, once every writer has ended: consumers drain what producers left.
    ReadersAfterWriters,
    /// Nobody: every worker stops by itself.
    Never,
}

/// What the loop saw, for the family's judgement.
#[derive(Clone, Debug)]
pub struct Ended {
    /// The loop stopped the workers before every one had ended: a deadlock read from the
    /// kernel, or a watchdog that expired without progress (an inconclusive trial).
    pub cut_short: bool,
    /// Killable workers that died by SIGKILL.
    pub killed: u64,
    /// Holders killed, by worker number, with the monotonic time taken before the signal.
    pub killed_at: BTreeMap<u32, u64>,
    /// The monotonic time at which the loop ended.
    pub end_ns: u64,
    /// The monotonic time of the release, from which timelines count.
    pub release_ns: u64,
    /// The trial's process group.
    pub group: Option<Pid>,
    /// Seconds after the release.
    pub at_s: f64,
}

/// One family's part in a process trial.
pub trait Roles {
    /// Prepares the trial directory before any worker starts.
    fn setup(&mut self, trial: &Trial<'_>) -> Result<(), TrialError>;

    /// Starts `worker` in `group`.
    fn start(
        &self,
        worker: &Start,
        trial: &Trial<'_>,
        group: &mut Group,
        pipes: &Pipes<'_>,
    ) -> Result<Started, SpawnError>;

    /// Who is told to stop, and when.
    fn stop(&self) -> Stop;

    /// Whether a random kill may pick any worker, not only a writer.
    fn kills_any_worker(&self) -> bool {
        false
    }

    /// Whether the workers can pass crash point `point` at all: a trial armed at a point
    /// they never pass could not fire its fault, so it is not planned.
    fn passes(&self, _point: &str) -> bool {
        true
    }

    /// Whether readers, not writers, pass crash point `point`.
    fn readers_pass(&self, _point: &str) -> bool {
        false
    }

    /// Whether workers run programs, which the loop must see gone before the judgement.
    fn runs_programs(&self) -> bool {
        false
    }

    /// Whether the faults' clock starts when the trial's file first changes rather than at
    /// the release: for programs, whose start-up (an interpreter, say) takes longer on a
    /// loaded machine, so that a kill lands while they write, not before.
    fn clock_starts_at_first_write(&self) -> bool {
        false
    }

    /// Judges the trial once every worker is gone. Returns what else the directory holds
    /// when the judgement listed it (it saves the next trial's clean-up a listing).
    fn judge(
        &mut self,
        outcome: &mut TrialOutcome,
        trial: &Trial<'_>,
        ended: &Ended,
    ) -> Result<Option<Vec<String>>, TrialError>;

    /// Adds the family's own figures of one trial to its variant's result.
    fn add_figures(&self, _result: &mut VariantResult, _outcome: &TrialOutcome) {}
}
