//! Renderings of a run report for CI: JUnit XML (each scenario x variant a test case) and one
//! self-contained HTML page (inline SVG bars with interval whiskers per scenario, the failures
//! and the commands that reproduce them; no script, no network).
//!
//! Both are rendered from the report's results, the same data the JSON holds, and from the
//! gate's findings when a gate judged the run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use faultline_core::stats::{FailureCount, Interval};

use crate::envelope::{ReportError, write_files};
use crate::gate::{Baseline, Judgement};
pub mod case_page;

use crate::outcome;
use crate::report::{Case, RunReport, cases, verdict_text};
use crate::results::VariantResult;

/// Escapes text for XML and HTML content and attribute values. Characters XML 1.0 forbids
/// (controls other than tab and newlines) become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The interval drawn for a count: the exact one-sided bound with no failures (as the tables
/// print it), else Wilson's.
fn interval(c: FailureCount) -> Option<Interval> {
    match c.zero_failure_upper_bound() {
        Some(high) => Some(Interval { low: 0.0, high }),
        None => c.wilson(),
    }
}

/// JUnit XML: one test suite per scenario, one test case per variant. A case fails when its
/// outcome was unexpected (its expectation did not hold, or the gate found something); those
/// suites and cases come first, a finding about nothing the run holds (a scenario removed)
/// is a case of its own, and an expected catch passes, named as one. Every failure's text
/// carries the commands that run its recorded failures again.
pub fn junit(report: &RunReport, judgement: Option<&Judgement>, dir: &Path) -> String {
    use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
    let own;
    let judgement = match judgement {
        Some(j) => j,
        None => {
            own = outcome::own_judgement(report);
            &own
        }
    };
    let seconds = |s: f64| std::time::Duration::try_from_secs_f64(s).unwrap_or_default();
    let all_cases = cases(&report.results);
    let dir_word = shell_words::quote(&dir.display().to_string()).into_owned();
    let mut suites: Vec<(&str, Vec<&VariantResult>)> = Vec::new();
    for r in &report.results {
        match suites.last_mut() {
            Some((name, results)) if *name == r.scenario => results.push(r),
            _ => suites.push((&r.scenario, vec![r])),
        }
    }
    let unexpected = |r: &VariantResult| outcome::is_unexpected(r, judgement);
    // Stable: suites with an unexpected outcome first, and such cases first in each.
    suites.sort_by_key(|(_, results)| !results.iter().any(|r| unexpected(r)));
    for (_, results) in &mut suites {
        results.sort_by_key(|r| !unexpected(r));
    }
    let mut doc = quick_junit::Report::new(format!("faultline {}", report.kind));
    doc.set_time(seconds(report.results.iter().map(|r| r.elapsed_s).sum()));
    let orphans: Vec<&crate::gate::Finding> = judgement
        .findings
        .iter()
        .filter(|f| {
            !report
                .results
                .iter()
                .any(|r| r.scenario == f.scenario && f.variant.as_deref().is_none_or(|v| v == r.variant))
        })
        .collect();
    if !orphans.is_empty() {
        let mut suite = TestSuite::new("faultline gate: expectations missing from the run");
        for f in orphans {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(format!("UNEXPECTED: {}: {}", outcome::headline(f), f.message))
                .set_type("PowerLost");
            let mut case = TestCase::new(
                format!("{} / {}", f.scenario, f.variant.as_deref().unwrap_or("-")),
                status,
            );
            case.set_classname(format!("faultline.{}", f.scenario));
            suite.add_test_case(case);
        }
        doc.add_test_suite(suite);
    }
    for (scenario, results) in suites {
        let mut suite = TestSuite::new(scenario);
        suite.set_time(seconds(results.iter().map(|r| r.elapsed_s).sum()));
        let first = results[0];
        suite.add_property(Property::new("scenario_path", first.scenario_path.as_str()));
        suite.add_property(Property::new("family", first.family.as_str()));
        suite.add_property(Property::new("seed", format!("{:#x}", first.seed)));
        for r in results {
            let measure = r.measure();
            let caught =
                !r.first_by_kind.is_empty() && r.expectation.as_ref().is_some_and(|e| e.must_fail.is_some());
            let name = format!(
                "{} ({}){}",
                r.variant,
                r.id_label(),
                if caught && !unexpected(r) {
                    ": caught as expected"
                } else {
                    ""
                }
            );
            let mut body = format!(
                "failed: {}\nverdict: {}\n",
                measure.summary(),
                verdict_text(&r.verdict)
            );
            if r.reads.trials > 0 {
                let _ = writeln!(body, "failed reads: {} of {}", r.reads.failures, r.reads.trials);
            }
            for c in all_cases.iter().filter(|c| std::ptr::eq(c.result, r)) {
                let _ = write!(
                    body,
                    "\ncase {}: {} in trial {}: {}\n  reproduce: {}\n  replay: faultline replay {dir_word} --case {}\n  page: {}\n",
                    c.number,
                    c.kind,
                    c.first.trial,
                    c.first.detail,
                    c.first.reproduce,
                    c.number,
                    dir.join(case_page(c.number)).display()
                );
            }
            let findings: Vec<&crate::gate::Finding> = judgement.about(&r.scenario, &r.variant).collect();
            let status = if findings.is_empty() {
                TestCaseStatus::success()
            } else {
                let messages: Vec<String> = findings
                    .iter()
                    .map(|f| {
                        format!(
                            "UNEXPECTED: {} (exit {}): {}",
                            outcome::headline(f),
                            f.failure.exit_code(),
                            f.message
                        )
                    })
                    .collect();
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(messages.join("; "))
                    .set_type(match findings[0].failure {
                        crate::gate::Failure::FixedFailed => "ReferenceFailed",
                        crate::gate::Failure::PowerLost => "NotCaught",
                        crate::gate::Failure::RateWorse => "RateRegressed",
                    })
                    .set_description(format!("{}\n\n{body}", messages.join("\n")));
                status
            };
            let mut case = TestCase::new(name, status);
            case.set_classname(format!("faultline.{}", r.scenario))
                .set_time(seconds(r.elapsed_s));
            if findings.is_empty() {
                case.set_system_out(body);
            }
            suite.add_test_case(case);
        }
        doc.add_test_suite(suite);
    }
    doc.to_string()
        .unwrap_or_else(|e| format!("<!-- the JUnit report could not be written: {e} -->\n"))
}

/// Colours of the bars: broken variants (before), fixed ones (after), unjudged ones.
const BROKEN: &str = "#c0392b";
const FIXED: &str = "#1e8449";
const OTHER: &str = "#7f8c8d";

pub(crate) const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1150px}\
h1{font-size:22px}h2{font-size:17px;margin-top:28px}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}code{font-size:12px;background:#f6f6f6;padding:1px 3px}\
pre.cmd{font-size:12px;background:#f6f6f6;padding:2px 4px;margin:2px 0;white-space:pre-wrap;word-break:normal;overflow-wrap:normal;overflow-x:auto;max-width:520px}\
.bad{color:#b00020;font-weight:600}.ok{color:#1e6b35}.path{color:#666;margin:0}\
#unexpected{background:#ffe3e3;border:3px solid #d93025;padding:4px 16px;margin:12px 0}\
#unexpected h2{color:#b00020;margin-top:8px}tr.unexpected td{background:#ffe3e3}\
details{margin:12px 0}summary{cursor:pointer;font-weight:600}\
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}";

/// The page head, with a title.
fn head(h: &mut String, title: &str) {
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(title),
        escape(title)
    );
}

/// The unexpected outcomes in a highlighted box with links to their cases, or one line
/// saying there were none.
fn unexpected_section(h: &mut String, outcomes: &outcome::Outcomes<'_>) {
    if outcomes.unexpected.is_empty() {
        h.push_str("<p id=\"nothing-unexpected\" class=\"ok\">Nothing unexpected: every reference passed and every broken variant was caught as required.</p>\n");
        return;
    }
    let _ = writeln!(
        h,
        "<section id=\"unexpected\">\n<h2>Unexpected ({})</h2>\n<ul>",
        outcomes.unexpected.len()
    );
    for u in &outcomes.unexpected {
        let f = u.finding;
        let links: Vec<String> = u
            .cases
            .iter()
            .map(|c| {
                format!(
                    "<a href=\"#case-{n}\">case {n}</a> (<a href=\"{page}\">page</a>)",
                    n = c.number,
                    page = case_page(c.number)
                )
            })
            .collect();
        let _ = writeln!(
            h,
            "<li><b class=\"bad\">{}</b> (exit {}): {} / {}: {}{}</li>",
            outcome::headline(f),
            f.failure.exit_code(),
            escape(&f.scenario),
            escape(f.variant.as_deref().unwrap_or("-")),
            escape(&f.message),
            if links.is_empty() {
                String::new()
            } else {
                format!("<br>{}", links.join(", "))
            }
        );
    }
    h.push_str("</ul>\n</section>\n");
}

/// A table of cases: the commands that run each again and its page.
fn cases_table(h: &mut String, cases: &[Case<'_>], dir_word: &str, highlight: bool) {
    h.push_str("<table><tr><th>case</th><th>scenario</th><th>variant</th><th>kind</th><th>trial</th><th>what was seen</th><th>run it again</th></tr>\n");
    for c in cases {
        let _ = writeln!(
            h,
            "<tr id=\"case-{n}\"{}><td><a href=\"{page}\">{n}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><pre class=\"cmd\">{}</pre><pre class=\"cmd\">faultline replay {} --case {n}</pre></td></tr>",
            if highlight { " class=\"unexpected\"" } else { "" },
            escape(&c.result.scenario),
            escape(&c.result.variant),
            c.kind,
            c.first.trial,
            escape(&c.first.detail),
            escape(&c.first.reproduce),
            escape(dir_word),
            n = c.number,
            page = case_page(c.number),
        );
    }
    h.push_str("</table>\n");
}

/// One self-contained HTML page: the unexpected outcomes first, highlighted and linked; per
/// scenario, a chart of each variant's failure rate in the unit its verdict used (bar) and
/// its 95% interval where the units are random draws (whisker), with the baseline's beside
/// it when a gate compared them; a table of the same figures; the unexpected failures, then
/// the expected catches folded away, each with the commands that run it again and its page.
pub fn html(
    report: &RunReport,
    judgement: Option<&Judgement>,
    baseline: Option<&Baseline>,
    dir: &Path,
) -> String {
    let own;
    let (j, gated) = match judgement {
        Some(j) => (j, true),
        None => {
            own = outcome::own_judgement(report);
            (&own, false)
        }
    };
    let outcomes = outcome::sort(report, j);
    let dir_word = shell_words::quote(&dir.display().to_string()).into_owned();
    let mut h = String::new();
    head(&mut h, &format!("faultline {}", report.kind));
    let (held, judged) = report.expectations_held();
    if gated {
        let code = j.exit_code();
        let _ = writeln!(
            h,
            "<p id=\"gate\" class=\"{}\">Gate: {}</p>",
            if code == 0 { "ok" } else { "bad" },
            if code == 0 {
                "passed".to_string()
            } else {
                format!("FAILED, exit {code}")
            }
        );
    }
    unexpected_section(&mut h, &outcomes);
    if let Some(env) = &report.environment {
        let _ = writeln!(
            h,
            "<p id=\"environment\" class=\"path\">Ran on: {}</p>",
            escape(&env.line())
        );
    }
    let _ = writeln!(
        h,
        "<p id=\"summary\" class=\"{}\">{held} of {judged} expectations held; {} expected catches (broken variants failing as required) are listed at the end.</p>",
        if held == judged { "ok" } else { "bad" },
        outcomes.expected.len()
    );
    for w in &j.warnings {
        let _ = writeln!(h, "<p>warning: {}</p>", escape(w));
    }
    let _ = writeln!(
        h,
        "<p class=\"legend\">Bars: the share of failing units, in the unit each verdict used (trials, reads, crash states or model executions); whiskers: 95% interval, only where the units are random draws.<span style=\"background:{BROKEN}\"></span>broken variant (before)<span style=\"background:{FIXED}\"></span>fixed variant (after)<span style=\"background:{OTHER}\"></span>not judged{}</p>",
        if baseline.is_some() {
            "<span style=\"background:#9b59b6\"></span>baseline interval"
        } else {
            ""
        }
    );
    let mut start = 0;
    while start < report.results.len() {
        let scenario = &report.results[start].scenario;
        let end = report.results[start..]
            .iter()
            .position(|r| &r.scenario != scenario)
            .map_or(report.results.len(), |n| start + n);
        scenario_section(&mut h, &report.results[start..end], baseline, j);
        start = end;
    }
    let unexpected_cases: Vec<Case<'_>> = outcomes
        .unexpected
        .iter()
        .flat_map(|u| u.cases.iter().copied())
        .collect();
    let _ = writeln!(
        h,
        "<h2 id=\"failures\">Unexpected failures ({})</h2>",
        unexpected_cases.len()
    );
    if unexpected_cases.is_empty() {
        h.push_str("<p>None.</p>\n");
    } else {
        cases_table(&mut h, &unexpected_cases, &dir_word, true);
    }
    if !outcomes.expected.is_empty() {
        let _ = writeln!(
            h,
            "<details id=\"expected\"><summary>Expected catches ({}): broken variants failing as their scenarios require</summary>",
            outcomes.expected.len()
        );
        cases_table(&mut h, &outcomes.expected, &dir_word, false);
        h.push_str("</details>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
}

fn colour(r: &VariantResult) -> &'static str {
    match &r.expectation {
        Some(e) if e.must_fail.is_some() => BROKEN,
        Some(_) => FIXED,
        None if r.catalogue_id.is_some() => BROKEN,
        None => OTHER,
    }
}

/// Geometry of a chart row, in pixels.
const LABEL_W: f64 = 230.0;
const PLOT_W: f64 = 520.0;
const ROW_H: f64 = 26.0;
const TOP: f64 = 22.0;

fn scenario_section(h: &mut String, results: &[VariantResult], baseline: Option<&Baseline>, j: &Judgement) {
    let first = &results[0];
    let _ = writeln!(
        h,
        "<section class=\"scenario\">\n<h2>{}</h2>\n<p class=\"path\">{} &middot; family {} &middot; seed {:#x} &middot; {:.1} s</p>",
        escape(&first.scenario),
        escape(&first.scenario_path),
        escape(&first.family),
        first.seed,
        results.iter().map(|r| r.elapsed_s).sum::<f64>()
    );
    chart(h, results, baseline, j);
    h.push_str("<table><tr><th>variant</th><th>ID</th><th>failed (the verdict's unit)</th><th>failed reads</th><th>kinds</th><th>verdict</th></tr>\n");
    for r in results {
        let measure = r.measure();
        let kinds: Vec<String> = r
            .failures_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let unexpected = outcome::is_unexpected(r, j);
        let reads = if r.reads.trials > 0 && measure.unit != "reads" {
            format!("{} of {}", r.reads.failures, r.reads.trials)
        } else {
            "-".into()
        };
        let _ = writeln!(
            h,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}{}</td></tr>",
            if unexpected { " class=\"unexpected\"" } else { "" },
            escape(&r.variant),
            escape(r.id_label()),
            escape(&measure.summary()),
            reads,
            escape(&if kinds.is_empty() {
                "-".into()
            } else {
                kinds.join(", ")
            }),
            if unexpected { "bad" } else { "ok" },
            if unexpected { "UNEXPECTED: " } else { "" },
            escape(&verdict_text(&r.verdict))
        );
    }
    h.push_str("</table>\n</section>\n");
}

/// The scenario's bars: each variant's failure rate with its interval (and the baseline's).
fn chart(h: &mut String, results: &[VariantResult], baseline: Option<&Baseline>, j: &Judgement) {
    let first = &results[0];
    let width = LABEL_W + PLOT_W + 340.0;
    let height = TOP + ROW_H * results.len() as f64 + 8.0;
    let _ = writeln!(
        h,
        "<svg class=\"chart\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"failure rates in {}\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"12\">",
        escape(&first.scenario)
    );
    for (i, r) in results.iter().enumerate() {
        if outcome::is_unexpected(r, j) {
            let _ = writeln!(
                h,
                "<rect class=\"unexpected\" x=\"0\" y=\"{}\" width=\"{width}\" height=\"{ROW_H}\" fill=\"#ffe3e3\"/>",
                TOP + ROW_H * i as f64
            );
        }
    }
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let x = LABEL_W + tick * PLOT_W;
        let _ = writeln!(
            h,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#ddd\"/><text x=\"{x}\" y=\"12\" text-anchor=\"middle\" fill=\"#666\">{:.0}%</text>",
            TOP - 4.0,
            height - 4.0,
            tick * 100.0
        );
    }
    for (i, r) in results.iter().enumerate() {
        chart_row(h, i, r, baseline, outcome::is_unexpected(r, j));
    }
    h.push_str("</svg>\n");
}

/// Row `i` of the chart: result `r`'s bar, whiskers and verdict.
fn chart_row(h: &mut String, i: usize, r: &VariantResult, baseline: Option<&Baseline>, unexpected: bool) {
    let measure = r.measure();
    let count = measure.count;
    let y = TOP + ROW_H * i as f64;
    let mid = y + ROW_H / 2.0;
    let label = match &r.catalogue_id {
        Some(id) => format!("{id} {}", r.variant),
        None => format!("{} ({})", r.variant, r.id_label()),
    };
    let _ = writeln!(
        h,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        LABEL_W - 8.0,
        mid + 4.0,
        escape(&label)
    );
    let rate = count.rate().unwrap_or(0.0);
    let _ = writeln!(
        h,
        "<rect class=\"bar\" x=\"{LABEL_W}\" y=\"{}\" width=\"{:.2}\" height=\"{}\" fill=\"{}\"><title>{}: {}</title></rect>",
        y + 5.0,
        rate * PLOT_W,
        ROW_H - 10.0,
        colour(r),
        escape(&label),
        escape(&measure.summary())
    );
    // The baseline compares failing trials: drawn where the bar is in trials too.
    if let Some(base) = baseline
        .and_then(|b| {
            b.entries
                .iter()
                .find(|e| e.scenario == r.scenario && e.variant == r.variant)
        })
        .filter(|_| measure.unit == "trials")
        .and_then(|e| interval(e.failing_trials))
    {
        whisker(h, base, y + ROW_H - 4.0, "#9b59b6");
    }
    if let Some(ci) = measure.interval() {
        whisker(h, ci, mid, "#111");
    }
    let figure = match measure.unit {
        "trials" | "reads" => format!("{} of {} {}", count.failures, count.trials, measure.unit),
        _ => measure.summary(),
    };
    let _ = writeln!(
        h,
        "<text x=\"{}\" y=\"{}\" fill=\"{}\">{} &middot; {}</text>",
        LABEL_W + PLOT_W + 10.0,
        mid + 4.0,
        if unexpected { "#b00020" } else { "#333" },
        escape(&figure),
        if unexpected {
            "UNEXPECTED".to_string()
        } else {
            escape(&verdict_text(&r.verdict))
        }
    );
}

/// A horizontal interval with end caps at height `y`.
fn whisker(h: &mut String, ci: Interval, y: f64, stroke: &str) {
    let x1 = LABEL_W + ci.low * PLOT_W;
    let x2 = LABEL_W + ci.high * PLOT_W;
    let _ = writeln!(
        h,
        "<g class=\"whisker\" stroke=\"{stroke}\" stroke-width=\"1.5\"><line x1=\"{x1:.2}\" y1=\"{y}\" x2=\"{x2:.2}\" y2=\"{y}\"/><line x1=\"{x1:.2}\" y1=\"{}\" x2=\"{x1:.2}\" y2=\"{}\"/><line x1=\"{x2:.2}\" y1=\"{}\" x2=\"{x2:.2}\" y2=\"{}\"/></g>",
        y - 4.0,
        y + 4.0,
        y - 4.0,
        y + 4.0
    );
}

/// Before/after tables per scenario. The unexpected outcomes of `judgement` come first,
/// each with its cases linked; the expected catches are folded away at the end. `dir` is
/// where the report set is written (for the replay lines and the case pages).
pub fn markdown(report: &RunReport, judgement: &Judgement, dir: &Path) -> String {
    let mut md = format!("# faultline {}\n", report.kind);
    let outcomes = outcome::sort(report, judgement);
    if let Some(env) = &report.environment {
        md.push_str(&format!("\nRan on: {}.\n", md_cell(&env.line())));
    }
    let dir_word = shell_words::quote(&dir.display().to_string()).into_owned();
    let case_md = |md: &mut String, case: &Case<'_>, indent: &str| {
        let r = case.result;
        md.push_str(&format!(
            "{indent}- <a id=\"case-{n}\"></a>**case {n}**: {} / {} **{}** in trial {} at {:.2} s: {}\n{indent}  \
             reproduce: `{}`; replay: `faultline replay {dir_word} --case {n}`; page: [{page}]({page})\n",
            r.scenario,
            r.variant,
            case.kind,
            case.first.trial,
            case.first.after_s,
            md_cell(&case.first.detail),
            case.first.reproduce,
            n = case.number,
            page = case_page(case.number),
        ));
    };
    if outcomes.unexpected.is_empty() {
        md.push_str(
            "\nNothing unexpected: every reference passed and every broken variant was caught as required.\n",
        );
    } else {
        md.push_str(&format!("\n## Unexpected ({})\n\n", outcomes.unexpected.len()));
        for u in &outcomes.unexpected {
            let f = u.finding;
            md.push_str(&format!(
                "- :x: **{}** (exit {}): {} / {}: {}\n",
                outcome::headline(f),
                f.failure.exit_code(),
                f.scenario,
                f.variant.as_deref().unwrap_or("-"),
                md_cell(&f.message)
            ));
            for case in &u.cases {
                case_md(&mut md, case, "  ");
            }
        }
    }
    let mut scenario = "";
    for r in &report.results {
        if r.scenario != scenario {
            scenario = &r.scenario;
            md.push_str(&format!(
                "\n## {scenario}\n\nWall time {:.1} s.\n\n",
                report.scenario_seconds(scenario)
            ));
            md.push_str("| variant | ID | failed (the verdict's unit) | failed reads | kinds | verdict |\n");
            md.push_str("|---|---|---|---|---|---|\n");
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
        if r.inconclusive > 0 {
            kinds.push(format!("({} inconclusive runs, rerun)", r.inconclusive));
        }
        let measure = r.measure();
        let reads = if r.reads.trials > 0 && measure.unit != "reads" {
            format!("{} of {}", r.reads.failures, r.reads.trials)
        } else {
            "-".into()
        };
        let verdict = if outcome::is_unexpected(r, judgement) {
            format!(":x: **UNEXPECTED: {}**", verdict_text(&r.verdict))
        } else {
            verdict_text(&r.verdict)
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            md_cell(&r.variant),
            r.id_label(),
            measure.summary(),
            reads,
            if kinds.is_empty() {
                "-".to_string()
            } else {
                kinds.join(", ")
            },
            verdict,
        ));
    }
    if !outcomes.expected.is_empty() {
        md.push_str(&format!(
            "\n<details><summary>Expected catches ({}): broken variants failing as their scenarios require</summary>\n\n",
            outcomes.expected.len()
        ));
        for case in &outcomes.expected {
            case_md(&mut md, case, "");
        }
        md.push_str("\n</details>\n");
    }
    md
}

/// Text for one Markdown table cell or list item: pipes escaped, lines joined.
fn md_cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace(['\n', '\r'], " ")
}

/// The page of case `n`, relative to the report set's directory.
pub fn case_page(n: usize) -> String {
    format!("cases/{n}.html")
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

/// Files of a report set faultline wrote that a new set in the same directory makes stale:
/// a gate's judgement of a run that is no longer there, and case pages. Only these names are
/// removed, never anything else in the directory.
fn remove_stale(dir: &Path, stem: &str, gated: bool) -> Result<(), ReportError> {
    use faultline_core::Fs as _;
    let fs = faultline_core::RealFs::new();
    let gone = |path: PathBuf| -> Result<(), ReportError> {
        match fs.unlink(&path) {
            Err(e) if e.errno != faultline_core::Errno::NOENT => Err(ReportError { path, source: e }),
            _ => Ok(()),
        }
    };
    if stem == "run" && !gated {
        gone(dir.join("gate.json"))?;
        gone(dir.join("gate.md"))?;
    }
    let cases = dir.join("cases");
    // The case pages go only into a directory of their own, never through a symlink.
    if std::fs::symlink_metadata(&cases).is_ok_and(|m| !m.is_dir()) {
        return Err(ReportError {
            path: cases,
            source: faultline_core::FsError::at(
                faultline_core::FsCall::Mkdir,
                dir,
                faultline_core::Errno::NOTDIR,
            ),
        });
    }
    if let Ok(entries) = std::fs::read_dir(&cases) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let is_page = name
                .strip_suffix(".html")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if is_page && entry.file_type().is_ok_and(|t| t.is_file()) {
                gone(entry.path())?;
            }
        }
    }
    Ok(())
}

/// Writes `STEM.json` and its renderings (`.md`, `.html`, `.junit.xml`) into `dir`, and a
/// page per case into `dir/cases/`; the renderings show the gate's findings and the baseline
/// when given. Stale files of an earlier set there are removed first.
pub fn write_rendered(
    dir: &Path,
    stem: &str,
    report: &RunReport,
    judgement: Option<&Judgement>,
    baseline: Option<&Baseline>,
) -> Result<Vec<PathBuf>, ReportError> {
    remove_stale(dir, stem, judgement.is_some())?;
    let own;
    let j = match judgement {
        Some(j) => j,
        None => {
            own = outcome::own_judgement(report);
            &own
        }
    };
    let mut written = write_files(
        dir,
        &[
            (&format!("{stem}.json"), report.to_json()),
            (&format!("{stem}.md"), markdown(report, j, dir)),
            (&format!("{stem}.html"), html(report, judgement, baseline, dir)),
            (&format!("{stem}.junit.xml"), junit(report, judgement, dir)),
        ],
    )?;
    let pages: Vec<(String, String)> = cases(&report.results)
        .iter()
        .map(|c| (format!("{}.html", c.number), case_page::html(c, j, dir, stem)))
        .collect();
    if !pages.is_empty() {
        write_files(&dir.join("cases"), &pages)?;
        written.push(dir.join("cases"));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_forbidden_controls() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
        assert_eq!(escape("x\u{1}y\tz"), "x\u{FFFD}y\tz");
    }
}
