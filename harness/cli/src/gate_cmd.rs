//! `faultline gate` and `faultline baseline`: a run judged against its expectations and the
//! committed baseline, and the baseline written from a run (a ratchet).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use faultline_runner::gate::{self, Baseline, Failure, Judgement, Scope};
use faultline_runner::render;
use faultline_runner::report::{self, RunReport};
use faultline_runner::results::Verdict;

use crate::args::{BaselineArgs, Format, GateArgs, RunArgs, UsageError};
use crate::run_cmd;

/// Arguments that cannot go together, found before any file is read.
fn check_arguments(args: &RunArgs, from: Option<&Path>, command: &'static str) -> Result<(), UsageError> {
    if args.shard.is_some() {
        return Err(UsageError::ShardedGate(command));
    }
    let run_args_given = !args.scenarios.is_empty()
        || args.trials.is_some()
        || args.duration.is_some()
        || args.seed.is_some()
        || args.variant.is_some()
        || args.trial.is_some();
    if from.is_some() && run_args_given {
        return Err(UsageError::FromWithRunArgs);
    }
    Ok(())
}

/// The report to judge: read with `--from`, or run. `None` when the run was interrupted.
fn obtain(args: &RunArgs, from: Option<&Path>) -> anyhow::Result<Option<RunReport>> {
    if let Some(given) = from {
        let path = crate::args::report_path(given, &["run.json"])?;
        let mut report = report::read_results(&path, &["run"]).map_err(UsageError::Read)?;
        // Verdicts are judged again from the counts, as a merge does: never taken on trust.
        for r in &mut report.results {
            r.verdict = faultline_runner::results::judge(r);
        }
        return Ok(Some(report));
    }
    Ok(match run_cmd::run(args)? {
        run_cmd::Outcome::Done(report) => Some(report),
        run_cmd::Outcome::Interrupted => None,
    })
}

/// Whether `report` covers the whole suite in `--scenarios`: only then may the gate conclude
/// that a baseline scenario it lacks was removed.
fn scope(report: &RunReport, args: &RunArgs) -> Scope {
    if args.variant.is_some() || args.trial.is_some() {
        return Scope::Subset;
    }
    let ran: BTreeSet<&str> = report.results.iter().map(|r| r.scenario.as_str()).collect();
    let suite = faultline_runner::scenario_file::files_in(&args.scenario_dir);
    let covers = !suite.is_empty()
        && suite.iter().all(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .is_some_and(|name| ran.contains(name))
        });
    if covers { Scope::WholeSuite } else { Scope::Subset }
}

/// The baseline the gate compares with: the one named, or the default one if it exists.
fn gate_baseline(args: &GateArgs) -> anyhow::Result<Option<(PathBuf, Baseline)>> {
    if args.no_baseline {
        return Ok(None);
    }
    let (path, named) = match &args.baseline {
        Some(p) => (p.clone(), true),
        None => (gate::default_baseline_path(), false),
    };
    if !path.exists() {
        if named {
            return Err(UsageError::NoBaseline(path.display().to_string()).into());
        }
        eprintln!(
            "warning: no baseline at {}: rates and removed expectations are not checked; write one with `faultline baseline`",
            path.display()
        );
        return Ok(None);
    }
    let baseline = Baseline::read(&path).map_err(UsageError::Read)?;
    Ok(Some((path, baseline)))
}

/// The gate's lines for the terminal.
fn judgement_text(j: &Judgement, baseline: Option<&Path>) -> String {
    let mut out = String::new();
    match baseline {
        Some(p) => {
            let _ = writeln!(
                out,
                "\ngate: compared {} results with {}",
                j.compared,
                p.display()
            );
        }
        None => out.push_str("\ngate: no baseline; expectations judged only\n"),
    }
    for f in &j.findings {
        let _ = writeln!(
            out,
            "  exit {}  {} / {}: {}",
            f.failure.exit_code(),
            f.scenario,
            f.variant.as_deref().unwrap_or("-"),
            f.message
        );
    }
    for w in &j.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    match j.exit_code() {
        0 => out.push_str("gate: passed\n"),
        code => {
            let _ = writeln!(out, "gate: FAILED (exit {code})");
        }
    }
    out
}

/// `faultline gate`.
pub fn gate(args: &GateArgs) -> anyhow::Result<u8> {
    // Everything that can be wrong with the inputs is found before anything runs.
    check_arguments(&args.run, args.from.as_deref(), "gate")?;
    let baseline = gate_baseline(args)?;
    let Some(report) = obtain(&args.run, args.from.as_deref())? else {
        return Ok(faultline_runner::exit::INTERRUPTED);
    };
    let scope = scope(&report, &args.run);
    let base = baseline.as_ref().map(|(_, b)| b);
    let base_path = baseline.as_ref().map(|(p, _)| p.as_path());
    let judgement = gate::judge(&report, base, scope);
    let dir = args.run.out_dir("gate");
    let mut paths = render::write_rendered(&dir, "run", &report, Some(&judgement), base)?;
    let gate_json = serde_json::json!({
        "format_version": report::FORMAT_VERSION,
        "kind": "gate",
        "exit_code": judgement.exit_code(),
        "baseline": base_path.map(|p| p.display().to_string()),
        "judgement": judgement,
    });
    paths.extend(report::write_files(
        &dir,
        &[
            ("gate.json", serde_json::to_string_pretty(&gate_json)? + "\n"),
            (
                "gate.md",
                format!(
                    "{}\n{}",
                    judgement.to_markdown(base_path),
                    render::markdown(&report, &judgement, &dir).replacen("# faultline run", "## The run", 1)
                ),
            ),
        ],
    )?);
    for path in paths {
        eprintln!("wrote {}", path.display());
    }
    let text = match args.run.format {
        Format::Json => serde_json::to_string_pretty(&gate_json)? + "\n",
        Format::Text => {
            let view = run_cmd::View {
                judgement: &judgement,
                verbose: args.run.verbose,
                out: &dir,
            };
            run_cmd::text(&report, &view) + &judgement_text(&judgement, base_path)
        }
    };
    crate::print_stdout(&text)?;
    Ok(judgement.exit_code())
}

/// `faultline baseline`.
pub fn baseline(args: &BaselineArgs) -> anyhow::Result<u8> {
    check_arguments(&args.run, args.from.as_deref(), "baseline")?;
    // A baseline that cannot be read is the user's file: never overwrite it silently.
    let old = if args.baseline.exists() {
        Some(Baseline::read(&args.baseline).map_err(|e| {
            anyhow::anyhow!(
                "{e}\nfix or remove {} before writing a new baseline",
                args.baseline.display()
            )
        })?)
    } else {
        None
    };
    let Some(report) = obtain(&args.run, args.from.as_deref())? else {
        return Ok(faultline_runner::exit::INTERRUPTED);
    };
    let dir = args.run.out_dir("baseline");
    if args.from.is_none() {
        for path in render::write_run(&dir, &report)? {
            eprintln!("wrote {}", path.display());
        }
    }
    let scope = scope(&report, &args.run);
    let judgement = gate::judge(&report, old.as_ref(), scope);
    let failed = report
        .results
        .iter()
        .any(|r| matches!(r.verdict, Verdict::NotCaught { .. }))
        || judgement
            .findings
            .iter()
            .any(|f| f.failure == Failure::FixedFailed);
    if failed {
        let view = run_cmd::View {
            judgement: &judgement,
            verbose: args.run.verbose,
            out: &dir,
        };
        crate::print_stdout(&(run_cmd::text(&report, &view) + &judgement_text(&judgement, None)))?;
        eprintln!(
            "error: the run's expectations did not hold (exit {}); a baseline records a suite that passes, so nothing was written",
            judgement.exit_code()
        );
        return Ok(judgement.exit_code());
    }
    if !judgement.findings.is_empty() && !args.allow_worse {
        crate::print_stdout(&judgement_text(
            &judgement,
            old.as_ref().map(|_| args.baseline.as_path()),
        ))?;
        eprintln!(
            "error: this run is worse than {} (above); nothing was written. Pass --allow-worse to record it anyway",
            if old.is_some() {
                format!("the baseline {}", args.baseline.display())
            } else {
                "what the catalogue requires".to_string()
            }
        );
        return Ok(judgement.exit_code());
    }
    for w in &judgement.warnings {
        eprintln!("warning: {w}");
    }
    let new = match &old {
        Some(old) => old.updated(&report, scope == Scope::WholeSuite),
        None => Baseline::of(&report),
    };
    let dir = faultline_core::fs::parent_dir(&args.baseline);
    let name = args
        .baseline
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow::anyhow!("--baseline must name a file, got {}", args.baseline.display()))?;
    report::write_files(dir, &[(name, new.to_json())])?;
    let scenarios: BTreeSet<&str> = new.entries.iter().map(|e| e.scenario.as_str()).collect();
    eprintln!(
        "wrote {}: {} results of {} scenarios",
        args.baseline.display(),
        new.entries.len(),
        scenarios.len()
    );
    Ok(faultline_runner::exit::OK)
}
