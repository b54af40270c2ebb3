//! Reports: the JSON that is the source of truth, the Markdown rendered from it, and writing
//! both with faultline's own durable atomic write.
//!
//! The JSON carries `format_version`; reports hold only deterministic figures (no timings),
//! so two runs of the same request write identical files.

use std::path::{Path, PathBuf};

use faultline_core::stats::percent;
use faultline_core::{Errno, FileKind, Fs, FsError, RealFs};
use faultline_targets::atomic_write::{AtomicWrite, Durable};

use crate::explore::{Expectation, ExploreResult};
use crate::run::{VariantResult, Verdict};

/// The version of the JSON layout; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// A JSON report: the envelope every report shares, around its results.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report<R> {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// `explore` or `run`.
    pub kind: &'static str,
    /// One per variant (and model, for explore).
    pub results: Vec<R>,
}

impl<R: serde::Serialize> Report<R> {
    /// The report as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("report types serialise infallibly");
        text.push('\n');
        text
    }
}

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
                r.failed_states.summary(),
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

/// A report file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("failed to write report {}", path.display())]
pub struct ReportError {
    /// The file or directory.
    pub path: PathBuf,
    /// What the file system said.
    #[source]
    pub source: FsError,
}

/// Creates `dir` and any missing parents, fsyncing each parent that gained an entry.
pub fn create_dir_durable<F: Fs + ?Sized>(fs: &F, dir: &Path) -> Result<(), FsError> {
    match fs.metadata(dir) {
        Ok(meta) if meta.kind == FileKind::Dir => return Ok(()),
        Ok(_) => return Err(FsError::at(faultline_core::FsCall::Mkdir, dir, Errno::NOTDIR)),
        Err(e) if e.errno == Errno::NOENT => {}
        Err(e) => return Err(e),
    }
    let parent = faultline_core::fs::parent_dir(dir);
    if parent != dir {
        create_dir_durable(fs, parent)?;
    }
    match fs.mkdir(dir, 0o755) {
        Ok(()) => fs.fsync_dir(parent),
        Err(e) if e.errno == Errno::EXIST => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes each `(file name, text)` into `dir` with the durable atomic write, creating `dir`
/// durably first; returns the paths written.
pub fn write_files<N: AsRef<str>>(dir: &Path, files: &[(N, String)]) -> Result<Vec<PathBuf>, ReportError> {
    let fs = RealFs::new();
    create_dir_durable(&fs, dir).map_err(|source| ReportError {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name.as_ref());
        let failed = |source| ReportError {
            path: path.clone(),
            source,
        };
        // A run interrupted mid-write (Ctrl-C, kill) leaves its temp behind; its pid is dead
        // now, so recovery removes it before this run writes.
        Durable.recover(&fs, &path).map_err(failed)?;
        Durable.replace(&fs, &path, text.as_bytes()).map_err(failed)?;
        written.push(path);
    }
    Ok(written)
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
        }
    }

    /// Before/after tables per scenario, and a reproduce line for each first failure.
    pub fn to_markdown(&self) -> String {
        let mut md = format!("# faultline {}\n", self.kind);
        let mut scenario = "";
        for r in &self.results {
            if r.scenario != scenario {
                scenario = &r.scenario;
                md.push_str(&format!("\n## {scenario}\n\n"));
                md.push_str("| variant | ID | trials | failed reads | failed trials | kinds | verdict |\n");
                md.push_str("|---|---|---:|---|---|---|---|\n");
            }
            let mut kinds: Vec<String> = r
                .failures_by_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            if let Some(most) = r.max_shared_holders {
                kinds.push(format!("(most shared holders at once: {most})"));
            }
            if let Some(q) = r.queue_items {
                kinds.push(format!(
                    "({} items processed, {} again after an unacked delivery)",
                    q.processed, q.allowed_duplicates
                ));
            }
            if let Some(states) = r.crash_states {
                kinds.push(format!("({} distinct crash states)", states.distinct_states));
            }
            let reads = if r.reads.trials > 0 {
                r.reads.summary()
            } else {
                "-".into()
            };
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                r.variant,
                r.id_label(),
                r.trials,
                reads,
                r.failed_trials.summary(),
                if kinds.is_empty() {
                    "-".to_string()
                } else {
                    kinds.join(", ")
                },
                verdict_text(&r.verdict),
            ));
        }
        let failing: Vec<&VariantResult> = self
            .results
            .iter()
            .filter(|r| !r.first_by_kind.is_empty())
            .collect();
        if !failing.is_empty() {
            md.push_str("\n## First failures\n\n");
        }
        for case in cases(&self.results) {
            let r = case.result;
            md.push_str(&format!(
                "- case {}: {} / {} **{}** in trial {} at {:.2} s: {}\n  `{}`\n",
                case.number,
                r.scenario,
                r.variant,
                case.kind,
                case.first.trial,
                case.first.after_s,
                case.first.detail,
                case.first.reproduce
            ));
        }
        md
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
    pub first: &'a crate::run::FirstSeen,
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

/// A report that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("{path}: cannot read it ({source})")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not JSON, or not a report of the expected layout.
    #[error("{path}:{line}:{column}: not a faultline {expected} report: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was expected.
        expected: String,
        /// What serde said.
        message: String,
    },
    /// Another layout version.
    #[error(
        "{path}: format_version {found}, but this faultline reads {FORMAT_VERSION}; write it again with this faultline"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u64,
    },
    /// Another kind of report.
    #[error("{path}: a report of kind '{found}'; expected {expected}")]
    Kind {
        /// The file.
        path: PathBuf,
        /// Its kind.
        found: String,
        /// The kinds accepted.
        expected: String,
    },
}

#[derive(serde::Deserialize)]
struct Envelope {
    format_version: u64,
    kind: String,
}

/// Results name their family and variant by the registry's `'static` strings, so a report
/// is read from text that lives as long as the process (a command reads a few files and
/// ends).
#[derive(serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'static"))]
struct Results {
    results: Vec<VariantResult>,
}

/// Reads the text of a report at `path` and checks its envelope: `format_version` must be
/// this faultline's and `kind` one of `kinds`. Returns the kind and the text.
pub fn read_checked(path: &Path, kinds: &[&str]) -> Result<(String, String), ReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let kind = check_envelope(path, &text, kinds)?;
    Ok((kind, text))
}

/// Checks the envelope of a report's `text` (read from `path`, named in errors): its
/// `format_version` must be this faultline's and its `kind` one of `kinds`. Returns the kind.
pub fn check_envelope(path: &Path, text: &str, kinds: &[&str]) -> Result<String, ReadError> {
    let expected = kinds.join(" or ");
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| parse_error(path, &expected, &e))?;
    if envelope.format_version != u64::from(FORMAT_VERSION) {
        return Err(ReadError::Version {
            path: path.to_path_buf(),
            found: envelope.format_version,
        });
    }
    if !kinds.contains(&envelope.kind.as_str()) {
        return Err(ReadError::Kind {
            path: path.to_path_buf(),
            found: envelope.kind,
            expected,
        });
    }
    Ok(envelope.kind)
}

/// The error for JSON that did not parse as what was `expected`, with line and column.
pub fn parse_error(path: &Path, expected: &str, e: &serde_json::Error) -> ReadError {
    ReadError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        expected: expected.to_string(),
        message: e.to_string(),
    }
}

/// Reads a report of one of `kinds` whose results are [`VariantResult`]s (`run`, `model`).
pub fn read_results(path: &Path, kinds: &[&str]) -> Result<RunReport, ReadError> {
    let (_, text) = read_checked(path, kinds)?;
    results_from_text(path, text, kinds)
}

/// Parses the `text` of a report of one of `kinds` (read from `path`, named in errors).
pub fn results_from_text(path: &Path, text: String, kinds: &[&str]) -> Result<RunReport, ReadError> {
    let kind = check_envelope(path, &text, kinds)?;
    let text: &'static str = Box::leak(text.into_boxed_str());
    let results: Results =
        serde_json::from_str(text).map_err(|e| parse_error(path, &kinds.join(" or "), &e))?;
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

/// Writes `model.json`, `model.md`, `model.html` and `model.junit.xml` (a report of kind
/// `model`) into `dir`; returns their paths.
pub fn write_model(dir: &Path, report: &RunReport) -> Result<Vec<PathBuf>, ReportError> {
    write_rendered(dir, "model", report, None, None)
}

/// Writes `run.json`, `run.md`, `run.html` and `run.junit.xml` into `dir`; returns their
/// paths.
pub fn write_run(dir: &Path, report: &RunReport) -> Result<Vec<PathBuf>, ReportError> {
    write_rendered(dir, "run", report, None, None)
}

/// Writes `STEM.json` and its renderings (`.md`, `.html`, `.junit.xml`) into `dir`; the HTML
/// and JUnit show the gate's findings and the baseline when given.
pub fn write_rendered(
    dir: &Path,
    stem: &str,
    report: &RunReport,
    judgement: Option<&crate::gate::Judgement>,
    baseline: Option<&crate::gate::Baseline>,
) -> Result<Vec<PathBuf>, ReportError> {
    write_files(
        dir,
        &[
            (&format!("{stem}.json"), report.to_json()),
            (&format!("{stem}.md"), report.to_markdown()),
            (
                &format!("{stem}.html"),
                crate::render::html(report, judgement, baseline),
            ),
            (
                &format!("{stem}.junit.xml"),
                crate::render::junit(report, judgement),
            ),
        ],
    )
}

/// `0.42%`-style rate of a result's failed states, for one-line summaries.
pub fn rate_text(r: &ExploreResult) -> String {
    r.failed_states.rate().map(percent).unwrap_or_else(|| "-".into())
}
