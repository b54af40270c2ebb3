//! The families faultline judges, one folder each, and their registry.
//!
//! A family implements [`Family`] once, in its folder: its entry in the targets' registry (its
//! variants and crash points), its bundled variants as a scenario runs them, its roles for the
//! process detector (how a trial's directory is prepared, which workers start, when they stop,
//! and how the trial is judged afterwards: a [`Roles`]), and its simulated workload for the
//! crash detector where it has one ([`Simulated`]). Programs given in a scenario implement a
//! family too ([`target::Target::Program`]), and the family judges them with the same oracles.
//!
//! It also owns its part of the scenario file: its own section (`[lock]`, `[queue]`, parsed
//! into its [`Plan`]), the checks it judges by default, and what programs implementing it
//! must give and may be run under.
//!
//! Adding a family is its folder (and its targets in `faultline-targets`) plus one line in
//! [`FAMILIES`].

pub mod document;
pub mod explorable;
pub mod lock;
pub mod queue;
pub mod target;
pub mod tasks;

use faultline_targets::registry::FamilyInfo;

pub use self::explorable::{Explorable, Simulated};
use self::target::Target;
use crate::crash::Sweep;
use crate::process::roles::Roles;
use crate::program::ProgramRole;
use crate::scenario::{At, Check, Plan, Scenario, ScenarioError};

/// The programs that can implement a family, for `[commands.NAME]` tables.
#[derive(Clone, Copy, Debug)]
pub struct ProgramKind {
    /// The kind, as [`crate::program::Programs::kind`] names it.
    pub kind: &'static str,
    /// What a table of this kind gives, for error messages.
    pub gives: &'static str,
    /// Its roles, the keys of its table.
    pub roles: &'static [ProgramRole],
    /// What to do when a required role is missing.
    pub needs: &'static str,
}

/// One family: what it runs and how each detector drives it.
pub trait Family: Sync {
    /// Its entry in the targets' registry: name, variants with catalogue IDs, crash points.
    fn info(&self) -> &'static FamilyInfo;

    /// The checks it judges, in report order; a scenario without `[oracle]` gets them all
    /// (see [`Family::default_checks`]).
    fn checks(&self) -> &'static [Check];

    /// The checks a scenario without `[oracle]` gets; `programs` when some variant is programs.
    fn default_checks(&self, _programs: bool) -> Vec<Check> {
        self.checks().to_vec()
    }

    /// The name of its own section of a scenario (`"lock"` for `[lock]`), if it has one.
    fn section(&self) -> Option<&'static str> {
        None
    }

    /// Its section of scenario `text` (the whole file, so errors point into it), parsed;
    /// called only for families with a [`Family::section`], present in the file or not.
    fn plan(&self, _text: &str, _at: At<'_>) -> Result<std::sync::Arc<dyn Plan>, ScenarioError> {
        Err(_at(
            0..0,
            format!("family {} has no section of its own", self.info().name),
        ))
    }

    /// The programs that can implement it; `None` when none can (its logic lives in one
    /// process's threads).
    fn programs(&self) -> Option<ProgramKind> {
        None
    }

    /// Whether its programs can run in `scenario` as written (`explore` when it has
    /// `[explore]`, with `readers` readers); the error says what to change.
    fn program_rules(&self, _explore: bool, _readers: u32) -> Result<(), &'static str> {
        Ok(())
    }

    /// Turns on the lock-order check (`--lockdep`) in `scenario`, where the family has one.
    fn enable_lockdep(&self, _scenario: &mut Scenario) {}

    /// Its bundled variant `name`, as a scenario runs it.
    fn bundled(&self, name: &str) -> Option<Target<'static>> {
        self.info().variant(name).map(Target::BuiltIn)
    }

    /// Its roles in the process trials of `scenario`, for `target` (a bundled variant of
    /// this family or programs implementing it); `None` when the family, or that kind of
    /// program, does not run as processes.
    fn roles<'s>(&self, _scenario: &'s Scenario, _target: Target<'s>) -> Option<Box<dyn Roles + 's>> {
        None
    }

    /// The crash states `select` picks as `scenario`'s trials of `target`, when the scenario
    /// asks for crash states rather than processes (programs under `[explore]`, a queue's
    /// `[queue] model`); `None` when it does not. An error says why the workload could not run.
    fn crash_trials(
        &self,
        _scenario: &Scenario,
        _target: Target<'_>,
        _select: &dyn Fn(u64) -> bool,
    ) -> Option<Result<Sweep, String>> {
        None
    }

    /// Its `[live]` workload for `target` in `scenario` (programs on a live mount, the power
    /// cut under them); `None` when the scenario has no `[live]` or the family no live
    /// workload for that target. An error says why the workload cannot run.
    fn live_workload<'s>(
        &self,
        _scenario: &'s Scenario,
        _target: Target<'s>,
    ) -> Option<Result<crate::live::trial::LiveWorkload<'s>, String>> {
        None
    }

    /// Its workload on the simulated file system, for the crash detector (`faultline
    /// explore`); `None` when it has none.
    fn simulated(&self) -> Option<&dyn Simulated> {
        None
    }
}

/// Every family, in the registry's order.
pub static FAMILIES: [&dyn Family; 5] = [
    &document::AtomicWriteFamily,
    &lock::LockFamily,
    &queue::QueueFamily,
    &document::StoreFamily,
    &tasks::TasksFamily,
];

/// The family called `name`.
pub fn by_name(name: &str) -> Option<&'static dyn Family> {
    FAMILIES.iter().copied().find(|f| f.info().name == name)
}
