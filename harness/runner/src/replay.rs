//! `faultline replay REPORT --case N`: runs one recorded failure again and says whether it
//! reproduced.
//!
//! A case is a process trial (re-run with its scenario, seed and trial number, which fix its
//! kill plan), a queue crash state (re-enumerated and judged; deterministic), or an
//! atomic-write crash state from `faultline explore` (rebuilt by its id; deterministic).
//! Schedules of `faultline model` are replayed by the checker, which the command line runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use faultline_core::{BlockSize, CrashStateId, FailureKind, PersistenceModel};

use crate::envelope::{ReadError, parse_error, read_checked};
use crate::explore::{ExploreRequest, explain_state};
use crate::family::document::workload::oracle::Oracle;
use crate::report::Case;
use crate::run::{RunOptions, run_scenario};

/// Why a case could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The report could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// No such case.
    #[error(
        "{path}: no case {number}; the report records {count} failure(s), numbered 1 to {count} as run.md and run.html list them"
    )]
    NoCase {
        /// The report.
        path: PathBuf,
        /// The number asked for.
        number: usize,
        /// How many there are.
        count: usize,
    },
    /// The scenario file the report names is not here.
    #[error("{0}")]
    Scenario(#[from] crate::scenario::ScenarioError),
    /// The scenario file changed: it no longer runs the variant, or is another scenario.
    #[error("{path}: {what}; replay with the scenario file the report was made from")]
    Changed {
        /// The scenario file.
        path: String,
        /// What changed.
        what: String,
    },
    /// The trial could not run.
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    /// The explore report names something this faultline does not have.
    #[error("{path}: {what}")]
    Explore {
        /// The report.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The workload of an explore case failed to run.
    #[error(transparent)]
    State(#[from] crate::explore::StateError),
}

/// What a replay saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replayed {
    /// Whether the recorded kind was seen again.
    pub reproduced: bool,
    /// Attempts made (process trials race real timing and may take more than one).
    pub attempts: u32,
    /// The failures the last attempt saw, by kind.
    pub seen: BTreeMap<FailureKind, u64>,
    /// What the replay saw of the recorded kind (or of any failure).
    pub detail: Option<String>,
}

/// Replays a case of a run report: the trial it names, up to `attempts` times until the
/// recorded kind is seen again.
pub fn replay_run_case(
    case: &Case<'_>,
    attempts: u32,
    temp_dir: Option<PathBuf>,
    cancel: &AtomicBool,
) -> Result<Replayed, ReplayError> {
    let r = case.result;
    let scenario = crate::scenario_file::load(Path::new(&r.scenario_path))?;
    if scenario.name != r.scenario || scenario.family != r.family {
        return Err(ReplayError::Changed {
            path: r.scenario_path.clone(),
            what: format!(
                "it is now scenario {} of family {}, not {} of {}",
                scenario.name, scenario.family, r.scenario, r.family
            ),
        });
    }
    let options = RunOptions {
        seed: Some(r.seed),
        variant: Some(r.variant.to_string()),
        trial: Some(case.first.trial),
        temp_dir,
        ..RunOptions::default()
    };
    let mut seen = BTreeMap::new();
    let mut detail = None;
    for attempt in 1..=attempts.max(1) {
        let results = run_scenario(&scenario, &options, cancel, |_, _| {})?;
        let Some(result) = results.into_iter().next() else {
            return Err(ReplayError::Changed {
                path: r.scenario_path.clone(),
                what: format!("it no longer runs variant {}", r.variant),
            });
        };
        seen = result.failures_by_kind.clone();
        detail = result
            .first_by_kind
            .get(&case.kind)
            .or_else(|| result.first_by_kind.values().next())
            .map(|f| f.detail.clone());
        if seen.contains_key(&case.kind) {
            return Ok(Replayed {
                reproduced: true,
                attempts: attempt,
                seen,
                detail,
            });
        }
    }
    Ok(Replayed {
        reproduced: false,
        attempts: attempts.max(1),
        seen,
        detail,
    })
}

/// The part of an explore report a replay needs.
#[derive(serde::Deserialize)]
struct ExploreReportLite {
    results: Vec<ExploreResultLite>,
}

#[derive(serde::Deserialize)]
struct ExploreResultLite {
    family: String,
    variant: String,
    model: String,
    block_size_bytes: u64,
    seed: u64,
    /// Reports before the one budget named the bound per moment; a state's id does not depend
    /// on either.
    #[serde(alias = "max_choices_per_moment")]
    max_choices: u64,
    oracles: Vec<String>,
    first_by_kind: BTreeMap<FailureKind, FailedStateLite>,
}

#[derive(serde::Deserialize)]
struct FailedStateLite {
    state: String,
}

/// A case of an explore report, ready to replay.
#[derive(Debug)]
pub struct ExploreCase {
    /// `variant under model, state ID`, for messages.
    pub label: String,
    /// The recorded kind.
    pub kind: FailureKind,
    request: ExploreRequest,
    id: CrashStateId,
}

/// The cases of an explore report, numbered from 1 (results in order, kinds in order).
pub fn explore_cases(path: &Path) -> Result<Vec<ExploreCase>, ReplayError> {
    let (_, text) = read_checked(path, &["explore"])?;
    let report: ExploreReportLite =
        serde_json::from_str(&text).map_err(|e| parse_error(path, "explore", &e))?;
    let bad = |what: String| ReplayError::Explore {
        path: path.to_path_buf(),
        what,
    };
    let mut out = Vec::new();
    for r in report.results {
        let variant = crate::explore::Explorable::by_name(&r.family, &r.variant).ok_or_else(|| {
            bad(format!(
                "no crash-state workload for variant '{}' of family '{}'",
                r.variant, r.family
            ))
        })?;
        let model: PersistenceModel = r.model.parse().map_err(|e| bad(format!("{e}")))?;
        let mut request = ExploreRequest::new(variant, model);
        request.config.block_size = BlockSize::new(r.block_size_bytes).map_err(|e| bad(format!("{e}")))?;
        request.config.seed = r.seed;
        request.config.max_choices = r.max_choices;
        request.oracles = r
            .oracles
            .iter()
            .map(|o| o.parse::<Oracle>().map_err(bad))
            .collect::<Result<_, _>>()?;
        for (kind, first) in r.first_by_kind {
            let id: CrashStateId = first
                .state
                .parse()
                .map_err(|e| bad(format!("state '{}': {e}", first.state)))?;
            out.push(ExploreCase {
                label: format!("{} under {}, state {}", r.variant, r.model, first.state),
                kind,
                request: request.clone(),
                id,
            });
        }
    }
    Ok(out)
}

/// Rebuilds and judges the crash state of an explore case.
pub fn replay_explore_case(case: &ExploreCase) -> Result<Replayed, ReplayError> {
    let report = explain_state(&case.request, &case.id)?;
    let seen: BTreeMap<FailureKind, u64> = report.state.failures.iter().map(|f| (f.kind, 1)).collect();
    let detail = report
        .state
        .failures
        .iter()
        .find(|f| f.kind == case.kind)
        .or_else(|| report.state.failures.first())
        .map(|f| f.detail.clone());
    Ok(Replayed {
        reproduced: seen.contains_key(&case.kind),
        attempts: 1,
        seen,
        detail,
    })
}

/// The case numbered `number` of `count`, or the error that names the valid range.
pub fn pick<T>(path: &Path, mut cases: Vec<T>, number: usize) -> Result<T, ReplayError> {
    let count = cases.len();
    if number == 0 || number > count {
        return Err(ReplayError::NoCase {
            path: path.to_path_buf(),
            number,
            count,
        });
    }
    Ok(cases.swap_remove(number - 1))
}
