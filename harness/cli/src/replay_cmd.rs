//! `faultline replay REPORT --case N`: one recorded failure, run again.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use faultline_runner::replay::{self, Replayed};
use faultline_runner::report;

use crate::args::{ReplayArgs, UsageError};

/// Reproduced.
const REPRODUCED: u8 = faultline_runner::exit::OK;
/// Ran, and the failure did not happen again.
const NOT_REPRODUCED: u8 = faultline_runner::exit::REFERENCE_FAILED;

fn verdict(what: &str, kind: faultline_core::FailureKind, r: &Replayed) -> u8 {
    if r.reproduced {
        println!(
            "reproduced: {what} fails with {kind} again (attempt {} of the replay): {}",
            r.attempts,
            r.detail.as_deref().unwrap_or("")
        );
        return REPRODUCED;
    }
    let seen = if r.seen.is_empty() {
        "no failure".to_string()
    } else {
        r.seen
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "not reproduced: {what} did not fail with {kind} in {} attempt(s); saw {seen}",
        r.attempts
    );
    NOT_REPRODUCED
}

/// `faultline replay`.
pub fn replay(args: &ReplayArgs) -> anyhow::Result<u8> {
    let path = &crate::args::report_path(&args.report, &["run.json", "model.json", "explore.json"])?;
    let (kind, _) = faultline_runner::envelope::read_checked(path, &["run", "model", "explore"])
        .map_err(UsageError::Read)?;
    let usage = |e: replay::ReplayError| -> anyhow::Error {
        match e {
            replay::ReplayError::Run(run) => anyhow::Error::from(run),
            replay::ReplayError::State(state) => anyhow::Error::from(state),
            other => anyhow::anyhow!("{other}"),
        }
    };
    if kind == "explore" {
        let cases = replay::explore_cases(path).map_err(usage)?;
        let case = replay::pick(path, cases, args.case).map_err(usage)?;
        eprintln!("replaying case {}: {} ({})", args.case, case.label, case.kind);
        let r = replay::replay_explore_case(&case).map_err(usage)?;
        return Ok(verdict(&case.label, case.kind, &r));
    }
    let report = report::read_results(path, &["run", "model"]).map_err(UsageError::Read)?;
    let cases = report::cases(&report.results);
    let case = *replay::pick(path, cases.iter().collect(), args.case).map_err(usage)?;
    let r = case.result;
    let what = format!("{} / {} trial {}", r.scenario, r.variant, case.first.trial);
    eprintln!(
        "replaying case {}: {what} ({}): {}",
        args.case, case.kind, case.first.reproduce
    );
    if kind == "model" {
        let mut words = case.first.reproduce.split_whitespace();
        let mut after = |flag: &str| {
            words
                .by_ref()
                .skip_while(|w| *w != flag)
                .nth(1)
                .map(str::to_string)
        };
        let (Some(workload), Some(schedule)) = (after("--replay"), after("--schedule")) else {
            anyhow::bail!(
                "case {} was found without a recorded schedule ({}); run that command instead",
                args.case,
                case.first.reproduce
            );
        };
        let bin = crate::model_cmd::checker_path(args.checker.as_deref())?;
        return crate::model_cmd::replay(&bin, &workload, &schedule);
    }
    let cancel = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&cancel))
            .context("failed to install the signal handler")?;
    }
    let replayed = match replay::replay_run_case(&case, args.attempts, args.temp_dir.clone(), &cancel) {
        Err(replay::ReplayError::Run(e)) if e.cancelled() => {
            eprintln!("interrupted: stopped every worker and removed the trial directories");
            return Ok(faultline_runner::exit::INTERRUPTED);
        }
        other => other.map_err(usage)?,
    };
    Ok(verdict(&what, case.kind, &replayed))
}
