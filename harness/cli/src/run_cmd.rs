//! `faultline run`: loads every scenario first (a bad file stops everything before anything
//! runs), runs them with a progress bar, prints before/after tables, writes the report.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use faultline_core::stats::percent;
use faultline_runner::gate::Judgement;
use faultline_runner::outcome;
use faultline_runner::render;
use faultline_runner::report::{Case, RunReport, verdict_text};
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
    let mut report = RunReport::new(results);
    report.environment = Some(Box::new(faultline_runner::environment::Environment::capture(
        args.temp_dir.as_deref(),
    )));
    Ok(Outcome::Done(report))
}

/// Prints and writes the report.
pub fn present(report: &RunReport, args: &RunArgs) -> anyhow::Result<String> {
    let dir = args.out_dir("run");
    let paths = render::write_run(&dir, report)?;
    for path in paths {
        eprintln!("wrote {}", path.display());
    }
    let judgement = outcome::own_judgement(report);
    Ok(match args.format {
        Format::Json => report.to_json(),
        Format::Text => text(
            report,
            &View {
                judgement: &judgement,
                verbose: args.verbose,
                out: &dir,
            },
        ),
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
        let _ = writeln!(out, "  {:<24} {}", "", kinds.join(", "));
    }
    if let Some(most) = r.max_shared_holders {
        let _ = writeln!(out, "  {:<24} most shared holders inside at once: {most}", "");
    }
    if let Verdict::NotCaught { .. } = r.verdict {
        let _ = writeln!(
            out,
            "  {:<24} not caught in {} trials, {:.0} s (its own trials and the catch budget)",
            "", r.trials, r.elapsed_s
        );
    }
    if r.inconclusive > 0 {
        let _ = writeln!(
            out,
            "  {:<24} {} inconclusive run(s), rerun and not counted; first: {}",
            "",
            r.inconclusive,
            r.inconclusive_detail.as_deref().unwrap_or("-")
        );
    }
    if let Some(q) = r.queue_items {
        let _ = writeln!(
            out,
            "  {:<24} {} items processed; {} again after a delivery never acked (allowed)",
            "", q.processed, q.allowed_duplicates
        );
    }
    if let Some(states) = r.crash_states {
        let _ = writeln!(
            out,
            "  {:<24} crash states: {} distinct at {} moments ({})",
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
            "  {:<24} {claim} at 95%: needs {needed} clean {unit} given the first variant's rate; ran {} with {} failures",
            "", count.trials, count.failures
        );
    }
}

/// How a report is shown in the terminal: whose judgement, how much, and where its report
/// set was written (for the replay lines).
pub struct View<'a> {
    /// The gate's judgement, or the run's own ([`outcome::own_judgement`]).
    pub judgement: &'a Judgement,
    /// Every expected catch in full instead of one line per scenario.
    pub verbose: bool,
    /// The report set's directory.
    pub out: &'a Path,
}

/// One recorded failure in full: what, where, and the lines that run it again.
fn case_text(out: &mut String, case: &Case<'_>, dir: &Path, indent: &str) {
    use std::fmt::Write as _;
    let (r, first) = (case.result, case.first);
    let seen = r.failures_by_kind.get(&case.kind).copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "{indent}case {}: {} / {}: {} seen {seen} time(s); first in trial {} at {:.2} s (seed {:#x}): {}",
        case.number, r.scenario, r.variant, case.kind, first.trial, first.after_s, r.seed, first.detail
    );
    let _ = writeln!(out, "{indent}  reproduce: {}", first.reproduce);
    let _ = writeln!(
        out,
        "{indent}  replay:    faultline replay {} --case {}",
        shell_words::quote(&dir.display().to_string()),
        case.number
    );
    let _ = writeln!(
        out,
        "{indent}  page:      {}",
        dir.join(render::case_page(case.number)).display()
    );
}

/// The terminal rendering: the unexpected outcomes first, a before/after table per scenario,
/// then the expected catches (one line per scenario unless verbose).
pub fn text(report: &RunReport, view: &View<'_>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let outcomes = outcome::sort(report, view.judgement);
    if !outcomes.unexpected.is_empty() {
        let _ = writeln!(
            out,
            "UNEXPECTED ({}): listed first; the expected catches are summed up below",
            outcomes.unexpected.len()
        );
        for u in &outcomes.unexpected {
            let f = u.finding;
            let _ = writeln!(
                out,
                "  !! exit {}  {}: {} / {}: {}",
                f.failure.exit_code(),
                outcome::headline(f),
                f.scenario,
                f.variant.as_deref().unwrap_or("-"),
                f.message
            );
            for case in &u.cases {
                case_text(&mut out, case, view.out, "     ");
            }
        }
    }
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
                "  {:<24} {:<9} {:<44} {:<20} verdict",
                "variant", "ID", "failed (the verdict's unit)", "failed reads"
            );
        }
        let reads = if r.reads.trials > 0 && r.measure().unit != "reads" {
            format!(
                "{} of {} ({})",
                r.reads.failures,
                r.reads.trials,
                r.reads.rate().map(percent).unwrap_or_default()
            )
        } else {
            "-".into()
        };
        let flag = if outcome::is_unexpected(r, view.judgement) {
            "  !! UNEXPECTED"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:<24} {:<9} {:<44} {:<20} {}{flag}",
            r.variant,
            r.id_label(),
            r.measure().summary(),
            reads,
            verdict_text(&r.verdict)
        );
        figures(&mut out, r);
    }
    if !outcomes.expected.is_empty() {
        if view.verbose {
            let _ = writeln!(out, "\nExpected catches ({}):", outcomes.expected.len());
            for case in &outcomes.expected {
                case_text(&mut out, case, view.out, "  ");
            }
        } else {
            let mut per_scenario: Vec<(&str, Vec<String>)> = Vec::new();
            for case in &outcomes.expected {
                let r = case.result;
                let item = format!("{} {} (case {})", r.id_label(), case.kind, case.number);
                match per_scenario.last_mut() {
                    Some((name, items)) if *name == r.scenario => items.push(item),
                    _ => per_scenario.push((&r.scenario, vec![item])),
                }
            }
            let _ = writeln!(
                out,
                "\nExpected catches: {} cases in {} scenarios, one line each (--verbose prints each in full; every case is in {})",
                outcomes.expected.len(),
                per_scenario.len(),
                view.out.join(format!("{}.html", report.kind)).display()
            );
            for (name, items) in per_scenario {
                let _ = writeln!(out, "  {name}: {}", items.join(", "));
            }
        }
    }
    kept_text(&mut out, report, view);
    let (held, judged) = report.expectations_held();
    let _ = writeln!(out, "\n{held} of {judged} expectations held");
    out
}

/// The kept trial directories, by result: each labelled with its scenario, variant and
/// trial, the one holding a case named first; every one of them when verbose.
fn kept_text(out: &mut String, report: &RunReport, view: &View<'_>) {
    use std::fmt::Write as _;
    let all = faultline_runner::report::cases(&report.results);
    for r in report.results.iter().filter(|r| !r.kept.is_empty()) {
        let labels: Vec<String> = all
            .iter()
            .filter(|c| std::ptr::eq(c.result, r))
            .map(|c| format!("case {} is trial {}", c.number, c.first.trial))
            .collect();
        let dropped = if r.kept_dropped > 0 {
            format!(
                "; the first {} and each holding a case, {} more not kept",
                faultline_runner::run::KEPT_PER_VARIANT,
                r.kept_dropped
            )
        } else {
            String::new()
        };
        let labels = if labels.is_empty() {
            "no case".to_string()
        } else {
            labels.join(", ")
        };
        let _ = writeln!(
            out,
            "  kept {} failing trial directories of {} / {} ({labels}{dropped}); first: {}",
            r.kept.len(),
            r.scenario,
            r.variant,
            r.kept[0]
        );
        if view.verbose {
            for kept in &r.kept[1..] {
                let _ = writeln!(out, "    {kept}");
            }
        }
    }
}
