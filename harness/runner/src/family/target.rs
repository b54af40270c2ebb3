//! What a scenario runs: a bundled variant of a family, or programs given in the scenario
//! (any language). Which roles each gets is its family's to say ([`super::Family`]).

use faultline_targets::registry::VariantInfo;

use crate::process::roles::Roles;
use crate::program::CommandRoles;
use crate::scenario::Scenario;

/// Programs given in a scenario's `[commands.NAME]`: the variant's name and its commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Program<'s> {
    /// The variant's name (the table's).
    pub name: &'s str,
    /// Its commands.
    pub roles: &'s CommandRoles,
}

/// One implementation a scenario runs: a bundled variant, or programs. Its family tells
/// which of its variants it is and what it does in each role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'s> {
    /// A bundled variant: its registry entry.
    BuiltIn(&'static VariantInfo),
    /// Programs given in the scenario, judged by the oracles of the family they implement.
    Program(Program<'s>),
}

impl<'s> Target<'s> {
    /// The bundled variant `variant` of family `family`, if both exist.
    pub fn by_name(family: &str, variant: &str) -> Option<Target<'static>> {
        super::by_name(family)?.bundled(variant)
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
            Target::BuiltIn(v) => v.name,
            Target::Program(p) => p.name,
        }
    }

    /// Its catalogue ID: `None` for references and programs.
    pub fn catalogue_id(self) -> Option<&'static str> {
        match self {
            Target::BuiltIn(v) => v.catalogue_id,
            Target::Program(_) => None,
        }
    }

    /// Its family's roles in a process trial of `scenario`; `None` where the family (or
    /// its kind of program) does not run as processes.
    pub fn roles(self, scenario: &'s Scenario) -> Option<Box<dyn Roles + 's>> {
        super::by_name(scenario.family)?.roles(scenario, self)
    }
}
