//! The families faultline judges, one folder each, and their registry.
//!
//! A family implements [`Family`] once, in its folder: its entry in the targets' registry (its
//! variants and crash points), its bundled variants as a scenario runs them, its roles for the
//! process detector (how a trial's directory is prepared, which workers start, when they stop,
//! and how the trial is judged afterwards: a [`Roles`]), and its simulated workload for the
//! crash detector where it has one ([`Explorable`]). Programs given in a scenario implement a
//! family too ([`target::Target::Program`]), and the family judges them with the same oracles.
//!
//! Adding a family is its folder (and its targets in `faultline-targets`) plus one line in
//! [`FAMILIES`]; the checks it judges name it in `scenario::Check::families`.

pub mod document;
pub mod explorable;
pub mod lock;
pub mod queue;
pub mod target;
pub mod tasks;

use faultline_targets::registry::FamilyInfo;

pub use self::explorable::Explorable;
use self::target::Target;
use crate::crash::Sweep;
use crate::process::roles::Roles;
use crate::scenario::Scenario;

/// One family: what it runs and how each detector drives it.
pub trait Family: Sync {
    /// Its entry in the targets' registry: name, variants with catalogue IDs, crash points.
    fn info(&self) -> &'static FamilyInfo;

    /// Its bundled variant `name`, as a scenario runs it.
    fn bundled(&self, _name: &str) -> Option<Target<'static>> {
        None
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

    /// Its variant `name` with a workload on the simulated file system, for the crash
    /// detector; `None` when it has none.
    fn explorable(&self, _name: &str) -> Option<Explorable> {
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
