//! Which outcomes of a run nobody expected (a reference failed, a broken variant escaped, a
//! rate regressed) and which are the expected catches (broken variants failing as their
//! scenario requires). Every rendering lists the unexpected first and sums up the rest.

use crate::gate::{self, Failure, Finding, Judgement, Scope};
use crate::report::{Case, RunReport, cases};
use crate::results::VariantResult;

/// One unexpected outcome: a finding, the result it is about, and that result's cases.
#[derive(Debug)]
pub struct Unexpected<'a> {
    /// What the gate (or the run's own verdicts) found.
    pub finding: &'a Finding,
    /// The result it is about; `None` for a scenario or variant missing from the run.
    pub result: Option<&'a VariantResult>,
    /// The recorded failures of that result.
    pub cases: Vec<Case<'a>>,
}

/// A run's outcomes, sorted.
#[derive(Debug)]
pub struct Outcomes<'a> {
    /// The unexpected, most serious first (exit 1, then 3, then 4).
    pub unexpected: Vec<Unexpected<'a>>,
    /// Cases of results nothing unexpected is about: broken variants caught as required.
    pub expected: Vec<Case<'a>>,
}

/// The judgement of a run that no gate judged: its own verdicts, no baseline.
pub fn own_judgement(report: &RunReport) -> Judgement {
    gate::judge(report, None, Scope::Subset)
}

/// Whether anything unexpected is about `r`.
pub fn is_unexpected(r: &VariantResult, j: &Judgement) -> bool {
    j.about(&r.scenario, &r.variant).next().is_some()
}

/// A short name for a finding's kind, as every rendering heads it.
pub fn headline(f: &Finding) -> &'static str {
    match f.failure {
        Failure::FixedFailed => "a reference failed",
        Failure::PowerLost => "a broken variant escaped",
        Failure::RateWorse => "a rate regressed",
    }
}

/// Sorts `report`'s outcomes by `j`.
pub fn sort<'a>(report: &'a RunReport, j: &'a Judgement) -> Outcomes<'a> {
    let all = cases(&report.results);
    let unexpected = j
        .findings
        .iter()
        .map(|finding| {
            let result = report.results.iter().find(|r| {
                r.scenario == finding.scenario && finding.variant.as_deref() == Some(r.variant.as_str())
            });
            let cases = all
                .iter()
                .filter(|c| result.is_some_and(|r| std::ptr::eq(c.result, r)))
                .copied()
                .collect();
            Unexpected {
                finding,
                result,
                cases,
            }
        })
        .collect();
    let expected = all.into_iter().filter(|c| !is_unexpected(c.result, j)).collect();
    Outcomes { unexpected, expected }
}
