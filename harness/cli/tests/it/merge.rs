//! `faultline run --shard` and `faultline merge`: the shards of a run, merged, are the run.

use std::path::Path;

use super::{CLEAN, LOST, faultline, queue_power_loss, stderr};

const TORN_TAIL: &str = r#"
family = "queue"
variants = ["torn_tail_swallow", "segmented"]
seed = 9
[roles]
writers = 2
[workload]
document_bytes = 600
writes_per_writer = 10
[queue]
torn_tail = true
[run]
trials = 7
[expect.torn_tail_swallow]
must_fail = ["LostItem"]
[expect.segmented]
max_failures = 0
"#;

fn run_json(dir: &Path, scenarios: &[String], extra: &[&str], out: &str) -> serde_json::Value {
    let out_dir = dir.join(out);
    let mut args = vec!["run"];
    args.extend(scenarios.iter().map(String::as_str));
    args.extend([
        "--out",
        out_dir.to_str().expect("utf-8"),
        "--temp-dir",
        dir.to_str().expect("utf-8"),
    ]);
    args.extend(extra);
    let o = faultline(&args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(out_dir.join("run.json")).expect("run.json")).expect("json")
}

/// What must agree between a merged report and the run it was sharded from.
fn counts(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let firsts: serde_json::Map<String, serde_json::Value> = r["first_by_kind"]
                .as_object()
                .expect("first_by_kind")
                .iter()
                .map(|(k, v)| (k.clone(), v["trial"].clone()))
                .collect();
            serde_json::json!([
                r["scenario"],
                r["variant"],
                r["trials"],
                r["failed_trials"],
                r["reads"],
                r["failures_by_kind"],
                r["verdict"],
                firsts
            ])
        })
        .collect()
}

#[test]
fn four_shards_merged_give_the_unsharded_run_exactly() {
    let dir = tempfile::tempdir().expect("temp");
    let power_loss = queue_power_loss(
        7,
        &[
            ("torn_tail_swallow", LOST),
            ("segment_no_dir_fsync", LOST),
            ("segmented", CLEAN),
        ],
    );
    let scenarios: Vec<String> = [("power.toml", power_loss.as_str()), ("torn.toml", TORN_TAIL)]
        .iter()
        .map(|(name, text)| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            path.to_str().expect("utf-8").to_string()
        })
        .collect();
    let whole = run_json(dir.path(), &scenarios, &[], "whole");
    let mut shards = Vec::new();
    for i in 1..=4 {
        let shard = format!("{i}/4");
        run_json(dir.path(), &scenarios, &["--shard", &shard], &format!("s{i}"));
        shards.push(dir.path().join(format!("s{i}/run.json")));
    }
    let merged_dir = dir.path().join("merged");
    let mut args = vec!["merge", "--out", merged_dir.to_str().expect("utf-8")];
    args.extend(shards.iter().map(|p| p.to_str().expect("utf-8")));
    let o = faultline(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged_dir.join("run.json")).expect("merged"))
            .expect("json");
    assert_eq!(counts(&merged), counts(&whole));
    // Each shard ran about a quarter of the trials.
    let one: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&shards[0]).expect("shard")).expect("json");
    assert_eq!(
        one["results"][3]["trials"], 2,
        "shard 1 of 4 runs trials 0 and 4 of 7"
    );
}

#[test]
fn merge_refuses_what_it_cannot_merge_exactly_with_exit_2() {
    let dir = tempfile::tempdir().expect("temp");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("utf-8").to_string()
    };
    let cases = [
        (
            write(
                "broken.json",
                "{\"format_version\": 1,\n \"kind\": \"run\", \"results\": [\n",
            ),
            "broken.json:3:",
        ),
        (
            write(
                "old.json",
                r#"{"format_version": 0, "kind": "run", "results": []}"#,
            ),
            "format_version 0",
        ),
        (
            write(
                "explore.json",
                r#"{"format_version": 1, "kind": "explore", "results": []}"#,
            ),
            "kind 'explore'",
        ),
        (
            write(
                "unknown.json",
                r#"{"format_version": 1, "kind": "run", "results": [{"scenario": "s", "family": "nope", "variant": "durable"}]}"#,
            ),
            "unknown family or variant 'nope'",
        ),
    ];
    for (path, needle) in cases {
        let o = faultline(&[
            "merge",
            &path,
            "--out",
            dir.path().join("out").to_str().expect("utf-8"),
        ]);
        assert_eq!(o.status.code(), Some(2), "{path}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{path}: {}", stderr(&o));
    }
    for bad in ["0/4", "5/4", "1/0", "two/4", "1"] {
        let o = faultline(&["run", "--shard", bad]);
        assert_eq!(o.status.code(), Some(2), "--shard {bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("--shard takes I/N"), "{}", stderr(&o));
    }
}
