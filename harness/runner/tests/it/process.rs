use std::path::Path;
use std::sync::atomic::AtomicBool;

use faultline_core::FailureKind;
use faultline_runner::family::target::Target;
use faultline_runner::process::trial::{TrialPlan, Workspace, choose_faults, run_trial};
use faultline_runner::results::Verdict;
use faultline_runner::run::{RunOptions, run_scenario};
use faultline_runner::scenario::Scenario;
use faultline_runner::scenario_file;
use faultline_targets::atomic_write::Variant;

fn parse(text: &str) -> Scenario {
    scenario_file::parse(Path::new("test.toml"), text).expect("test scenario parses")
}

fn trial(
    s: &Scenario,
    variant: Variant,
    trial: u64,
    temp: &Path,
) -> faultline_runner::process::trial::TrialOutcome {
    let plan = TrialPlan { scenario: s, trial };
    let mut roles = Target::BuiltIn(variant.info())
        .roles(s)
        .expect("a process workload");
    let mut workspace = Workspace::new(Some(temp)).expect("workspace");
    run_trial(&plan, &mut *roles, &mut workspace, &AtomicBool::new(false), false).expect("the trial runs")
}

const CRASH_AT: &str = r#"
family = "atomic-write"
variants = ["truncate_in_place", "leaks_temp_files", "durable"]
[roles]
writers = 1
[faults]
crash_points = [{ point = "POINT", hit = 2 }]
[oracle]
checks = ["old-or-new", "no-leaked-temps"]
"#;

#[test]
fn a_crash_point_kill_lands_exactly_and_is_judged() {
    let temp = tempfile::tempdir().expect("temp");
    let at_create = parse(&CRASH_AT.replace("POINT", "atomic_write.after_create"));
    let torn = trial(&at_create, Variant::TruncateInPlace, 0, temp.path());
    assert!(torn.writer_killed);
    assert_eq!(torn.writes, 0, "a killed writer reports nothing");
    assert!(
        torn.failures_by_kind.contains_key(&FailureKind::TornFile),
        "{torn:?}"
    );
    let at_rename = parse(&CRASH_AT.replace("POINT", "atomic_write.before_rename"));
    let leaked = trial(&at_rename, Variant::LeaksTempFiles, 0, temp.path());
    assert!(
        leaked.writer_killed && leaked.failures_by_kind.contains_key(&FailureKind::LeakedTemp),
        "{leaked:?}"
    );
    let clean = trial(&at_rename, Variant::Durable, 0, temp.path());
    assert!(clean.writer_killed && !clean.failed(), "{clean:?}");
    assert_eq!(
        std::fs::read_dir(temp.path()).expect("readable").count(),
        0,
        "trial directories are removed"
    );
}

#[test]
fn a_trial_past_its_watchdog_that_makes_progress_runs_to_its_end_and_leaves_nothing() {
    let temp = tempfile::tempdir().expect("temp");
    // 20 replaces 20 ms apart take 400 ms or more; the watchdog looks every 100 ms, finds the
    // writer asleep in a timed sleep or scheduled since its last look, and lets it go on.
    let s = parse(
        r#"
family = "atomic-write"
variants = ["durable"]
[roles]
writers = 1
[workload]
writes_per_writer = 20
write_pause_us = 20000
[run]
watchdog_ms = 100
"#,
    );
    let outcome = trial(&s, Variant::Durable, 0, temp.path());
    assert!(!outcome.failed(), "{outcome:?}");
    assert_eq!(outcome.inconclusive, None, "{outcome:?}");
    assert_eq!(outcome.writes, 20, "{outcome:?}");
    assert_eq!(std::fs::read_dir(temp.path()).expect("readable").count(), 0);
}

/// The faults `choose_faults` gives trial `trial` of `s`.
fn faults_of(
    s: &Scenario,
    roles: &dyn faultline_runner::process::roles::Roles,
    trial: u64,
) -> faultline_runner::results::Faults {
    choose_faults(&TrialPlan { scenario: s, trial }, roles)
}

#[test]
fn faults_are_a_function_of_the_seed_and_trial() {
    let s = parse(
        r#"
family = "atomic-write"
variants = ["durable"]
seed = 99
[roles]
writers = 3
[faults]
kill = { offset_ms = [0, 1000] }
pause = { after_ms = [0, 1000], for_ms = 5 }
"#,
    );
    let roles = Target::BuiltIn(Variant::Durable.info())
        .roles(&s)
        .expect("a process workload");
    let faults = |t| faults_of(&s, &*roles, t);
    assert_eq!(faults(3), faults(3));
    let distinct: std::collections::BTreeSet<String> = (0..20).map(|t| format!("{:?}", faults(t))).collect();
    assert!(
        distinct.len() > 15,
        "trials must draw different faults: {distinct:?}"
    );
}

#[test]
fn a_window_takes_turns_with_random_kills_and_crash_points() {
    let s = parse(
        r#"
family = "lock"
variants = ["flock"]
[roles]
writers = 1
readers = 2
[faults]
kill = { offset_ms = [1, 2] }
crash_points = [{ point = "lock.held", hit = 5 }]
window = [
  { worker = 1, point = "lock.held", hit = 3, kill = true },
  { worker = 2, point = "lock.held" },
]
"#,
    );
    assert!(s.window[0].kill && !s.window[1].kill);
    let turns: Vec<(bool, bool, bool)> = (0..8)
        .map(|t| {
            let turn = s.turns(t);
            (turn.window, turn.kill, turn.crash.is_some())
        })
        .collect();
    // Window, crash point, random kill, crash point, and again: a window trial kills at random
    // never, so no timer kills a worker the window needs.
    let one_round = [
        (true, false, false),
        (false, false, true),
        (false, true, false),
        (false, false, true),
    ];
    assert_eq!(turns[..4], one_round);
    assert_eq!(turns[4..], one_round);
    let roles = Target::BuiltIn(faultline_targets::lock::Variant::Flock.info())
        .roles(&s)
        .expect("a process workload");
    let faults = |t| faults_of(&s, &*roles, t);
    assert!(faults(0).window && faults(0).kill.is_none() && faults(0).crash.is_none());
    assert!(!faults(2).window && faults(2).kill.is_some());
    // Without random kills the window takes the even trials, crash points or not.
    let no_kill = parse(&s_text_without_kill());
    assert!(no_kill.turns(0).window && no_kill.turns(0).crash.is_some());
    assert!(!no_kill.turns(1).window && no_kill.turns(2).window);
}

fn s_text_without_kill() -> String {
    r#"
family = "lock"
variants = ["flock"]
[roles]
writers = 1
readers = 1
[faults]
crash_points = [{ point = "lock.held", hit = 5 }]
window = [
  { worker = 1, point = "lock.held" },
  { worker = 2, point = "lock.held" },
]
"#
    .to_string()
}

#[test]
fn stale_locks_window_catches_the_pid_file_race_in_its_first_trial_and_passes_the_reference() {
    use faultline_targets::lock::Variant as Lock;
    let temp = tempfile::tempdir().expect("temp");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/stale-lock.toml");
    let s = scenario_file::load(&path).expect("the bundled scenario loads");
    assert!(s.turns(0).window, "trial 0 holds the window");
    let run = |variant: Lock| {
        let plan = TrialPlan {
            scenario: &s,
            trial: 0,
        };
        let mut roles = Target::BuiltIn(variant.info())
            .roles(&s)
            .expect("a process workload");
        let mut workspace = Workspace::new(Some(temp.path())).expect("workspace");
        run_trial(&plan, &mut *roles, &mut workspace, &AtomicBool::new(false), false).expect("the trial runs")
    };
    let raced = run(Lock::PidFileStaleRace);
    assert!(
        raced.failures_by_kind.contains_key(&FailureKind::TwoHolders),
        "{raced:?}"
    );
    let reference = run(Lock::Flock);
    assert!(!reference.failed(), "{reference:?}");
}

#[test]
fn a_failing_trial_is_kept_when_asked() {
    let temp = tempfile::tempdir().expect("temp");
    let s = parse(&CRASH_AT.replace("POINT", "atomic_write.after_create"));
    let plan = TrialPlan {
        scenario: &s,
        trial: 0,
    };
    let mut roles = Target::BuiltIn(Variant::TruncateInPlace.info())
        .roles(&s)
        .expect("a process workload");
    let mut workspace = Workspace::new(Some(temp.path())).expect("workspace");
    let outcome = run_trial(&plan, &mut *roles, &mut workspace, &AtomicBool::new(false), true).expect("runs");
    let kept = outcome.kept.expect("a failing trial is kept");
    assert!(kept.join("config.json").exists(), "{kept:?}");
    // The next trial runs in a fresh directory, and dropping the workspace leaves the kept one.
    assert_ne!(workspace.file().parent(), Some(kept.as_path()));
    drop(workspace);
    assert!(kept.join("config.json").exists(), "{kept:?}");
}

#[test]
fn readers_catch_writing_in_place_and_the_reference_passes() {
    let temp = tempfile::tempdir().expect("temp");
    let s = parse(
        r#"
family = "atomic-write"
variants = ["truncate_in_place", "durable"]
[roles]
writers = 1
readers = 2
[workload]
reads_per_reader = 400
[run]
trials = 2
[expect.truncate_in_place]
must_fail = ["TornRead"]
[expect.durable]
max_failures = 0
"#,
    );
    let options = RunOptions {
        temp_dir: Some(temp.path().to_path_buf()),
        ..RunOptions::default()
    };
    let results = run_scenario(&s, &options, &AtomicBool::new(false), |_, _| {}).expect("runs");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].verdict, Verdict::Held, "{:?}", results[0]);
    assert!(results[0].reads.failures > 0);
    assert_eq!(results[1].verdict, Verdict::Held, "{:?}", results[1]);
    assert_eq!((results[1].reads.failures, results[1].reads.trials), (0, 1600));
    let first = results[0]
        .first_by_kind
        .get(&FailureKind::TornRead)
        .expect("a first torn read");
    assert!(
        first
            .reproduce
            .starts_with("faultline run test.toml --variant truncate_in_place --seed 0x0 --trial ")
    );
}

#[test]
fn a_sigstop_pause_stops_the_writer_for_its_length() {
    let temp = tempfile::tempdir().expect("temp");
    let scenario = |for_ms: u64, watchdog_ms: u64| {
        parse(&format!(
            r#"
family = "atomic-write"
variants = ["durable"]
[roles]
writers = 1
[workload]
writes_per_writer = 40
write_pause_us = 1000
[faults]
pause = {{ after_ms = [5, 5], for_ms = {for_ms} }}
[run]
watchdog_ms = {watchdog_ms}
"#
        ))
    };
    // Stopped for 400 ms with a 300 ms watchdog: a stopped writer outlasting the watchdog
    // is no failure. It is continued, and finishes.
    let outlasted = trial(&scenario(400, 300), Variant::Durable, 0, temp.path());
    assert!(!outlasted.failed(), "{outlasted:?}");
    assert_eq!(outlasted.writes, 40, "{outlasted:?}");
    assert_eq!(outlasted.faults.pause, Some((1, 5, 400)));
    // Stopped for 100 ms, continued, and finished.
    let resumed = trial(&scenario(100, 5000), Variant::Durable, 0, temp.path());
    assert!(!resumed.failed(), "{resumed:?}");
    assert_eq!(resumed.writes, 40);
    assert_eq!(resumed.faults.pause, Some((1, 5, 100)));
    assert_eq!(std::fs::read_dir(temp.path()).expect("readable").count(), 0);
}

#[test]
fn reads_are_versions_compares_what_a_reader_printed_with_the_versions_left() {
    // Plain text, not JSON: only the comparison by hash can tell a torn read. The shell's
    // redirection truncates the file and printf writes it a line at a time.
    let temp = tempfile::tempdir().expect("temp");
    let lines = "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do printf 'line %s of version {version}\\n' $i; done";
    let s = parse(&format!(
        r#"
family = "atomic-write"
variants = ["in_place", "renamed"]
[roles]
writers = 1
readers = 2
[workload]
writes_per_writer = 200
[commands.in_place]
writer = ["sh", "-c", "{lines} > {{path}}"]
reader = ["cat", "{{path}}"]
[commands.renamed]
writer = ["sh", "-c", "{lines} > {{path}}.tmp && mv {{path}}.tmp {{path}}"]
reader = ["cat", "{{path}}"]
[oracle]
checks = ["reads-are-versions"]
[run]
trials = 2
[expect.in_place]
must_fail = ["TornRead"]
[expect.renamed]
max_failures = 0
"#
    ));
    let options = RunOptions {
        temp_dir: Some(temp.path().to_path_buf()),
        ..RunOptions::default()
    };
    let results = run_scenario(&s, &options, &AtomicBool::new(false), |_, _| {}).expect("runs");
    let [in_place, renamed] = &results[..] else {
        panic!("two results")
    };
    assert_eq!(renamed.verdict, Verdict::Held, "{renamed:?}");
    assert!(
        renamed.reads.trials > 0 && renamed.reads.failures == 0,
        "{:?}",
        renamed.reads
    );
    assert_eq!(in_place.verdict, Verdict::Held, "{in_place:?}");
    let first = in_place
        .first_by_kind
        .get(&FailureKind::TornRead)
        .expect("a torn read");
    assert!(first.detail.contains("none of the"), "{}", first.detail);
}

#[test]
fn a_reproduce_command_pastes_as_itself_whatever_the_file_is_called() {
    let mut s = parse("family = \"atomic-write\"\nvariants = [\"durable\"]\n[roles]\nwriters = 1\n");
    s.path = "/tmp/a b;rm -rf ~;'x'.toml".into();
    let command = faultline_runner::run::reproduce_command(&s, "durable", 3);
    let words = shell_words::split(&command).expect("one shell command");
    assert_eq!(
        words[..3],
        ["faultline", "run", "/tmp/a b;rm -rf ~;'x'.toml"],
        "{command}"
    );
    assert_eq!(
        words[3..],
        ["--variant", "durable", "--seed", "0x0", "--trial", "3"]
    );
}

#[test]
fn a_variant_is_armed_only_at_the_crash_points_it_passes() {
    let s = parse(
        r#"
family = "atomic-write"
variants = ["truncate_in_place", "durable"]
[roles]
writers = 1
[faults]
crash_points = [
  { point = "atomic_write.after_create" },
  { point = "atomic_write.after_write" },
  { point = "atomic_write.before_rename" },
  { point = "atomic_write.after_rename" },
]
"#,
    );
    let armed = |variant: Variant| -> std::collections::BTreeSet<String> {
        let roles = Target::BuiltIn(variant.info())
            .roles(&s)
            .expect("a process workload");
        (0..16)
            .map(|t| {
                let (_, plan) = faults_of(&s, &*roles, t)
                    .crash
                    .expect("every trial is a crash-point trial");
                plan.point
            })
            .collect()
    };
    // Writing in place, it has no temp to rename: a trial armed at a rename would run all its
    // saves unhurt.
    assert_eq!(
        armed(Variant::TruncateInPlace),
        ["atomic_write.after_create", "atomic_write.after_write"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        armed(Variant::Durable).len(),
        4,
        "the reference passes all four points"
    );
}
