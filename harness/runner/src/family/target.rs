//! What a scenario runs: a bundled variant of a family, or programs given in the scenario
//! (any language), and the one place that maps each to its family's roles in process trials.
//! (The crash detector's one such place is [`crate::explore::Explorable`].)

use faultline_targets::{atomic_write, lock, queue, store};

use super::document::{DocumentProgram, DocumentRoles, Writes};
use super::lock::roles::{HolderKind, LockRoles};
use super::queue::roles::QueueRoles;
use crate::process::roles::Roles;
use crate::program::{CommandRoles, Programs};
use crate::scenario::Scenario;

/// Programs given in a scenario's `[commands.NAME]`: the variant's name and its commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Program<'s> {
    /// The variant's name (the table's).
    pub name: &'s str,
    /// Its commands.
    pub roles: &'s CommandRoles,
}

/// One implementation a scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'s> {
    /// An atomic-write variant: each writer replaces the file in a loop.
    AtomicWrite(atomic_write::Variant),
    /// A store variant: each writer is a process whose threads mutate and save one store.
    Store(store::Variant),
    /// A lock variant: writers hold it exclusively and readers shared, in a loop.
    Lock(lock::Variant),
    /// A queue variant: writers are producers and readers consumers.
    Queue(queue::Variant),
    /// Programs given in the scenario, judged by the oracles of the family they implement.
    Program(Program<'s>),
}

impl<'s> Target<'s> {
    /// The variant `variant` of family `family`, if both exist and the family has a process
    /// workload.
    pub fn by_name(family: &str, variant: &str) -> Option<Target<'static>> {
        match family {
            atomic_write::FAMILY => atomic_write::Variant::by_name(variant).map(Target::AtomicWrite),
            store::FAMILY => store::Variant::by_name(variant).map(Target::Store),
            lock::FAMILY => lock::Variant::by_name(variant).map(Target::Lock),
            queue::FAMILY => queue::Variant::by_name(variant).map(Target::Queue),
            _ => None,
        }
    }

    /// Variant `variant` of `scenario`: programs of the scenario's, or a bundled one.
    pub fn for_scenario(scenario: &'s Scenario, variant: &str) -> Option<Target<'s>> {
        match scenario.commands.get_key_value(variant) {
            Some((name, roles)) => Some(Target::Program(Program { name, roles })),
            None => Target::by_name(scenario.family, variant),
        }
    }

    /// The variant's name.
    pub fn name(self) -> &'s str {
        match self {
            Target::AtomicWrite(v) => v.info().name,
            Target::Store(v) => v.info().name,
            Target::Lock(v) => v.info().name,
            Target::Queue(v) => v.info().name,
            Target::Program(p) => p.name,
        }
    }

    /// Its catalogue ID: `None` for references and programs.
    pub fn catalogue_id(self) -> Option<&'static str> {
        match self {
            Target::AtomicWrite(v) => v.info().catalogue_id,
            Target::Store(v) => v.info().catalogue_id,
            Target::Lock(v) => v.info().catalogue_id,
            Target::Queue(v) => v.info().catalogue_id,
            Target::Program(_) => None,
        }
    }

    /// Its family's roles in a process trial of `scenario`; `None` for queue programs, which
    /// are judged by their crash states only.
    pub fn roles(self, scenario: &'s Scenario) -> Option<Box<dyn Roles + 's>> {
        Some(match self {
            Target::AtomicWrite(v) => Box::new(DocumentRoles::new(scenario, Writes::AtomicWrite(v))),
            Target::Store(v) => Box::new(DocumentRoles::new(scenario, Writes::Store(v))),
            Target::Lock(variant) => Box::new(LockRoles::new(scenario, HolderKind::BuiltIn(variant))),
            Target::Queue(variant) => Box::new(QueueRoles::new(scenario, variant)),
            Target::Program(p) => match &p.roles.programs {
                Programs::Document { .. } => Box::new(DocumentRoles::new(
                    scenario,
                    Writes::Program(DocumentProgram::of(p.roles)?),
                )),
                Programs::Lock { holder } => Box::new(LockRoles::new(
                    scenario,
                    HolderKind::Program {
                        roles: p.roles,
                        holder,
                    },
                )),
                Programs::Queue { .. } => return None,
            },
        })
    }
}
