//! Text rendering of listings, exploration results and single crash states.

use std::fmt::Write as _;
use std::path::Path;

use faultline_runner::explore::{ExploreRequest, ExploreResult, FailedState, StateReport};
use faultline_runner::report::{ExploreReport, expectation_text};
use faultline_targets::registry::FAMILIES;

/// The scenario files in `dir`, as display strings.
pub fn scenario_files(dir: &Path) -> Vec<String> {
    faultline_runner::scenario_file::files_in(dir)
        .iter()
        .map(|p| p.display().to_string())
        .collect()
}

/// `faultline list` as text.
pub fn list_text(scenarios: &[String]) -> String {
    let mut out = String::new();
    for family in FAMILIES {
        let _ = writeln!(out, "family {}", family.name);
        for v in family.variants {
            let expectations: Vec<String> = v
                .expectations
                .iter()
                .map(|e| format!("{}:{}", e.detector, e.kind))
                .collect();
            let _ = writeln!(
                out,
                "  {:<22} {:<9} {:<58} {}",
                v.name,
                v.catalogue_id.unwrap_or("reference"),
                v.summary,
                if expectations.is_empty() {
                    "passes every detector".to_string()
                } else {
                    expectations.join(" ")
                }
            );
        }
        if family.crash_points.is_empty() {
            let _ = writeln!(
                out,
                "  crash points: none (in-process logic: see `faultline model`)"
            );
        } else {
            let _ = writeln!(out, "  crash points: {}", family.crash_points.join(", "));
        }
    }
    let _ = writeln!(
        out,
        "detectors: R readers/writers, K kill -9, P power loss, M model check, D lock order, X metadata"
    );
    if scenarios.is_empty() {
        let _ = writeln!(out, "scenarios: none found");
    } else {
        let _ = writeln!(out, "scenarios:");
        for s in scenarios {
            let _ = writeln!(out, "  {s}");
        }
    }
    out
}

/// One exploration result as text: deterministic, no timings.
pub fn result_text(r: &ExploreResult) -> String {
    let mut out = String::new();
    let id = r
        .catalogue_id
        .map(|i| format!(" ({i})"))
        .unwrap_or_else(|| " (reference)".into());
    let _ = writeln!(
        out,
        "{}/{}{id} under {}, {}-byte blocks",
        r.family, r.variant, r.model, r.block_size_bytes
    );
    if r.version_sizes.is_empty() {
        let _ = writeln!(
            out,
            "  workload   the family's simulated workload, {} trace entries, seed {:#x}",
            r.trace_len, r.seed
        );
    } else {
        let sizes: Vec<String> = r.version_sizes.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "  workload   {} saves of a JSON document ({} bytes), {} trace entries, seed {:#x}",
            r.version_sizes.len() - 1,
            sizes.join(" -> "),
            r.trace_len,
            r.seed
        );
    }
    let e = &r.enumeration;
    let _ = writeln!(
        out,
        "  explored   {} distinct crash states at {} moments ({})",
        e.distinct_states,
        e.moments,
        e.coverage()
    );
    let _ = writeln!(out, "  failed     {}", r.failed_text());
    for (kind, n) in &r.failures_by_kind {
        let _ = writeln!(out, "    {kind:<22} {n}");
    }
    for error in &r.workload_errors {
        let _ = writeln!(out, "  workload error: {error}");
    }
    let _ = writeln!(out, "  verdict    {}", expectation_text(&r.expectation));
    let mut firsts: Vec<&FailedState> = r.first_by_kind.values().collect();
    firsts.sort_by_key(|f| f.moment);
    firsts.dedup_by_key(|f| f.state.clone());
    if let Some(first) = firsts.first() {
        let _ = writeln!(out, "  first failure at state {}:", first.state);
        failed_state_text(&mut out, first, "    ");
        for other in &firsts[1..] {
            let kinds: Vec<String> = other.failures.iter().map(|f| f.kind.to_string()).collect();
            let _ = writeln!(out, "  first {} at state {}", kinds.join(", "), other.state);
            let _ = writeln!(out, "    reproduce: {}", other.reproduce);
        }
    }
    out.push('\n');
    out
}

fn failed_state_text(out: &mut String, s: &FailedState, indent: &str) {
    for f in &s.failures {
        let _ = writeln!(out, "{indent}{}: {}", f.kind, f.detail);
    }
    if let Some(after) = &s.crash_after {
        let point = s
            .last_crash_point
            .map(|p| format!(" (last crash point {p})"))
            .unwrap_or_default();
        let _ = writeln!(out, "{indent}crash after  {after}{point}");
    } else {
        let _ = writeln!(out, "{indent}crash before the first call");
    }
    if let (Some(started), Some(acknowledged)) = (s.versions_started, s.versions_acknowledged) {
        let _ = writeln!(
            out,
            "{indent}history      versions begun up to {started}, acknowledged up to {acknowledged}"
        );
    }
    let k = &s.kept;
    for (label, items) in [("persisted", &k.persisted), ("lost", &k.lost), ("torn", &k.torn)] {
        for item in items.iter() {
            let _ = writeln!(out, "{indent}{label:<12} {item}");
        }
    }
    if k.persisted.is_empty() && k.lost.is_empty() && k.torn.is_empty() {
        let _ = writeln!(
            out,
            "{indent}nothing was in doubt: every earlier call was durable"
        );
    }
    if let Some(o) = &s.observed {
        let file = match (o.len, o.version) {
            (None, _) => "missing".to_string(),
            (Some(len), Some(v)) => format!("{len} bytes = version {v}, mode {:o}", o.mode.unwrap_or(0)),
            (Some(len), None) => format!("{len} bytes, no complete version, mode {:o}", o.mode.unwrap_or(0)),
        };
        let _ = writeln!(out, "{indent}after recovery the file is {file}");
    }
    let _ = writeln!(out, "{indent}reproduce: {}", s.reproduce);
}

/// The closing table of a multi-result run.
pub fn summary_text(report: &ExploreReport) -> String {
    let mut out = String::from("summary\n");
    for r in &report.results {
        let _ = writeln!(
            out,
            "  {:<20} {:<9} {:<13} {:>6} states  {:<34} {}",
            r.variant,
            r.catalogue_id.unwrap_or("reference"),
            r.model.to_string(),
            r.enumeration.distinct_states,
            r.failed_text(),
            expectation_text(&r.expectation)
        );
    }
    let unmet = report.unmet();
    let _ = writeln!(
        out,
        "{} of {} expectations held",
        report.results.len() - unmet,
        report.results.len()
    );
    out
}

/// `--state` as text.
pub fn state_text(request: &ExploreRequest, report: &StateReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "state {} of {} / {} under {}, {}-byte blocks: {}",
        report.state.state,
        request.variant.family(),
        request.variant.info().name,
        request.config.model,
        request.config.block_size.bytes(),
        if report.passed { "PASS" } else { "FAIL" }
    );
    let _ = writeln!(out, "trace up to the crash:");
    for line in &report.trace {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(out, "files at the crash, before recovery:");
    for line in &report.files_before_recovery {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(out, "verdict:");
    failed_state_text(&mut out, &report.state, "  ");
    out
}
