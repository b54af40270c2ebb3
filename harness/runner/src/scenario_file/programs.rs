//! `[commands.NAME]` tables: programs given in the scenario, any language, as implementations
//! of the scenario's family (document writers for `atomic-write`, producers and consumers for
//! `queue`, holders for `lock`).

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;

use super::raw::RawCommand;
use crate::family::ProgramKind;
use crate::program::{self, CommandRoles, ProgramRole};
use crate::results::COMMAND_FAMILY;
use crate::scenario::{At, ScenarioError};

/// The family a kind of program implements.
pub(super) fn family_of_kind(kind: &str) -> Option<&'static str> {
    crate::family::FAMILIES
        .iter()
        .find(|f| f.programs().is_some_and(|p| p.kind == kind))
        .map(|f| f.info().name)
}

/// What a family's programs must give, for error messages; `None` for families programs
/// cannot implement (their logic lives in one process's threads).
fn programs_of(family: &str) -> Option<&'static str> {
    crate::family::by_name(family)?.programs().map(|p| p.gives)
}

/// The families programs can implement and what each takes, for error messages.
fn implementable() -> String {
    crate::family::FAMILIES
        .iter()
        .filter_map(|f| Some(format!("{} ({})", f.info().name, f.programs()?.gives)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `[commands]` tables of a scenario of `family` (read from `path`): each table's programs,
/// which must be of the kind the family takes. The legacy family `command` takes any one kind
/// and becomes the family of that kind (returned).
pub(super) fn commands(
    table: Option<&Spanned<BTreeMap<String, Spanned<RawCommand>>>>,
    family: &'static str,
    family_span: std::ops::Range<usize>,
    path: &Path,
    at: At<'_>,
) -> Result<(&'static str, BTreeMap<String, CommandRoles>), ScenarioError> {
    let mut commands = BTreeMap::new();
    let Some(table) = table else {
        if family == COMMAND_FAMILY {
            return Err(at(
                family_span,
                "family command needs a [commands.NAME] table per variant; better, name the family the programs implement (atomic-write, queue or lock)".into(),
            ));
        }
        return Ok((family, commands));
    };
    if family != COMMAND_FAMILY && programs_of(family).is_none() {
        return Err(at(
            table.span(),
            format!(
                "programs cannot implement family {family}; they implement {}",
                implementable()
            ),
        ));
    }
    let scenario_dir = std::path::absolute(program::scenario_dir(path))
        .unwrap_or_else(|_| program::scenario_dir(path).to_path_buf());
    let mut resolved = (family != COMMAND_FAMILY).then_some(family);
    for (name, c) in table.get_ref() {
        let programs = command_programs(c, at)?;
        let implements = family_of_kind(programs.kind()).unwrap_or(family);
        match resolved {
            None => resolved = Some(implements),
            Some(f) if f != implements => {
                let wanted = programs_of(f).unwrap_or("programs of one kind");
                return Err(at(
                    c.span(),
                    format!(
                        "[commands.{name}] is a {} program, but family {f} takes {wanted}",
                        programs.kind()
                    ),
                ));
            }
            Some(_) => {}
        }
        if faultline_targets::registry::family(implements).is_some_and(|f| f.variant(name).is_some()) {
            return Err(at(
                c.span(),
                format!(
                    "[commands.{name}] takes the name of a bundled {implements} variant; give the programs a name of their own"
                ),
            ));
        }
        commands.insert(
            name.clone(),
            CommandRoles {
                programs,
                scenario_dir: scenario_dir.clone(),
            },
        );
    }
    Ok((resolved.unwrap_or(family), commands))
}

/// Every role any kind of program has, with its kind, in registry order.
fn all_roles() -> Vec<(ProgramKind, ProgramRole)> {
    crate::family::FAMILIES
        .iter()
        .filter_map(|f| f.programs())
        .flat_map(|k| k.roles.iter().map(move |r| (k, *r)))
        .collect()
}

/// One role a table gives: its key, its command, and the role.
struct Given<'t> {
    key: &'t Spanned<String>,
    words: &'t Spanned<Vec<String>>,
    role: ProgramRole,
}

/// The programs of one `[commands.NAME]` table: the roles of one kind of program (a family's),
/// each a command with known placeholders.
pub(super) fn command_programs(
    table: &Spanned<RawCommand>,
    at: At<'_>,
) -> Result<program::Programs, ScenarioError> {
    let roles = all_roles();
    let mut given: Vec<Given<'_>> = Vec::new();
    for (key, words) in table.get_ref() {
        let Some((_, role)) = roles.iter().find(|(_, r)| r.name == key.get_ref()) else {
            let mut valid: Vec<String> = roles.iter().map(|(_, r)| format!("`{}`", r.name)).collect();
            valid.dedup();
            return Err(at(
                key.span(),
                format!(
                    "unknown field `{}`, expected one of {}",
                    key.get_ref(),
                    valid.join(", ")
                ),
            ));
        };
        check_command(words, *role, &roles, at)?;
        given.push(Given {
            key,
            words,
            role: *role,
        });
    }
    let kind = kind_of(table, &given, &roles, at)?;
    let mut commands = BTreeMap::new();
    for Given { key, words, role } in &given {
        if !kind.roles.contains(role) {
            return Err(at(
                key.span(),
                format!(
                    "`{}` does not go with a {}'s programs; a variant is one kind of program",
                    role.name, kind.kind
                ),
            ));
        }
        commands.insert(role.name, words.get_ref().clone());
    }
    if kind
        .roles
        .iter()
        .any(|r| r.required && !commands.contains_key(r.name))
    {
        return Err(at(table.span(), kind.needs.into()));
    }
    Ok(program::Programs {
        kind: kind.kind,
        commands,
    })
}

/// The kind of program a table is: the one kind whose required roles it names.
fn kind_of(
    table: &Spanned<RawCommand>,
    given: &[Given<'_>],
    roles: &[(ProgramKind, ProgramRole)],
    at: At<'_>,
) -> Result<ProgramKind, ScenarioError> {
    // Each kind named by one of its required roles, with the first such role given, in
    // registry order.
    let mut named: Vec<(ProgramKind, &'static str)> = Vec::new();
    for (kind, r) in roles {
        let is_given = given.iter().any(|g| g.role == *r);
        if is_given && r.required && !named.iter().any(|(k, _)| k.kind == kind.kind) {
            named.push((*kind, r.name));
        }
    }
    match named.as_slice() {
        [(kind, _)] => Ok(*kind),
        [] => {
            let kinds: Vec<String> = crate::family::FAMILIES
                .iter()
                .filter_map(|f| f.programs())
                .map(|k| format!("{} (a {})", k.gives, k.kind))
                .collect();
            Err(at(table.span(), format!("give {}", kinds.join(", or "))))
        }
        _ => {
            let names: Vec<&str> = named.iter().map(|(_, r)| *r).collect();
            Err(at(
                table.span(),
                format!(
                    "a variant is one kind of program, but this table has {}",
                    names.join(" and ")
                ),
            ))
        }
    }
}

/// One role's command: not empty, known placeholders, `{critical}` only where the role runs
/// the critical section, and there once, as a word of its own.
fn check_command(
    words: &Spanned<Vec<String>>,
    role: ProgramRole,
    roles: &[(ProgramKind, ProgramRole)],
    at: At<'_>,
) -> Result<(), ScenarioError> {
    let w = words.get_ref();
    if w.is_empty() {
        return Err(at(
            words.span(),
            "a command needs at least the program's name".into(),
        ));
    }
    if let Some(bad) = program::unknown_placeholder(w) {
        let valid: Vec<&str> = program::PLACEHOLDERS.iter().map(|(p, _)| *p).collect();
        return Err(at(
            words.span(),
            format!(
                "unknown placeholder {bad}; valid placeholders: {}",
                valid.join(", ")
            ),
        ));
    }
    let critical = w.iter().filter(|x| x.contains("{critical}")).count();
    let whole = w.iter().filter(|x| *x == "{critical}").count();
    match role.critical {
        Some(rule) if whole != 1 || critical != 1 => Err(at(words.span(), rule.into())),
        None if critical > 0 => {
            let takers: Vec<String> = roles
                .iter()
                .filter(|(_, r)| r.critical.is_some())
                .map(|(_, r)| format!("{}s", r.name))
                .collect();
            Err(at(
                words.span(),
                format!(
                    "{{critical}} is for {} only, not a {}",
                    takers.join(" and "),
                    role.name
                ),
            ))
        }
        _ => Ok(()),
    }
}
