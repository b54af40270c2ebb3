//! Reading a scenario file: strict, section by section, each section checked by its owner (the
//! common ones here, a family's own section by the family). A syntax error, an unknown key, a
//! wrong type, an unknown family, variant, crash point or failure kind is a [`ScenarioError`]
//! naming the file, line and column, and nothing runs.
//!
//! The format is in `scenarios/README.md`. The checked result is a [`Scenario`].

mod programs;
mod raw;
mod sections;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use faultline_core::FailureKind;
use toml::Spanned;

use self::raw::{RawScenario, RawWorkload};
use crate::family::{self, Family};
use crate::program::CommandRoles;
use crate::scenario::{At, Scenario, ScenarioError};

/// Reads and checks the scenario at `path`.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        path: path.to_path_buf(),
        line: 1,
        column: 1,
        message: format!("cannot read the file ({e}); give the path of a scenario .toml file"),
    })?;
    parse(path, &text)
}

/// Checks scenario `text` as if read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let at = |span: Range<usize>, message: String| {
        let (line, column) = line_column(text, span.start);
        ScenarioError {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        at(span, e.message().trim().to_string())
    })?;
    let named = sections::family(&raw.family, &at)?;
    let (family_name, commands) =
        programs::commands(raw.commands.as_ref(), named, raw.family.span(), path, &at)?;
    let family = family::by_name(family_name).ok_or_else(|| {
        at(
            raw.family.span(),
            "name the family the programs implement: atomic-write, queue or lock".into(),
        )
    })?;
    top_level_keys(text, family, &at)?;
    let variants = sections::variants(&raw.variants, family.info(), &commands, raw.family.span(), &at)?;
    // Every writer and reader is a process: a typo of a million would fork a million.
    let writers = crate::scenario::within(
        &raw.roles.writers,
        "[roles] writers",
        1..=MAX_ROLE,
        "each is a process",
        &at,
    )?;
    let readers = match &raw.roles.readers {
        Some(r) => crate::scenario::within(r, "[roles] readers", 0..=MAX_ROLE, "each is a process", &at)?,
        None => 0,
    };
    let threads = match &raw.roles.threads {
        Some(t) => crate::scenario::within(t, "[roles] threads", 1..=MAX_ROLE, "per writer process", &at)?,
        None => 1,
    };
    let workload = raw.workload.unwrap_or(RawWorkload {
        document_bytes: None,
        reads_per_reader: None,
        writes_per_writer: None,
        read_pause_us: None,
        write_pause_us: None,
    });
    let document_bytes = sections::document_bytes(&workload, &at)?;
    let programs: Vec<&CommandRoles> = variants.iter().filter_map(|v| commands.get(v)).collect();
    let bundled = variants
        .iter()
        .find(|v| !commands.contains_key(*v))
        .map(String::as_str);
    let faults = sections::faults(
        raw.faults,
        family.info(),
        !programs.is_empty(),
        writers + readers,
        &at,
    )?;
    let explore = sections::explore(raw.explore, bundled, family.info(), &at)?;
    let live = sections::live(raw.live, explore.is_some(), bundled, &at)?;
    if !programs.is_empty()
        && let Err(message) = family.program_rules(explore.is_some() || live.is_some(), readers)
    {
        return Err(at(raw.family.span(), message.into()));
    }
    if explore.is_some() && !programs.is_empty() {
        sections::unused_under_explore(text, &at)?;
    } else if live.is_some() && !programs.is_empty() {
        sections::unused_without_processes(
            text,
            "[live]",
            "the writer runs on a live mount and the power is cut under it",
            &at,
        )?;
    } else if bundled.is_none() && !programs.is_empty() {
        sections::unused_with_programs(text, &at)?;
    }
    let (expect, trials_per_variant) = sections::expectations(&raw.expect, &variants, &at)?;
    Ok(Scenario {
        path: path.to_path_buf(),
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        description: raw.description.unwrap_or_default(),
        family: family.info().name,
        variants,
        seed: raw.seed.unwrap_or(0),
        writers,
        readers,
        threads,
        document_bytes,
        reads_per_reader: workload.reads_per_reader.unwrap_or(100),
        writes_per_writer: workload.writes_per_writer.unwrap_or(10_000),
        program_versions: workload
            .writes_per_writer
            .unwrap_or(crate::scenario::PROGRAM_VERSIONS),
        read_pause_us: pause_us(workload.read_pause_us.as_ref(), "read_pause_us", &at)?,
        write_pause_us: pause_us(workload.write_pause_us.as_ref(), "write_pause_us", &at)?,
        kill: faults.kill,
        crash_points: faults.crash_points,
        pause: faults.pause,
        window: faults.window,
        checks: sections::checks(
            raw.oracle,
            family,
            !programs.is_empty(),
            programs.iter().any(|p| p.programs.command("reader").is_some()),
            &at,
        )?,
        trials: sections::trials(&raw.run, &at)?,
        trials_per_variant,
        duration_s: raw.run.duration_s.map(|d| *d.get_ref()),
        watchdog_ms: raw.run.watchdog_ms.map_or(10_000, |w| *w.get_ref()),
        expect,
        plan: match family.section() {
            Some(_) => Some(family.plan(text, &at)?),
            None => None,
        },
        commands,
        explore,
        live,
    })
}

/// The tables and keys of a scenario file outside any family's own section.
const COMMON_KEYS: [&str; 13] = [
    "description",
    "family",
    "seed",
    "variants",
    "roles",
    "workload",
    "faults",
    "oracle",
    "commands",
    "explore",
    "live",
    "run",
    "expect",
];

/// Every top-level key of `text` is a common one or `family`'s own section.
fn top_level_keys(text: &str, family: &dyn Family, at: At<'_>) -> Result<(), ScenarioError> {
    let keys: BTreeMap<Spanned<String>, Spanned<serde::de::IgnoredAny>> =
        toml::from_str(text).map_err(|e| crate::scenario::toml_error(&e, at))?;
    for (key, value) in &keys {
        let name = key.get_ref().as_str();
        if COMMON_KEYS.contains(&name) || family.section() == Some(name) {
            continue;
        }
        let owner = family::FAMILIES.iter().find(|f| f.section() == Some(name));
        let message = match owner {
            Some(owner) => format!(
                "[{name}] applies to family {} only; this scenario's family is {}",
                owner.info().name,
                family.info().name
            ),
            None => {
                let mut valid: Vec<String> = COMMON_KEYS.iter().map(|k| format!("`{k}`")).collect();
                valid.extend(family.section().map(|s| format!("`{s}`")));
                format!("unknown field `{name}`, expected one of {}", valid.join(", "))
            }
        };
        // A table's header (`[queue]`) starts before its name.
        let start = key.span().start.min(value.span().start);
        return Err(at(start..key.span().end, message));
    }
    Ok(())
}

pub(super) fn kind_names() -> String {
    FailureKind::ALL
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The `*.toml` files in `dir`, sorted; empty if the directory is missing.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The most writers, readers or threads per writer a scenario may ask for.
const MAX_ROLE: u32 = 256;

/// A pause between reads or writes: at most a second, so a trial is many operations.
fn pause_us(value: Option<&toml::Spanned<u64>>, name: &str, at: At<'_>) -> Result<u64, ScenarioError> {
    match value {
        Some(v) => crate::scenario::within(v, name, 0..=1_000_000, "a second", at),
        None => Ok(0),
    }
}
