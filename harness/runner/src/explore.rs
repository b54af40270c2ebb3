//! Crash-state exploration: run a variant's workload on the simulated file system, enumerate
//! every crash state the persistence model allows, judge each, and summarise.
//!
//! Everything in an [`ExploreResult`] is a function of the request, so the same request gives
//! the same result; the wall-clock figures live apart in [`Timing`].

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use faultline_core::crash_state::{self, BadStateId, CrashStateId, EnumerationConfig, EnumerationStats};
use faultline_core::persistence::Pending;
use faultline_core::stats::FailureCount;
use faultline_core::trace::{Mutation, TraceEntry};
use faultline_core::{BlockSize, Failure, FailureKind, FsError, FsImage, PersistenceModel, Verdict};
use faultline_targets::atomic_write::{self as aw_targets, Variant};
use faultline_targets::registry::{Detector, VariantInfo};

use crate::atomic_write::oracle::{Judge, Observed, Oracle};
use crate::atomic_write::{self, Progress, Recorded, Workload};

/// What to explore.
#[derive(Clone, Debug)]
pub struct ExploreRequest {
    /// The variant (of family atomic-write, the only one with a simulated workload so far).
    pub variant: Variant,
    /// The crash model and its parameters.
    pub config: EnumerationConfig,
    /// The documents to write.
    pub workload: Workload,
    /// The properties to judge; all of the family's by default.
    pub oracles: Vec<Oracle>,
}

impl ExploreRequest {
    /// The default workload for `variant` under `model`.
    pub fn new(variant: Variant, model: PersistenceModel) -> Self {
        ExploreRequest {
            variant,
            config: EnumerationConfig::new(model),
            workload: Workload::default(),
            oracles: Oracle::ALL.to_vec(),
        }
    }
}

/// A crash state that failed, with what is needed to understand and reproduce it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FailedState {
    /// The state's id, for `--state`.
    pub state: String,
    /// What the oracles said.
    pub failures: Vec<Failure>,
    /// The crash came after this many trace entries.
    pub moment: usize,
    /// The last trace entry before the crash.
    pub crash_after: Option<String>,
    /// The last crash point passed before the crash.
    pub last_crash_point: Option<&'static str>,
    /// What the workload had been told by then.
    pub versions_started: usize,
    /// The newest acknowledged version by then.
    pub versions_acknowledged: usize,
    /// Mutations in doubt that the crash kept.
    pub persisted: Vec<String>,
    /// Mutations in doubt that the crash lost.
    pub lost: Vec<String>,
    /// Writes the crash kept only in part.
    pub torn: Vec<String>,
    /// The file after recovery.
    pub observed: Observed,
    /// The command that shows exactly this state.
    pub reproduce: String,
}

/// The result of exploring one variant under one model. Deterministic.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExploreResult {
    /// `atomic-write`.
    pub family: &'static str,
    /// The variant's name.
    pub variant: &'static str,
    /// Its catalogue ID; `None` for the reference.
    pub catalogue_id: Option<&'static str>,
    /// The persistence model.
    pub model: PersistenceModel,
    /// Where writes tear.
    pub block_size_bytes: u64,
    /// Seeds the workload's randomness and the sample beyond the bound.
    pub seed: u64,
    /// The bound on choices per moment.
    pub max_choices_per_moment: u64,
    /// Sizes of the versions written (version 0 first).
    pub version_sizes: Vec<usize>,
    /// Trace entries the workload made.
    pub trace_len: usize,
    /// What the enumeration covered.
    pub enumeration: EnumerationStats,
    /// Failed states out of distinct states.
    pub failed_states: FailureCount,
    /// For each failure kind, how many states showed it.
    pub failures_by_kind: BTreeMap<FailureKind, u64>,
    /// The first failed state of each kind, in enumeration order.
    pub first_by_kind: BTreeMap<FailureKind, FailedState>,
    /// Replaces that failed although nothing was injected (a harness-level problem for the
    /// workload, reported as failures of kind `UnexpectedError`).
    pub workload_errors: Vec<String>,
    /// The properties judged.
    pub oracles: Vec<Oracle>,
    /// Whether the result is what the catalogue expects.
    pub expectation: Expectation,
}

/// Wall-clock figures of one exploration; not part of the deterministic result.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Time spent enumerating and judging.
    pub elapsed: Duration,
}

impl Timing {
    /// Distinct states judged per second.
    pub fn states_per_second(&self, result: &ExploreResult) -> f64 {
        result.enumeration.distinct_states as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Whether an exploration met the catalogue's expectation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Expectation {
    /// The reference passed with zero failures.
    ReferencePassed,
    /// The reference failed: a bug in the reference or in the harness.
    ReferenceFailed,
    /// The broken variant was caught with every kind the catalogue names for this model.
    Caught {
        /// The kinds that were expected and seen.
        kinds: Vec<FailureKind>,
    },
    /// The broken variant was not caught as the catalogue says it must be.
    NotCaught {
        /// The kinds that were expected but not seen.
        missing: Vec<FailureKind>,
    },
    /// The catalogue expects nothing of this variant under this model.
    NoExpectation,
}

impl Expectation {
    /// Whether the expectation held (or there was none).
    pub fn held(&self) -> bool {
        !matches!(self, Expectation::ReferenceFailed | Expectation::NotCaught { .. })
    }
}

/// The detectors a model stands for: process-crash is the simulated kill (K), power-loss is
/// P; the metadata check (X) runs under both.
pub fn detectors_for(model: PersistenceModel) -> [Detector; 2] {
    match model {
        PersistenceModel::ProcessCrash => [Detector::Kill, Detector::Metadata],
        PersistenceModel::PowerLoss => [Detector::PowerLoss, Detector::Metadata],
    }
}

fn expectation(
    info: &VariantInfo,
    model: PersistenceModel,
    by_kind: &BTreeMap<FailureKind, u64>,
) -> Expectation {
    if info.is_reference() {
        return if by_kind.is_empty() {
            Expectation::ReferencePassed
        } else {
            Expectation::ReferenceFailed
        };
    }
    let detectors = detectors_for(model);
    let expected: Vec<FailureKind> = info
        .expectations
        .iter()
        .filter(|e| detectors.contains(&e.detector))
        .map(|e| e.kind)
        .collect();
    if expected.is_empty() {
        return Expectation::NoExpectation;
    }
    let missing: Vec<FailureKind> = expected
        .iter()
        .copied()
        .filter(|k| !by_kind.contains_key(k))
        .collect();
    if missing.is_empty() {
        Expectation::Caught { kinds: expected }
    } else {
        Expectation::NotCaught { missing }
    }
}

/// The command line that explores `request` again, optionally at one state.
pub fn reproduce_command(request: &ExploreRequest, state: Option<&CrashStateId>) -> String {
    let mut cmd = format!(
        "faultline explore --family {} --variant {} --model {}",
        aw_targets::FAMILY,
        request.variant.info().name,
        request.config.model
    );
    if request.config.block_size != BlockSize::DEFAULT {
        cmd.push_str(&format!(" --block-size {}", request.config.block_size.bytes()));
    }
    if request.config.seed != 0 {
        cmd.push_str(&format!(" --seed {:#x}", request.config.seed));
    }
    if request.config.max_choices_per_moment != EnumerationConfig::DEFAULT_MAX_CHOICES_PER_MOMENT {
        cmd.push_str(&format!(
            " --max-choices {}",
            request.config.max_choices_per_moment
        ));
    }
    if request.oracles != Oracle::ALL {
        let names: Vec<&str> = request.oracles.iter().map(|o| o.name()).collect();
        cmd.push_str(&format!(" --oracle {}", names.join(",")));
    }
    if let Some(id) = state {
        cmd.push_str(&format!(" --state {id}"));
    }
    cmd
}

/// Runs the workload, enumerates its crash states, and judges them all.
pub fn explore(request: &ExploreRequest) -> Result<(ExploreResult, Timing), FsError> {
    let info = request.variant.info();
    let recorded = atomic_write::record(request.variant, &request.workload, request.config.seed)?;
    let progress = recorded.history.progress_by_moment(recorded.trace.len());
    let judge = Judge::with_oracles(request.variant, &request.workload, &request.oracles);
    let class = |moment: usize| {
        let p = progress[moment];
        (p.started as u64) << 32 | p.acknowledged as u64
    };

    let mut failed = 0u64;
    let mut by_kind: BTreeMap<FailureKind, u64> = BTreeMap::new();
    let mut first_by_kind: BTreeMap<FailureKind, FailedState> = BTreeMap::new();
    let workload_errors: Vec<String> = recorded
        .history
        .failures()
        .map(|(v, e)| format!("replace of version {v} failed: {e}: {}", e.errno))
        .collect();
    if !workload_errors.is_empty() {
        failed += 1;
        *by_kind.entry(FailureKind::UnexpectedError).or_default() += 1;
    }

    let started = Instant::now();
    let stats = crash_state::enumerate(&recorded.base, &recorded.trace, &request.config, class, |state| {
        let at = progress[state.id.moment];
        let (verdict, observed) = judge.judge(state.image, at);
        if let Verdict::Fail(failures) = verdict {
            failed += 1;
            for failure in &failures {
                *by_kind.entry(failure.kind).or_default() += 1;
                first_by_kind.entry(failure.kind).or_insert_with(|| {
                    failed_state(
                        request,
                        &recorded,
                        &state.id,
                        state.pending,
                        at,
                        &failures,
                        &observed,
                    )
                });
            }
        }
        ControlFlow::Continue(())
    });
    let timing = Timing {
        elapsed: started.elapsed(),
    };

    let result = ExploreResult {
        family: aw_targets::FAMILY,
        variant: info.name,
        catalogue_id: info.catalogue_id,
        model: request.config.model,
        block_size_bytes: request.config.block_size.bytes(),
        seed: request.config.seed,
        max_choices_per_moment: request.config.max_choices_per_moment,
        version_sizes: request.workload.sizes(),
        trace_len: recorded.trace.len(),
        enumeration: stats,
        failed_states: FailureCount::new(failed, stats.distinct_states),
        oracles: request.oracles.clone(),
        expectation: expectation(info, request.config.model, &by_kind),
        failures_by_kind: by_kind,
        first_by_kind,
        workload_errors,
    };
    Ok((result, timing))
}

/// One state in full: the trace up to the crash, what persisted, and the verdict.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StateReport {
    /// The failed-state summary (also filled in for a passing state).
    pub state: FailedState,
    /// Whether every oracle passed.
    pub passed: bool,
    /// The trace entries before the crash, numbered.
    pub trace: Vec<String>,
    /// Every path in the crash image before recovery, with size and mode.
    pub files_before_recovery: Vec<String>,
}

/// Errors of `--state`: a bad id, or a workload that could not run.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The id does not fit this trace.
    #[error(transparent)]
    BadId(#[from] BadStateId),
    /// The workload itself failed to run.
    #[error("workload failed to run")]
    Workload(#[from] FsError),
}

/// Rebuilds and judges exactly the state `id` of `request`.
pub fn explain_state(request: &ExploreRequest, id: &CrashStateId) -> Result<StateReport, StateError> {
    let recorded = atomic_write::record(request.variant, &request.workload, request.config.seed)?;
    let progress = recorded.history.progress_by_moment(recorded.trace.len());
    let (image, pending) = crash_state::reproduce(&recorded.base, &recorded.trace, &request.config, id)?;
    let at = progress[id.moment];
    let judge = Judge::with_oracles(request.variant, &request.workload, &request.oracles);
    let files_before_recovery = list_files(&image);
    let (verdict, observed) = judge.judge(image, at);
    let trace = recorded.trace[..id.moment]
        .iter()
        .enumerate()
        .map(|(i, e)| format!("#{i:<3} {e}"))
        .collect();
    Ok(StateReport {
        passed: verdict.passed(),
        state: failed_state(
            request,
            &recorded,
            id,
            &pending,
            at,
            verdict.failures(),
            &observed,
        ),
        trace,
        files_before_recovery,
    })
}

fn list_files(image: &FsImage) -> Vec<String> {
    image
        .walk()
        .into_iter()
        .map(|(path, node)| match node {
            faultline_core::Node::File { data, mode } => {
                format!("{path}  {} bytes, mode {mode:o}", data.len())
            }
            faultline_core::Node::Dir { mode, .. } => format!("{path}/  mode {mode:o}"),
        })
        .collect()
}

fn failed_state(
    request: &ExploreRequest,
    recorded: &Recorded,
    id: &CrashStateId,
    pending: &[Pending],
    at: Progress,
    failures: &[Failure],
    observed: &Observed,
) -> FailedState {
    let (mut persisted, mut lost, mut torn) = (Vec::new(), Vec::new(), Vec::new());
    let block = request.config.block_size.bytes();
    for (p, mask) in pending.iter().zip(&id.masks) {
        let units = p.mutation.units(block);
        let full = if units >= 64 {
            u64::MAX
        } else {
            (1u64 << units) - 1
        };
        let text = describe_pending(&recorded.trace, p);
        if *mask == 0 {
            lost.push(text);
        } else if mask & full == full {
            persisted.push(text);
        } else {
            let kept: Vec<String> = (0..units)
                .filter(|u| mask & (1 << u) != 0)
                .map(|u| u.to_string())
                .collect();
            torn.push(format!("{text} (kept block(s) {} of {units})", kept.join(",")));
        }
    }
    let before = &recorded.trace[..id.moment];
    FailedState {
        state: id.to_string(),
        failures: failures.to_vec(),
        moment: id.moment,
        crash_after: before
            .iter()
            .rev()
            .find(|e| e.crash_point.is_none())
            .map(|e| e.to_string()),
        last_crash_point: before.iter().rev().find_map(|e| e.crash_point),
        versions_started: at.started,
        versions_acknowledged: at.acknowledged,
        persisted,
        lost,
        torn,
        observed: observed.clone(),
        reproduce: reproduce_command(request, Some(id)),
    }
}

fn describe_pending(trace: &[TraceEntry], pending: &Pending) -> String {
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
