//! Unmodified programs: AW1-AW4 written as an external program, recorded with strace and
//! explored with an external checker, get the built-in variants' verdicts; and the example
//! scenarios fail the unsafe Python and shell savers and pass the durable one.
//! These need strace, python3 and jq, which .ci/run installs.

use std::path::Path;
use std::process::Command;

use crate::{faultline, stderr};

const PROGRAMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/programs");

/// Whether the built-in variant fails any crash state under `model`.
fn builtin_fails(variant: &str, model: &str) -> bool {
    let o = faultline(&[
        "explore",
        "--family",
        "atomic-write",
        "--variant",
        variant,
        "--model",
        model,
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("explore prints JSON");
    report["results"][0]["failed_states"]["failures"]
        .as_u64()
        .expect("a count")
        > 0
}

/// Records `aw.py VARIANT` in a fresh directory holding version 0; returns the trace's path.
fn record(variant: &str, dir: &Path) -> String {
    let work = dir.join(variant);
    std::fs::create_dir(&work).expect("dir");
    let aw = format!("{PROGRAMS}/aw.py");
    let init = Command::new("python3")
        .args([aw.as_str(), "init", "f"])
        .current_dir(&work)
        .status()
        .expect("python3 must be installed");
    assert!(init.success());
    let trace = dir.join(format!("{variant}.trace.json")).display().to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["record", "--out", &trace, "--", "python3", &aw, variant, "f"])
        .current_dir(&work)
        .output()
        .expect("faultline runs");
    assert_eq!(o.status.code(), Some(0), "record {variant}: {}", stderr(&o));
    trace
}

/// `faultline explore --trace TRACE --checker CHECKER --model MODEL`.
fn explore_trace(trace: &str, checker: &str, model: &str) -> std::process::Output {
    faultline(&[
        "explore",
        "--trace",
        trace,
        "--checker",
        checker,
        "--model",
        model,
    ])
}

#[test]
fn aw1_to_aw4_as_external_programs_get_the_builtin_variants_verdicts() {
    let dir = tempfile::tempdir().expect("temp");
    let checker = format!("python3 {PROGRAMS}/aw_check.py f {{stdout}}");
    // (variant, fails under process-crash, fails under power-loss), from the catalogue.
    let expected = [
        ("durable", false, false),
        ("truncate_in_place", true, true),
        ("no_file_fsync", false, true),
        ("no_dir_fsync", false, true),
        ("fsync_after_rename", false, true),
    ];
    for (variant, crash, power) in expected {
        let trace = record(variant, dir.path());
        for (model, expect) in [("process-crash", crash), ("power-loss", power)] {
            let o = explore_trace(&trace, &checker, model);
            let code = o.status.code();
            assert!(matches!(code, Some(0 | 1)), "{variant} {model}: {}", stderr(&o));
            let external = code == Some(1);
            assert_eq!(
                external,
                builtin_fails(variant, model),
                "{variant} under {model}: the recorded program and the built-in variant disagree\n{}",
                String::from_utf8_lossy(&o.stdout)
            );
            assert_eq!(
                external,
                expect,
                "{variant} under {model}: {}",
                String::from_utf8_lossy(&o.stdout)
            );
        }
    }
}

#[test]
fn durable_savers_that_copy_with_cp_or_shutil_pass_under_both_models() {
    // Before the recorder followed copy_file_range and sendfile, the copied bytes vanished
    // from the trace and both savers failed every crash state after the copy.
    let dir = tempfile::tempdir().expect("temp");
    let checker = format!("python3 {PROGRAMS}/aw_check.py f {{stdout}}");
    for variant in ["cp_sync_mv", "shutil_copy"] {
        let trace = record(variant, dir.path());
        let text = std::fs::read_to_string(&trace).expect("the trace");
        let copy = if variant == "cp_sync_mv" {
            "copy_file_range("
        } else {
            "sendfile("
        };
        assert!(text.contains(copy), "{variant} copies with {copy}");
        for model in ["process-crash", "power-loss"] {
            let o = explore_trace(&trace, &checker, model);
            assert_eq!(
                o.status.code(),
                Some(0),
                "{variant} under {model}: {}{}",
                String::from_utf8_lossy(&o.stdout),
                stderr(&o)
            );
        }
    }
}

#[test]
fn a_trace_with_a_call_that_cannot_be_modelled_is_unsupported_not_passed() {
    let dir = tempfile::tempdir().expect("temp");
    let work = dir.path().join("w");
    std::fs::create_dir(&work).expect("dir");
    let trace = dir.path().join("fifo.trace.json").display().to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "record",
            "--out",
            &trace,
            "--",
            "sh",
            "-c",
            "echo a > a && mkfifo p && echo b > b",
        ])
        .current_dir(&work)
        .output()
        .expect("faultline runs");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("unsupported: strace line"), "{}", stderr(&o));
    let o = faultline(&[
        "explore",
        "--trace",
        &trace,
        "--checker",
        "true",
        "--model",
        "power-loss",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(5), "{out}{}", stderr(&o));
    assert!(out.contains("**UNSUPPORTED**") && out.contains("mknod"), "{out}");
}

#[test]
fn a_checker_is_written_the_way_users_write_it_and_checked_before_it_judges() {
    let dir = tempfile::tempdir().expect("temp");
    let trace = record("durable", dir.path());
    // Run from the checker's own directory: `aw_check.py` is found there, and `f` stays the
    // state's file, as the trace names it.
    let explore_from_programs = |checker: &str| {
        Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args([
                "explore",
                "--trace",
                &trace,
                "--checker",
                checker,
                "--model",
                "power-loss",
            ])
            .current_dir(PROGRAMS)
            .output()
            .expect("faultline runs")
    };
    let o = explore_from_programs("python3 aw_check.py f {stdout}");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    // A checker that fails the untouched directory is wrong, and nothing is judged with it.
    let o = explore_from_programs("python3 aw_check.py missing.txt {stdout}");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the checker fails the directory before the program ran (exit 1: missing:"),
        "{}",
        stderr(&o)
    );
    // One that fails only the finished program's directory is caught too.
    let o = explore_from_programs("sh -c 'test {finished} = 0'");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the directory the program left"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_failed_state_names_the_lost_rename_and_its_syscall_and_replays_alone() {
    let dir = tempfile::tempdir().expect("temp");
    let trace = record("no_dir_fsync", dir.path());
    let checker = format!("python3 {PROGRAMS}/aw_check.py f {{stdout}}");
    let out = dir.path().join("out");
    let o = faultline(&[
        "explore",
        "--trace",
        &trace,
        "--checker",
        &checker,
        "--model",
        "power-loss",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("trace-explore.json")).expect("written"))
            .expect("json");
    let causes = report["results"][0]["causes"].as_array().expect("causes");
    let rename = causes
        .iter()
        .find(|c| {
            c["entries"][0]
                .as_str()
                .is_some_and(|e| e.starts_with("lost:") && e.contains("rename /f.tmp"))
        })
        .unwrap_or_else(|| panic!("a lost rename is a cause: {causes:#?}"));
    assert!(
        rename["entries"][0]
            .as_str()
            .is_some_and(|e| e.contains("strace line") && e.contains("rename(")),
        "the cause shows the system call strace saw: {rename}"
    );
    // Its root: renames into a directory never fsynced. The states lost different saves'
    // renames, but need one fix, so they are one problem, with one piece of advice naming
    // every rename, and a state that loses only what the first of them needs.
    let entries = rename["entries"].as_array().expect("entries");
    assert!(
        entries.len() >= 2
            && entries
                .iter()
                .all(|e| e.as_str().is_some_and(|e| e.contains("rename /f.tmp"))),
        "{rename}"
    );
    assert_eq!(rename["advice"].as_array().map(Vec::len), Some(1), "{rename}");
    assert!(
        rename["advice"][0].as_str().is_some_and(|a| a
            .starts_with("add an fsync of the recorded directory itself after #")
            && a.contains(", #")),
        "{rename}"
    );
    assert_eq!(causes.len(), 1, "one root problem, one cause: {causes:#?}");
    let root = shell_words(rename["root_state"].as_str().expect("a command"));
    let root: Vec<&str> = root[1..].iter().map(String::as_str).collect();
    let alone = faultline(&root);
    assert_eq!(alone.status.code(), Some(1), "{root:?}: {}", stderr(&alone));
    let example = &rename["example"];
    assert!(
        example["checker_output"]
            .as_str()
            .is_some_and(|t| t.contains("acknowledged"))
    );
    // Its reproduce command checks exactly that state again, and it fails again.
    let reproduce = example["reproduce"].as_str().expect("a command");
    let words = shell_words(reproduce);
    assert_eq!(words[0], "faultline");
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    let again = faultline(&args);
    assert_eq!(again.status.code(), Some(1), "{reproduce}: {}", stderr(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("1 of 1 states failed"));
}

/// Splits a command line the way `sh` would for the quoting reproduce commands use.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            '\\' if !quoted => word.extend(chars.next()),
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Runs the example scenarios `files` (in scenarios/examples) into a report; asserts that
/// every expectation held (exit 0) and returns the report.
fn run_examples(files: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("temp");
    let out = dir.path().join("out");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/examples");
    let scenarios: Vec<String> = files.iter().map(|s| root.join(s).display().to_string()).collect();
    let mut args = vec!["run", "--out", out.to_str().expect("utf-8")];
    args.extend(scenarios.iter().map(String::as_str));
    let o = faultline(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "every expectation holds: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).expect("run.json")).expect("json")
}

/// The result of `scenario` / `variant` in a report.
fn result_of(report: &serde_json::Value, scenario: &str, variant: &str) -> serde_json::Value {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["scenario"] == scenario && r["variant"] == variant)
        .unwrap_or_else(|| panic!("{scenario} / {variant} ran"))
        .clone()
}

/// The failure kinds a result saw.
fn kinds(r: &serde_json::Value) -> Vec<String> {
    r["failures_by_kind"]
        .as_object()
        .expect("kinds")
        .keys()
        .cloned()
        .collect()
}

#[test]
fn the_example_scenarios_fail_the_unsafe_savers_and_pass_the_durable_ones() {
    let report = run_examples(&[
        "python-readers.toml",
        "python-kill.toml",
        "python-power-loss.toml",
        "peers-readers-kill.toml",
        "peers-power-loss.toml",
        "own-format-power-loss.toml",
        "own-format-readers.toml",
        "own-format-cat-readers.toml",
    ]);
    let result = |scenario: &str, variant: &str| result_of(&report, scenario, variant);
    // A format of its own, judged by its own checker in every crash state: the durable save
    // passes (faultline's format would have failed it), the in-place one does not.
    assert!(kinds(&result("own-format-power-loss", "own_format_durable")).is_empty());
    assert_eq!(
        kinds(&result("own-format-power-loss", "own_format_inplace")),
        ["CheckerFailed"]
    );
    // Its reader speaks the format too, judged by its exit code alone.
    assert!(kinds(&result("own-format-readers", "own_format_durable")).is_empty());
    assert_eq!(
        kinds(&result("own-format-readers", "own_format_inplace")),
        ["TornRead"]
    );
    // Readers that print the file: every read must be a version the writer left.
    assert!(kinds(&result("own-format-cat-readers", "own_format_durable")).is_empty());
    assert_eq!(
        kinds(&result("own-format-cat-readers", "own_format_inplace")),
        ["TornRead"]
    );
    // Concurrent readers: the in-place json.dump is read half-written.
    assert!(kinds(&result("python-readers", "inplace_json_dump")).contains(&"TornRead".to_string()));
    // Kills: it is left torn.
    assert!(kinds(&result("python-kill", "inplace_json_dump")).contains(&"TornFile".to_string()));
    // Power loss: the rename-without-fsync savers, Python and shell, lose acknowledged saves.
    for variant in ["replace_no_fsync", "jq_mv"] {
        assert!(kinds(&result("python-power-loss", variant)).contains(&"LostAcknowledgedWrite".to_string()));
        for scenario in ["python-readers", "python-kill"] {
            assert!(
                kinds(&result(scenario, variant)).is_empty(),
                "{scenario} / {variant}"
            );
        }
    }
    // Peer crates beside the reference: tempfile's persist renames without fsync.
    assert!(
        kinds(&result("peers-power-loss", "tempfile_persist")).contains(&"LostAcknowledgedWrite".to_string())
    );
    for variant in ["faultline_durable", "atomic_write_file"] {
        for scenario in ["peers-readers-kill", "peers-power-loss"] {
            assert!(
                kinds(&result(scenario, variant)).is_empty(),
                "{scenario} / {variant}"
            );
        }
    }
    // The durable saver passes all three, with its checker run after every kill.
    for scenario in ["python-readers", "python-kill", "python-power-loss"] {
        let r = result(scenario, "replace_durable");
        assert!(r["trials"].as_u64().expect("trials") > 0);
        assert!(kinds(&r).is_empty(), "{scenario}: {r}");
    }
}

#[test]
fn peer_queues_and_locks_get_their_verdicts_beside_the_references() {
    let report = run_examples(&[
        "peers-queue-power-loss.toml",
        "peers-locks.toml",
        "python-locks.toml",
    ]);
    let result = |scenario: &str, variant: &str| result_of(&report, scenario, variant);
    // Queues under power loss: the reference keeps every acknowledged item in every state;
    // queue-file creates its file with an unsynced rename.
    let reference = result("peers-queue-power-loss", "faultline_queue");
    assert!(reference["trials"].as_u64().expect("trials") > 50, "{reference}");
    assert!(kinds(&reference).is_empty(), "{reference}");
    let peer = result("peers-queue-power-loss", "queue_file");
    assert_eq!(kinds(&peer), ["CorruptRecord", "LostItem"], "{peer}");
    // Locks: with a holder killed in every trial, the flock-based locks never let two in; no
    // lock at all, and a lock file removed after use, do.
    for variant in ["faultline_flock", "std_file_lock", "flock_util"] {
        let r = result("peers-locks", variant);
        assert!(kinds(&r).is_empty(), "{r}");
        assert_eq!(r["writer_kills"], r["trials"], "{r}");
    }
    assert_eq!(kinds(&result("peers-locks", "unlocked")), ["TwoHolders"]);
    assert!(kinds(&result("python-locks", "python_flock")).is_empty());
    assert_eq!(
        kinds(&result("python-locks", "python_flock_unlink")),
        ["TwoHolders"]
    );
}

#[test]
fn faultline_ack_acknowledges_on_the_recordings_own_descriptor() {
    let dir = tempfile::tempdir().expect("temp");
    let work = dir.path().join("w");
    std::fs::create_dir(&work).expect("dir");
    let trace = dir.path().join("ack.trace.json");
    let bin = env!("CARGO_BIN_EXE_faultline");
    let script = format!("echo a > a && '{bin}' ack saved a && echo b > b");
    let o = Command::new(bin)
        .args([
            "record",
            "--out",
            trace.to_str().expect("utf-8"),
            "--",
            "sh",
            "-c",
            &script,
        ])
        .current_dir(&work)
        .output()
        .expect("faultline runs");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).expect("written")).expect("json");
    let entries = report["entries"].as_array().expect("entries");
    let acked = entries
        .iter()
        .position(|e| e.get("output").is_some())
        .expect("the acknowledgement is in the trace");
    let calls: Vec<&str> = entries.iter().filter_map(|e| e["call"].as_str()).collect();
    let made = |name: &str| calls.iter().position(|c| c.contains("open") && c.contains(name));
    assert!(made("/a").is_some_and(|a| a < acked), "{calls:?}");
    assert!(made("/b").is_some_and(|b| b > acked), "{calls:?}");
    // A program that cannot start is an error, not an empty trace that passes anything.
    let o = Command::new(bin)
        .args([
            "record",
            "--out",
            trace.to_str().expect("utf-8"),
            "--",
            "/nonexistent/prog",
        ])
        .current_dir(&work)
        .output()
        .expect("faultline runs");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("the program did not start"), "{}", stderr(&o));
    // Outside a recording it prints the line.
    let o = Command::new(bin)
        .args(["ack", "saved", "3"])
        .env_remove("FAULTLINE_ACK_FD")
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "saved 3\n");
}

#[test]
fn the_recorded_examples_get_the_verdicts_the_readme_gives() {
    // (example, exit under process-crash, exit under power-loss): README's table.
    let expected = [
        ("cp-sync-mv", 0, 0),
        ("shutil-copy", 0, 0),
        ("sed", 0, 1),
        ("sqlite-full", 0, 1),
        ("sqlite-extra", 0, 0),
        ("git", 0, 1),
    ];
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/recorded/explore.sh");
    for (example, crash, power) in expected {
        for (model, code) in [("process-crash", crash), ("power-loss", power)] {
            let o = Command::new("sh")
                .args([script, example, model, env!("CARGO_BIN_EXE_faultline")])
                .output()
                .expect("sh runs");
            assert_eq!(
                o.status.code(),
                Some(code),
                "{example} under {model} (sqlite3 and git must be installed; .ci/run installs them):\n{}{}",
                String::from_utf8_lossy(&o.stdout),
                stderr(&o)
            );
        }
    }
}

/// A checker that stops existing midway cannot be started for the next state: that is a setup
/// error (exit 2) naming the state, never a failed state.
#[test]
fn a_checker_that_cannot_start_is_a_setup_error_not_a_failed_state() {
    let work = tempfile::tempdir().expect("temp");
    let checker = work.path().join("vanishing.sh");
    std::fs::write(
        &checker,
        "#!/bin/sh\n[ \"$FAULTLINE_MOMENT\" = 0 ] && exit 0\n[ \"$FAULTLINE_FINISHED\" = 1 ] && exit 0\nrm -f \"$0\"\nexit 0\n",
    )
    .expect("write");
    std::fs::set_permissions(&checker, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let trace = concat!(env!("CARGO_MANIFEST_DIR"), "/../runner/tests/it/traces/good.json");
    let o = faultline(&[
        "explore",
        "--trace",
        trace,
        "--checker",
        checker.to_str().expect("utf-8"),
        "--jobs",
        "1",
        "--model",
        "power-loss",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the checker could not be started") && stderr(&o).contains("for state"),
        "{}",
        stderr(&o)
    );
}

/// The persistent mode judges like the one-shot mode: the sqlite-full example's trace, with
/// its shell checker once per state and its Python checker serving every state, gives the
/// same failed states; a checker that answers outside the protocol is a setup error.
#[test]
fn a_persistent_checker_gives_the_one_shot_verdicts_and_a_garbled_answer_is_exit_2() {
    let trace = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus/trace_parse/recorded-sqlite-full.json"
    );
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/recorded/sqlite-full");
    let failed = |o: &std::process::Output| -> (Option<i32>, u64, u64) {
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        let r = &report["results"][0]["failed_states"];
        (
            o.status.code(),
            r["failures"].as_u64().expect("count"),
            r["trials"].as_u64().expect("count"),
        )
    };
    let one_shot = faultline(&[
        "explore",
        "--trace",
        trace,
        "--model",
        "power-loss",
        "--format",
        "json",
        "--checker",
        &format!("sh {example}/check.sh {{stdout}}"),
    ]);
    let served = faultline(&[
        "explore",
        "--trace",
        trace,
        "--model",
        "power-loss",
        "--format",
        "json",
        "--persistent",
        "--checker",
        &format!("python3 {example}/check.py"),
    ]);
    let (code, failures, states) = failed(&one_shot);
    assert_eq!((code, failures > 0), (Some(1), true), "{}", stderr(&one_shot));
    assert_eq!(failed(&served), (code, failures, states), "{}", stderr(&served));
    let garbled = faultline(&[
        "explore",
        "--trace",
        trace,
        "--persistent",
        "--checker",
        "sh -c 'while read -r line; do echo maybe; done'",
    ]);
    assert_eq!(garbled.status.code(), Some(2), "{}", stderr(&garbled));
    assert!(
        stderr(&garbled).contains("answered \"maybe\""),
        "{}",
        stderr(&garbled)
    );
    let placeholder = faultline(&[
        "explore",
        "--trace",
        trace,
        "--persistent",
        "--checker",
        "check {dir}",
    ]);
    assert_eq!(placeholder.status.code(), Some(2), "{}", stderr(&placeholder));
}
