//! A page per recorded failure (`cases/N.html` beside the report): what was seen, the trial
//! that saw it (seed, faults injected, its timeline), and the commands that run it again.

use std::fmt::Write as _;
use std::path::Path;

use super::escape;
use crate::gate::Judgement;
use crate::outcome;
use crate::report::Case;

/// The page of `case` of a report whose page is `STEM.html`; `dir` is the report set's
/// directory (for the replay line).
pub fn html(case: &Case<'_>, judgement: &Judgement, dir: &Path, stem: &str) -> String {
    let (r, first) = (case.result, case.first);
    let mut h = String::new();
    let title = format!(
        "faultline case {}: {} in {} / {}",
        case.number, case.kind, r.scenario, r.variant
    );
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n<style>{}</style>\n</head>\n<body>\n<p><a href=\"../{stem}.html#case-{n}\">&larr; the report</a></p>\n<h1>{t}</h1>\n",
        super::STYLE,
        t = escape(&title),
        n = case.number
    );
    let findings: Vec<_> = judgement.about(&r.scenario, &r.variant).collect();
    let required = r.expectation.as_ref().is_some_and(|e| e.must_fail.is_some());
    if findings.is_empty() && required {
        h.push_str("<p class=\"ok\">An expected catch: the scenario requires this variant to fail.</p>\n");
    } else if findings.is_empty() {
        h.push_str("<p>Not judged: the scenario expects nothing of this variant.</p>\n");
    } else {
        h.push_str("<section id=\"unexpected\"><h2>Unexpected</h2><ul>\n");
        for f in findings {
            let _ = writeln!(
                h,
                "<li><b class=\"bad\">{}</b> (exit {}): {}</li>",
                outcome::headline(f),
                f.failure.exit_code(),
                escape(&f.message)
            );
        }
        h.push_str("</ul></section>\n");
    }
    let seen = r.failures_by_kind.get(&case.kind).copied().unwrap_or(0);
    let rows = [
        ("scenario", format!("{} ({})", r.scenario, r.scenario_path)),
        ("family", r.family.clone()),
        ("variant", format!("{} ({})", r.variant, r.id_label())),
        (
            "failure kind",
            format!("{} (seen {seen} time(s) in the run)", case.kind),
        ),
        ("the run", r.measure().summary()),
        ("trial", format!("{} of seed {:#x}", first.trial, r.seed)),
        (
            "first seen",
            format!("{:.3} s after the variant's first trial started", first.after_s),
        ),
    ];
    h.push_str("<table>\n");
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{k}</th><td>{}</td></tr>", escape(&v));
    }
    h.push_str("</table>\n<h2>What was seen</h2>\n");
    let _ = writeln!(h, "<pre>{}</pre>", escape(&first.detail));
    let faults = first.faults.describe();
    h.push_str("<h2>Faults the trial injected</h2>\n");
    if faults.is_empty() {
        h.push_str("<p>None: the failure came from the workload's own concurrency.</p>\n");
    } else {
        h.push_str("<ul>\n");
        for f in faults {
            let _ = writeln!(h, "<li>{}</li>", escape(&f));
        }
        h.push_str("</ul>\n");
    }
    let executions = r.trial_kind == crate::results::TrialKind::Executions;
    if !first.timeline.is_empty() && executions {
        h.push_str("<h2>The failing schedule's interleaving</h2>\n<p>The steps of the model checker's schedule, replayed: which task ran at each (task 0 is the test's main thread, the others numbered in the order they were spawned).</p>\n<table id=\"timeline\"><tr><th>from step</th><th>what ran</th></tr>\n");
        for e in &first.timeline {
            let _ = writeln!(h, "<tr><td>{}</td><td>{}</td></tr>", e.at_ms, escape(&e.event));
        }
        h.push_str("</table>\n");
    } else if !first.timeline.is_empty() {
        let _ = writeln!(
            h,
            "<h2>Timeline of trial {}</h2>\n<p>Milliseconds after the workers were released; a worker's failure is placed at the time the worker itself measured.</p>\n<table id=\"timeline\"><tr><th>ms</th><th>event</th></tr>",
            first.trial
        );
        for e in &first.timeline {
            let marked = e.event.contains(&case.kind.to_string())
                || e.event.contains("SIGKILL")
                || e.event.contains("died by");
            let _ = writeln!(
                h,
                "<tr{}><td>{:.3}</td><td>{}</td></tr>",
                if marked { " class=\"unexpected\"" } else { "" },
                e.at_ms,
                escape(&e.event)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2>Run it again</h2>\n");
    let _ = writeln!(
        h,
        "<pre class=\"cmd\">{}</pre>\n<pre class=\"cmd\">faultline replay {} --case {}</pre>",
        escape(&first.reproduce),
        escape(&shell_words::quote(&dir.display().to_string())),
        case.number
    );
    h.push_str("</body>\n</html>\n");
    h
}
