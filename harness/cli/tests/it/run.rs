//! `faultline run` as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{faultline, stderr, stdout};

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

fn write_scenario(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write scenario");
    path.to_str().expect("utf-8").to_string()
}

const RACE: &str = r#"
family = "atomic-write"
variants = ["truncate_in_place", "durable"]
[roles]
writers = 1
readers = 2
[workload]
reads_per_reader = 300
[run]
trials = 1
[expect.truncate_in_place]
BEFORE
[expect.durable]
AFTER
"#;

fn race(dir: &Path, before: &str, after: &str) -> std::process::Output {
    let path = write_scenario(
        dir,
        "race.toml",
        &RACE.replace("BEFORE", before).replace("AFTER", after),
    );
    let out = dir.join("out");
    faultline(&[
        "run",
        &path,
        "--out",
        out.to_str().expect("utf-8"),
        "--temp-dir",
        dir.to_str().expect("utf-8"),
    ])
}

#[test]
fn config_race_reports_rates_and_exits_0_when_both_expectations_hold() {
    let dir = tempfile::tempdir().expect("temp");
    let path = scenarios().join("config-race.toml");
    let out = dir.path().join("out");
    let o = faultline(&[
        "run",
        path.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--verbose",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    // The verdict's unit is failing trials; the reads are beside them.
    assert!(
        text.contains("0 of 1 trials (95% upper bound 95.0%)") && text.contains("0 of 2000 (0.0%)"),
        "durable over one trial of 2000 reads:\n{text}"
    );
    assert!(text.contains("3 of 3 trials (100.0%"), "{text}");
    // --verbose prints the expected catch in full.
    assert!(
        text.contains("case 1: config-race / truncate_in_place: TornRead"),
        "{text}"
    );
    assert!(text.contains("reproduce: faultline run "), "{text}");
    assert!(
        text.contains(&format!("replay:    faultline replay {} --case 1", out.display())),
        "{text}"
    );
    assert!(out.join("cases/1.html").exists());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).expect("run.json")).expect("json");
    // The scenario's wall time, in the terminal and the Markdown: its variants' times summed.
    let seconds: f64 = (0..2)
        .map(|i| json["results"][i]["elapsed_s"].as_f64().expect("elapsed_s"))
        .sum();
    let header = format!("config-race  ({}, {seconds:.1} s)", path.display());
    assert!(text.contains(&header), "expected '{header}' in:\n{text}");
    let md = std::fs::read_to_string(out.join("run.md")).expect("run.md");
    assert!(md.contains(&format!("Wall time {seconds:.1} s.")), "{md}");
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["results"][1]["variant"], "durable");
    assert_eq!(json["results"][1]["reads"]["trials"], 2000);
    assert!(
        json["results"][0]["reads"]["failures"]
            .as_u64()
            .is_some_and(|f| f > 0)
    );
    assert!(out.join("run.md").exists());
}

#[test]
fn a_flipped_expectation_makes_the_run_fail() {
    let dir = tempfile::tempdir().expect("temp");
    // The reference must fail: it does not, so the detector's claim is broken: exit 3.
    let o = race(dir.path(), "max_failure_rate = 1.0", "must_fail = [\"TornRead\"]");
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(stdout(&o).contains("NOT CAUGHT"), "{}", stdout(&o));
    // The broken variant is held to zero failures: it fails, exit 1.
    let o = race(dir.path(), "max_failures = 0", "max_failures = 0");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("FAILED (max_failures = 0)"), "{}", stdout(&o));
}

#[test]
fn a_bad_scenario_stops_everything_with_file_line_and_column() {
    let dir = tempfile::tempdir().expect("temp");
    let bad = write_scenario(
        dir.path(),
        "bad.toml",
        &RACE
            .replace("BEFORE", "must_fail = []")
            .replace("AFTER", "max_failures = 0")
            .replace("readers = 2", "readerz = 2"),
    );
    let good = scenarios().join("config-race.toml");
    let o = faultline(&["run", good.to_str().expect("utf-8"), &bad]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("error: {bad}:6:1: unknown field `readerz`")),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "nothing runs: {}", stdout(&o));
    let o = faultline(&["run", good.to_str().expect("utf-8"), "--variant", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("does not run variant 'nope'; it runs: truncate_in_place, durable"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_default_suite_catches_every_r_and_k_variant_and_passes_the_references() {
    let dir = tempfile::tempdir().expect("temp");
    let started = Instant::now();
    let o = faultline(&[
        "run",
        "--scenarios",
        scenarios().to_str().expect("utf-8"),
        "--out",
        dir.path().join("out").to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    if o.status.code() != Some(0) {
        let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        let missed: Vec<String> = json["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["verdict"]["outcome"] != "held" && r["verdict"]["outcome"] != "no-expectation")
            .map(|r| {
                format!(
                    "{} / {}: {} {}",
                    r["scenario"], r["variant"], r["verdict"], r["failures_by_kind"]
                )
            })
            .collect();
        panic!(
            "exit {:?}; not held: {missed:#?}\n{}",
            o.status.code(),
            stderr(&o)
        );
    }
    // How long it took is measured, not asserted: this machine is shared and noisy. The
    // gate's own time is printed by .ci/run's main job.
    eprintln!("the default suite took {:.0} s", started.elapsed().as_secs_f64());
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json on stdout");
    let results = json["results"].as_array().expect("results");
    let of = |family: &str, variant: &str| -> Vec<&serde_json::Value> {
        results
            .iter()
            .filter(|r| r["family"] == family && r["variant"] == variant)
            .collect()
    };
    // Every variant the catalogue says real processes catch (R and K; for locks also X and D,
    // which the process runner judges) is caught, with its named failure kind, by a scenario
    // that expected it; every reference of a family with a process workload runs somewhere
    // held to zero failures, and fails nowhere.
    use faultline_targets::registry::{Detector, FAMILIES};
    let mut checked = 0;
    for family in FAMILIES {
        let process_detectors: &[Detector] = if family.name == "lock" {
            &[
                Detector::Readers,
                Detector::Kill,
                Detector::Metadata,
                Detector::Lockdep,
            ]
        } else if family.name == "queue" {
            // queue-power-loss enumerates crash states inside the suite.
            &[Detector::Readers, Detector::Kill, Detector::PowerLoss]
        } else {
            &[Detector::Readers, Detector::Kill]
        };
        for info in family.variants {
            let runs = of(family.name, info.name);
            if info.is_reference() {
                if family.name == "atomic-write" || !runs.is_empty() {
                    assert!(
                        runs.iter().any(|r| r["expectation"]["max_failures"] == 0),
                        "reference {}/{} is not held to zero failures by any scenario",
                        family.name,
                        info.name
                    );
                }
                for r in &runs {
                    assert_eq!(
                        r["verdict"]["outcome"], "held",
                        "{}/{}: {r}",
                        family.name, info.name
                    );
                    assert_eq!(
                        r["failed_trials"]["failures"], 0,
                        "{}/{}: {r}",
                        family.name, info.name
                    );
                }
                checked += 1;
                continue;
            }
            for e in info
                .expectations
                .iter()
                .filter(|e| process_detectors.contains(&e.detector))
            {
                let kind = e.kind.to_string();
                let caught = runs.iter().any(|r| {
                    r["verdict"]["outcome"] == "held"
                        && r["failures_by_kind"][&kind].as_u64().unwrap_or(0) > 0
                        && r["expectation"]["must_fail"]
                            .as_array()
                            .is_some_and(|k| k.iter().any(|k| k == kind.as_str()))
                });
                assert!(
                    caught,
                    "{} {} ({}) must be caught with {kind} by the default suite",
                    info.catalogue_id.unwrap_or(""),
                    info.name,
                    e.detector
                );
                checked += 1;
            }
        }
    }
    // 6 references, 5 atomic-write and store expectations, 15 lock and 12 queue expectations.
    assert!(checked >= 38, "only {checked} expectations checked");
}

/// Every process whose command line mentions `needle`, except this test's own.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == me || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(needle)
        {
            found.push(name);
        }
    }
    found
}

#[test]
fn sigint_leaves_no_worker_and_no_trial_directory() {
    let dir = tempfile::tempdir().expect("temp");
    let temp = dir.path().join("trials");
    std::fs::create_dir(&temp).expect("mkdir");
    let temp_arg = temp.to_str().expect("utf-8").to_string();
    let path = scenarios().join("config-race.toml");
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "run",
            path.to_str().expect("utf-8"),
            "--duration",
            "30s",
            "--temp-dir",
            &temp_arg,
            "--out",
        ])
        .arg(dir.path().join("out"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !processes_mentioning(&temp_arg).is_empty(),
        "the run must be under way"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("signal");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    // Workers are killed before the runner exits; give the kernel a moment to reap them.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        processes_mentioning(&temp_arg),
        Vec::<String>::new(),
        "stray workers"
    );
    let left: Vec<_> = std::fs::read_dir(&temp).expect("readable").collect();
    assert!(left.is_empty(), "trial directories left behind: {left:?}");
}

#[test]
fn the_printed_reproduce_line_reruns_that_trial_with_the_same_fault() {
    let dir = tempfile::tempdir().expect("temp");
    let out = dir.path().join("out");
    let out = out.to_str().expect("utf-8");
    let path = scenarios().join("kill-mid-write.toml");
    let path = path.to_str().expect("utf-8");
    let run = |args: &[&str]| {
        let o = faultline(&[args, &["--out", out, "--format", "json"]].concat());
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        json["results"][0].clone()
    };
    // Trial 1 kills at a crash point: its outcome, not only its choice, is deterministic.
    let first = run(&["run", path, "--variant", "leaks_temp_files", "--trial", "1"]);
    let seen = &first["first_by_kind"]["LeakedTemp"];
    assert_eq!(seen["trial"], 1, "{first}");
    assert_eq!(seen["faults"]["crash"][1]["point"], "atomic_write.after_create");
    let command = seen["reproduce"].as_str().expect("a reproduce line");
    let args: Vec<&str> = command.trim_start_matches("faultline ").split(' ').collect();
    let again = run(&args);
    assert_eq!(again["trials"], 1, "{command}");
    assert_eq!(
        again["first_by_kind"]["LeakedTemp"]["faults"], seen["faults"],
        "the same fault is injected"
    );
    assert_eq!(again["first_by_kind"]["LeakedTemp"]["reproduce"], command);
    // Random-kill trials draw the same offset again too, but whether that offset lands inside
    // a write is timing; their choices are checked in the runner's tests.
}

/// The smallest scenario a user can write, every default taken (10,000 durable writes a
/// trial): the reference passes. A writer that keeps making progress is never a Deadlock,
/// however long its trial runs.
#[test]
fn a_minimal_scenario_with_every_default_passes_the_reference() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_scenario(
        dir.path(),
        "minimal.toml",
        "family = \"atomic-write\"\nvariants = [\"durable\"]\n[roles]\nwriters = 1\n[expect.durable]\nmax_failures = 0\n",
    );
    let out = dir.path().join("out");
    let o = faultline(&[
        "run",
        &path,
        "--trials",
        "2",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("0 of 2"), "{}", stdout(&o));
}

/// Each case's page shows its trial's timeline: the kill and what the check after it saw, and
/// for two holders the holds around the overlap; `--keep` labels each kept directory by its
/// trial and leaves the timeline beside what the trial left.
#[test]
fn case_pages_show_the_trials_timeline_and_kept_directories_say_whose_they_are() {
    let dir = tempfile::tempdir().expect("temp");
    let (out, temp) = (dir.path().join("out"), dir.path().join("trials"));
    std::fs::create_dir(&temp).expect("mkdir");
    let kill = scenarios().join("kill-mid-write.toml");
    let o = faultline(&[
        "run",
        kill.to_str().expect("utf-8"),
        "--variant",
        "truncate_in_place",
        "--keep",
        "--out",
        out.to_str().expect("utf-8"),
        "--temp-dir",
        temp.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = std::fs::read_to_string(out.join("cases/1.html")).expect("case 1's page");
    for needle in [
        "Timeline of trial",
        "released 1 writer(s) and 0 reader(s) together; planned: ",
        "writer 1 died by SIGKILL",
        "TornFile: after the kill",
        "faultline run ",
    ] {
        assert!(page.contains(needle), "{needle:?} not in {page}");
    }
    let text = stdout(&o);
    assert!(
        text.contains("failing trial directories of kill-mid-write / truncate_in_place (case 1 is trial "),
        "{text}"
    );
    let kept: Vec<PathBuf> = std::fs::read_dir(&temp)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    // The first 20 failing trials are kept, and any that holds a case (the variant has one).
    assert!(!kept.is_empty() && kept.len() <= 21, "{} kept", kept.len());
    for k in &kept {
        let name = k.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(
            name.starts_with("faultline-kept-kill-mid-write-truncate_in_place-trial-"),
            "{name}"
        );
        let timeline = std::fs::read_to_string(k.join("faultline-timeline.txt")).expect("timeline");
        assert!(timeline.contains("writer 1 died by SIGKILL"), "{timeline}");
    }

    let locks = scenarios().join("mutual-exclusion.toml");
    let out2 = dir.path().join("out2");
    let o = faultline(&[
        "run",
        locks.to_str().expect("utf-8"),
        "--variant",
        "unlink_on_release",
        "--out",
        out2.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = std::fs::read_to_string(out2.join("cases/1.html")).expect("case 1's page");
    assert!(
        page.contains("entered the critical section exclusively"),
        "{page}"
    );
    assert!(page.contains("left the critical section"), "{page}");
    assert!(page.contains("after the trial: TwoHolders"), "{page}");
}
