//! The `faultline` command: argument parsing and display. All the work is in the runner.

mod adapter_cmd;
mod args;
mod display;
mod gate_cmd;
mod live_cmd;
mod model_cmd;
mod replay_cmd;
mod run_cmd;
mod trace_cmd;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use faultline_core::CrashStateId;
use faultline_runner::explore::{self, ExploreRequest};
use faultline_runner::render;
use faultline_runner::report::{self, ExploreReport};

use args::{Cli, Command, ExploreArgs, Format, ListArgs, RunArgs, UsageError};

use faultline_runner::exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A value refused by its parser: its one line says what to give instead.
        Err(e) if e.kind() == clap::error::ErrorKind::ValueValidation => {
            let text = e.render().to_string();
            eprintln!("{}", text.lines().next().unwrap_or_default());
            return ExitCode::from(exit::USAGE);
        }
        Err(e) => e.exit(),
    };
    let outcome = match cli.command {
        Command::List(args) => list(&args),
        Command::Explore(args) => run_explore(&args),
        Command::Run(args) => run_scenarios(&args),
        Command::Model(args) => model_cmd::run(&args),
        Command::Merge(args) => merge(&args),
        Command::Gate(args) => gate_cmd::gate(&args),
        Command::Baseline(args) => gate_cmd::baseline(&args),
        Command::Replay(args) => replay_cmd::replay(&args),
        Command::Record(args) => trace_cmd::record(&args),
        Command::Adapter(args) => adapter_cmd::run(&args),
        Command::Ack(args) => trace_cmd::ack(&args),
        Command::Mount(args) => live_cmd::mount(&args),
        Command::Cut(args) => live_cmd::cut(&args),
        Command::Live(args) => live_cmd::live(&args),
        Command::CriticalSection(args) => adapter_cmd::critical_section(&args),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if let Some(usage) = err.downcast_ref::<UsageError>() {
                eprintln!("error: {usage}");
                return ExitCode::from(exit::USAGE);
            }
            eprintln!("error: {err:#}");
            ExitCode::from(exit::USAGE)
        }
    }
}

fn list(args: &ListArgs) -> anyhow::Result<u8> {
    let scenarios = display::scenario_files(&args.scenarios);
    let text = match args.format {
        Format::Json => {
            let value = serde_json::json!({
                "families": faultline_targets::registry::FAMILIES,
                "scenarios": scenarios,
            });
            serde_json::to_string_pretty(&value)? + "\n"
        }
        Format::Text => display::list_text(&scenarios),
    };
    print_stdout(&text)?;
    Ok(exit::OK)
}

fn run_explore(args: &ExploreArgs) -> anyhow::Result<u8> {
    if args.trace.is_some() {
        return trace_cmd::explore(args);
    }
    let requests = args.requests()?;
    if let Some(state) = &args.state {
        let [request] = requests.as_slice() else {
            return Err(UsageError::StateNeedsOneRun.into());
        };
        return explain(request, state, args.format);
    }

    let mut results = Vec::new();
    let mut text = String::new();
    for request in &requests {
        let (result, timing) = explore::explore(request)
            .with_context(|| format!("failed to run the workload of {}", request.variant.info().name))?;
        eprintln!(
            "explored {} / {} under {}: {} states in {:.1} ms ({:.0} states/s)",
            result.family,
            result.variant,
            result.model,
            result.enumeration.distinct_states,
            timing.elapsed.as_secs_f64() * 1e3,
            timing.states_per_second(&result)
        );
        if args.format == Format::Text {
            text.push_str(&display::result_text(&result));
        }
        results.push(result);
    }
    let report = ExploreReport::new(results);
    match args.format {
        Format::Json => print_stdout(&report.to_json())?,
        Format::Text => {
            if report.results.len() > 1 {
                text.push_str(&display::summary_text(&report));
            }
            print_stdout(&text)?;
        }
    }
    if let Some(dir) = &args.out {
        let paths = report::write_explore(dir, &report)?;
        for path in paths {
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(exit_code(&report))
}

fn run_scenarios(args: &RunArgs) -> anyhow::Result<u8> {
    let report = match run_cmd::run(args)? {
        run_cmd::Outcome::Interrupted => return Ok(exit::INTERRUPTED),
        run_cmd::Outcome::Done(report) => report,
    };
    print_stdout(&run_cmd::present(&report, args)?)?;
    if args.shard.is_some() {
        // A shard sees only some trials: whether a broken variant was caught is decided by
        // the merge; a reference that failed in any shard failed.
        eprintln!("a shard: merge the shards' run.json with `faultline merge` to judge every expectation");
        return Ok(if report.limit_exceeded() {
            exit::REFERENCE_FAILED
        } else {
            exit::OK
        });
    }
    Ok(exit_of(&report))
}

fn merge(args: &args::MergeArgs) -> anyhow::Result<u8> {
    let mut reports = Vec::new();
    for path in &args.reports {
        reports.push(faultline_runner::merge::read(&args::report_path(
            path,
            &["run.json"],
        )?)?);
    }
    let report = faultline_runner::merge::merge(reports)?;
    let dir = args::out_dir(args.out.as_deref(), "merge");
    for path in render::write_run(&dir, &report)? {
        eprintln!("wrote {}", path.display());
    }
    let judgement = faultline_runner::outcome::own_judgement(&report);
    let text = match args.format {
        Format::Json => report.to_json(),
        Format::Text => run_cmd::text(
            &report,
            &run_cmd::View {
                judgement: &judgement,
                verbose: false,
                out: &dir,
            },
        ),
    };
    print_stdout(&text)?;
    Ok(exit_of(&report))
}

/// 1 if a reference failed, else 3 if a broken variant was not caught, else 0.
pub(crate) fn exit_of(report: &faultline_runner::report::RunReport) -> u8 {
    if report.limit_exceeded() {
        exit::REFERENCE_FAILED
    } else if report.not_caught() {
        exit::NOT_CAUGHT
    } else {
        exit::OK
    }
}

fn explain(request: &ExploreRequest, state: &str, format: Format) -> anyhow::Result<u8> {
    let id: CrashStateId = state.parse().map_err(|e| UsageError::BadState(format!("{e}")))?;
    let report = explore::explain_state(request, &id).map_err(|e| match e {
        explore::StateError::BadId(bad) => anyhow::Error::from(UsageError::BadState(bad.to_string())),
        other => anyhow::Error::from(other),
    })?;
    match format {
        Format::Json => print_stdout(&(serde_json::to_string_pretty(&report)? + "\n"))?,
        Format::Text => print_stdout(&display::state_text(request, &report))?,
    }
    Ok(exit::OK)
}

/// 1 if a reference failed, else 3 if a broken variant was not caught, else 0.
fn exit_code(report: &ExploreReport) -> u8 {
    use faultline_runner::explore::Expectation;
    let outcomes: Vec<&Expectation> = report.results.iter().map(|r| &r.expectation).collect();
    if outcomes.iter().any(|e| matches!(e, Expectation::ReferenceFailed)) {
        exit::REFERENCE_FAILED
    } else if outcomes
        .iter()
        .any(|e| matches!(e, Expectation::NotCaught { .. }))
    {
        exit::NOT_CAUGHT
    } else {
        exit::OK
    }
}

/// Prints to stdout; a closed pipe (`faultline list | head`) is not an error.
pub(crate) fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("failed to write to stdout"),
    }
}
