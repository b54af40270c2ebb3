//! Crash-state exploration of the bundled variants: run a family's workload on the simulated
//! file system, sweep every crash state the persistence model allows (see [`crate::crash`]),
//! judge each with the family's oracles, and summarise. Families with a simulated workload:
//! atomic-write and store (a document replaced again and again) and queue (an enqueue/dequeue
//! workload, judged by the exactly-once accounting).
//!
//! Everything in an [`ExploreResult`] is a function of the request, so the same request gives
//! the same result; the wall-clock figures live apart in [`Timing`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use faultline_core::crash_state::{self, BadStateId, CrashStateId, EnumerationConfig, EnumerationStats};
use faultline_core::persistence::Pending;
use faultline_core::stats::FailureCount;
use faultline_core::trace::TraceEntry;
use faultline_core::{Failure, FailureKind, FsError, PersistenceModel};

use crate::crash::{self, Kept};
use crate::family::document::workload::Progress;
use crate::family::document::workload::oracle::{Observed, Oracle};
pub use crate::family::explorable::{Explorable, ExploreRequest, detectors_for};

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
    /// Document families: the newest version the workload had begun by then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions_started: Option<usize>,
    /// Document families: the newest acknowledged version by then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions_acknowledged: Option<usize>,
    /// What the crash kept of the changes in doubt.
    #[serde(flatten)]
    pub kept: Kept,
    /// Document families: the file after recovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
    /// The command that shows exactly this state.
    pub reproduce: String,
}

/// The result of exploring one variant under one model. Deterministic.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExploreResult {
    /// `atomic-write`, `store` or `queue`.
    pub family: &'static str,
    /// The variant's name.
    pub variant: &'static str,
    /// Its catalogue ID; `None` for the reference.
    pub catalogue_id: Option<&'static str>,
    /// The persistence model.
    pub model: PersistenceModel,
    /// Where writes tear.
    pub block_size_bytes: u64,
    /// Seeds the workload's randomness and the sample of the level the budget cuts.
    pub seed: u64,
    /// The budget of choices for the whole exploration.
    pub max_choices: u64,
    /// Document families: sizes of the versions written (version 0 first).
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
    /// The properties judged (document families; the queue's is the exactly-once accounting).
    pub oracles: Vec<Oracle>,
    /// Whether the result is what the catalogue expects.
    pub expectation: Expectation,
}

impl ExploreResult {
    /// The failed states in their unit, with no interval: an enumeration is not a sample.
    /// `64 of 99 states (exhaustive)`.
    pub fn failed_text(&self) -> String {
        crate::results::Measure {
            count: self.failed_states,
            unit: "states",
            exhaustive: self.enumeration.exhaustive(),
            seconds_to_failure: None,
        }
        .summary()
    }
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

fn expectation(
    variant: Explorable,
    model: PersistenceModel,
    by_kind: &BTreeMap<FailureKind, u64>,
) -> Expectation {
    let info = variant.info();
    if info.is_reference() {
        return if by_kind.is_empty() {
            Expectation::ReferencePassed
        } else {
            Expectation::ReferenceFailed
        };
    }
    let detectors = variant.detectors(model);
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
        request.variant.family(),
        request.variant.info().name,
        request.config.model
    );
    if request.config.block_size != request.variant.default_block_size() {
        cmd.push_str(&format!(" --block-size {}", request.config.block_size.bytes()));
    }
    if request.config.seed != 0 {
        cmd.push_str(&format!(" --seed {:#x}", request.config.seed));
    }
    if request.config.max_choices != EnumerationConfig::DEFAULT_MAX_CHOICES {
        cmd.push_str(&format!(" --max-choices {}", request.config.max_choices));
    }
    if request.variant.judges_documents() && request.oracles != Oracle::ALL {
        let names: Vec<&str> = request.oracles.iter().map(|o| o.name()).collect();
        cmd.push_str(&format!(" --oracle {}", names.join(",")));
    }
    if let Some(id) = state {
        cmd.push_str(&format!(" --state {id}"));
    }
    cmd
}

/// Runs the workload, sweeps its crash states, and judges them all with its family's
/// recovery and oracles.
pub fn explore(request: &ExploreRequest) -> Result<(ExploreResult, Timing), FsError> {
    let recorded = request.record()?;
    let trace = recorded.trace();
    let started = Instant::now();
    let mut firsts = Firsts::new();
    let sweep = crash::sweep_infallible(
        recorded.base(),
        trace,
        &request.config,
        |moment| recorded.class(moment),
        &crash::all,
        |state| {
            let judged = recorded.judge(state.image, &state.id);
            for failure in &judged.failures {
                firsts.entry(failure.kind).or_insert_with(|| {
                    failed_state(
                        request,
                        trace,
                        &state.id,
                        state.pending,
                        &judged.failures,
                        judged.document.as_ref().map(|(at, observed)| (*at, observed)),
                    )
                });
            }
            judged.failures
        },
    );
    Ok(result(
        request,
        sweep,
        firsts,
        started,
        trace.len(),
        recorded.errors(),
    ))
}

/// What a sweep's judge keeps of the first failed state of each kind.
type Firsts = BTreeMap<FailureKind, FailedState>;

/// The result of a sweep that began at `started`, with the workload's own errors counted as
/// one more failed state of kind `UnexpectedError`, and its timing.
fn result(
    request: &ExploreRequest,
    sweep: crash::Sweep,
    first_by_kind: Firsts,
    started: Instant,
    trace_len: usize,
    workload_errors: Vec<String>,
) -> (ExploreResult, Timing) {
    let timing = Timing {
        elapsed: started.elapsed(),
    };
    let (enumeration, mut failed, mut by_kind) = (sweep.enumeration, sweep.failed, sweep.by_kind);
    if !workload_errors.is_empty() {
        failed += 1;
        *by_kind.entry(FailureKind::UnexpectedError).or_default() += 1;
    }
    let info = request.variant.info();
    let documents = request.variant.judges_documents();
    let result = ExploreResult {
        family: request.variant.family(),
        variant: info.name,
        catalogue_id: info.catalogue_id,
        model: request.config.model,
        block_size_bytes: request.config.block_size.bytes(),
        seed: request.config.seed,
        max_choices: request.config.max_choices,
        version_sizes: if documents {
            request.workload.sizes()
        } else {
            Vec::new()
        },
        trace_len,
        enumeration,
        failed_states: FailureCount::new(failed, enumeration.distinct_states),
        oracles: if documents {
            request.oracles.clone()
        } else {
            Vec::new()
        },
        expectation: expectation(request.variant, request.config.model, &by_kind),
        failures_by_kind: by_kind,
        first_by_kind,
        workload_errors,
    };
    (result, timing)
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
    let recorded = request.record()?;
    let trace = recorded.trace();
    let (image, pending) = crash_state::reproduce(recorded.base(), trace, &request.config, id)?;
    let files_before_recovery = crash::list_files(&image);
    let judged = recorded.judge(image, id);
    Ok(StateReport {
        passed: judged.failures.is_empty(),
        state: failed_state(
            request,
            trace,
            id,
            &pending,
            &judged.failures,
            judged.document.as_ref().map(|(at, observed)| (*at, observed)),
        ),
        trace: numbered(&trace[..id.moment]),
        files_before_recovery,
    })
}

fn numbered(trace: &[TraceEntry]) -> Vec<String> {
    trace
        .iter()
        .enumerate()
        .map(|(i, e)| format!("#{i:<3} {e}"))
        .collect()
}

/// State `id` of `trace` (with the changes in doubt `pending`) and what was seen there;
/// `document` is what a document family's workload had been told by then and what recovery
/// left.
fn failed_state(
    request: &ExploreRequest,
    trace: &[TraceEntry],
    id: &CrashStateId,
    pending: &[Pending],
    failures: &[Failure],
    document: Option<(Progress, &Observed)>,
) -> FailedState {
    FailedState {
        state: id.to_string(),
        failures: failures.to_vec(),
        moment: id.moment,
        crash_after: crash::crash_after(trace, id.moment),
        last_crash_point: trace[..id.moment].iter().rev().find_map(|e| e.crash_point),
        versions_started: document.map(|(at, _)| at.started),
        versions_acknowledged: document.map(|(at, _)| at.acknowledged),
        kept: crash::kept(trace, pending, id, request.config.block_size.bytes()),
        observed: document.map(|(_, o)| o.clone()),
        reproduce: reproduce_command(request, Some(id)),
    }
}
