//! Renderings of a run report for CI: JUnit XML (each scenario x variant a test case) and one
//! self-contained HTML page (inline SVG bars with interval whiskers per scenario, the failures
//! and the commands that reproduce them; no script, no network).
//!
//! Both are rendered from the report's results, the same data the JSON holds, and from the
//! gate's findings when a gate judged the run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use faultline_core::stats::{FailureCount, Interval, percent};

use crate::envelope::{ReportError, write_files};
use crate::gate::{Baseline, Judgement};
use crate::report::{RunReport, cases, verdict_text};
use crate::results::{VariantResult, Verdict};

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

/// Whether a result's test case fails: its verdict, or a gate finding about it.
fn failure_messages(r: &VariantResult, judgement: Option<&Judgement>) -> Vec<String> {
    let mut messages = Vec::new();
    match &r.verdict {
        Verdict::NotCaught { .. } | Verdict::Exceeded { .. } => messages.push(verdict_text(&r.verdict)),
        Verdict::Held | Verdict::NoExpectation => {}
    }
    if let Some(j) = judgement {
        for f in j.about(&r.scenario, &r.variant) {
            let text = format!("gate (exit {}): {}", f.failure.exit_code(), f.message);
            if !messages.contains(&text) {
                messages.push(text);
            }
        }
    }
    messages
}

/// JUnit XML: one test suite per scenario, one test case per variant. A case fails when its
/// expectation did not hold or the gate found something; the failure's text carries the
/// commands that reproduce the recorded failures.
pub fn junit(report: &RunReport, judgement: Option<&Judgement>) -> String {
    use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
    let seconds = |s: f64| std::time::Duration::try_from_secs_f64(s).unwrap_or_default();
    let all_cases = cases(&report.results);
    let mut suites: Vec<(&str, Vec<&VariantResult>)> = Vec::new();
    for r in &report.results {
        match suites.last_mut() {
            Some((name, results)) if *name == r.scenario => results.push(r),
            _ => suites.push((&r.scenario, vec![r])),
        }
    }
    let mut doc = quick_junit::Report::new(format!("faultline {}", report.kind));
    doc.set_time(seconds(report.results.iter().map(|r| r.elapsed_s).sum()));
    for (scenario, results) in suites {
        let mut suite = TestSuite::new(scenario);
        suite.set_time(seconds(results.iter().map(|r| r.elapsed_s).sum()));
        let first = results[0];
        suite.add_property(Property::new("scenario_path", first.scenario_path.as_str()));
        suite.add_property(Property::new("family", first.family.as_str()));
        suite.add_property(Property::new("seed", format!("{:#x}", first.seed)));
        for r in results {
            let (count, unit) = r.primary();
            let name = format!(
                "{} ({})",
                r.variant,
                r.catalogue_id.as_deref().unwrap_or("reference")
            );
            let mut body = format!(
                "failed {unit}: {}\nfailed trials: {}\nverdict: {}\n",
                count.summary(),
                r.failed_trials.summary(),
                verdict_text(&r.verdict)
            );
            for c in all_cases.iter().filter(|c| std::ptr::eq(c.result, r)) {
                let _ = write!(
                    body,
                    "\ncase {}: {} in trial {}: {}\n  reproduce: {}\n  or: faultline replay REPORT --case {}\n",
                    c.number, c.kind, c.first.trial, c.first.detail, c.first.reproduce, c.number
                );
            }
            let messages = failure_messages(r, judgement);
            let status = if messages.is_empty() {
                TestCaseStatus::success()
            } else {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(messages.join("; "))
                    .set_type(match &r.verdict {
                        Verdict::NotCaught { .. } => "NotCaught",
                        Verdict::Exceeded { .. } => "FixedVariantFailed",
                        _ => "GateFinding",
                    })
                    .set_description(format!("{}\n\n{body}", messages.join("\n")));
                status
            };
            let mut case = TestCase::new(name, status);
            case.set_classname(format!("faultline.{}", r.scenario))
                .set_time(seconds(r.elapsed_s));
            if messages.is_empty() {
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

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}\
h1{font-size:22px}h2{font-size:17px;margin-top:28px}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}code{font-size:12px;background:#f6f6f6;padding:1px 3px;word-break:break-all}\
.bad{color:#b00020;font-weight:600}.ok{color:#1e6b35}.path{color:#666;margin:0}\
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}";

/// One self-contained HTML page: per scenario, a chart of each variant's failure rate (bar)
/// and 95% interval (whisker), with the baseline's interval beside it when a gate compared
/// them; a table of the same figures; and every recorded failure with its reproduce command.
pub fn html(report: &RunReport, judgement: Option<&Judgement>, baseline: Option<&Baseline>) -> String {
    let mut h = String::new();
    let title = format!("faultline {}", report.kind);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let held = report
        .results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Held))
        .count();
    let judged = report
        .results
        .iter()
        .filter(|r| !matches!(r.verdict, Verdict::NoExpectation))
        .count();
    let _ = writeln!(
        h,
        "<p id=\"summary\" class=\"{}\">{held} of {judged} expectations held.</p>",
        if held == judged { "ok" } else { "bad" }
    );
    if let Some(j) = judgement {
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
        if !j.findings.is_empty() {
            h.push_str("<table id=\"findings\"><tr><th>exit</th><th>scenario</th><th>variant</th><th>finding</th></tr>\n");
            for f in &j.findings {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    f.failure.exit_code(),
                    escape(&f.scenario),
                    escape(f.variant.as_deref().unwrap_or("-")),
                    escape(&f.message)
                );
            }
            h.push_str("</table>\n");
        }
        for w in &j.warnings {
            let _ = writeln!(h, "<p>warning: {}</p>", escape(w));
        }
    }
    let _ = writeln!(
        h,
        "<p class=\"legend\">Bars: failure rate; whiskers: 95% interval.<span style=\"background:{BROKEN}\"></span>broken variant (before)<span style=\"background:{FIXED}\"></span>fixed variant (after)<span style=\"background:{OTHER}\"></span>not judged{}</p>",
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
        scenario_section(&mut h, &report.results[start..end], baseline);
        start = end;
    }
    let all = cases(&report.results);
    let _ = writeln!(h, "<h2 id=\"failures\">Failures ({})</h2>", all.len());
    if all.is_empty() {
        h.push_str("<p>No failure was recorded.</p>\n");
    } else {
        h.push_str("<table><tr><th>case</th><th>scenario</th><th>variant</th><th>kind</th><th>trial</th><th>what was seen</th><th>reproduce</th></tr>\n");
        for c in &all {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code><br><code>faultline replay REPORT --case {}</code></td></tr>",
                c.number,
                escape(&c.result.scenario),
                escape(&c.result.variant),
                c.kind,
                c.first.trial,
                escape(&c.first.detail),
                escape(&c.first.reproduce),
                c.number
            );
        }
        h.push_str("</table>\n");
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

fn scenario_section(h: &mut String, results: &[VariantResult], baseline: Option<&Baseline>) {
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
    chart(h, results, baseline);
    h.push_str("<table><tr><th>variant</th><th>ID</th><th>trials</th><th>failed (unit)</th><th>kinds</th><th>verdict</th></tr>\n");
    for r in results {
        let (count, unit) = r.primary();
        let kinds: Vec<String> = r
            .failures_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let bad = matches!(r.verdict, Verdict::NotCaught { .. } | Verdict::Exceeded { .. });
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} ({unit})</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            escape(&r.variant),
            r.id_label(),
            r.trials,
            escape(&count.summary()),
            escape(&if kinds.is_empty() {
                "-".into()
            } else {
                kinds.join(", ")
            }),
            if bad { "bad" } else { "ok" },
            escape(&verdict_text(&r.verdict))
        );
    }
    h.push_str("</table>\n</section>\n");
}

/// The scenario's bars: each variant's failure rate with its interval (and the baseline's).
fn chart(h: &mut String, results: &[VariantResult], baseline: Option<&Baseline>) {
    let first = &results[0];
    let width = LABEL_W + PLOT_W + 230.0;
    let height = TOP + ROW_H * results.len() as f64 + 8.0;
    let _ = writeln!(
        h,
        "<svg class=\"chart\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"failure rates in {}\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"12\">",
        escape(&first.scenario)
    );
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
        chart_row(h, i, r, baseline);
    }
    h.push_str("</svg>\n");
}

/// Row `i` of the chart: result `r`'s bar, whiskers and verdict.
fn chart_row(h: &mut String, i: usize, r: &VariantResult, baseline: Option<&Baseline>) {
    let (count, unit) = r.primary();
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
        "<rect class=\"bar\" x=\"{LABEL_W}\" y=\"{}\" width=\"{:.2}\" height=\"{}\" fill=\"{}\"><title>{}: {} {unit}</title></rect>",
        y + 5.0,
        rate * PLOT_W,
        ROW_H - 10.0,
        colour(r),
        escape(&label),
        escape(&count.summary())
    );
    if let Some(base) = baseline
        .and_then(|b| {
            b.entries
                .iter()
                .find(|e| e.scenario == r.scenario && e.variant == r.variant)
        })
        .filter(|e| e.unit == unit)
        .and_then(|e| interval(e.count))
    {
        whisker(h, base, y + ROW_H - 4.0, "#9b59b6");
    }
    if let Some(ci) = interval(count) {
        whisker(h, ci, mid, "#111");
    }
    let verdict = verdict_text(&r.verdict);
    let bad = matches!(r.verdict, Verdict::NotCaught { .. } | Verdict::Exceeded { .. });
    let _ = writeln!(
        h,
        "<text x=\"{}\" y=\"{}\" fill=\"{}\">{} &middot; {}</text>",
        LABEL_W + PLOT_W + 10.0,
        mid + 4.0,
        if bad { "#b00020" } else { "#333" },
        escape(&match count.rate() {
            Some(rate) => percent(rate),
            None => "-".into(),
        }),
        escape(&verdict)
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
    judgement: Option<&Judgement>,
    baseline: Option<&Baseline>,
) -> Result<Vec<PathBuf>, ReportError> {
    write_files(
        dir,
        &[
            (&format!("{stem}.json"), report.to_json()),
            (&format!("{stem}.md"), report.to_markdown()),
            (&format!("{stem}.html"), html(report, judgement, baseline)),
            (&format!("{stem}.junit.xml"), junit(report, judgement)),
        ],
    )
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
