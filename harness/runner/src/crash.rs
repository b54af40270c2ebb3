//! The crash detector: one sweep over the crash states of a recorded workload (enumerate,
//! materialise, recover, judge) for every workload that has crash states: the families'
//! simulated workloads, programs recorded with strace, and program scenarios alike. A
//! workload brings its trace and a judge; the sweep enumerates, picks, counts, and keeps the
//! first state of each failure kind, in one result type.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;

use faultline_core::crash_state::{self, CrashState, CrashStateId, EnumerationConfig, EnumerationStats};
use faultline_core::persistence::Pending;
use faultline_core::trace::{Mutation, TraceEntry};
use faultline_core::trace_builder::SYMLINK_MODE;
use faultline_core::{Failure, FailureKind, FsImage, Node};

/// What a sweep found.
#[derive(Clone, Debug, Default)]
pub struct Sweep {
    /// What the enumeration covered.
    pub enumeration: EnumerationStats,
    /// States judged (those the selection picked).
    pub judged: u64,
    /// States that failed.
    pub failed: u64,
    /// For each kind, the states that showed it.
    pub by_kind: BTreeMap<FailureKind, u64>,
    /// The first failing state of each kind: its index in enumeration order, and what was
    /// seen there.
    pub first_by_kind: BTreeMap<FailureKind, (u64, String)>,
}

impl Sweep {
    /// Counts the workload's own failure with no fault injected (a harness-level problem) as
    /// one more failed state of kind `UnexpectedError`, numbered 0, and the first of its kind.
    pub fn workload_failed(&mut self, detail: String) {
        self.judged += 1;
        self.failed += 1;
        *self.by_kind.entry(FailureKind::UnexpectedError).or_default() += 1;
        self.first_by_kind
            .insert(FailureKind::UnexpectedError, (0, detail));
    }

    fn add(&mut self, index: u64, failures: Vec<Failure>) {
        self.judged += 1;
        if failures.is_empty() {
            return;
        }
        self.failed += 1;
        for Failure { kind, detail } in failures {
            *self.by_kind.entry(kind).or_default() += 1;
            self.first_by_kind.entry(kind).or_insert((index, detail));
        }
    }
}

/// Enumerates the crash states of `trace` (from `base`) under `config` and judges those whose
/// index in enumeration order `select` picks: all, one (`--trial`), or a shard's slice.
/// Moments of the same `class` with the same state are judged once. Stops at the judge's
/// first error.
pub fn sweep<E>(
    base: &FsImage,
    trace: &[TraceEntry],
    config: &EnumerationConfig,
    class: impl Fn(usize) -> u64,
    select: &dyn Fn(u64) -> bool,
    mut judge: impl FnMut(CrashState<'_>) -> Result<Vec<Failure>, E>,
) -> Result<Sweep, E> {
    let mut sweep = Sweep::default();
    let mut index = 0u64;
    let mut error = None;
    sweep.enumeration = crash_state::enumerate(base, trace, config, class, |state| {
        let this = index;
        index += 1;
        if !select(this) {
            return ControlFlow::Continue(());
        }
        match judge(state) {
            Ok(failures) => {
                sweep.add(this, failures);
                ControlFlow::Continue(())
            }
            Err(e) => {
                error = Some(e);
                ControlFlow::Break(())
            }
        }
    });
    error.map_or(Ok(sweep), Err)
}

/// [`sweep`] with a judge that cannot fail.
pub fn sweep_infallible(
    base: &FsImage,
    trace: &[TraceEntry],
    config: &EnumerationConfig,
    class: impl Fn(usize) -> u64,
    select: &dyn Fn(u64) -> bool,
    mut judge: impl FnMut(CrashState<'_>) -> Vec<Failure>,
) -> Sweep {
    let swept = sweep(base, trace, config, class, select, |state| {
        Ok::<_, std::convert::Infallible>(judge(state))
    });
    match swept {
        Ok(sweep) => sweep,
        Err(never) => match never {},
    }
}

/// Every state: the selection of a sweep that judges them all.
pub fn all(_: u64) -> bool {
    true
}

/// What a crash kept of the changes in doubt, in words: persisted, lost, and torn (kept in
/// part), each naming its trace entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Kept {
    /// Changes in doubt that the crash kept.
    pub persisted: Vec<String>,
    /// Changes in doubt that the crash lost.
    pub lost: Vec<String>,
    /// Writes the crash kept only in part.
    pub torn: Vec<String>,
}

pub use faultline_core::crash_state::{Fate, fates};

/// What state `id` kept of `pending` (the changes in doubt at its moment), with writes torn
/// at `block` bytes.
pub fn kept(trace: &[TraceEntry], pending: &[Pending], id: &CrashStateId, block: u64) -> Kept {
    let mut kept = Kept::default();
    for (p, fate) in fates(pending, id, block) {
        let text = describe_pending(trace, p);
        match fate {
            Fate::Lost => kept.lost.push(text),
            Fate::Persisted => kept.persisted.push(text),
            Fate::Torn { kept: blocks, units } => {
                let blocks: Vec<String> = blocks.iter().map(ToString::to_string).collect();
                kept.torn
                    .push(format!("{text} (kept block(s) {} of {units})", blocks.join(",")));
            }
        }
    }
    kept
}

/// A change in doubt in words: its trace entry's number and call, and what it changes.
pub fn describe_pending(trace: &[TraceEntry], pending: &Pending) -> String {
    let what = match &pending.mutation {
        Mutation::Write { offset, data, .. } => format!("{} bytes at {offset}", data.len()),
        Mutation::Truncate { len, .. } => format!("length {len}"),
        Mutation::SetMode { mode, .. } => format!("mode {mode:o}"),
        Mutation::Link { name, .. } => format!("entry {name}"),
        Mutation::Unlink { name, .. } => format!("removal of {name}"),
        Mutation::Rename {
            from_name, to_name, ..
        } => format!("{from_name} -> {to_name}"),
        Mutation::NewFile { .. } | Mutation::NewDir { .. } => "allocation".to_string(),
    };
    let call = trace
        .get(pending.trace_index)
        .map(|e| e.call.as_str())
        .unwrap_or("?");
    format!("#{} {call} [{what}]", pending.trace_index)
}

/// The last trace entry before the crash at `moment` that is a call (not a crash point).
pub fn crash_after(trace: &[TraceEntry], moment: usize) -> Option<String> {
    trace[..moment.min(trace.len())]
        .iter()
        .rev()
        .find(|e| e.crash_point.is_none())
        .map(|e| e.to_string())
}

/// Every path in `image`, with size and mode.
pub fn list_files(image: &FsImage) -> Vec<String> {
    image
        .walk()
        .into_iter()
        .map(|(path, node)| match node {
            Node::File { data, mode } if *mode == SYMLINK_MODE => {
                format!("{path} -> {}", String::from_utf8_lossy(&data.bytes()))
            }
            Node::File { data, mode } => format!("{path}  {} bytes, mode {mode:o}", data.len()),
            Node::Dir { mode, .. } => format!("{path}/  mode {mode:o}"),
        })
        .collect()
}

/// Writes `image` into `dir` (which must not exist): directories, files with their modes,
/// symbolic links.
pub fn materialise(image: &FsImage, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (path, node) in image.walk() {
        let host = dir.join(path.trim_start_matches('/'));
        match node {
            Node::Dir { mode, .. } => {
                std::fs::create_dir(&host)?;
                std::fs::set_permissions(
                    &host,
                    <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(*mode | 0o700),
                )?;
            }
            Node::File { data, mode } if *mode == SYMLINK_MODE => {
                std::os::unix::fs::symlink(String::from_utf8_lossy(&data.bytes()).as_ref(), &host)?;
            }
            Node::File { data, mode } => {
                // A new file or nothing: never through a name that is already there (a
                // symlink a crafted image planted, say).
                // Holes stay holes: only the written extents are written, then the length.
                use std::os::unix::fs::FileExt as _;
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&host)?;
                for (at, bytes) in data.extents() {
                    file.write_all_at(bytes, at)?;
                }
                file.set_len(data.len())?;
                std::fs::set_permissions(
                    &host,
                    <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(*mode),
                )?;
            }
        }
    }
    Ok(())
}
