//! `faultline mount`, `faultline cut` and `faultline live`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use faultline_core::BlockSize;
use faultline_runner::exit;
use faultline_runner::live::mount::{self, control_path};
use faultline_runner::live::trial::{self, LiveRequest, LiveResult, TrialOutcome};
use faultline_runner::live::{Ending, LiveError, MountOptions, Mounted};

use crate::args::{CutArgs, LiveArgs, MountArgs, UsageError, parse_seed};
use crate::print_stdout;

fn cancel_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let cancel = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&cancel))
            .context("failed to install the signal handler")?;
    }
    Ok(cancel)
}

fn usage(e: LiveError) -> anyhow::Error {
    match e {
        LiveError::Usage(text) => UsageError::Live(text).into(),
        other => anyhow::Error::new(other),
    }
}

/// `faultline mount`.
pub fn mount(args: &MountArgs) -> anyhow::Result<u8> {
    let first = args.backing.clone().context("give BACKING and MOUNTPOINT")?;
    if args.cleanup {
        print_stdout(&(mount::cleanup(&first).map_err(usage)? + "\n"))?;
        return Ok(exit::OK);
    }
    let Some(mountpoint) = args.mountpoint.clone() else {
        return Err(UsageError::Live(
            "give both BACKING and MOUNTPOINT: faultline mount BACKING MOUNTPOINT".into(),
        )
        .into());
    };
    let seed = parse_seed(&args.cut.seed)?;
    let cut_after_changes = args.cut_at_random.map(|n| trial::random_moment(seed, n));
    let options = MountOptions {
        backing: first,
        mountpoint,
        triggers: args.cut.cut_after.clone(),
        cut_after_changes,
        keep: args.cut.keep_pending,
        seed,
        block_size: BlockSize::new(args.cut.block_size)?,
        control: args.control.clone(),
        write_back: !args.cut.no_write_back,
    };
    let cancel = cancel_flag()?;
    let mounted = Mounted::mount(&options).map_err(usage)?;
    eprintln!(
        "faultline: {} is mounted on {}; control socket {}{}. Ctrl-C unmounts, keeping everything written.",
        options.backing.display(),
        mounted.mountpoint().display(),
        mounted
            .control()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        cut_after_changes
            .map(|n| format!("; cutting after change {n}"))
            .unwrap_or_default(),
    );
    while !cancel.load(Ordering::Relaxed) && !mounted.is_gone() {
        if mounted.wait_for_cut(Duration::from_millis(100)) {
            break;
        }
    }
    let ending = mounted.finish().map_err(usage)?;
    match ending {
        Ending::Cut(cut) => {
            let mut text = format!(
                "cut: {}\nstate {} left in {}\n",
                cut.why,
                cut.id,
                options.backing.display()
            );
            for line in &cut.log {
                text.push_str(&format!("  {line}\n"));
            }
            if cut.log.is_empty() {
                text.push_str("  nothing was in doubt: every change had been made durable\n");
            }
            if let Some(log) = &args.log {
                let (dir, name) = crate::trace_cmd::split_out(log)?;
                faultline_runner::report::write_files(&dir, &[(name.as_str(), text.clone())])?;
            }
            print_stdout(&text)?;
        }
        Ending::Clean { changes } => {
            eprintln!(
                "faultline: unmounted cleanly after {changes} changes; {} holds everything written",
                options.backing.display()
            );
        }
    }
    Ok(exit::OK)
}

/// `faultline cut`.
pub fn cut(args: &CutArgs) -> anyhow::Result<u8> {
    let path = args
        .control
        .clone()
        .unwrap_or_else(|| control_path(&args.mountpoint));
    let answer = mount::send(&path, &args.command).map_err(usage)?;
    print_stdout(&format!("{answer}\n"))?;
    Ok(if answer.starts_with("error") {
        exit::USAGE
    } else {
        exit::OK
    })
}

/// `faultline live`.
pub fn live(args: &LiveArgs) -> anyhow::Result<u8> {
    let checker = shell_words::split(&args.check).map_err(|e| UsageError::Live(format!("--check: {e}")))?;
    let temp_dir = args.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let mut prefix: Vec<String> = vec![
        "faultline".into(),
        "live".into(),
        "--check".into(),
        args.check.clone(),
    ];
    if let Some(start) = &args.start {
        prefix.extend(["--start".into(), start.display().to_string()]);
    }
    for t in &args.cut.cut_after {
        prefix.extend(["--cut-after".into(), t.to_string()]);
    }
    prefix.extend([
        "--keep-pending".into(),
        match args.cut.keep_pending {
            faultline_runner::live::Keep::Nothing => "nothing".into(),
            faultline_runner::live::Keep::Random => "random".into(),
        },
        "--block-size".into(),
        args.cut.block_size.to_string(),
        "--seed".into(),
        args.cut.seed.clone(),
        "--keep".into(),
    ]);
    if args.cut.no_write_back {
        prefix.push("--no-write-back".into());
    }
    prefix.push("--".into());
    prefix.extend(args.program.iter().cloned());
    let start = match &args.start {
        Some(dir) => faultline_runner::external::record::snapshot(dir)
            .map_err(|e| UsageError::Live(format!("--start: {e}")))?,
        None => faultline_core::FsImage::new(),
    };
    let request = LiveRequest {
        program: args.program.clone(),
        start,
        trials: args.trials,
        duration: args.duration,
        seed: parse_seed(&args.cut.seed)?,
        only_trial: args.trial,
        triggers: args.cut.cut_after.clone(),
        keep: args.cut.keep_pending,
        block_size: BlockSize::new(args.cut.block_size)?,
        temp_dir,
        keep_failures: args.keep,
        write_back: !args.cut.no_write_back,
        reproduce_prefix: prefix,
    };
    let cancel = cancel_flag()?;
    let mut shown = 0u64;
    let mut progress = |t: &TrialOutcome| {
        shown += 1;
        if t.failure.is_some() {
            eprintln!(
                "trial {}: FAIL ({}): {}",
                t.trial,
                t.cut,
                t.failure.as_deref().unwrap_or_default()
            );
        } else if shown.is_multiple_of(50) {
            eprintln!("{shown} trials ...");
        }
    };
    let judge = trial::Judge::Command(checker);
    let result = match trial::run(&request, &judge, &|_| true, &mut progress, &|| {
        cancel.load(Ordering::Relaxed)
    }) {
        Err(LiveError::Usage(text)) if text == "interrupted" => {
            eprintln!(
                "interrupted; the program was killed, the mount removed and the trial directory deleted"
            );
            return Ok(exit::INTERRUPTED);
        }
        other => other.map_err(usage)?,
    };
    let (json, text) = (serde_json::to_string_pretty(&result)? + "\n", summary(&result));
    let written =
        faultline_runner::report::write_files(&args.out, &[("live.json", json), ("live.md", text.clone())])?;
    print_stdout(&text)?;
    if let Some(first) = written.first() {
        eprintln!("report: {}", first.display());
    }
    Ok(if result.count().failures > 0 {
        exit::REFERENCE_FAILED
    } else {
        exit::OK
    })
}

fn summary(r: &LiveResult) -> String {
    let count = r.count();
    let mut out = format!(
        "# faultline live\n  program: {}\n  checker: {}\n  failing cuts: {}\n  {} changes in the uncut run; {:.0} cuts per minute; seed {}\n",
        shell_words::join(&r.program),
        shell_words::join(&r.checker),
        count.summary(),
        r.changes,
        r.cuts_per_minute(),
        r.seed
    );
    for t in r.trials.iter().filter(|t| t.failure.is_some()).take(20) {
        out.push_str(&format!(
            "\nFAIL trial {} (seed {:#x}): {}\n  cut: {} (state {}); program: {}\n",
            t.trial,
            t.seed,
            t.failure.as_deref().unwrap_or_default(),
            t.cut,
            t.state,
            t.program
        ));
        for line in t.lost.iter().filter(|l| !l.starts_with("kept")).take(8) {
            out.push_str(&format!("    {line}\n"));
        }
        if let Some(k) = &t.kept {
            out.push_str(&format!("  kept: {k}\n"));
        }
        out.push_str(&format!("  reproduce: {}\n", t.reproduce));
    }
    out
}
