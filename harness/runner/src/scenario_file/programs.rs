//! `[commands.NAME]` tables: programs given in the scenario, any language, as implementations
//! of the scenario's family (document writers for `atomic-write`, producers and consumers for
//! `queue`, holders for `lock`).

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;

use super::raw::RawCommand;
use crate::program::{self, CommandRoles};
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

/// The programs of one `[commands.NAME]` table: a document writer (with an optional reader
/// and checker), a queue's producer and consumer, or a lock's holder.
pub(super) fn command_programs(
    table: &Spanned<RawCommand>,
    at: At<'_>,
) -> Result<program::Programs, ScenarioError> {
    let c = table.get_ref();
    let roles = [
        ("writer", &c.writer),
        ("reader", &c.reader),
        ("checker", &c.checker),
        ("producer", &c.producer),
        ("consumer", &c.consumer),
        ("holder", &c.holder),
    ];
    for (role, words) in roles {
        let Some(w) = words else { continue };
        if w.get_ref().is_empty() {
            return Err(at(w.span(), "a command needs at least the program's name".into()));
        }
        if let Some(bad) = program::unknown_placeholder(w.get_ref()) {
            let valid: Vec<&str> = program::PLACEHOLDERS.iter().map(|(p, _)| *p).collect();
            return Err(at(
                w.span(),
                format!(
                    "unknown placeholder {bad}; valid placeholders: {}",
                    valid.join(", ")
                ),
            ));
        }
        let critical = w.get_ref().iter().filter(|x| x.contains("{critical}")).count();
        let whole = w.get_ref().iter().filter(|x| *x == "{critical}").count();
        if role == "holder" && (whole != 1 || critical != 1) {
            return Err(at(
                w.span(),
                "a holder must run the critical section while it holds the lock: give \"{critical}\" as one word of its own, once, e.g. holder = [\"flock\", \"{lock}\", \"{critical}\"]".into(),
            ));
        }
        if role != "holder" && critical > 0 {
            return Err(at(
                w.span(),
                format!("{{critical}} is for holders only, not a {role}"),
            ));
        }
    }
    let get = |w: &Option<Spanned<Vec<String>>>| w.as_ref().map(|w| w.get_ref().clone());
    let kinds = [
        ("writer", c.writer.is_some()),
        ("producer", c.producer.is_some() || c.consumer.is_some()),
        ("holder", c.holder.is_some()),
    ];
    let given: Vec<&str> = kinds.iter().filter(|(_, g)| *g).map(|(k, _)| *k).collect();
    let extra = |role: &str, words: &Option<Spanned<Vec<String>>>, kind: &str| {
        words.as_ref().map(|w| {
            at(
                w.span(),
                format!("`{role}` does not go with a {kind}'s programs; a variant is one kind of program"),
            )
        })
    };
    match given.as_slice() {
        ["writer"] => Ok(program::Programs::Document {
            writer: get(&c.writer).unwrap_or_default(),
            reader: get(&c.reader),
            checker: get(&c.checker),
        }),
        ["producer"] => {
            if let Some(e) = extra("reader", &c.reader, "queue").or(extra("checker", &c.checker, "queue")) {
                return Err(e);
            }
            match (get(&c.producer), get(&c.consumer)) {
                (Some(producer), Some(consumer)) => Ok(program::Programs::Queue { producer, consumer }),
                _ => Err(at(
                    table.span(),
                    "a queue needs both producer = [...] (enqueues {item}) and consumer = [...] (delivers up to {count})".into(),
                )),
            }
        }
        ["holder"] => {
            if let Some(e) = extra("reader", &c.reader, "lock").or(extra("checker", &c.checker, "lock")) {
                return Err(e);
            }
            Ok(program::Programs::Lock {
                holder: get(&c.holder).unwrap_or_default(),
            })
        }
        [] => Err(at(
            table.span(),
            "give writer = [...] (a document), producer and consumer (a queue), or holder (a lock)".into(),
        )),
        _ => Err(at(
            table.span(),
            format!(
                "a variant is one kind of program, but this table has {}",
                given.join(" and ")
            ),
        )),
    }
}
