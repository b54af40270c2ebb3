//! `faultline model`: runs the shuttle model checker of the in-process families (the
//! `faultline-model` binary, built with `--cfg shuttle`) and reports its findings as a run
//! report of kind `model`: one row per variant and scheduler, in the same before/after table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use faultline_core::FailureKind;
use faultline_core::stats::FailureCount;
use faultline_runner::render;
use faultline_runner::report::{FORMAT_VERSION, Report};
use faultline_runner::results::{
    Expectation, Faults, FirstSeen, TimelineEntry, TrialKind, VariantResult, Verdict, judge,
};
use faultline_targets::registry::{self, Detector};

use crate::args::{Format, ModelArgs, parse_seed};

/// How to build the checker, for the error when it is missing.
const BUILD: &str = "RUSTFLAGS=\"--cfg shuttle\" cargo build --release -p faultline-targets --bin faultline-model --target-dir target/shuttle";

/// One line the checker prints.
#[derive(Debug, serde::Deserialize)]
struct Line {
    workload: String,
    family: String,
    variant: String,
    strategy: String,
    seed: u64,
    executions: u64,
    seconds: f64,
    found: Option<String>,
    detail: Option<String>,
    schedule: Option<String>,
}

/// The checker binary: `named`, or the default places.
pub fn checker_path(named: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = named {
        anyhow::ensure!(
            path.is_file(),
            "the model checker {} does not exist; build it with:\n  {BUILD}",
            path.display()
        );
        return Ok(path.to_path_buf());
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("faultline-model")));
    let candidates = [
        Some(PathBuf::from("target/shuttle/release/faultline-model")),
        beside,
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow::anyhow!("no faultline-model checker found (looked in target/shuttle/release and next to this program); build it with:\n  {BUILD}\nor name it with --checker"))
}

/// Runs the command; the exit code.
pub fn run(args: &ModelArgs) -> anyhow::Result<u8> {
    let bin = checker_path(args.checker.as_deref())?;
    if let (Some(workload), Some(schedule)) = (&args.replay, &args.schedule) {
        return replay(&bin, workload, schedule);
    }
    let seed = parse_seed(&args.seed)?;
    eprintln!("model-checking store and tasks with {} ...", bin.display());
    let out = Command::new(&bin)
        .args([
            "--iterations",
            &args.iterations.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .output()
        .with_context(|| format!("failed to run {}", bin.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "{} failed ({}): {}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        );
    }
    let mut results = Vec::new();
    for (n, text) in String::from_utf8_lossy(&out.stdout).lines().enumerate() {
        let line: Line = serde_json::from_str(text)
            .with_context(|| format!("line {} of the checker's output is not a result: {text:?}", n + 1))?;
        let mut r = result(&line)?;
        if let Some(schedule) = &line.schedule {
            for first in r.first_by_kind.values_mut() {
                first.timeline = interleaving_of(&bin, &line.workload, schedule);
            }
        }
        results.push(r);
    }
    let report = Report {
        format_version: FORMAT_VERSION,
        kind: "model",
        results,
        environment: Some(Box::new(faultline_runner::environment::Environment::capture(
            None,
        ))),
    };
    let dir = crate::args::out_dir(args.out.as_deref(), "model");
    for path in render::write_model(&dir, &report)? {
        eprintln!("wrote {}", path.display());
    }
    let judgement = faultline_runner::outcome::own_judgement(&report);
    let text = match args.format {
        Format::Json => report.to_json(),
        Format::Text => crate::run_cmd::text(
            &report,
            &crate::run_cmd::View {
                judgement: &judgement,
                verbose: false,
                out: &dir,
            },
        ),
    };
    crate::print_stdout(&text)?;
    Ok(crate::exit_of(&report))
}

fn result(line: &Line) -> anyhow::Result<VariantResult> {
    let family = registry::family(&line.family)
        .ok_or_else(|| anyhow::anyhow!("the checker names an unknown family {:?}", line.family))?;
    let info = family
        .variant(&line.variant)
        .ok_or_else(|| anyhow::anyhow!("the checker names an unknown variant {:?}", line.variant))?;
    let expected = info
        .expectations
        .iter()
        .find(|e| e.detector == Detector::Model)
        .map(|e| e.kind);
    let expectation = if info.is_reference() {
        Some(Expectation {
            max_failures: Some(0),
            ..Expectation::default()
        })
    } else {
        expected.map(|kind| Expectation {
            must_fail: Some(vec![kind]),
            ..Expectation::default()
        })
    };
    // A failure the checker could not name is still a failure.
    let kind = line.found.as_deref().map(|name| {
        FailureKind::ALL
            .into_iter()
            .find(|k| k.to_string() == name)
            .unwrap_or(FailureKind::UnexpectedError)
    });
    let mut failures_by_kind = BTreeMap::new();
    let mut first_by_kind = BTreeMap::new();
    if let Some(kind) = kind {
        failures_by_kind.insert(kind, 1);
        let reproduce = match &line.schedule {
            Some(s) => format!("faultline model --replay {} --schedule {s}", line.workload),
            None => format!("faultline model --seed {:#x}", line.seed),
        };
        first_by_kind.insert(
            kind,
            FirstSeen {
                trial: line.executions.saturating_sub(1),
                detail: line.detail.clone().unwrap_or_default(),
                after_s: line.seconds,
                faults: Faults::default(),
                reproduce,
                timeline: Vec::new(),
            },
        );
    }
    let mut r = VariantResult {
        scenario: format!("model-shuttle-{}", line.strategy),
        scenario_path: "faultline model".into(),
        family: family.name.to_string(),
        variant: info.name.to_string(),
        catalogue_id: info.catalogue_id.map(str::to_string),
        program: false,
        seed: line.seed,
        trials: line.executions,
        reads: FailureCount::new(0, 0),
        failed_trials: FailureCount::new(u64::from(kind.is_some()), line.executions),
        trials_with_failures: u64::from(kind.is_some()),
        writes: 0,
        writer_kills: 0,
        inconclusive: 0,
        inconclusive_detail: None,
        max_shared_holders: None,
        queue_items: None,
        crash_states: None,
        trial_kind: TrialKind::Executions,
        failures_by_kind,
        first_by_kind,
        time_to_first_failure_s: kind.map(|_| line.seconds),
        clean_needed_to_claim_fix: None,
        elapsed_s: line.seconds,
        expectation,
        verdict: Verdict::NoExpectation,
        kept: Vec::new(),
        kept_dropped: 0,
    };
    r.verdict = judge(&r);
    Ok(r)
}

/// The interleaving a replay line gives, with the first step of each line.
fn interleaving(value: &serde_json::Value) -> Vec<(u64, String)> {
    value["interleaving"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .filter_map(|s| s.as_str())
                .map(|s| {
                    let first = s
                        .trim_start_matches("steps ")
                        .trim_start_matches("step ")
                        .split(['-', ':'])
                        .next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    (first, s.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The interleaving of a failing schedule, replayed once, for the case's page; empty when
/// the replay does not give one.
fn interleaving_of(bin: &Path, workload: &str, schedule: &str) -> Vec<TimelineEntry> {
    let Ok(out) = Command::new(bin)
        .args(["--replay", workload, "--schedule", schedule])
        .output()
    else {
        return Vec::new();
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(value) = stdout
        .lines()
        .next()
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    else {
        return Vec::new();
    };
    interleaving(&value)
        .into_iter()
        .map(|(step, event)| TimelineEntry {
            at_ms: step as f64,
            event,
        })
        .collect()
}

/// Replays `schedule` of `workload` with the checker; 0 when it reproduced, 1 when not.
pub fn replay(bin: &Path, workload: &str, schedule: &str) -> anyhow::Result<u8> {
    let out = Command::new(bin)
        .args(["--replay", workload, "--schedule", schedule])
        .output()
        .with_context(|| format!("failed to run {}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(line) = stdout.lines().next() else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().next().unwrap_or("").trim_start_matches("error: ");
        anyhow::bail!("{first}");
    };
    let value: serde_json::Value = serde_json::from_str(line).context("the checker's replay line")?;
    let steps = interleaving(&value);
    if !steps.is_empty() {
        println!("the interleaving (task 0 is the main thread, the others numbered as spawned):");
        for (_, step) in &steps {
            println!("  {step}");
        }
    }
    if value["reproduced"] == true {
        println!(
            "reproduced: {} fails with {}: {}",
            workload,
            value["kind"].as_str().unwrap_or("an unnamed failure"),
            value["detail"].as_str().unwrap_or("")
        );
        Ok(faultline_runner::exit::OK)
    } else {
        println!("not reproduced: {workload} passed along that schedule");
        Ok(faultline_runner::exit::REFERENCE_FAILED)
    }
}
