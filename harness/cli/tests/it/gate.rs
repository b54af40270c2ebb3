//! `faultline gate`, `faultline baseline` and `faultline replay` on a small suite of two
//! scenarios: the exit codes of the gate's flips, the ratchet, bad baselines, JUnit.

use std::path::{Path, PathBuf};

use super::{CLEAN, LOST, faultline, queue_power_loss, stderr, stdout};

/// Readers racing a writer: AW1 tears about two reads in three.
const RACE: &str = r#"
family = "atomic-write"
variants = ["truncate_in_place", "durable"]
seed = 11
[roles]
writers = 1
readers = 2
[workload]
document_bytes = 4096
reads_per_reader = 200
[oracle]
checks = ["torn-read", "old-or-new", "no-writer-errors"]
[run]
trials = 1
[expect.truncate_in_place]
must_fail = ["TornRead"]
[expect.durable]
max_failures = 0
"#;

struct Suite {
    dir: tempfile::TempDir,
}

impl Suite {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp");
        std::fs::create_dir(dir.path().join("scenarios")).expect("mkdir");
        let suite = Suite { dir };
        suite.write(
            "power-loss",
            &queue_power_loss(7, &[("torn_tail_swallow", LOST), ("segmented", CLEAN)]),
        );
        suite.write("race", RACE);
        suite
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> String {
        self.path(name).to_str().expect("utf-8").to_string()
    }

    fn write(&self, scenario: &str, text: &str) {
        std::fs::write(self.path(&format!("scenarios/{scenario}.toml")), text).expect("write");
    }

    /// `faultline COMMAND --scenarios DIR --baseline FILE --out OUT --temp-dir DIR EXTRA...`
    fn run(&self, command: &str, extra: &[&str]) -> std::process::Output {
        let (scenarios, baseline, out, temp) = (
            self.s("scenarios"),
            self.s("baseline.json"),
            self.s("out"),
            self.s(""),
        );
        let mut args = vec![
            command,
            "--scenarios",
            &scenarios,
            "--out",
            &out,
            "--temp-dir",
            &temp,
        ];
        if !extra.contains(&"--no-baseline") {
            args.extend(["--baseline", &baseline]);
        }
        args.extend(extra);
        faultline(&args)
    }

    fn baseline_text(&self) -> String {
        std::fs::read_to_string(self.path("baseline.json")).expect("baseline")
    }
}

fn assert_exit(o: &std::process::Output, code: i32, needle: &str) {
    let all = format!("{}\n{}", stdout(o), stderr(o));
    assert_eq!(o.status.code(), Some(code), "{all}");
    assert!(all.contains(needle), "expected {needle:?} in:\n{all}");
}

#[test]
fn the_gate_passes_an_unchanged_suite_and_fails_each_flip_with_its_exit_code() {
    let suite = Suite::new();
    assert_exit(&suite.run("baseline", &[]), 0, "4 results of 2 scenarios");
    let written = suite.baseline_text();
    assert!(written.contains("\"kind\": \"baseline\""), "{written}");

    // Unchanged: exit 0, and every rendering is written.
    let o = suite.run("gate", &[]);
    assert_exit(&o, 0, "gate: passed");
    for file in [
        "run.json",
        "run.md",
        "run.html",
        "run.junit.xml",
        "gate.json",
        "gate.md",
    ] {
        assert!(suite.path("out").join(file).is_file(), "{file} missing");
    }
    let md = std::fs::read_to_string(suite.path("out/gate.md")).expect("gate.md");
    assert!(md.starts_with("# faultline gate: passed"), "{md}");
    assert!(md.contains("Compared 4 results"), "{md}");

    // One scenario run on its own: it is judged, and the other is only noted.
    let race = suite.s("scenarios/race.toml");
    assert_exit(
        &suite.run("gate", &[&race]),
        0,
        "not run and not judged: power-loss",
    );

    // A broken variant's expectation edited so that it is expected to pass: the detector's
    // power is no longer checked (3), not a fixed variant failing.
    suite.write(
        "power-loss",
        &queue_power_loss(7, &[("torn_tail_swallow", CLEAN), ("segmented", CLEAN)]),
    );
    assert_exit(
        &suite.run("gate", &[]),
        3,
        "the baseline required it to fail here (LostItem)",
    );
    // The ratchet refuses to record that, and leaves the baseline as it was.
    assert_exit(&suite.run("baseline", &[]), 3, "--allow-worse");
    assert_eq!(suite.baseline_text(), written);

    // The expectation deleted: 3 as well.
    suite.write(
        "power-loss",
        &queue_power_loss(7, &[("torn_tail_swallow", ""), ("segmented", CLEAN)]),
    );
    assert_exit(
        &suite.run("gate", &[]),
        3,
        "the scenario now requires nothing of it",
    );

    // The fixed variant swapped for a broken one: a variant held to zero failures fails (1).
    suite.write(
        "power-loss",
        &queue_power_loss(7, &[("torn_tail_swallow", LOST), ("no_fsync_enqueue", CLEAN)]),
    );
    assert_exit(&suite.run("gate", &[]), 1, "no_fsync_enqueue");

    // The scenario removed from the suite: it required AQ4 to be caught (3).
    std::fs::remove_file(suite.path("scenarios/power-loss.toml")).expect("rm");
    assert_exit(
        &suite.run("gate", &[]),
        3,
        "is in the baseline but not in the suite",
    );
    // --allow-worse records the smaller suite.
    assert_exit(
        &suite.run("baseline", &["--allow-worse"]),
        0,
        "2 results of 1 scenarios",
    );
}

#[test]
fn a_rate_worse_than_the_baseline_beyond_the_intervals_exits_4() {
    let suite = Suite::new();
    // Q1 loses items in nearly every power-loss crash state.
    suite.write(
        "power-loss",
        &queue_power_loss(7, &[("truncate_rewrite_dequeue", LOST), ("segmented", CLEAN)]),
    );
    let pl = suite.s("scenarios/power-loss.toml");
    assert_exit(&suite.run("baseline", &[&pl]), 0, "2 results of 1 scenarios");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(suite.path("out/run.json")).expect("run.json"))
            .expect("json");
    let caught = run["results"][0]["failed_trials"]["failures"]
        .as_u64()
        .expect("count");
    let states = run["results"][0]["failed_trials"]["trials"]
        .as_u64()
        .expect("count");
    assert!(
        caught * 10 >= states * 9,
        "Q1 fails in {caught} of {states} states"
    );

    // The same report, with the broken variant caught in half the states: still caught (its
    // expectation holds), but the detector got weaker.
    let half = caught / 2;
    let mut weaker = run.clone();
    weaker["results"][0]["failed_trials"]["failures"] = half.into();
    weaker["results"][0]["failures_by_kind"]["LostItem"] = half.into();
    weaker["results"][0]["trials_with_failures"] = half.into();
    let weaker_path = suite.path("weaker.json");
    std::fs::write(&weaker_path, weaker.to_string()).expect("write");
    let from = weaker_path.to_str().expect("utf-8");
    assert_exit(
        &suite.run("gate", &["--from", from]),
        4,
        "caught less often than in the baseline",
    );
    // The ratchet refuses it too.
    assert_exit(&suite.run("baseline", &["--from", from]), 4, "--allow-worse");
    // A report of nothing, or of more failures than trials, is no evidence: exit 2.
    let mut empty = run.clone();
    empty["results"] = serde_json::json!([]);
    let mut impossible = run.clone();
    impossible["results"][0]["failed_trials"]["failures"] = (states + 1).into();
    for (name, report, needle) in [
        ("empty.json", empty, "holds no results"),
        ("impossible.json", impossible, "failed trials out of"),
    ] {
        let path = suite.path(name);
        std::fs::write(&path, report.to_string()).expect("write");
        let from = path.to_str().expect("utf-8");
        assert_exit(&suite.run("gate", &["--from", from]), 2, needle);
        assert_exit(&suite.run("baseline", &["--from", from]), 2, needle);
    }

    // The fixed variant failing more often than the baseline under a rate limit: exit 4 (and
    // not 1, since the limit still holds).
    suite.write(
        "power-loss",
        &queue_power_loss(
            7,
            &[
                ("truncate_rewrite_dequeue", LOST),
                ("segmented", "max_failure_rate = 0.5"),
            ],
        ),
    );
    assert_exit(&suite.run("baseline", &[&pl]), 0, "2 results");
    let mut worse = run;
    worse["results"][1]["expectation"] =
        serde_json::json!({"must_fail": null, "max_failures": null, "max_failure_rate": 0.5});
    let reference_states = worse["results"][1]["failed_trials"]["trials"]
        .as_u64()
        .expect("count");
    let third = reference_states / 3;
    worse["results"][1]["failed_trials"]["failures"] = third.into();
    worse["results"][1]["failures_by_kind"] = serde_json::json!({"LostItem": third});
    worse["results"][1]["trials_with_failures"] = third.into();
    let worse_path = suite.path("worse.json");
    std::fs::write(&worse_path, worse.to_string()).expect("write");
    assert_exit(
        &suite.run("gate", &["--from", worse_path.to_str().expect("utf-8")]),
        4,
        "fails more often than the baseline",
    );
}

/// The committed baseline cut to its first two entries (one scenario's), the second changed
/// by `change`.
fn crafted_baseline(change: impl Fn(&mut serde_json::Value)) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../reports/baseline.json");
    let mut b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the committed baseline")).expect("json");
    let entries = b["entries"].as_array_mut().expect("entries");
    entries.truncate(2);
    assert_eq!(
        entries[0]["scenario"], entries[1]["scenario"],
        "two entries of one scenario"
    );
    change(&mut entries[1]);
    serde_json::to_string_pretty(&b).expect("serialises")
}

#[test]
fn bad_baselines_and_arguments_are_refused_with_exit_2_before_anything_runs() {
    let suite = Suite::new();
    let bad = |name: &str, text: &str| {
        let path = suite.path(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("utf-8").to_string()
    };
    let cases = [
        (
            bad(
                "corrupt.json",
                "{\"format_version\": 1,\n  \"kind\": \"baseline\",\n  \"entries\": [{",
            ),
            "corrupt.json:3:",
        ),
        (
            bad(
                "old.json",
                r#"{"format_version": 9, "kind": "baseline", "entries": []}"#,
            ),
            "format_version 9",
        ),
        (
            bad(
                "run.json",
                r#"{"format_version": 1, "kind": "run", "results": []}"#,
            ),
            "a report of kind 'run'; expected baseline",
        ),
        (
            suite.s("missing.json"),
            "does not exist; write it with `faultline baseline`",
        ),
        (
            bad(
                "empty.json",
                r#"{"format_version": 1, "kind": "baseline", "entries": []}"#,
            ),
            "the baseline holds no entries",
        ),
        (
            bad(
                "no-trials.json",
                &crafted_baseline(|e| e["failing_trials"]["trials"] = 0.into()),
            ),
            "ran no trials",
        ),
        (
            bad(
                "too-many-failures.json",
                &crafted_baseline(|e| e["count"]["failures"] = (u64::MAX).into()),
            ),
            "failed units out of",
        ),
        (
            bad(
                "unit.json",
                &crafted_baseline(|e| e["unit"] = "fortnights".into()),
            ),
            "neither reads nor trials",
        ),
        (
            bad(
                "twice.json",
                &crafted_baseline(|e| e["variant"] = "truncate_in_place".into()),
            ),
            "is given twice",
        ),
    ];
    for (path, needle) in cases {
        let o = faultline(&["gate", "--scenarios", &suite.s("scenarios"), "--baseline", &path]);
        assert_exit(&o, 2, needle);
        assert!(!suite.path("out").exists(), "nothing may run with a bad baseline");
    }
    // `faultline baseline` never overwrites a baseline it cannot read.
    let corrupt = suite.path("corrupt.json");
    let before = std::fs::read_to_string(&corrupt).expect("read");
    let o = faultline(&[
        "baseline",
        "--scenarios",
        &suite.s("scenarios"),
        "--baseline",
        corrupt.to_str().expect("utf-8"),
    ]);
    assert_exit(&o, 2, "fix or remove");
    assert_eq!(std::fs::read_to_string(&corrupt).expect("read"), before);

    assert_exit(
        &suite.run("gate", &["--shard", "1/2"]),
        2,
        "merge them with `faultline merge`",
    );
    assert_exit(
        &suite.run("gate", &["--from", "x.json", "--trials", "3"]),
        2,
        "--from reads a report",
    );
}

#[test]
fn junit_has_a_case_per_variant_and_failures_carry_the_reproduce_command() {
    let suite = Suite::new();
    // AW1 held to zero failures: its case fails, with the command that reproduces it.
    suite.write(
        "race",
        &RACE.replace(
            "[expect.truncate_in_place]\nmust_fail = [\"TornRead\"]",
            "[expect.truncate_in_place]\nmax_failures = 0",
        ),
    );
    let o = suite.run("gate", &["--no-baseline"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let xml = std::fs::read_to_string(suite.path("out/run.junit.xml")).expect("junit");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("4"));
    assert_eq!(root.attribute("failures"), Some("1"));
    let cases: Vec<roxmltree::Node> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), 4);
    let failed: Vec<&roxmltree::Node> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attribute("name"), Some("truncate_in_place (AW1)"));
    let failure = failed[0]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("failure");
    let body = failure.text().unwrap_or("");
    assert!(body.contains("reproduce: faultline run "), "{body}");
    assert!(body.contains("--variant truncate_in_place"), "{body}");
    // Case 1 is the power-loss scenario's (files run in name order); the replay line names
    // the report set's directory, and the failure says it was unexpected.
    let replay = format!("faultline replay {} --case 2", suite.s("out"));
    assert!(body.contains(&replay), "{body}");
    assert!(
        failure
            .attribute("message")
            .is_some_and(|m| m.starts_with("UNEXPECTED: a broken variant escaped")),
        "{body}"
    );
    // The unexpected comes first; the expected catch passes, named as one.
    assert_eq!(cases[0].attribute("name"), Some("truncate_in_place (AW1)"));
    assert!(
        cases
            .iter()
            .any(|c| c.attribute("name") == Some("torn_tail_swallow (Q4): caught as expected")),
        "{xml}"
    );
}

#[test]
fn replay_reproduces_a_crash_state_and_a_process_trial_and_refuses_bad_cases() {
    let suite = Suite::new();
    let o = suite.run("gate", &["--no-baseline"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = suite.s("out/run.json");
    let text = stdout(&o);
    // Case 1 is the power-loss scenario's (files in name order), case 2 the race's: both
    // expected catches, one line per scenario.
    assert!(text.contains("  power-loss: Q4 LostItem (case 1)"), "{text}");
    assert!(text.contains("  race: AW1 TornRead (case 2)"), "{text}");
    assert!(!text.contains("UNEXPECTED"), "{text}");
    // A case is replayed from the report, or from the directory of its report set.
    for (case, report) in [("1", report.clone()), ("2", suite.s("out"))] {
        let o = faultline(&["replay", &report, "--case", case, "--temp-dir", &suite.s("")]);
        assert_exit(&o, 0, "reproduced:");
    }
    assert_exit(
        &faultline(&["replay", &report, "--case", "3"]),
        2,
        "no case 3; the report records 2 failure(s)",
    );
    let missing = suite.s("nope.json");
    assert_exit(
        &faultline(&["replay", &missing, "--case", "1"]),
        2,
        "cannot read it",
    );
}

#[test]
fn replay_rebuilds_a_crash_state_of_an_explore_report() {
    let dir = tempfile::tempdir().expect("temp");
    let out = dir.path().to_str().expect("utf-8");
    let o = faultline(&[
        "explore",
        "--family",
        "atomic-write",
        "--variant",
        "no_dir_fsync",
        "--model",
        "power-loss",
        "--out",
        out,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = Path::new(out).join("explore.json");
    let o = faultline(&["replay", report.to_str().expect("utf-8"), "--case", "1"]);
    assert_exit(&o, 0, "reproduced: no_dir_fsync under power-loss, state ");
}

#[test]
fn a_report_set_replaces_what_an_older_set_left_stale_and_nothing_else() {
    let suite = Suite::new();
    let o = suite.run("gate", &["--no-baseline"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(suite.path("out/gate.md").exists() && suite.path("out/cases/2.html").exists());
    std::fs::write(suite.path("out/notes.txt"), "mine").expect("write");
    std::fs::write(suite.path("out/cases/9.html"), "an old page").expect("write");
    // A run of one scenario into the same directory: the gate's files judged another run.
    let (race, out, temp) = (suite.s("scenarios/race.toml"), suite.s("out"), suite.s(""));
    let run = || faultline(&["run", &race, "--out", &out, "--temp-dir", &temp]);
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!suite.path("out/gate.md").exists() && !suite.path("out/gate.json").exists());
    assert!(!suite.path("out/cases/9.html").exists() && !suite.path("out/cases/2.html").exists());
    assert!(
        suite.path("out/cases/1.html").exists(),
        "the new run's one case has its page"
    );
    assert_eq!(
        std::fs::read_to_string(suite.path("out/notes.txt")).expect("kept"),
        "mine"
    );
    // Case pages never go through a symlink.
    std::fs::remove_dir_all(suite.path("out/cases")).expect("rm");
    let elsewhere = suite.path("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    std::os::unix::fs::symlink(&elsewhere, suite.path("out/cases")).expect("symlink");
    let o = run();
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("cases"), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&elsewhere).expect("dir").count(), 0);
}
