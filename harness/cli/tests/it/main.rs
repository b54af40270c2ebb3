//! The `faultline` command as a user runs it: exit codes, one-line errors, determinism,
//! listings, and the report files it writes.

mod external;
mod gate;
mod html;
mod interrupt;
mod live;
mod merge;
mod run;

use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with `args` from the crate's directory.
pub fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

/// A scenario of the queue's power-loss crash states (deterministic, about a second): seed
/// `seed`, and per variant its name and the body of its `[expect.NAME]` table (none when
/// empty).
pub fn queue_power_loss(seed: u64, variants: &[(&str, &str)]) -> String {
    let names: Vec<String> = variants.iter().map(|(n, _)| format!("{n:?}")).collect();
    let mut text = format!(
        "family = \"queue\"\nvariants = [{}]\nseed = {seed}\n[roles]\nwriters = 1\n[workload]\ndocument_bytes = 700\n[queue]\nmodel = \"power-loss\"\nsegment_bytes = 1500\n",
        names.join(", ")
    );
    for (name, expect) in variants.iter().filter(|(_, e)| !e.is_empty()) {
        text.push_str(&format!("[expect.{name}]\n{expect}\n"));
    }
    text
}

/// `must_fail` with one kind, as an `[expect]` body.
pub const LOST: &str = "must_fail = [\"LostItem\"]";
/// Zero failures allowed, as an `[expect]` body.
pub const CLEAN: &str = "max_failures = 0";

/// Its stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Its stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_input_gets_one_line_naming_the_valid_choices_and_exit_code_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["explore", "--family", "nope"], "valid families: atomic-write"),
        (
            &["explore", "--family", "atomic-write", "--variant", "nope"],
            "valid variants: durable, truncate_in_place",
        ),
        (
            &["explore", "--model", "flood"],
            "valid models: process-crash, power-loss",
        ),
        (&["explore", "--block-size", "0"], "power of two"),
        (&["explore", "--block-size", "4095"], "power of two"),
        (&["explore", "--seed", "0xzz"], "invalid seed"),
        (
            &["explore", "--state", "1:-"],
            "give --family, --variant and --model",
        ),
        (
            &[
                "explore",
                "--family",
                "atomic-write",
                "--variant",
                "durable",
                "--model",
                "power-loss",
                "--state",
                "bogus",
            ],
            "malformed state id",
        ),
        // Nothing runs on no evidence, and no count or duration can overflow.
        (&["run", "--trials", "0"], "a run of none is no evidence"),
        (&["gate", "--trials", "0"], "a run of none is no evidence"),
        (&["run", "--duration", "1e20s"], "give a number with a unit"),
        (
            &["explore", "--trace", "t.json", "--checker", "true", "--jobs", "0"],
            "from 1 to 1024",
        ),
        (
            &[
                "explore",
                "--trace",
                "t.json",
                "--checker",
                "true",
                "--checker-timeout",
                "1e300",
            ],
            "give a number with a unit",
        ),
    ];
    for (args, needle) in cases {
        let o = faultline(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{args:?} must print one line, got: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{args:?}: {err}"
        );
        assert!(o.stdout.is_empty(), "{args:?}: nothing runs on bad input");
    }
}

#[test]
fn explore_prints_identical_results_twice_and_timing_only_on_stderr() {
    let args = [
        "explore",
        "--family",
        "atomic-write",
        "--variant",
        "no_dir_fsync",
        "--model",
        "power-loss",
        "--block-size",
        "512",
    ];
    let (a, b) = (faultline(&args), faultline(&args));
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    let text = stdout(&a);
    for needle in [
        "distinct crash states",
        "LostAcknowledgedWrite",
        "caught (LostAcknowledgedWrite)",
        "lost ",
        "reproduce: faultline explore --family atomic-write --variant no_dir_fsync --model power-loss --block-size 512 --state ",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(stderr(&a).contains("states/s"), "{}", stderr(&a));
}

#[test]
fn the_printed_reproduce_command_shows_that_state_failing() {
    let o = faultline(&[
        "explore",
        "--family",
        "atomic-write",
        "--variant",
        "fsync_after_rename",
        "--model",
        "power-loss",
    ]);
    let text = stdout(&o);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("reproduce: "))
        .expect("a reproduce line");
    let command = line.trim_start().trim_start_matches("reproduce: faultline ");
    let args: Vec<&str> = command.split(' ').collect();
    let replay = faultline(&args);
    assert_eq!(replay.status.code(), Some(0), "{}", stderr(&replay));
    let shown = stdout(&replay);
    assert!(shown.contains(": FAIL") && shown.contains("TornFile"), "{shown}");
    assert!(shown.contains("trace up to the crash:"), "{shown}");
}

#[test]
fn the_default_suite_holds_every_expectation_and_writes_its_report_durably() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("reports/out");
    let o = faultline(&["explore", "--out", out.to_str().expect("utf-8 path")]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    // atomic-write (8 variants) and store (4) as documents, queue (9): each under both models.
    assert!(
        stdout(&o).contains("42 of 42 expectations held"),
        "{}",
        stdout(&o)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("explore.json")).expect("json written"))
            .expect("valid json");
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["results"].as_array().map(Vec::len), Some(42));
    let md = std::fs::read_to_string(out.join("explore.md")).expect("markdown written");
    assert!(md.contains("| no_dir_fsync | AW3 | power-loss |"), "{md}");
    assert!(md.contains("| generational | reference | power-loss |"), "{md}");
    assert!(md.contains("| segment_no_dir_fsync | Q8 | power-loss |"), "{md}");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("readable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["explore.json", "explore.md"], "no temp files left behind");
    // A second run replaces the report with identical bytes.
    let first = std::fs::read(out.join("explore.json")).expect("json");
    faultline(&["explore", "--out", out.to_str().expect("utf-8 path")]);
    assert_eq!(std::fs::read(out.join("explore.json")).expect("json"), first);
}

#[test]
fn explore_of_the_queue_judges_the_states_of_its_power_loss_scenario_alike() {
    // One crash sweep: the queue's crash states explored directly and run as the scenario's
    // trials are the same states with the same verdicts.
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/queue-power-loss.toml");
    for variant in ["segmented", "header_before_data", "segment_no_dir_fsync"] {
        let explored = faultline(&[
            "explore",
            "--family",
            "queue",
            "--variant",
            variant,
            "--model",
            "power-loss",
            "--format",
            "json",
        ]);
        assert_eq!(explored.status.code(), Some(0), "{}", stderr(&explored));
        let explored: serde_json::Value = serde_json::from_slice(&explored.stdout).expect("json");
        let e = &explored["results"][0];
        let out = dir.path().join(variant);
        let run = faultline(&[
            "run",
            scenario.to_str().expect("utf-8"),
            "--variant",
            variant,
            "--out",
            out.to_str().expect("utf-8"),
        ]);
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
        let run: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("run.json")).expect("run.json")).expect("json");
        let r = &run["results"][0];
        assert_eq!(
            e["failed_states"]["trials"], r["failed_trials"]["trials"],
            "{variant}"
        );
        assert_eq!(
            e["failed_states"]["failures"], r["failed_trials"]["failures"],
            "{variant}"
        );
        assert_eq!(e["failures_by_kind"], r["failures_by_kind"], "{variant}");
    }
}

#[test]
fn a_variant_not_caught_exits_3() {
    // Judged by old-or-new alone, a lost acknowledged write is invisible: the detector has
    // lost the power the catalogue promises, and the gate must say so.
    let o = faultline(&[
        "explore",
        "--family",
        "atomic-write",
        "--variant",
        "no_dir_fsync",
        "--model",
        "power-loss",
        "--oracle",
        "old-or-new",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("NOT CAUGHT (expected LostAcknowledgedWrite)"),
        "{}",
        stdout(&o)
    );
    let bad = faultline(&["explore", "--oracle", "vibes"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("valid oracles: old-or-new, acknowledged-durable"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn list_names_every_variant_with_its_catalogue_id() {
    let o = faultline(&["list"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for id in [
        "AW1",
        "AW2",
        "AW3",
        "AW4",
        "AW5",
        "AW6",
        "AW7",
        "reference",
        "atomic_write.before_rename",
    ] {
        assert!(text.contains(id), "missing {id} in:\n{text}");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&faultline(&["list", "--format", "json"]).stdout).expect("json");
    assert_eq!(json["families"][0]["variants"].as_array().map(Vec::len), Some(8));
    assert!(Path::new(env!("CARGO_MANIFEST_DIR")).exists());
}

#[test]
fn help_documents_the_exit_codes() {
    let text = stdout(&faultline(&["--help"]));
    for line in [
        "0  every expectation held",
        "1  a reference",
        "2  usage",
        "3  a broken variant was not caught",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn a_report_temp_left_by_an_interrupted_run_is_removed_by_the_next() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A pid that cannot be running: above the kernel's pid_max limit (4194304).
    let stale = dir.path().join(".explore.json.4194305.00000000deadbeef.tmp");
    std::fs::write(&stale, b"half a report").expect("plant a stale temp");
    let o = faultline(&[
        "explore",
        "--variant",
        "durable",
        "--model",
        "power-loss",
        "--out",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stale.exists(), "the stale temp must be gone");
}

#[test]
fn model_without_its_checker_says_how_to_build_it_and_exits_2() {
    let o = faultline(&["model", "--checker", "/nonexistent/faultline-model"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("cargo build --release -p faultline-targets --bin faultline-model")
            && err.contains("--cfg shuttle"),
        "{err}"
    );
}
