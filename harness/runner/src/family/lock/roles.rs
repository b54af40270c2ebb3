//! The lock family's roles in a process trial: writers hold the lock exclusively and readers
//! shared, each logging its critical sections; the trial is judged from the logs once every
//! holder is gone.

use faultline_targets::lock::{self, Mode};

use super::checks::{self, Ends};
use super::holder::{self, CommandHolderPlan, HolderPlan};
use super::plan::LockPlan;
use crate::process::fork::{Group, SpawnError};
use crate::process::outcome::{TrialError, TrialOutcome};
use crate::process::roles::{Ended, Role, Roles, Start, Started, Stop, Trial};
use crate::process::worker::Pipes;
use crate::program::CommandRoles;
use crate::results::VariantResult;
use crate::scenario::{Check, Scenario};

/// Who holds the lock.
#[derive(Clone, Copy, Debug)]
pub enum HolderKind<'s> {
    /// A bundled lock variant, in faultline's own holders.
    BuiltIn(lock::Variant),
    /// A lock program: each section runs its holder command, which takes the lock and runs
    /// `{critical}` inside.
    Program {
        /// The table's commands and directory.
        roles: &'s CommandRoles,
        /// The holder command.
        holder: &'s [String],
    },
}

/// A lock variant's roles.
pub struct LockRoles<'s> {
    scenario: &'s Scenario,
    kind: HolderKind<'s>,
}

impl<'s> LockRoles<'s> {
    /// The roles of `kind` in trials of `scenario`.
    pub fn new(scenario: &'s Scenario, kind: HolderKind<'s>) -> Self {
        LockRoles { scenario, kind }
    }
}

impl Roles for LockRoles<'_> {
    fn setup(&mut self, trial: &Trial<'_>) -> Result<(), TrialError> {
        if LockPlan::of(self.scenario).plant_symlink {
            holder::plant_symlink(trial.dir)
                .map_err(|e| TrialError::Setup(format!("planting the symlink: {e}")))?;
        }
        Ok(())
    }

    fn start(
        &self,
        worker: &Start,
        trial: &Trial<'_>,
        group: &mut Group,
        pipes: &Pipes<'_>,
    ) -> Result<Started, SpawnError> {
        let s = self.scenario;
        let (mode, sections, pause_us) = match worker.role {
            Role::Writer => (Mode::Exclusive, s.writes_per_writer, s.write_pause_us),
            Role::Reader => (Mode::Shared, s.reads_per_reader, s.read_pause_us),
        };
        let index = match self.kind {
            HolderKind::BuiltIn(variant) => {
                let plan = HolderPlan {
                    id: worker.number,
                    variant,
                    dir: trial.dir.to_path_buf(),
                    mode,
                    sections,
                    pause_us,
                    lock: LockPlan::of(s),
                    crash: worker.crash.clone(),
                };
                group.spawn(|| holder::holder(&plan, pipes))?
            }
            HolderKind::Program { roles, holder } => {
                let plan = CommandHolderPlan {
                    id: worker.number,
                    roles,
                    holder,
                    dir: trial.dir.to_path_buf(),
                    sections,
                    pause_us,
                    hold_us: LockPlan::of(s).hold_us,
                };
                group.spawn(|| holder::command_holder(&plan, pipes))?
            }
        };
        Ok(Started {
            index,
            // Shared holders are not on the kill timeline.
            killable: worker.role == Role::Writer,
            holder: true,
        })
    }

    fn stop(&self) -> Stop {
        Stop::Never
    }

    fn runs_programs(&self) -> bool {
        matches!(self.kind, HolderKind::Program { .. })
    }

    fn judge(
        &mut self,
        outcome: &mut TrialOutcome,
        trial: &Trial<'_>,
        ended: &Ended,
    ) -> Result<Option<Vec<String>>, TrialError> {
        let s = self.scenario;
        let acknowledged = match self.kind {
            HolderKind::BuiltIn(variant) => {
                // Once every holder is gone the lock must be free. Checked before the helpers
                // the holders started are killed: a helper that inherited the lock still
                // holds it.
                if s.checks.contains(&Check::NoStuckLock)
                    && !LockPlan::of(s).plant_symlink
                    && !ended.cut_short
                {
                    checks::lock_is_free(outcome, variant, trial.dir, ended.at_s);
                }
                if LockPlan::of(s).spawn_helper
                    && let Some(id) = ended.group
                {
                    // Helpers are in the trial's process group; kill them now.
                    let _ = nix::sys::signal::killpg(id, nix::sys::signal::Signal::SIGKILL);
                }
                outcome.acknowledged
            }
            // The programs are gone (the loop waited for them), and with them their sections.
            HolderKind::Program { .. } => 0,
        };
        let ends = Ends {
            killed_at: ended.killed_at.clone(),
            end: ended.end_ns,
            release: ended.release_ns,
        };
        checks::judge(
            outcome,
            trial.dir,
            s,
            &ends,
            acknowledged,
            ended.killed,
            ended.at_s,
        );
        Ok(None)
    }

    fn add_figures(&self, result: &mut VariantResult, outcome: &TrialOutcome) {
        if self.scenario.readers > 0 {
            result.max_shared_holders = Some(
                result
                    .max_shared_holders
                    .unwrap_or(0)
                    .max(outcome.max_shared_holders),
            );
        }
    }
}
