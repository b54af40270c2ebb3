//! `faultline record` and `faultline explore --trace`: unmodified programs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use faultline_core::{BlockSize, CrashStateId, EnumerationConfig, PersistenceModel};
use faultline_runner::external::explore::{self, TraceExploreError, TraceExploreRequest, TraceReport};
use faultline_runner::external::record::{self, RecordRequest};
use faultline_runner::external::trace_file::TraceFile;
use faultline_runner::report;

use crate::args::{ExploreArgs, RecordArgs, UsageError, parse_seed};
use crate::print_stdout;
use faultline_runner::exit;

/// `faultline record`.
pub fn record(args: &RecordArgs) -> anyhow::Result<u8> {
    let scratch = faultline_runner::scratch::private_dir("faultline-record-", None)
        .context("failed to make a temp directory for strace's output")?;
    let request = RecordRequest {
        command: args.command.clone(),
        dir: args.dir.clone(),
        strace: args.strace.clone(),
        scratch: scratch.path().to_path_buf(),
        cwd: None,
        echo: true,
        timeout: args.timeout,
    };
    let cancel = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&cancel))
            .context("failed to install the signal handler")?;
    }
    let started = Instant::now();
    let trace = match record::record(&request, &cancel) {
        Err(record::RecordError::Interrupted) => {
            eprintln!("interrupted; the program and strace were killed and strace's log removed");
            return Ok(exit::INTERRUPTED);
        }
        other => other?,
    };
    let (dir, name) = split_out(&args.out)?;
    report::write_files(&dir, &[(name.as_str(), trace.to_json())])?;
    eprintln!(
        "recorded {} entries in {:.2} s ({}exit code {}) into {}",
        trace.entries.len(),
        started.elapsed().as_secs_f64(),
        if trace.warnings.is_empty() {
            String::new()
        } else {
            format!("{} warnings, ", trace.warnings.len())
        },
        trace
            .exit_code
            .map_or_else(|| "none: killed by a signal".into(), |c| c.to_string()),
        args.out.display()
    );
    for w in &trace.warnings {
        eprintln!("warning: {w}");
    }
    for u in &trace.unsupported {
        eprintln!(
            "unsupported: strace line {}: {}: {}; crash states after entry {} will not be judged",
            u.line, u.syscall, u.why, u.moment
        );
    }
    Ok(exit::OK)
}

/// `faultline ack WORDS`: one line, in one write, to the acknowledgement descriptor of a
/// recording (`FAULTLINE_ACK_FD`), or to stdout outside one.
pub fn ack(args: &crate::args::AckArgs) -> anyhow::Result<u8> {
    use std::io::Write as _;
    let line = format!("{}\n", args.words.join(" "));
    let fd = std::env::var(record::ACK_FD_VAR)
        .ok()
        .filter(|fd| fd.parse::<u32>().is_ok());
    let written = match fd {
        // The descriptor opened anew through /proc: the recorder knows it as the same channel.
        Some(fd) => std::fs::OpenOptions::new()
            .append(true)
            .open(format!("/proc/self/fd/{fd}"))
            .and_then(|mut f| f.write_all(line.as_bytes())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(line.as_bytes()).and_then(|()| out.flush())
        }
    };
    written.context("failed to write the acknowledgement")?;
    Ok(exit::OK)
}

/// The directory and file name of `out`.
pub fn split_out(out: &std::path::Path) -> anyhow::Result<(std::path::PathBuf, String)> {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| anyhow::anyhow!("--out {} names no file", out.display()))?;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    Ok((dir, name))
}

/// `faultline explore --trace`.
pub fn explore(args: &ExploreArgs) -> anyhow::Result<u8> {
    let path = args.trace.as_ref().expect("called with --trace");
    let trace = TraceFile::read(path).map_err(UsageError::Read)?;
    let checker_text = args.checker.as_deref().unwrap_or_default();
    let checker = shell_words::split(checker_text).map_err(|e| UsageError::Checker(e.to_string()))?;
    if checker.is_empty() {
        return Err(UsageError::Checker("it is empty".into()).into());
    }
    if args.persistent
        && let Some(word) = checker.iter().find(|w| w.contains('{'))
    {
        return Err(UsageError::Checker(format!(
            "'{word}': with --persistent each state's fields come on its line of stdin, so placeholders name nothing"
        ))
        .into());
    }
    let here = std::env::current_dir().context("cannot read the working directory")?;
    let checker = explore::resolve_checker(checker, &here, &trace);
    let models = match &args.model {
        Some(name) => vec![name.parse::<PersistenceModel>().map_err(UsageError::Model)?],
        None => PersistenceModel::ALL.to_vec(),
    };
    let only = match &args.state {
        Some(s) if models.len() == 1 => Some(
            s.parse::<CrashStateId>()
                .map_err(|e| UsageError::BadState(e.to_string()))?,
        ),
        Some(_) => return Err(UsageError::BadState("--state needs --model too".into()).into()),
        None => None,
    };
    if args.max_choices == 0 {
        return Err(UsageError::MaxChoices.into());
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let cancel = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&cancel))
            .context("failed to install the signal handler")?;
    }
    let mut results = Vec::new();
    for model in models {
        let mut config = EnumerationConfig::new(model);
        config.block_size = BlockSize::new(args.block_size.unwrap_or(BlockSize::DEFAULT.bytes()))
            .map_err(UsageError::BlockSize)?;
        config.seed = parse_seed(&args.seed)?;
        config.max_choices = args.max_choices;
        let request = TraceExploreRequest {
            trace_path: path.clone(),
            checker: checker.clone(),
            config,
            jobs,
            timeout: args.checker_timeout,
            only: only.clone(),
            keep: args.keep.clone(),
            temp_dir: args.temp_dir.clone(),
            persistent: args.persistent,
        };
        let mut last = Instant::now();
        let outcome = explore::explore_trace(&request, &trace, &cancel, |checked| {
            if last.elapsed().as_secs() >= 2 {
                eprintln!("  {model}: {checked} states checked...");
                last = Instant::now();
            }
        });
        let (result, timing) = match outcome {
            Err(TraceExploreError::Cancelled) => {
                eprintln!("interrupted; checkers stopped and state directories removed");
                return Ok(exit::INTERRUPTED);
            }
            Err(TraceExploreError::BadState(e)) => return Err(UsageError::BadState(e.to_string()).into()),
            Err(e) => return Err(e.into()),
            Ok(done) => done,
        };
        eprintln!(
            "explored {} under {model}: {} states checked in {:.2} s ({:.0} states/s, {jobs} at once), {} failed",
            path.display(),
            result.failed_states.trials,
            timing.elapsed.as_secs_f64(),
            timing.states_per_second,
            result.failed_states.failures
        );
        results.push(result);
        if cancel.load(Ordering::SeqCst) {
            return Ok(exit::INTERRUPTED);
        }
    }
    let report = TraceReport::new(results);
    match args.format {
        crate::args::Format::Json => print_stdout(&report.to_json())?,
        crate::args::Format::Text => print_stdout(&report.to_markdown())?,
    }
    if let Some(dir) = &args.out {
        let written = report::write_files(
            dir,
            &[
                ("trace-explore.json", report.to_json()),
                ("trace-explore.md", report.to_markdown()),
            ],
        )?;
        for p in written {
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(if report.failed() {
        exit::REFERENCE_FAILED
    } else if report.unsupported() {
        exit::UNSUPPORTED
    } else {
        exit::OK
    })
}
