//! `faultline run`: loads every scenario first (a bad file stops everything before anything
//! runs), runs them with a progress bar, prints before/after tables, writes the report.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use faultline_core::stats::percent;
use faultline_runner::render;
use faultline_runner::report::{RunReport, verdict_text};
use faultline_runner::results::{VariantResult, Verdict};
use faultline_runner::run::{self, RunOptions};
use faultline_runner::scenario::Scenario;
use faultline_runner::scenario_file;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::{Format, RunArgs, UsageError, parse_seed, parse_shard};

/// The outcome of a run, for the exit code.
pub enum Outcome {
    /// Finished; the report says whether expectations held.
    Done(RunReport),
    /// Interrupted; everything was cleaned up.
    Interrupted,
}

fn load_all(args: &RunArgs) -> Result<Vec<Scenario>, UsageError> {
    let paths = if args.scenarios.is_empty() {
        let found = scenario_file::files_in(&args.scenario_dir);
        if found.is_empty() {
            return Err(UsageError::NoScenarios(args.scenario_dir.display().to_string()));
        }
        found
    } else {
        args.scenarios.clone()
    };
    let scenarios = paths
        .iter()
        .map(|p| scenario_file::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(scenarios)
}

/// Runs what `args` ask for.
pub fn run(args: &RunArgs) -> anyhow::Result<Outcome> {
    // Arguments first: a bad one stops everything before any scenario is read.
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    let scenarios = load_all(args)?;
    let options = RunOptions {
        trials: args.trials,
        duration: args.duration,
        seed: args.seed.as_deref().map(parse_seed).transpose()?,
        variant: args.variant.clone(),
        trial: args.trial,
        keep: args.keep,
        temp_dir: args.temp_dir.clone(),
        lockdep: args.lockdep,
        shard,
        catch_budget: Some(args.catch_budget),
    };
    // Check --variant against every scenario before running any.
    for s in &scenarios {
        run::selected_variants(s, &options)?;
    }

    let cancel = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&cancel))
            .context("failed to install the signal handler")?;
    }

    let total: Option<u64> = scenarios.iter().map(|s| run::planned_trials(s, &options)).sum();
    let bar = Progress::new(total);
    let mut results: Vec<VariantResult> = Vec::new();
    for s in &scenarios {
        let outcome = run::run_scenario(s, &options, &cancel, |variant, _| bar.tick(&s.name, variant));
        match outcome {
            Ok(r) => results.extend(r),
            Err(e) if e.cancelled() || cancel.load(Ordering::SeqCst) => {
                bar.finish();
                eprintln!("interrupted: stopped every worker and removed the trial directories");
                return Ok(Outcome::Interrupted);
            }
            Err(e) => return Err(e.into()),
        }
    }
    bar.finish();
    Ok(Outcome::Done(RunReport::new(results)))
}

/// Prints and writes the report.
pub fn present(report: &RunReport, args: &RunArgs) -> anyhow::Result<String> {
    let paths = render::write_run(&args.out, report)?;
    for path in paths {
        eprintln!("wrote {}", path.display());
    }
    Ok(match args.format {
        Format::Json => report.to_json(),
        Format::Text => text(report),
    })
}

/// A progress bar on stderr that appears only once a run has taken a second.
struct Progress {
    bar: ProgressBar,
    start: Instant,
}

impl Progress {
    fn new(total: Option<u64>) -> Self {
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::hidden()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
        };
        let style = ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} trials  {msg}")
            .expect("the template is valid")
            .progress_chars("=> ");
        bar.set_style(style);
        Progress {
            bar,
            start: Instant::now(),
        }
    }

    fn tick(&self, scenario: &str, variant: &str) {
        if self.bar.is_hidden() && self.start.elapsed().as_secs_f64() > 1.0 {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        self.bar.set_message(format!("{scenario} / {variant}"));
        self.bar.inc(1);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The lines under a variant's row: its failure kinds and the figures its family adds.
fn figures(out: &mut String, r: &VariantResult) {
    use std::fmt::Write as _;
    if !r.failures_by_kind.is_empty() {
        let kinds: Vec<String> = r
            .failures_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(out, "  {:<22} {}", "", kinds.join(", "));
    }
    if let Some(most) = r.max_shared_holders {
        let _ = writeln!(out, "  {:<22} most shared holders inside at once: {most}", "");
    }
    if let faultline_runner::results::Verdict::NotCaught { .. } = r.verdict {
        let _ = writeln!(
            out,
            "  {:<22} not caught in {} trials, {:.0} s (its own trials and the catch budget)",
            "", r.trials, r.elapsed_s
        );
    }
    if r.inconclusive > 0 {
        let _ = writeln!(
            out,
            "  {:<22} {} inconclusive run(s), rerun and not counted; first: {}",
            "",
            r.inconclusive,
            r.inconclusive_detail.as_deref().unwrap_or("-")
        );
    }
    if let Some(q) = r.queue_items {
        let _ = writeln!(
            out,
            "  {:<22} {} items processed; {} again after a delivery never acked (allowed)",
            "", q.processed, q.allowed_duplicates
        );
    }
    if let Some(states) = r.crash_states {
        let _ = writeln!(
            out,
            "  {:<22} crash states: {} distinct at {} moments ({})",
            "",
            states.distinct_states,
            states.moments,
            states.coverage()
        );
    }
    if let Some(needed) = r.clean_needed_to_claim_fix {
        let (count, unit) = r.primary();
        let claim = if count.failures == 0 && count.trials >= needed {
            "fix claimed"
        } else {
            "fix not yet claimed"
        };
        let _ = writeln!(
            out,
            "  {:<22} {claim} at 95%: needs {needed} clean {unit} given the first variant's rate; ran {} with {} failures",
            "", count.trials, count.failures
        );
    }
}

/// The terminal rendering: a before/after table per scenario and the first failures.
pub fn text(report: &RunReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut scenario = "";
    for r in &report.results {
        if r.scenario != scenario {
            scenario = &r.scenario;
            let _ = writeln!(
                out,
                "\n{}  ({}, {:.1} s)",
                r.scenario,
                r.scenario_path,
                report.scenario_seconds(scenario)
            );
            let _ = writeln!(
                out,
                "  {:<22} {:<9} {:>6}  {:<40} {:<36} verdict",
                "variant", "ID", "trials", "failed reads", "failed trials"
            );
        }
        let reads = if r.reads.trials > 0 {
            r.reads.summary()
        } else {
            "-".into()
        };
        let _ = writeln!(
            out,
            "  {:<22} {:<9} {:>6}  {:<40} {:<36} {}",
            r.variant,
            r.id_label(),
            r.trials,
            reads,
            r.failed_trials.summary(),
            verdict_text(&r.verdict)
        );
        figures(&mut out, r);
    }
    for case in faultline_runner::report::cases(&report.results) {
        let (r, kind, first) = (case.result, case.kind, case.first);
        let (count, unit) = r.primary();
        let rate = count.rate().map(percent).unwrap_or_else(|| "-".into());
        let seen = r.failures_by_kind.get(&kind).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "\nFAIL case {}: {} / {}: {kind} seen {seen} time(s); {} of {} {unit} failed ({rate})\n  first at {:.2} s, seed {:#x}, trial {}: {}\n  reproduce: {}",
            case.number,
            r.scenario,
            r.variant,
            count.failures,
            count.trials,
            first.after_s,
            r.seed,
            first.trial,
            first.detail,
            first.reproduce
        );
    }
    for r in &report.results {
        for kept in &r.kept {
            let _ = writeln!(out, "  kept failing trial directory: {kept}");
        }
    }
    let held = report
        .results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Held))
        .count();
    let judged = report
        .results
        .iter()
        .filter(|r| !matches!(r.verdict, Verdict::NoExpectation))
        .count();
    let _ = writeln!(out, "\n{held} of {judged} expectations held");
    out
}
