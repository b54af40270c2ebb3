//! The sections of a scenario file, each checked on its own: what is wrong is an error at the
//! key or table, and nothing runs.

use std::collections::BTreeMap;

use faultline_core::FailureKind;
use faultline_targets::registry::{self, FamilyInfo};
use toml::Spanned;

use super::kind_names;
use super::raw::{
    RawExpectation, RawExplore, RawFaults, RawLive, RawOracle, RawRun, RawWindowStep, RawWorkload,
};
use crate::program::CommandRoles;
use crate::results::COMMAND_FAMILY;
use crate::scenario::{
    At, Check, CommandExplore, CrashPointKill, Expectation, LivePlan, Pause, RandomKill, ScenarioError,
    WindowStep,
};

/// The family named in `family`: one of the registry's, or the legacy `command` (resolved
/// to the family its programs implement).
pub(super) fn family(family: &Spanned<String>, at: At<'_>) -> Result<&'static str, ScenarioError> {
    if family.get_ref() == COMMAND_FAMILY {
        return Ok(COMMAND_FAMILY);
    }
    registry::family(family.get_ref()).map(|f| f.name).ok_or_else(|| {
        at(
            family.span(),
            format!(
                "unknown family '{}'; valid families: {}",
                family.get_ref(),
                registry::family_names()
            ),
        )
    })
}

/// The variants, in order: each a bundled variant of `family` or a `[commands]` table.
pub(super) fn variants(
    raw: &[Spanned<String>],
    family: &FamilyInfo,
    commands: &BTreeMap<String, CommandRoles>,
    family_span: std::ops::Range<usize>,
    at: At<'_>,
) -> Result<Vec<String>, ScenarioError> {
    if raw.is_empty() {
        return Err(at(family_span, "list at least one variant in `variants`".into()));
    }
    let mut variants = Vec::new();
    for v in raw {
        let name = v.get_ref();
        if commands.contains_key(name) || family.variant(name).is_some() {
            variants.push(name.clone());
            continue;
        }
        return Err(at(
            v.span(),
            format!(
                "unknown variant '{name}' of family {}; valid variants: {}, or programs in a [commands.{name}] table",
                family.name,
                family.variant_names()
            ),
        ));
    }
    Ok(variants)
}

/// The longest time a scenario may give for a fault's offset or pause.
const HOUR_MS: u64 = 3_600_000;

/// `[workload] document_bytes`.
pub(super) fn document_bytes(workload: &RawWorkload, at: At<'_>) -> Result<usize, ScenarioError> {
    let document_bytes = match &workload.document_bytes {
        Some(b) if !(64..=16 << 20).contains(b.get_ref()) => {
            return Err(at(
                b.span(),
                format!("document_bytes must be from 64 to 16777216, got {}", b.get_ref()),
            ));
        }
        Some(b) => *b.get_ref(),
        None => 4096,
    };
    Ok(document_bytes)
}

/// The `[faults]` table.
pub(super) struct Faults {
    pub(super) kill: Option<RandomKill>,
    pub(super) crash_points: Vec<CrashPointKill>,
    pub(super) pause: Option<Pause>,
    pub(super) window: Vec<WindowStep>,
}

/// The `[faults]` table of a scenario of `family`; `programs` when any variant is programs
/// (they pass no crash point, and a pause would stop the worker, not the program).
pub(super) fn faults(
    faults: Option<RawFaults>,
    family: &FamilyInfo,
    programs: bool,
    workers: u32,
    at: At<'_>,
) -> Result<Faults, ScenarioError> {
    let faults = faults.unwrap_or(RawFaults {
        kill: None,
        crash_points: Vec::new(),
        pause: None,
        window: Vec::new(),
    });
    let kill = match faults.kill {
        Some(k)
            if k.offset_ms.get_ref()[0] > k.offset_ms.get_ref()[1] || k.offset_ms.get_ref()[1] > HOUR_MS =>
        {
            return Err(at(
                k.offset_ms.span(),
                format!("offset_ms must be [min, max] with min <= max <= {HOUR_MS} (an hour)"),
            ));
        }
        Some(k) => {
            let [min, max] = *k.offset_ms.get_ref();
            Some(RandomKill {
                offset_ms_min: min,
                offset_ms_max: max,
            })
        }
        None => None,
    };
    if programs && let Some(cp) = faults.crash_points.first() {
        return Err(at(
            cp.span(),
            "programs pass no crash point (they do not call faultline); use [faults.kill]".into(),
        ));
    }
    let mut crash_points = Vec::new();
    for cp in &faults.crash_points {
        let name = cp.get_ref().point.get_ref();
        let point = family.crash_points.iter().find(|p| **p == name).ok_or_else(|| {
            at(
                cp.get_ref().point.span(),
                format!(
                    "unknown crash point '{name}'; valid points: {}",
                    family.crash_points.join(", ")
                ),
            )
        })?;
        if cp.get_ref().hit == 0 {
            return Err(at(cp.span(), "crash point hit counts from 1".into()));
        }
        crash_points.push(CrashPointKill {
            point,
            hit: cp.get_ref().hit,
        });
    }
    let pause = match faults.pause {
        Some(p) if p.after_ms.get_ref()[0] > p.after_ms.get_ref()[1] || p.after_ms.get_ref()[1] > HOUR_MS => {
            return Err(at(
                p.after_ms.span(),
                format!("after_ms must be [min, max] with min <= max <= {HOUR_MS} (an hour)"),
            ));
        }
        Some(p) if programs => {
            return Err(at(
                p.after_ms.span(),
                "[faults.pause] is not supported for programs: it would stop the worker, not the program"
                    .into(),
            ));
        }
        Some(p) => {
            let [min, max] = *p.after_ms.get_ref();
            Some(Pause {
                after_ms_min: min,
                after_ms_max: max,
                for_ms: crate::scenario::within(&p.for_ms, "for_ms", 0..=HOUR_MS, "an hour", at)?,
            })
        }
        None => None,
    };

    let window = window(&faults.window, family, programs, workers, at)?;
    Ok(Faults {
        kill,
        crash_points,
        pause,
        window,
    })
}

/// `[faults] window`: two or more steps, each a worker (of `workers`), its own, and a crash
/// point of the family.
fn window(
    raw: &[Spanned<RawWindowStep>],
    family: &FamilyInfo,
    programs: bool,
    workers: u32,
    at: At<'_>,
) -> Result<Vec<WindowStep>, ScenarioError> {
    let Some(first) = raw.first() else {
        return Ok(Vec::new());
    };
    if programs {
        return Err(at(
            first.span(),
            "programs pass no crash point (they do not call faultline): a window needs a bundled variant"
                .into(),
        ));
    }
    if raw.len() < 2 {
        return Err(at(
            first.span(),
            "a window has two or more steps: one worker stops at its point while the next runs to its own"
                .into(),
        ));
    }
    let mut steps: Vec<WindowStep> = Vec::new();
    for step in raw {
        let s = step.get_ref();
        if s.worker == 0 || s.worker > workers {
            return Err(at(
                step.span(),
                format!(
                    "worker {} does not exist: workers are numbered 1 to {workers} (writers, then readers)",
                    s.worker
                ),
            ));
        }
        if steps.iter().any(|w| w.worker == s.worker) {
            return Err(at(
                step.span(),
                format!("worker {} is in the window twice", s.worker),
            ));
        }
        let name = s.point.get_ref();
        let point = family.crash_points.iter().find(|p| **p == name).ok_or_else(|| {
            at(
                s.point.span(),
                format!(
                    "unknown crash point '{name}'; valid points: {}",
                    family.crash_points.join(", ")
                ),
            )
        })?;
        if s.hit == 0 {
            return Err(at(step.span(), "crash point hit counts from 1".into()));
        }
        steps.push(WindowStep {
            worker: s.worker,
            point,
            hit: s.hit,
            kill: s.kill,
        });
    }
    Ok(steps)
}

/// The `[explore]` table: the crash states of the programs' recorded runs; `bundled` names a
/// bundled variant of the scenario, if it has one.
pub(super) fn explore(
    raw: Option<Spanned<RawExplore>>,
    bundled: Option<&str>,
    family: &FamilyInfo,
    at: At<'_>,
) -> Result<Option<CommandExplore>, ScenarioError> {
    let explore = match raw {
        None => None,
        Some(e) if bundled.is_some() => {
            let variant = bundled.unwrap_or_default();
            return Err(at(
                e.span(),
                format!(
                    "[explore] judges programs' recorded runs, and '{variant}' is a bundled variant: its crash states are `faultline explore --family {} --variant {variant}`",
                    family.name
                ),
            ));
        }
        Some(e) => {
            let e = e.into_inner();
            let model = e
                .model
                .get_ref()
                .parse::<faultline_core::PersistenceModel>()
                .map_err(|_| {
                    at(
                        e.model.span(),
                        format!(
                            "unknown model '{}'; valid models: process-crash, power-loss",
                            e.model.get_ref()
                        ),
                    )
                })?;
            let block_size = block_size(e.block_size.as_ref(), at)?;
            let versions = versions(e.versions.as_ref(), at)?;
            Some(CommandExplore {
                model,
                block_size,
                versions,
            })
        }
    };
    Ok(explore)
}

/// A table's `block_size` (default 4096): a power of two from 512 to 1048576.
fn block_size(raw: Option<&Spanned<u64>>, at: At<'_>) -> Result<u64, ScenarioError> {
    match raw {
        Some(b) if faultline_core::BlockSize::new(*b.get_ref()).is_err() => Err(at(
            b.span(),
            format!(
                "block_size must be a power of two from 512 to 1048576, got {}",
                b.get_ref()
            ),
        )),
        Some(b) => Ok(*b.get_ref()),
        None => Ok(4096),
    }
}

/// A table's `versions` (default 2): 1 to 20.
fn versions(raw: Option<&Spanned<u32>>, at: At<'_>) -> Result<u32, ScenarioError> {
    match raw {
        Some(v) if !(1..=20).contains(v.get_ref()) => {
            Err(at(v.span(), "versions must be from 1 to 20".into()))
        }
        Some(v) => Ok(*v.get_ref()),
        None => Ok(2),
    }
}

/// The `[live]` table: programs run on a live mount with power cuts; refused beside
/// `[explore]` and for a scenario with a bundled variant.
pub(super) fn live(
    raw: Option<Spanned<RawLive>>,
    explore: bool,
    bundled: Option<&str>,
    at: At<'_>,
) -> Result<Option<LivePlan>, ScenarioError> {
    let Some(raw) = raw else { return Ok(None) };
    let span = raw.span();
    if explore {
        return Err(at(
            span,
            "[live] and [explore] judge the same programs two ways; keep one of them".into(),
        ));
    }
    if let Some(variant) = bundled {
        return Err(at(
            span,
            format!(
                "[live] runs programs on a live mount, and '{variant}' is a bundled variant; give it as [commands.{variant}] or remove it"
            ),
        ));
    }
    let raw = raw.into_inner();
    let versions = versions(raw.versions.as_ref(), at)?;
    let keep_random = match &raw.keep {
        None => true,
        Some(k) if k.get_ref() == "random" => true,
        Some(k) if k.get_ref() == "nothing" => false,
        Some(k) => {
            return Err(at(
                k.span(),
                format!(
                    "unknown keep '{}'; use \"nothing\" (a cut loses every change no fsync covered) or \"random\" (a seeded subset, writes torn at block_size)",
                    k.get_ref()
                ),
            ));
        }
    };
    let block_size = block_size(raw.block_size.as_ref(), at)?;
    Ok(Some(LivePlan {
        versions,
        keep_random,
        block_size,
    }))
}

/// The `[oracle]` table, or the family's default checks (`programs` when some variant is
/// programs).
pub(super) fn checks(
    raw: Option<RawOracle>,
    family: &dyn crate::family::Family,
    programs: bool,
    program_readers: bool,
    at: At<'_>,
) -> Result<Vec<Check>, ScenarioError> {
    let checks = match raw {
        None => family.default_checks(programs),
        Some(o) => {
            let mut checks = Vec::new();
            for c in &o.checks {
                let check = Check::ALL
                    .into_iter()
                    .find(|k| k.name() == c.get_ref())
                    .ok_or_else(|| {
                        let valid: Vec<&str> = Check::ALL.iter().map(|k| k.name()).collect();
                        at(
                            c.span(),
                            format!(
                                "unknown check '{}'; valid checks: {}",
                                c.get_ref(),
                                valid.join(", ")
                            ),
                        )
                    })?;
                if check == Check::ReadsAreVersions && !program_readers {
                    return Err(at(
                        c.span(),
                        "reads-are-versions judges what reader programs print: give a variant's \
                         [commands] a reader that prints the file it read (`cat {path}`)"
                            .into(),
                    ));
                }
                checks.push(check);
            }
            checks
        }
    };
    Ok(checks)
}

/// `[run] trials` (10 by default); `duration_s` must be a positive number of seconds.
pub(super) fn trials(run: &RawRun, at: At<'_>) -> Result<u64, ScenarioError> {
    let trials = match &run.trials {
        Some(t) if *t.get_ref() == 0 => {
            return Err(at(
                t.span(),
                "trials must be at least 1 (or give duration_s instead)".into(),
            ));
        }
        Some(t) => *t.get_ref(),
        None => 10,
    };
    // Bounded here, so no duration built from them can overflow: 1 ms to 30 days.
    if let Some(d) = &run.duration_s
        && !(0.001..=2_592_000.0).contains(d.get_ref())
    {
        return Err(at(
            d.span(),
            "duration_s must be a number of seconds from 0.001 to 2592000 (30 days)".into(),
        ));
    }
    if let Some(w) = &run.watchdog_ms
        && !(10..=3_600_000).contains(w.get_ref())
    {
        return Err(at(
            w.span(),
            "watchdog_ms must be from 10 to 3600000 (an hour): how often a running trial is looked at".into(),
        ));
    }
    Ok(trials)
}

/// Expectations and trial counts by variant.
pub(super) type Expectations = (BTreeMap<String, Expectation>, BTreeMap<String, u64>);

/// The `[expect.VARIANT]` tables: each names a variant the scenario runs.
pub(super) fn expectations(
    raw: &BTreeMap<String, Spanned<RawExpectation>>,
    variants: &[String],
    at: At<'_>,
) -> Result<Expectations, ScenarioError> {
    let mut expect = BTreeMap::new();
    let mut trials_per_variant = BTreeMap::new();
    for (name, e) in raw {
        let variant = variants.iter().find(|v| **v == name.as_str()).ok_or_else(|| {
            at(
                e.span(),
                format!(
                    "[expect.{name}] names a variant this scenario does not run; it runs: {}",
                    variants.join(", ")
                ),
            )
        })?;
        let raw_e = e.get_ref();
        let must_fail = match &raw_e.must_fail {
            None => None,
            Some(kinds) => {
                let mut out = Vec::new();
                for k in kinds {
                    let kind = FailureKind::ALL
                        .into_iter()
                        .find(|f| f.to_string() == *k.get_ref())
                        .ok_or_else(|| {
                            at(
                                k.span(),
                                format!(
                                    "unknown failure kind '{}'; valid kinds: {}",
                                    k.get_ref(),
                                    kind_names()
                                ),
                            )
                        })?;
                    out.push(kind);
                }
                Some(out)
            }
        };
        if let Some(rate) = raw_e.max_failure_rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(at(e.span(), "max_failure_rate is a fraction from 0 to 1".into()));
        }
        if must_fail.is_none() && raw_e.max_failures.is_none() && raw_e.max_failure_rate.is_none() {
            return Err(at(
                e.span(),
                "an expectation needs must_fail, max_failures or max_failure_rate".into(),
            ));
        }
        if raw_e.trials == Some(0) {
            return Err(at(e.span(), "trials must be at least 1".into()));
        }
        if let Some(t) = raw_e.trials {
            trials_per_variant.insert(variant.clone(), t);
        }
        expect.insert(
            variant.clone(),
            Expectation {
                must_fail,
                max_failures: raw_e.max_failures,
                max_failure_rate: raw_e.max_failure_rate,
            },
        );
    }

    Ok((expect, trials_per_variant))
}

/// Keys that do nothing when programs are judged under `[explore]` (no processes run: the
/// writer's run is recorded and its crash states judged): the first one given is refused
/// where it stands.
pub(super) fn unused_under_explore(text: &str, at: At<'_>) -> Result<(), ScenarioError> {
    unused_without_processes(
        text,
        "[explore]",
        "the writer's run is recorded and its crash states judged",
        at,
    )
}

/// Keys that do nothing when programs are judged without processes of their own, under
/// `table` (`[explore]` or `[live]`), which judges them as `how` says.
pub(super) fn unused_without_processes(
    text: &str,
    table_name: &str,
    how: &str,
    at: At<'_>,
) -> Result<(), ScenarioError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| crate::scenario::toml_error(&e, at))?;
    let value = |section: &str, key: &str| table.get(section).and_then(|s| s.get(key));
    let refuse = |section: &str, key: &str, why: &str| {
        Err(at(
            key_span(text, section, key),
            format!(
                "{key} does nothing with {table_name}: no processes run, {how}{why}; remove it, or the {table_name} table"
            ),
        ))
    };
    const UNUSED: [(&str, &str); 7] = [
        ("roles", "readers"),
        ("roles", "threads"),
        ("workload", "reads_per_reader"),
        ("workload", "writes_per_writer"),
        ("workload", "read_pause_us"),
        ("workload", "write_pause_us"),
        ("run", "watchdog_ms"),
    ];
    for (section, key) in UNUSED {
        if value(section, key).is_some() {
            let why = if key == "writes_per_writer" {
                " (the table's versions sets how many it writes)"
            } else {
                ""
            };
            return refuse(section, key, why);
        }
    }
    if value("roles", "writers").and_then(toml::Value::as_integer) != Some(1) {
        return Err(at(
            key_span(text, "roles", "writers"),
            if table_name == "[explore]" {
                "[explore] records one writer's run: `writers = 1`".to_string()
            } else {
                format!("{table_name} runs one writer: `writers = 1`")
            },
        ));
    }
    if table.contains_key("oracle") {
        return Err(at(
            key_span(text, "oracle", "checks"),
            format!(
                "[oracle] checks do nothing with {table_name}: each crash state is judged by the family's \
                 oracles, or by the checker program if the variant gives one; remove it"
            ),
        ));
    }
    if let Some(faults) = table.get("faults").and_then(toml::Value::as_table)
        && let Some(key) = faults.keys().next()
    {
        return refuse("faults", key, " (the crash states are the faults)");
    }
    let commands = table.get("commands").and_then(toml::Value::as_table);
    for (name, roles) in commands.into_iter().flatten() {
        if roles.get("reader").is_some() {
            return refuse(
                &format!("commands.{name}"),
                "reader",
                " (nothing reads while it writes)",
            );
        }
    }
    Ok(())
}

/// Where `key` of table `[section]` stands in `text` (its header when the key is not found on
/// a line of its own).
fn key_span(text: &str, section: &str, key: &str) -> std::ops::Range<usize> {
    let header = format!("[{section}]");
    let mut offset = 0;
    let mut inside = false;
    let mut header_span = 0..0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            inside = trimmed == header;
            if inside {
                let start = offset + (line.len() - line.trim_start().len());
                header_span = start..start + header.len();
            }
        } else if inside
            && let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            let start = offset + (line.len() - line.trim_start().len());
            return start..start + key.len();
        }
        offset += line.len();
    }
    header_span
}

/// `reads_per_reader` when every variant is programs: their readers read until every writer is
/// done, so it would do nothing; refused where it stands.
pub(super) fn unused_with_programs(text: &str, at: At<'_>) -> Result<(), ScenarioError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| crate::scenario::toml_error(&e, at))?;
    if table
        .get("workload")
        .and_then(|w| w.get("reads_per_reader"))
        .is_some()
    {
        return Err(at(
            key_span(text, "workload", "reads_per_reader"),
            "reads_per_reader does nothing when every variant is programs: their readers read until \
             every writer is done (writes_per_writer sets how many versions each writes); remove it"
                .into(),
        ));
    }
    Ok(())
}
