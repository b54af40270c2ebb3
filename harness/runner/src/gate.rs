//! The CI regression gate: a run judged against its scenarios' expectations and against a
//! committed baseline (`reports/baseline.json`).
//!
//! The baseline records, per scenario x variant, what the scenario expected and the rate it
//! measured. The gate fails
//! - with 1 when a variant held to a failure limit went over it (a fixed variant failed);
//! - with 3 when a broken variant was not caught, or when the suite no longer requires a
//!   broken variant to be caught where the baseline did (an expectation relaxed, a variant or
//!   a scenario removed): either way the detector lost its power;
//! - with 4 when a rate is worse than the baseline's beyond both intervals (a fixed variant
//!   fails more often; a broken variant is caught less often).
//!
//! Rates are compared as trials with a failure, of trials: trials are independent (each has
//! its own processes and seed), while the reads of one trial share its timing, so read counts
//! would give intervals far narrower than the run-to-run spread. They are compared at 99.9%
//! (Wilson, z = 3.29), flagging only when the two intervals do not overlap, so two runs of an
//! unchanged suite disagree by chance far less often than once in a thousand comparisons. `faultline baseline` is a ratchet: it refuses to record a
//! baseline the gate would fail, unless told to accept it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use faultline_core::FailureKind;
use faultline_core::stats::FailureCount;

use crate::envelope::{FORMAT_VERSION, ReadError, parse_error, read_checked};
use crate::report::RunReport;
use crate::results::{Expectation, VariantResult, Verdict};

/// The two-sided normal quantile the gate compares rates at (99.9%).
pub const Z_GATE: f64 = 3.290_526_731_491_9;

/// The `kind` of a baseline file.
pub const BASELINE_KIND: &str = "baseline";

/// What a scenario x variant expected and measured when the baseline was written. Names
/// are kept as text: a baseline may name variants or scenarios that no longer exist.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The scenario's name.
    pub scenario: String,
    /// Its file, as the run named it.
    pub scenario_path: String,
    /// The family.
    pub family: String,
    /// The variant.
    pub variant: String,
    /// Its catalogue ID; `None` for a reference.
    pub catalogue_id: Option<String>,
    /// The scenario's expectation of the variant.
    pub expectation: Option<Expectation>,
    /// `reads` or `trials`: the unit of `count`.
    pub unit: String,
    /// Failed units of units, as the report's tables give the rate.
    pub count: FailureCount,
    /// Trials with any failure, of trials: what the gate compares.
    pub failing_trials: FailureCount,
    /// Failures by kind.
    pub failures_by_kind: BTreeMap<FailureKind, u64>,
}

impl Entry {
    /// The entry for one result.
    pub fn of(r: &VariantResult) -> Self {
        let (count, unit) = r.primary();
        Entry {
            scenario: r.scenario.clone(),
            scenario_path: r.scenario_path.clone(),
            family: r.family.to_string(),
            variant: r.variant.to_string(),
            catalogue_id: r.catalogue_id.clone(),
            expectation: r.expectation.clone(),
            unit: unit.to_string(),
            count,
            failing_trials: r.failing_trials(),
            failures_by_kind: r.failures_by_kind.clone(),
        }
    }

    fn required_kinds(&self) -> Option<&[FailureKind]> {
        self.expectation.as_ref().and_then(|e| e.must_fail.as_deref())
    }
}

/// A baseline file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Baseline {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// [`BASELINE_KIND`].
    pub kind: String,
    /// One per scenario x variant.
    pub entries: Vec<Entry>,
}

impl Baseline {
    /// The baseline of a run.
    pub fn of(report: &RunReport) -> Self {
        Baseline {
            format_version: FORMAT_VERSION,
            kind: BASELINE_KIND.to_string(),
            entries: report.results.iter().map(Entry::of).collect(),
        }
    }

    /// Reads and checks a baseline file.
    pub fn read(path: &Path) -> Result<Self, ReadError> {
        let (_, text) = read_checked(path, &[BASELINE_KIND])?;
        Self::from_text(path, &text)
    }

    /// Parses the `text` of a baseline (read from `path`, named in errors), and checks it as a
    /// whole: a baseline of nothing, or with counts no run could give, would let a gate pass
    /// or fail on numbers nobody measured.
    pub fn from_text(path: &Path, text: &str) -> Result<Self, ReadError> {
        crate::envelope::check_envelope(path, text, &[BASELINE_KIND])?;
        let baseline: Baseline =
            serde_json::from_str(text).map_err(|e| parse_error(path, BASELINE_KIND, &e))?;
        baseline.check().map_err(|message| ReadError::Parse {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            expected: BASELINE_KIND.to_string(),
            message: format!("{message}; write it again with `faultline baseline`"),
        })?;
        Ok(baseline)
    }

    /// Whether every entry is evidence: named, measured over at least one trial, with no more
    /// failures than units, and given once.
    fn check(&self) -> Result<(), String> {
        if self.entries.is_empty() {
            return Err("the baseline holds no entries: nothing was measured".into());
        }
        let mut seen = BTreeSet::new();
        for e in &self.entries {
            let who = format!("{} / {}", e.scenario, e.variant);
            if e.scenario.is_empty() || e.variant.is_empty() {
                return Err(format!("an entry without a scenario or variant name ('{who}')"));
            }
            if !seen.insert((e.scenario.as_str(), e.variant.as_str())) {
                return Err(format!("{who} is given twice"));
            }
            if e.unit != "reads" && e.unit != "trials" {
                return Err(format!("{who}: unit '{}' is neither reads nor trials", e.unit));
            }
            if e.failing_trials.trials == 0 || e.count.trials == 0 {
                return Err(format!("{who} ran no trials: a rate of nothing is no evidence"));
            }
            for (what, c) in [("failing trials", e.failing_trials), ("failed units", e.count)] {
                if c.failures > c.trials {
                    return Err(format!("{who}: {} {what} out of {}", c.failures, c.trials));
                }
            }
        }
        Ok(())
    }

    /// The baseline as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a baseline serialises infallibly");
        text.push('\n');
        text
    }

    /// This baseline with the scenarios of `report` replaced by what it measured. When
    /// `whole_suite`, scenarios the report did not run are dropped (they no longer exist);
    /// otherwise they are kept as they were.
    pub fn updated(&self, report: &RunReport, whole_suite: bool) -> Self {
        let ran: BTreeSet<&str> = report.results.iter().map(|r| r.scenario.as_str()).collect();
        let mut entries: Vec<Entry> = if whole_suite {
            Vec::new()
        } else {
            self.entries
                .iter()
                .filter(|e| !ran.contains(e.scenario.as_str()))
                .cloned()
                .collect()
        };
        entries.extend(report.results.iter().map(Entry::of));
        // In the suite's order (files sorted by name), variants in their scenario's order.
        entries.sort_by(|a, b| a.scenario.cmp(&b.scenario));
        Baseline {
            format_version: FORMAT_VERSION,
            kind: BASELINE_KIND.to_string(),
            entries,
        }
    }

    fn entry(&self, scenario: &str, variant: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.scenario == scenario && e.variant == variant)
    }
}

/// Why the gate fails, in the order the exit code takes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// A variant held to a failure limit went over it (exit 1).
    FixedFailed,
    /// A broken variant was not caught, or is no longer required to be (exit 3).
    PowerLost,
    /// A rate got worse than the baseline's beyond the intervals (exit 4).
    RateWorse,
}

impl Failure {
    /// The exit code (see `faultline --help`).
    pub fn exit_code(self) -> u8 {
        match self {
            Failure::FixedFailed => crate::exit::REFERENCE_FAILED,
            Failure::PowerLost => crate::exit::NOT_CAUGHT,
            Failure::RateWorse => crate::exit::RATE_WORSE,
        }
    }
}

/// One reason the gate fails.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Finding {
    /// What kind of failure.
    pub failure: Failure,
    /// The scenario.
    pub scenario: String,
    /// The variant; `None` when a whole scenario is meant.
    pub variant: Option<String>,
    /// What happened, in a sentence.
    pub message: String,
}

/// The gate's judgement of a run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Judgement {
    /// Why it fails; empty when it passes.
    pub findings: Vec<Finding>,
    /// What the user should know but does not fail the gate.
    pub warnings: Vec<String>,
    /// Results compared with a baseline entry.
    pub compared: usize,
}

impl Judgement {
    /// 0, or the exit code of the most serious finding.
    pub fn exit_code(&self) -> u8 {
        self.findings
            .iter()
            .map(|f| f.failure)
            .min()
            .map_or(crate::exit::OK, Failure::exit_code)
    }

    /// The findings about one scenario x variant.
    pub fn about<'a>(
        &'a self,
        scenario: &'a str,
        variant: &'a str,
    ) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings
            .iter()
            .filter(move |f| f.scenario == scenario && f.variant.as_deref().is_none_or(|v| v == variant))
    }

    /// A Markdown summary for a CI step: the outcome, the findings and the warnings.
    pub fn to_markdown(&self, baseline: Option<&Path>) -> String {
        let code = self.exit_code();
        let mut md = if code == 0 {
            "# faultline gate: passed\n\n".to_string()
        } else {
            format!("# faultline gate: FAILED (exit {code})\n\n")
        };
        match baseline {
            Some(path) => md.push_str(&format!(
                "Compared {} results with the baseline `{}`.\n",
                self.compared,
                path.display()
            )),
            None => md.push_str("No baseline: rates and removed expectations were not checked.\n"),
        }
        if !self.findings.is_empty() {
            md.push_str("\n| exit | scenario | variant | finding |\n|---:|---|---|---|\n");
            for f in &self.findings {
                md.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    f.failure.exit_code(),
                    f.scenario,
                    f.variant.as_deref().unwrap_or("-"),
                    f.message.replace('|', "\\|")
                ));
            }
        }
        for w in &self.warnings {
            md.push_str(&format!("\n> warning: {w}\n"));
        }
        md
    }
}

/// How a run was chosen, for what the gate may conclude from what it did not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every scenario of the suite: a baseline scenario not run is one that was removed.
    WholeSuite,
    /// Only some scenarios (or one variant): what was not run is not judged.
    Subset,
}

/// Whether a variant is held to a failure limit (a fixed one).
fn is_fix(e: Option<&Expectation>) -> bool {
    e.is_some_and(|e| e.max_failures.is_some() || e.max_failure_rate.is_some())
}

fn kinds_text(kinds: &[FailureKind]) -> String {
    if kinds.is_empty() {
        return "any failure".into();
    }
    kinds
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn rate_text(c: FailureCount) -> String {
    match c.wilson_at(Z_GATE) {
        Some(ci) => format!(
            "{} of {} trials failing (99.9% CI {}-{})",
            c.failures,
            c.trials,
            faultline_core::stats::percent(ci.low),
            faultline_core::stats::percent(ci.high)
        ),
        None => "no trials".to_string(),
    }
}

/// Judges `report` by its expectations and, when given, against `baseline`.
pub fn judge(report: &RunReport, baseline: Option<&Baseline>, scope: Scope) -> Judgement {
    let mut j = Judgement::default();
    for r in &report.results {
        let base = baseline.and_then(|b| b.entry(&r.scenario, &r.variant));
        verdict_findings(r, base, baseline.is_some(), &mut j);
        let Some(base) = base else { continue };
        j.compared += 1;
        relaxed_expectation(r, base, &mut j);
        rate_against(r, base, &mut j);
    }
    if let Some(b) = baseline {
        missing_from_run(report, b, scope, &mut j);
    }
    j.findings.sort_by_key(|f| f.failure);
    j
}

/// A finding about result `r`.
fn finding(failure: Failure, r: &VariantResult, message: String) -> Finding {
    Finding {
        failure,
        scenario: r.scenario.clone(),
        variant: Some(r.variant.to_string()),
        message,
    }
}

/// What `r`'s own verdict says: a fixed variant over its limit, a broken one not caught, or a
/// broken one (`base` required it to fail, or the catalogue lists it) now held to a limit.
fn verdict_findings(r: &VariantResult, base: Option<&Entry>, has_baseline: bool, j: &mut Judgement) {
    let was_required = base.and_then(Entry::required_kinds);
    let broken = r.catalogue_id.is_some();
    match &r.verdict {
        Verdict::Exceeded { limit } if broken && (was_required.is_some() || !has_baseline) => {
            let why = match was_required {
                Some(kinds) => format!("the baseline required it to fail here ({})", kinds_text(kinds)),
                None => "the catalogue lists it as broken".to_string(),
            };
            j.findings.push(finding(
                Failure::PowerLost,
                r,
                format!(
                    "{} is expected to pass ({limit}), but {why}: the scenario no longer checks that the detector catches it",
                    r.catalogue_id.as_deref().unwrap_or(&r.variant)
                ),
            ));
        }
        Verdict::Exceeded { limit } => j.findings.push(finding(
            Failure::FixedFailed,
            r,
            format!("failed: {} ({limit})", r.measure().summary()),
        )),
        Verdict::NotCaught { missing } => j.findings.push(finding(
            Failure::PowerLost,
            r,
            format!(
                "not caught: expected {}, saw {}",
                kinds_text(missing),
                if r.failures_by_kind.is_empty() {
                    "no failure".to_string()
                } else {
                    r.failures_by_kind
                        .iter()
                        .map(|(k, n)| format!("{k} {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        )),
        Verdict::Held | Verdict::NoExpectation => {}
    }
}

/// An expectation relaxed: kinds the baseline required that the scenario no longer does.
fn relaxed_expectation(r: &VariantResult, base: &Entry, j: &mut Judgement) {
    let Some(required) = base.required_kinds() else {
        return;
    };
    if matches!(r.verdict, Verdict::Exceeded { .. }) {
        return;
    }
    let now: &[FailureKind] = r
        .expectation
        .as_ref()
        .and_then(|e| e.must_fail.as_deref())
        .unwrap_or(&[]);
    let must_fail_now = r.expectation.as_ref().is_some_and(|e| e.must_fail.is_some());
    let dropped: Vec<FailureKind> = required.iter().copied().filter(|k| !now.contains(k)).collect();
    if !must_fail_now || !dropped.is_empty() {
        j.findings.push(finding(
            Failure::PowerLost,
            r,
            format!(
                "the baseline required it to fail with {}; the scenario now requires {}",
                kinds_text(required),
                if must_fail_now {
                    kinds_text(now)
                } else {
                    "nothing of it".into()
                }
            ),
        ));
    }
}

/// Rates of failing trials against the baseline's (trials are independent, the reads of one
/// trial are not): a fixed variant failing more often, a broken one caught less often, beyond
/// both 99.9% intervals; and a fixed variant whose failure limit changed.
fn rate_against(r: &VariantResult, base: &Entry, j: &mut Judgement) {
    let now = r.failing_trials();
    let (Some(now_ci), Some(base_ci)) = (now.wilson_at(Z_GATE), base.failing_trials.wilson_at(Z_GATE)) else {
        return;
    };
    let fixed = is_fix(r.expectation.as_ref());
    let must_fail = r.expectation.as_ref().is_some_and(|e| e.must_fail.is_some());
    if fixed && now_ci.low > base_ci.high {
        j.findings.push(finding(
            Failure::RateWorse,
            r,
            format!(
                "fails more often than the baseline: {} against {}",
                rate_text(now),
                rate_text(base.failing_trials)
            ),
        ));
    } else if must_fail && now_ci.high < base_ci.low {
        j.findings.push(finding(
            Failure::RateWorse,
            r,
            format!(
                "caught less often than in the baseline: {} against {}",
                rate_text(now),
                rate_text(base.failing_trials)
            ),
        ));
    }
    if fixed
        && base
            .expectation
            .as_ref()
            .is_some_and(|e| Some(e) != r.expectation.as_ref())
        && is_fix(base.expectation.as_ref())
    {
        j.warnings.push(format!(
            "{} / {}: its failure limit changed from the baseline's ({:?} to {:?})",
            r.scenario, r.variant, base.expectation, r.expectation
        ));
    }
}

/// Baseline entries the run did not produce: removed variants and scenarios.
fn missing_from_run(report: &RunReport, baseline: &Baseline, scope: Scope, j: &mut Judgement) {
    let ran: BTreeSet<&str> = report.results.iter().map(|r| r.scenario.as_str()).collect();
    let mut gone: BTreeMap<&str, (&str, Vec<&Entry>)> = BTreeMap::new();
    let mut not_run = BTreeSet::new();
    for e in &baseline.entries {
        let in_run = report
            .results
            .iter()
            .any(|r| r.scenario == e.scenario && r.variant == e.variant);
        if in_run {
            continue;
        }
        if !ran.contains(e.scenario.as_str()) {
            if scope == Scope::WholeSuite {
                gone.entry(&e.scenario)
                    .or_insert((&e.scenario_path, Vec::new()))
                    .1
                    .push(e);
            } else {
                not_run.insert(e.scenario.as_str());
            }
            continue;
        }
        if scope == Scope::Subset {
            continue;
        }
        match e.required_kinds() {
            Some(kinds) => j.findings.push(Finding {
                failure: Failure::PowerLost,
                scenario: e.scenario.clone(),
                variant: Some(e.variant.clone()),
                message: format!(
                    "the baseline required {} to fail here with {}, and the scenario no longer runs it",
                    e.variant,
                    kinds_text(kinds)
                ),
            }),
            None => j.warnings.push(format!(
                "{} no longer runs {}, which the baseline has; update the baseline with `faultline baseline`",
                e.scenario, e.variant
            )),
        }
    }
    for (scenario, (path, entries)) in gone {
        let required: Vec<String> = entries
            .iter()
            .filter(|e| e.required_kinds().is_some())
            .map(|e| e.catalogue_id.clone().unwrap_or_else(|| e.variant.clone()))
            .collect();
        if required.is_empty() {
            j.warnings.push(format!(
                "the baseline has scenario {scenario} ({path}), which is not in the suite; update the baseline with `faultline baseline`"
            ));
        } else {
            j.findings.push(Finding {
                failure: Failure::PowerLost,
                scenario: scenario.to_string(),
                variant: None,
                message: format!(
                    "scenario {scenario} ({path}) is in the baseline but not in the suite; it required {} to be caught",
                    required.join(", ")
                ),
            });
        }
    }
    if !not_run.is_empty() {
        j.warnings.push(format!(
            "{} baseline scenario(s) not run and not judged: {}",
            not_run.len(),
            not_run.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
}

/// Where the gate and `faultline baseline` look for the baseline by default.
pub fn default_baseline_path() -> PathBuf {
    PathBuf::from("reports/baseline.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::judge as verdict_of;

    fn result(
        variant: &'static str,
        id: Option<&'static str>,
        e: Expectation,
        failing: u64,
        trials: u64,
    ) -> VariantResult {
        let value = serde_json::json!({
            "scenario": "s", "scenario_path": "scenarios/s.toml", "family": "atomic-write",
            "variant": variant, "catalogue_id": id, "seed": 1, "trials": trials,
            "reads": {"failures": 0, "trials": 0},
            "failed_trials": {"failures": failing, "trials": trials},
            "trials_with_failures": failing, "writes": 0, "writer_kills": 0,
            "max_shared_holders": null, "queue_items": null, "crash_states": null,
            "failures_by_kind": if failing > 0 { serde_json::json!({"TornFile": failing}) } else { serde_json::json!({}) },
            "first_by_kind": {}, "time_to_first_failure_s": null, "clean_needed_to_claim_fix": null,
            "elapsed_s": 0.0, "expectation": e, "verdict": {"outcome": "no-expectation"}, "kept": []
        });
        let mut r: VariantResult = serde_json::from_value(value).expect("a result");
        r.verdict = verdict_of(&r);
        r
    }

    fn must_fail() -> Expectation {
        Expectation {
            must_fail: Some(vec![FailureKind::TornFile]),
            ..Expectation::default()
        }
    }

    fn pass() -> Expectation {
        Expectation {
            max_failures: Some(0),
            ..Expectation::default()
        }
    }

    #[test]
    fn exit_codes_follow_the_most_serious_finding() {
        let baseline = Baseline::of(&RunReport::new(vec![
            result("truncate_in_place", Some("AW1"), must_fail(), 20, 32),
            result("durable", None, pass(), 0, 32),
        ]));
        let judge_run = |results| judge(&RunReport::new(results), Some(&baseline), Scope::WholeSuite);
        // Unchanged.
        let same = judge_run(vec![
            result("truncate_in_place", Some("AW1"), must_fail(), 18, 32),
            result("durable", None, pass(), 0, 32),
        ]);
        assert_eq!(same.exit_code(), 0, "{same:?}");
        assert_eq!(same.compared, 2);
        // Caught in 2 of 32 trials instead of 20: weaker beyond both intervals.
        let weaker = judge_run(vec![
            result("truncate_in_place", Some("AW1"), must_fail(), 2, 32),
            result("durable", None, pass(), 0, 32),
        ]);
        assert_eq!(weaker.exit_code(), 4, "{weaker:?}");
        // 12 of 32 is within the intervals' noise.
        let noisy = judge_run(vec![
            result("truncate_in_place", Some("AW1"), must_fail(), 12, 32),
            result("durable", None, pass(), 0, 32),
        ]);
        assert_eq!(noisy.exit_code(), 0, "{noisy:?}");
        // The reference failing outranks everything else.
        let both = judge_run(vec![
            result("truncate_in_place", Some("AW1"), must_fail(), 0, 32),
            result("durable", None, pass(), 1, 32),
        ]);
        assert_eq!(both.exit_code(), 1, "{both:?}");
        assert_eq!(
            both.findings.len(),
            3,
            "not caught, weaker, and the reference failed: {both:?}"
        );
        // AW1 expected to pass where the baseline required it caught: power lost, not 1.
        let relaxed = judge_run(vec![
            result("truncate_in_place", Some("AW1"), pass(), 20, 32),
            result("durable", None, pass(), 0, 32),
        ]);
        assert_eq!(relaxed.exit_code(), 3, "{relaxed:?}");
        // Without a baseline the catalogue says AW1 is broken: also 3.
        let alone = judge(
            &RunReport::new(vec![result("truncate_in_place", Some("AW1"), pass(), 20, 32)]),
            None,
            Scope::WholeSuite,
        );
        assert_eq!(alone.exit_code(), 3, "{alone:?}");
        // A broken variant in a reference's place, new to the baseline: a fixed variant failed.
        let swapped = judge_run(vec![
            result("truncate_in_place", Some("AW1"), must_fail(), 20, 32),
            result("no_dir_fsync", Some("AW3"), pass(), 5, 32),
        ]);
        assert_eq!(swapped.exit_code(), 1, "{swapped:?}");
        assert!(
            swapped
                .warnings
                .iter()
                .any(|w| w.contains("no longer runs durable")),
            "{swapped:?}"
        );
    }
}
