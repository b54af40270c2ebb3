//! Reports: the JSON that is the source of truth, the Markdown rendered from it, and writing
//! both with faultline's own durable atomic write.
//!
//! The JSON carries `format_version`; reports hold only deterministic figures (no timings),
//! so two runs of the same request write identical files.

use std::path::{Path, PathBuf};

use faultline_core::stats::percent;

pub use crate::envelope::{FORMAT_VERSION, ReadError, Report, ReportError, write_files};
use crate::envelope::{check_envelope, parse_error, read_checked};
use crate::explore::{Expectation, ExploreResult};
use crate::results::{VariantResult, Verdict};

/// The report of `faultline explore`.
pub type ExploreReport = Report<ExploreResult>;

/// The report of `faultline run`.
pub type RunReport = Report<VariantResult>;

impl ExploreReport {
    /// A report of these results.
    pub fn new(results: Vec<ExploreResult>) -> Self {
        Report {
            format_version: FORMAT_VERSION,
            kind: "explore",
            results,
            environment: None,
        }
    }

    /// The report as a Markdown table with the first failure of each broken variant.
    pub fn to_markdown(&self) -> String {
        let mut md = String::from("# faultline explore\n\n");
        md.push_str("| variant | ID | model | states | failed | kinds | expectation |\n");
        md.push_str("|---|---|---|---:|---|---|---|\n");
        for r in &self.results {
            let kinds: Vec<String> = r
                .failures_by_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                r.variant,
                r.catalogue_id.unwrap_or("reference"),
                r.model,
                r.enumeration.distinct_states,
                r.failed_text(),
                if kinds.is_empty() {
                    "-".to_string()
                } else {
                    kinds.join(", ")
                },
                expectation_text(&r.expectation),
            ));
        }
        for r in self.results.iter().filter(|r| !r.first_by_kind.is_empty()) {
            md.push_str(&format!("\n## {} under {}\n\n", r.variant, r.model));
            for (kind, first) in &r.first_by_kind {
                let detail = first
                    .failures
                    .iter()
                    .find(|f| f.kind == *kind)
                    .map(|f| f.detail.as_str())
                    .unwrap_or("");
                md.push_str(&format!(
                    "- **{kind}** at state `{}`: {detail}\n  `{}`\n",
                    first.state, first.reproduce
                ));
            }
        }
        md
    }

    /// How many results missed their expectation.
    pub fn unmet(&self) -> usize {
        self.results.iter().filter(|r| !r.expectation.held()).count()
    }
}

/// A one-phrase rendering of an expectation.
pub fn expectation_text(e: &Expectation) -> String {
    match e {
        Expectation::ReferencePassed => "reference passed".into(),
        Expectation::ReferenceFailed => "REFERENCE FAILED".into(),
        Expectation::Caught { kinds } => {
            format!(
                "caught ({})",
                kinds
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Expectation::NotCaught { missing } => format!(
            "NOT CAUGHT (expected {})",
            missing
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Expectation::NoExpectation => "no expectation under this model".into(),
    }
}

/// Writes `explore.json` and `explore.md` into `dir`; returns their paths.
pub fn write_explore(dir: &Path, report: &ExploreReport) -> Result<Vec<PathBuf>, ReportError> {
    write_files(
        dir,
        &[
            ("explore.json", report.to_json()),
            ("explore.md", report.to_markdown()),
        ],
    )
}

impl RunReport {
    /// A report of these results.
    pub fn new(results: Vec<VariantResult>) -> Self {
        Report {
            format_version: FORMAT_VERSION,
            kind: "run",
            results,
            environment: None,
        }
    }

    /// The wall time of `scenario`'s variants, which run one after the other.
    pub fn scenario_seconds(&self, scenario: &str) -> f64 {
        self.results
            .iter()
            .filter(|r| r.scenario == scenario)
            .map(|r| r.elapsed_s)
            .sum()
    }

    /// Expectations that held, of the results that had one.
    pub fn expectations_held(&self) -> (usize, usize) {
        let judged = self
            .results
            .iter()
            .filter(|r| !matches!(r.verdict, Verdict::NoExpectation));
        let held = judged
            .clone()
            .filter(|r| matches!(r.verdict, Verdict::Held))
            .count();
        (held, judged.count())
    }

    /// Whether a variant with a failure limit exceeded it.
    pub fn limit_exceeded(&self) -> bool {
        self.results
            .iter()
            .any(|r| matches!(r.verdict, Verdict::Exceeded { .. }))
    }

    /// Whether a variant that must fail was not caught.
    pub fn not_caught(&self) -> bool {
        self.results
            .iter()
            .any(|r| matches!(r.verdict, Verdict::NotCaught { .. }))
    }
}

/// One recorded failure of a report: the first of its kind in one scenario x variant.
/// Numbered from 1 in report order (results in order, kinds in order), as every rendering
/// and `faultline replay --case N` number them.
#[derive(Clone, Copy, Debug)]
pub struct Case<'a> {
    /// From 1.
    pub number: usize,
    /// The result it belongs to.
    pub result: &'a VariantResult,
    /// The kind.
    pub kind: faultline_core::FailureKind,
    /// The first failure of that kind.
    pub first: &'a crate::results::FirstSeen,
}

/// Every recorded failure of `results`, numbered.
pub fn cases(results: &[VariantResult]) -> Vec<Case<'_>> {
    results
        .iter()
        .flat_map(|r| r.first_by_kind.iter().map(move |(kind, first)| (r, *kind, first)))
        .enumerate()
        .map(|(i, (result, kind, first))| Case {
            number: i + 1,
            result,
            kind,
            first,
        })
        .collect()
}

#[derive(serde::Deserialize)]
struct Results {
    results: Vec<VariantResult>,
    #[serde(default)]
    environment: Option<Box<crate::environment::Environment>>,
}

/// Reads a report of one of `kinds` whose results are [`VariantResult`]s (`run`, `model`).
pub fn read_results(path: &Path, kinds: &[&str]) -> Result<RunReport, ReadError> {
    let (_, text) = read_checked(path, kinds)?;
    results_from_text(path, text, kinds)
}

/// Parses the `text` of a report of one of `kinds` (read from `path`, named in errors).
pub fn results_from_text(path: &Path, text: String, kinds: &[&str]) -> Result<RunReport, ReadError> {
    let kind = check_envelope(path, &text, kinds)?;
    let results: Results =
        serde_json::from_str(&text).map_err(|e| parse_error(path, &kinds.join(" or "), &e))?;
    let bad = |message: String| ReadError::Parse {
        path: path.to_path_buf(),
        line: 1,
        column: 1,
        expected: kinds.join(" or "),
        message,
    };
    if results.results.is_empty() {
        return Err(bad(
            "the report holds no results: nothing was run, so nothing can pass".into(),
        ));
    }
    for r in &results.results {
        r.check_counts().map_err(bad)?;
    }
    for r in &results.results {
        r.check_names().map_err(|message| ReadError::Parse {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            expected: kinds.join(" or "),
            message,
        })?;
    }
    let kind = match kind.as_str() {
        "model" => "model",
        _ => "run",
    };
    Ok(Report {
        format_version: FORMAT_VERSION,
        kind,
        results: results.results,
        environment: results.environment,
    })
}

/// A one-phrase rendering of a run verdict.
pub fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Held => "held".into(),
        Verdict::NotCaught { missing } if missing.is_empty() => "NOT CAUGHT (no failure)".into(),
        Verdict::NotCaught { missing } => format!(
            "NOT CAUGHT (expected {})",
            missing
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Verdict::Exceeded { limit } => format!("FAILED ({limit})"),
        Verdict::NoExpectation => "no expectation".into(),
    }
}

/// `0.42%`-style rate of a result's failed states, for one-line summaries.
pub fn rate_text(r: &ExploreResult) -> String {
    r.failed_states.rate().map(percent).unwrap_or_else(|| "-".into())
}
