//! Family `lock`: holders that take the lock exclusively (writers) or shared (readers) and log
//! every entry and exit of their critical sections; the trial is judged from those logs, the
//! counter, the owner record, a planted symlink's target, and the lock-order graph.

pub mod checks;
pub mod holder;
pub mod lockdep;
pub mod plan;
pub mod roles;

use faultline_targets::lock;
use faultline_targets::registry::FamilyInfo;

use self::plan::LockPlan;
use self::roles::{HolderKind, LockRoles};
use super::target::Target;
use super::{Family, ProgramKind};
use crate::process::roles::Roles;
use crate::program::ProgramRole;
use crate::scenario::{At, Check, Plan, Scenario, ScenarioError};

/// Family `lock`: file locks, bundled or programs that take a lock and run `{critical}`.
pub struct LockFamily;

impl Family for LockFamily {
    fn info(&self) -> &'static FamilyInfo {
        &lock::INFO
    }

    fn checks(&self) -> &'static [Check] {
        &[
            Check::TwoHolders,
            Check::LostUpdate,
            Check::NoStuckLock,
            Check::OwnerRecord,
            Check::SymlinkVictim,
            Check::LockOrder,
        ]
    }

    fn section(&self) -> Option<&'static str> {
        Some("lock")
    }

    fn plan(&self, text: &str, at: At<'_>) -> Result<std::sync::Arc<dyn Plan>, ScenarioError> {
        Ok(std::sync::Arc::new(plan::parse(text, at)?))
    }

    fn programs(&self) -> Option<ProgramKind> {
        Some(ProgramKind {
            kind: "lock",
            gives: "holder = [...]",
            roles: &[ProgramRole {
                name: "holder",
                required: true,
                critical: Some(
                    "a holder must run the critical section while it holds the lock: give \"{critical}\" as one word of its own, once, e.g. holder = [\"flock\", \"{lock}\", \"{critical}\"]",
                ),
            }],
            needs: "a lock needs holder = [...] (takes {lock} and runs {critical})",
        })
    }

    fn program_rules(&self, explore: bool, readers: u32) -> Result<(), &'static str> {
        if explore {
            return Err("lock programs run as processes, not from a recorded trace: remove [explore]");
        }
        if readers > 0 {
            return Err(
                "lock programs hold exclusively: set [roles] readers = 0 and use writers for holders",
            );
        }
        Ok(())
    }

    fn enable_lockdep(&self, scenario: &mut Scenario) {
        let plan = LockPlan {
            lockdep: true,
            ..LockPlan::of(scenario)
        };
        scenario.plan = Some(std::sync::Arc::new(plan));
        if !scenario.checks.contains(&Check::LockOrder) {
            scenario.checks.push(Check::LockOrder);
        }
    }

    fn roles<'s>(&self, scenario: &'s Scenario, target: Target<'s>) -> Option<Box<dyn Roles + 's>> {
        let kind = match target {
            Target::BuiltIn(v) => HolderKind::BuiltIn(lock::Variant::by_name(v.name)?),
            Target::Program(p) => HolderKind::Program {
                roles: p.roles,
                holder: p.roles.programs.command("holder")?,
            },
        };
        Some(Box::new(LockRoles::new(scenario, kind)))
    }
}
