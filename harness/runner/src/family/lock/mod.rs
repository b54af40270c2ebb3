//! Family `lock`: holders that take the lock exclusively (writers) or shared (readers) and log
//! every entry and exit of their critical sections; the trial is judged from those logs, the
//! counter, the owner record, a planted symlink's target, and the lock-order graph.

pub mod checks;
pub mod holder;
pub mod lockdep;
pub mod roles;

use faultline_targets::lock;
use faultline_targets::registry::FamilyInfo;

use self::roles::{HolderKind, LockRoles};
use super::Family;
use super::target::Target;
use crate::process::roles::Roles;
use crate::program::Programs;
use crate::scenario::Scenario;

/// Family `lock`: file locks, bundled or programs that take a lock and run `{critical}`.
pub struct LockFamily;

impl Family for LockFamily {
    fn info(&self) -> &'static FamilyInfo {
        &lock::INFO
    }

    fn bundled(&self, name: &str) -> Option<Target<'static>> {
        lock::Variant::by_name(name).map(Target::Lock)
    }

    fn roles<'s>(&self, scenario: &'s Scenario, target: Target<'s>) -> Option<Box<dyn Roles + 's>> {
        let kind = match target {
            Target::Lock(variant) => HolderKind::BuiltIn(variant),
            Target::Program(p) => match &p.roles.programs {
                Programs::Lock { holder } => HolderKind::Program {
                    roles: p.roles,
                    holder,
                },
                _ => return None,
            },
            _ => return None,
        };
        Some(Box::new(LockRoles::new(scenario, kind)))
    }
}
