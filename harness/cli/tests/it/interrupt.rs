//! Ctrl-C, SIGKILL and time limits leave nothing behind: no program, checker or strace still
//! running, no temp directory. Each program here starts a sleeper and writes its pid, so the
//! test can see whether what the program started outlived faultline.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::stderr;

/// Waits up to a minute for `pid` to stop running: the kill is not instant, only prompt.
fn ends(pid: u32) -> bool {
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if !faultline_runner::child::runs(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The pids written to `file` once `count` are there.
fn pids(file: &Path, count: usize) -> Vec<u32> {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let found: Vec<u32> = std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if found.len() >= count {
            return found;
        }
        assert!(
            Instant::now() < until,
            "the program never wrote its sleeper's pid"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// faultline with its temp directory in `tmp`, so what it leaves there can be seen.
fn start(args: &[&str], dir: &Path, tmp: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(dir)
        .env("TMPDIR", tmp)
        .env("FAULTLINE_TEMP_DIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("faultline runs")
}

fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn left_in(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .expect("readable")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

struct Setup {
    _work: tempfile::TempDir,
    dir: std::path::PathBuf,
    tmp: std::path::PathBuf,
    pids: std::path::PathBuf,
}

fn setup() -> Setup {
    let work = tempfile::tempdir().expect("temp");
    let dir = work.path().join("dir");
    let tmp = work.path().join("tmp");
    std::fs::create_dir(&dir).expect("dir");
    std::fs::create_dir(&tmp).expect("tmp");
    let pids = work.path().join("pids");
    Setup {
        dir,
        tmp,
        pids,
        _work: work,
    }
}

const SLEEPER: &str = "sleep 600 & echo $! >> \"$PIDS\"; wait";

#[test]
fn ctrl_c_stops_a_recording_at_once_and_leaves_nothing() {
    let s = setup();
    let script = SLEEPER.replace("$PIDS", &s.pids.display().to_string());
    let fl = start(
        &["record", "--out", "t.json", "--", "sh", "-c", &script],
        &s.dir,
        &s.tmp,
    );
    let sleeper = pids(&s.pids, 1)[0];
    signal(&fl, "INT");
    let out = fl.wait_with_output().expect("ends");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(ends(sleeper), "the recorded program's child was killed");
    assert_eq!(
        left_in(&s.tmp),
        Vec::<String>::new(),
        "strace's log and its directory are removed"
    );
    assert!(!s.dir.join("t.json").exists(), "no trace is written");
}

#[test]
fn a_recording_killed_outright_takes_its_program_with_it() {
    let s = setup();
    let script = SLEEPER.replace("$PIDS", &s.pids.display().to_string());
    let mut fl = start(
        &["record", "--out", "t.json", "--", "sh", "-c", &script],
        &s.dir,
        &s.tmp,
    );
    let sleeper = pids(&s.pids, 1)[0];
    signal(&fl, "KILL");
    let _ = fl.wait();
    assert!(ends(sleeper), "the lifeline killed the program's group");
}

#[test]
fn a_program_past_its_time_is_killed_with_what_it_started_and_exits_2() {
    let s = setup();
    let script = SLEEPER.replace("$PIDS", &s.pids.display().to_string());
    let fl = start(
        &[
            "record",
            "--timeout",
            "1s",
            "--out",
            "t.json",
            "--",
            "sh",
            "-c",
            &script,
        ],
        &s.dir,
        &s.tmp,
    );
    let out = fl.wait_with_output().expect("ends");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("ran past 1s"), "{}", stderr(&out));
    assert!(ends(pids(&s.pids, 1)[0]), "what the program started was killed");
    assert_eq!(left_in(&s.tmp), Vec::<String>::new());
    for bad in ["0s", "1e300s", "soon"] {
        let o = crate::faultline(&["record", "--timeout", bad, "--out", "/dev/null", "--", "true"]);
        assert_eq!(o.status.code(), Some(2), "--timeout {bad}: {}", stderr(&o));
        assert_eq!(stderr(&o).trim().lines().count(), 1, "one line: {}", stderr(&o));
    }
}

/// A checker that passes the two states every checker must pass, and sleeps in the others.
const SLOW_CHECKER: &str = "[ \"$FAULTLINE_MOMENT\" = 0 ] && exit 0; [ \"$FAULTLINE_FINISHED\" = 1 ] && exit 0; \
                            sleep 600 & echo $! >> \"$PIDS\"; wait";

#[test]
fn ctrl_c_stops_every_running_checker_at_once_and_removes_the_states() {
    let s = setup();
    let trace = concat!(env!("CARGO_MANIFEST_DIR"), "/../runner/tests/it/traces/good.json");
    let checker = format!(
        "sh -c {}",
        shell_words::quote(&SLOW_CHECKER.replace("$PIDS", &s.pids.display().to_string()))
    );
    let fl = start(
        &[
            "explore",
            "--trace",
            trace,
            "--checker",
            &checker,
            "--jobs",
            "2",
            "--checker-timeout",
            "10m",
        ],
        &s.dir,
        &s.tmp,
    );
    let sleepers = pids(&s.pids, 2);
    assert!(
        !left_in(&s.tmp).is_empty(),
        "the states are written under --temp-dir"
    );
    let asked = Instant::now();
    signal(&fl, "INT");
    let out = fl.wait_with_output().expect("ends");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        asked.elapsed() < Duration::from_secs(300),
        "explore did not wait out its checkers' ten minutes"
    );
    for pid in sleepers {
        assert!(ends(pid), "checker {pid}'s child was killed with its group");
    }
    assert_eq!(
        left_in(&s.tmp),
        Vec::<String>::new(),
        "the state directories are removed"
    );
}

#[test]
fn a_checker_and_what_it_started_die_with_an_explore_killed_outright() {
    let s = setup();
    let trace = concat!(env!("CARGO_MANIFEST_DIR"), "/../runner/tests/it/traces/good.json");
    // The checker and what it started: the group's leader kills them all once faultline's
    // end of its pipe closes.
    let script = "[ \"$FAULTLINE_MOMENT\" = 0 ] && exit 0; [ \"$FAULTLINE_FINISHED\" = 1 ] && exit 0; \
                  echo $$ >> \"$PIDS\"; sleep 600 & echo $! >> \"$PIDS\"; wait"
        .replace("$PIDS", &s.pids.display().to_string());
    let checker = format!("sh -c {}", shell_words::quote(&script));
    let mut fl = start(
        &["explore", "--trace", trace, "--checker", &checker, "--jobs", "1"],
        &s.dir,
        &s.tmp,
    );
    let both = pids(&s.pids, 2);
    signal(&fl, "KILL");
    let _ = fl.wait();
    for pid in both {
        assert!(
            ends(pid),
            "{pid}, the checker or its child, was killed with its group"
        );
    }
}

/// faultline mounts under `dir`.
fn mounts_under(dir: &Path) -> usize {
    let dir = std::fs::canonicalize(dir).expect("canonical");
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .filter(|l| l.contains(" - fuse.faultline "))
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|p| Path::new(p).starts_with(&dir))
        })
        .count()
}

/// Ctrl-C during a live run kills the program with what it started, unmounts, and removes
/// the trial directory.
#[test]
fn ctrl_c_stops_a_live_run_and_leaves_no_mount_program_or_directory() {
    if !crate::live::fuse_works() {
        return;
    }
    let s = setup();
    let script = SLEEPER.replace("$PIDS", &s.pids.display().to_string());
    let fl = start(
        &[
            "live", "--out", "out", "--check", "true", "--", "sh", "-c", &script,
        ],
        &s.dir,
        &s.tmp,
    );
    let sleeper = pids(&s.pids, 1)[0];
    assert_eq!(mounts_under(&s.tmp), 1, "the trial's mount is up");
    signal(&fl, "INT");
    let out = fl.wait_with_output().expect("ends");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(ends(sleeper), "the program's child was killed");
    assert_eq!(mounts_under(&s.tmp), 0, "the mount is gone");
    assert_eq!(
        left_in(&s.tmp),
        Vec::<String>::new(),
        "the trial directory is removed"
    );
}

/// `faultline mount` killed outright leaves no mount (the mount helper unmounts when it
/// dies), and `faultline mount --cleanup` removes the control socket it left.
#[test]
fn a_mount_killed_outright_leaves_no_mount_and_cleanup_removes_its_socket() {
    if !crate::live::fuse_works() {
        return;
    }
    let s = setup();
    let (backing, point) = (s.dir.join("b"), s.dir.join("m"));
    std::fs::create_dir(&backing).expect("mkdir");
    std::fs::create_dir(&point).expect("mkdir");
    let mut fl = start(&["mount", "b", "m"], &s.dir, &s.tmp);
    let until = Instant::now() + Duration::from_secs(60);
    while mounts_under(&s.dir) == 0 {
        assert!(Instant::now() < until, "the mount never came up");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(point.join("f"), "x").expect("write through the mount");
    signal(&fl, "KILL");
    let _ = fl.wait();
    let until = Instant::now() + Duration::from_secs(60);
    while mounts_under(&s.dir) > 0 {
        assert!(Instant::now() < until, "the mount outlived faultline");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        left_in(&s.tmp).len(),
        1,
        "the control socket is left: {:?}",
        left_in(&s.tmp)
    );
    let o = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["mount", "--cleanup", "m"])
        .current_dir(&s.dir)
        .env("TMPDIR", &s.tmp)
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("removed the stale control socket"));
    assert_eq!(left_in(&s.tmp), Vec::<String>::new());
    assert_eq!(
        std::fs::read_dir(&backing).expect("dir").count(),
        0,
        "the backing directory is as it was"
    );
}
