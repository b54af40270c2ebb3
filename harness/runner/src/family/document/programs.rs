//! A `command` scenario with `[explore]`: record the writer program writing a few versions
//! one after another, then judge every crash state of the recorded trace as one trial.
//!
//! The recorded run is `sh -c 'WRITER 1 && echo faultline-acked 1 && WRITER 2 && ...'` in a
//! fresh directory holding version 0, so the trace's standard output says which versions were
//! acknowledged (their writer had exited 0) at every moment. A state fails when the file is
//! missing (`MissingFile`), not a complete version (`TornFile`), or older than the newest
//! acknowledged one (`LostAcknowledgedWrite`). Judging runs in this process: no checker is
//! executed per state, so thousands of states take a moment.

use std::path::{Path, PathBuf};

use faultline_core::crash_state::EnumerationConfig;
use faultline_core::{BlockSize, Failure, FailureKind, FsImage};

use crate::crash::Sweep;
use crate::document::{Read, Version, document};
use crate::external::record::record_in_fresh_dir;
use crate::external::trace_file::TraceFile;
use crate::family::target::Program;
use crate::process::trial::FILE_NAME;
use crate::scenario::{CommandExplore, LivePlan};

/// The line the recorded run prints after version `n` was written.
const ACKED: &str = "faultline-acked ";

/// Records `target`'s writer and judges the crash states `select` picks (by number).
pub fn explore(
    target: Program<'_>,
    plan: CommandExplore,
    size: usize,
    select: &dyn Fn(u64) -> bool,
) -> Result<Sweep, String> {
    let trace = record_writer(target, plan, size)?;
    let mut config = EnumerationConfig::new(plan.model);
    config.block_size = BlockSize::new(plan.block_size).map_err(|e| e.to_string())?;
    let len = trace.entries.len();
    let mut acked_by_moment = Vec::with_capacity(len + 1);
    let mut printed = Vec::new();
    for m in 0..=len {
        acked_by_moment.push(acknowledged(&printed));
        if let Some(out) = trace.output.get(m) {
            printed.extend_from_slice(out);
        }
    }
    let class = |m: usize| acked_by_moment[m];
    let checker = target.roles.programs.command("checker");
    Ok(crate::crash::sweep_infallible(
        &trace.base,
        &trace.entries,
        &config,
        class,
        select,
        |state| {
            let acked = acked_by_moment[state.id.moment];
            match checker {
                Some(words) => judge_with_checker(target, words, &state.image, acked, size),
                None => judge(&state.image, acked, size),
            }
            .map(|(kind, detail)| Failure {
                kind,
                detail: format!(
                    "state {} (after {} of {len} calls): {detail}",
                    state.id, state.id.moment
                ),
            })
            .into_iter()
            .collect()
        },
    ))
}

/// The `[live]` workload of a document program: each trial starts from version 0 of the
/// file, runs the writer for `plan.versions` versions on the mount (acknowledging each as it
/// exits 0), and a cut's state is judged as a crash state of `[explore]` is: by the checker
/// program if the variant gives one, else as a document against what was acknowledged.
pub fn live<'s>(
    target: Program<'s>,
    plan: LivePlan,
    size: usize,
) -> Result<crate::live::trial::LiveWorkload<'s>, String> {
    let Some(writer) = target.roles.programs.command("writer") else {
        return Err(format!(
            "{} programs have no writer to run",
            target.roles.programs.kind()
        ));
    };
    // `{dir}` stays for the live run to fill in: the mount point of each trial.
    let path = Path::new("{dir}").join(FILE_NAME);
    let program = vec![
        "sh".to_string(),
        "-c".to_string(),
        script(target, writer, &path, plan.versions, size),
    ];
    let mut start = FsImage::new();
    let ino = start.next_ino();
    start.insert(
        ino,
        faultline_core::Node::File {
            data: std::sync::Arc::new(document(Version { writer: 0, seq: 0 }, size).as_slice().into()),
            mode: 0o644,
        },
    );
    start.set_entry(
        faultline_core::image::ROOT_INO,
        &std::sync::Arc::from(FILE_NAME),
        ino,
    );
    let checker = target.roles.programs.command("checker");
    Ok(crate::live::trial::LiveWorkload {
        program,
        start,
        judge: Box::new(move |image, printed| {
            let acked = acknowledged(printed);
            match checker {
                Some(words) => judge_with_checker(target, words, image, acked, size),
                None => judge(image, acked, size),
            }
        }),
    })
}

/// The newest version acknowledged in `printed`.
fn acknowledged(printed: &[u8]) -> u64 {
    String::from_utf8_lossy(printed)
        .lines()
        .filter_map(|l| l.strip_prefix(ACKED)?.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

fn judge(image: &FsImage, acked: u64, size: usize) -> Option<(FailureKind, String)> {
    let path = PathBuf::from("/").join(FILE_NAME);
    let Ok(bytes) = image.read(&path) else {
        return Some((FailureKind::MissingFile, format!("{FILE_NAME} is missing")));
    };
    match crate::program::classify_json(&bytes.bytes(), size) {
        Read::Bad { detail, .. } => Some((FailureKind::TornFile, detail)),
        Read::Complete(v) if v.seq < acked => Some((
            FailureKind::LostAcknowledgedWrite,
            format!(
                "{FILE_NAME} holds version {} but version {acked} was acknowledged",
                v.seq
            ),
        )),
        Read::Complete(_) => None,
    }
}

/// Judges a crash state with the scenario's checker, which runs in a directory holding the
/// state (`{path}` its file, `{acked}` the newest version acknowledged before the crash): a
/// non-zero exit is `CheckerFailed`. A file the checker passes that is in faultline's own
/// format (integer `writer` and `seq`) is still held to what was acknowledged.
fn judge_with_checker(
    target: Program<'_>,
    checker: &[String],
    image: &FsImage,
    acked: u64,
    size: usize,
) -> Option<(FailureKind, String)> {
    let dir = match crate::scratch::private_dir("faultline-state-", None) {
        Ok(dir) => dir,
        Err(e) => {
            return Some((
                FailureKind::UnexpectedError,
                format!("a directory for the state: {e}"),
            ));
        }
    };
    if let Err(e) = crate::crash::materialise(image, dir.path()) {
        return Some((
            FailureKind::UnexpectedError,
            format!("writing the state out: {e}"),
        ));
    }
    let path = dir.path().join(FILE_NAME);
    let words = target.roles.expand(
        checker,
        &crate::program::Vars {
            acked,
            ..crate::program::Vars::new(&path, size)
        },
    );
    match crate::program::run(&words, dir.path()) {
        Ok(out) if out.status.success() => match image.read(&PathBuf::from("/").join(FILE_NAME)) {
            Ok(bytes) => match crate::program::classify_json(&bytes.bytes(), size) {
                Read::Complete(v) if v.seq < acked => Some((
                    FailureKind::LostAcknowledgedWrite,
                    format!(
                        "{FILE_NAME} holds version {} but version {acked} was acknowledged",
                        v.seq
                    ),
                )),
                _ => None,
            },
            Err(_) => None,
        },
        Ok(out) => Some((
            FailureKind::CheckerFailed,
            crate::program::failure_detail(&words, &out),
        )),
        Err(e) => Some((
            FailureKind::CheckerFailed,
            format!("`{}` could not run: {e}", words[0]),
        )),
    }
}

/// Runs the writer for versions 1..=`plan.versions` under strace, in a fresh directory.
fn record_writer(target: Program<'_>, plan: CommandExplore, size: usize) -> Result<TraceFile, String> {
    let Some(writer) = target.roles.programs.command("writer") else {
        return Err(format!(
            "{} programs have no writer to record",
            target.roles.programs.kind()
        ));
    };
    record_in_fresh_dir(|dir| {
        let path = dir.join(FILE_NAME);
        std::fs::write(&path, document(Version { writer: 0, seq: 0 }, size))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(script(target, writer, &path, plan.versions, size))
    })
}

/// `cd DIR && W1 && echo faultline-acked 1 && W2 && ...`.
fn script(target: Program<'_>, writer: &[String], path: &Path, versions: u32, size: usize) -> String {
    let mut parts = vec![format!(
        "cd {}",
        shell_words::quote(&faultline_core::fs::parent_dir(path).display().to_string())
    )];
    for seq in 1..=u64::from(versions) {
        let doc = document(Version { writer: 1, seq }, size);
        let vars = crate::program::Vars {
            writer: 1,
            version: seq,
            document: std::str::from_utf8(&doc).expect("documents are ASCII"),
            ..crate::program::Vars::new(path, size)
        };
        let words = target.roles.expand(writer, &vars);
        parts.push(shell_words::join(words));
        parts.push(format!("echo {ACKED}{seq}"));
    }
    parts.join(" && ")
}
