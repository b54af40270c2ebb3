//! What a process writer runs: a variant of one of the families that have a process workload.

use std::path::Path;

use faultline_core::{Fs, FsResult};
use faultline_targets::registry::VariantInfo;
use faultline_targets::{atomic_write, lock, queue, store};

use crate::external::command::CommandRoles;
use crate::scenario::{COMMAND_FAMILY, Scenario};

/// A variant to run in writer processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An atomic-write variant: each writer replaces the file in a loop.
    AtomicWrite(atomic_write::Variant),
    /// A store variant: each writer is a process whose threads mutate and save one store.
    Store(store::Variant),
    /// A lock variant: writers hold it exclusively and readers shared, in a loop.
    Lock(lock::Variant),
    /// A queue variant: writers are producers and readers consumers.
    Queue(queue::Variant),
    /// A variant of family `command`: programs given in the scenario.
    Command(&'static CommandTarget),
}

/// A `command` variant: its name (as a registry entry, without a catalogue ID) and programs.
#[derive(Debug, PartialEq, Eq)]
pub struct CommandTarget {
    /// The variant's entry.
    pub info: VariantInfo,
    /// Its programs.
    pub roles: CommandRoles,
}

impl Target {
    /// The variant `variant` of family `family`, if both exist and the family has a process
    /// workload.
    pub fn by_name(family: &str, variant: &str) -> Option<Target> {
        match family {
            atomic_write::FAMILY => atomic_write::Variant::by_name(variant).map(Target::AtomicWrite),
            store::FAMILY => store::Variant::by_name(variant).map(Target::Store),
            lock::FAMILY => lock::Variant::by_name(variant).map(Target::Lock),
            queue::FAMILY => queue::Variant::by_name(variant).map(Target::Queue),
            _ => None,
        }
    }

    /// Variant `variant` of `scenario`: a built-in one, or one of a `command` scenario's.
    /// A command target lives as long as the program (one small allocation per variant run).
    pub fn for_scenario(scenario: &Scenario, variant: &str) -> Option<Target> {
        if scenario.family != COMMAND_FAMILY {
            return Target::by_name(scenario.family, variant);
        }
        let (name, roles) = scenario.commands.iter().find(|(n, _)| **n == variant)?;
        Some(Target::Command(Box::leak(Box::new(CommandTarget {
            info: VariantInfo {
                name,
                catalogue_id: None,
                summary: "a program given in the scenario's [commands]",
                expectations: &[],
            },
            roles: roles.clone(),
        }))))
    }

    /// Its registry entry.
    pub fn info(self) -> &'static VariantInfo {
        match self {
            Target::AtomicWrite(v) => v.info(),
            Target::Store(v) => v.info(),
            Target::Lock(v) => v.info(),
            Target::Queue(v) => v.info(),
            Target::Command(c) => &c.info,
        }
    }

    /// The variant's own recovery after a crash.
    pub fn recover(self, fs: &dyn Fs, path: &Path) -> FsResult<()> {
        use atomic_write::AtomicWrite;
        match self {
            Target::AtomicWrite(v) => v.recover(fs, path),
            Target::Store(v) => v.recover(fs, path),
            // Locks keep nothing to recover: the kernel drops a dead holder's lock, and the
            // owner-record lock breaks a dead owner's file itself.
            Target::Lock(_) => Ok(()),
            // A queue recovers when it is opened; the queue checks open it.
            Target::Queue(_) => Ok(()),
            // A program recovers the next time it runs; the checker command judges after.
            Target::Command(_) => Ok(()),
        }
    }
}
