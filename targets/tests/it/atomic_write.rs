use std::path::Path;
use std::process::Command;

use faultline_core::fs::{read_file, write_all};
use faultline_core::{CrashPlan, Errno, FdGuard, Fs, OpenOptions, RealFs, SimFs};
use faultline_targets::atomic_write::{AtomicWrite, BEFORE_RENAME, Durable, LeaksTempFiles, reference};

const TARGET: &str = "/d/config.json";

fn setup() -> SimFs {
    let fs = SimFs::default();
    fs.mkdir(Path::new("/d"), 0o755).expect("mkdir");
    let f = FdGuard::open(
        &fs,
        Path::new(TARGET),
        &OpenOptions::write_only().create_new().mode(0o640),
    )
    .expect("create");
    write_all(&fs, f.fd(), b"old").expect("write");
    f.close().expect("close");
    fs
}

#[test]
fn every_failing_call_leaves_no_temp_and_a_whole_file() {
    // Count the calls of a clean replace, then fail each one in turn.
    let clean = setup();
    let before = clean.calls();
    Durable
        .replace(&clean, Path::new(TARGET), b"new contents")
        .expect("clean replace");
    let calls = clean.calls() - before;
    assert!(
        calls >= 8,
        "a durable replace makes at least 8 calls, made {calls}"
    );
    for n in 0..calls {
        for errno in [Errno::IO, Errno::NOSPC] {
            let fs = setup();
            fs.fail_call(fs.calls() + n, errno);
            let result = Durable.replace(&fs, Path::new(TARGET), b"new contents");
            let names = fs.read_dir(Path::new("/d")).expect("readable");
            assert_eq!(
                names,
                ["config.json"],
                "call {n} failing with {errno} left {names:?}"
            );
            let data = read_file(&fs, Path::new(TARGET)).expect("the file survives");
            assert!(
                data == b"old" || data == b"new contents",
                "call {n}: torn file {data:?}"
            );
            if data == b"old" {
                assert!(result.is_err(), "call {n}: Ok although the file was not replaced");
            }
        }
    }
}

#[test]
fn the_temp_is_exclusive_close_on_exec_in_the_same_directory_and_keeps_the_mode() {
    let fs = setup();
    Durable.replace(&fs, Path::new(TARGET), b"new").expect("replace");
    let trace = fs.trace();
    let open = trace
        .iter()
        .find(|e| e.call.starts_with("open /d/.config.json."))
        .expect("a temp was opened");
    for flag in ["O_CREAT", "O_EXCL", "O_CLOEXEC", "O_NOFOLLOW"] {
        assert!(open.call.contains(flag), "temp open lacks {flag}: {}", open.call);
    }
    let meta = fs.metadata(Path::new(TARGET)).expect("exists");
    assert_eq!(meta.mode, 0o640);
    let calls: Vec<&str> = trace
        .iter()
        .map(|e| e.call.split(' ').next().unwrap_or(""))
        .collect();
    let pos = |name: &str| {
        calls
            .iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("no {name} in {calls:?}"))
    };
    assert!(
        pos("fsync") < pos("rename") && pos("rename") < pos("fsync_dir"),
        "{calls:?}"
    );
}

#[test]
fn a_new_file_gets_the_mode_a_plain_create_would() {
    let fs = SimFs::default();
    fs.mkdir(Path::new("/d"), 0o755).expect("mkdir");
    Durable
        .replace(&fs, Path::new("/d/new.json"), b"x")
        .expect("replace");
    // The simulation applies no umask, so a plain create's 0666 shows as is.
    assert_eq!(fs.metadata(Path::new("/d/new.json")).expect("exists").mode, 0o666);
}

#[test]
fn recovery_removes_only_temps_of_dead_writers() {
    let fs = setup();
    let live = format!("/d/.config.json.{}.00000000000000aa.tmp", fs.process_id());
    let dead = "/d/.config.json.4242.00000000000000bb.tmp";
    let foreign = "/d/.other.json.4242.00000000000000cc.tmp";
    for p in [live.as_str(), dead, foreign] {
        FdGuard::open(&fs, Path::new(p), &OpenOptions::write_only().create_new())
            .expect("create")
            .close()
            .expect("close");
    }
    Durable.recover(&fs, Path::new(TARGET)).expect("recover");
    let names = fs.read_dir(Path::new("/d")).expect("readable");
    let live_name = live.trim_start_matches("/d/");
    assert!(
        names.iter().any(|n| n == live_name),
        "a running writer's temp must stay: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n.contains("4242.00000000000000bb")),
        "a dead writer's temp must go: {names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with(".other.json")),
        "another file's temps are not ours: {names:?}"
    );
    assert_eq!(
        reference::temp_owner(Path::new(TARGET), live_name),
        Some(fs.process_id())
    );
}

/// The child half of the kill test: replaces twice, and is planned to die at the second
/// replace's BEFORE_RENAME.
fn child_replaces(dir: &Path, leaky: bool) {
    let fs = RealFs::with_crash_plan(CrashPlan {
        point: BEFORE_RENAME.to_string(),
        hit: 2,
        stop: false,
    });
    let target = dir.join("config.json");
    let replace = |data: &[u8]| {
        if leaky {
            LeaksTempFiles.replace(&fs, &target, data)
        } else {
            Durable.replace(&fs, &target, data)
        }
    };
    replace(b"version 1").expect("first replace");
    replace(b"version 2").expect("second replace");
    unreachable!("the crash plan kills this process at the second replace");
}

fn kill_at_crash_point(leaky: bool) -> (Vec<String>, Vec<u8>) {
    let test_name = if leaky {
        "sigkill_at_a_crash_point_leaves_a_temp_the_leaky_variant_never_cleans"
    } else {
        "sigkill_at_a_crash_point_leaves_the_old_version_and_recovery_cleans_up"
    };
    if let Ok(dir) = std::env::var("FAULTLINE_TEST_CHILD_DIR") {
        child_replaces(Path::new(&dir), leaky);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let status = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            &format!("atomic_write::{test_name}"),
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FAULTLINE_TEST_CHILD_DIR", dir.path())
        .status()
        .expect("spawn the child");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "the child must die by SIGKILL at the crash point: {status:?}"
    );
    let fs = RealFs::new();
    let target = dir.path().join("config.json");
    let data = read_file(&fs, &target).expect("the target exists");
    if leaky {
        LeaksTempFiles.recover(&fs, &target).expect("recover");
    } else {
        Durable.recover(&fs, &target).expect("recover");
    }
    (fs.read_dir(dir.path()).expect("readable"), data)
}

#[test]
fn sigkill_at_a_crash_point_leaves_the_old_version_and_recovery_cleans_up() {
    let (names, data) = kill_at_crash_point(false);
    assert_eq!(data, b"version 1");
    assert_eq!(names, ["config.json"]);
}

#[test]
fn sigkill_at_a_crash_point_leaves_a_temp_the_leaky_variant_never_cleans() {
    let (names, data) = kill_at_crash_point(true);
    assert_eq!(data, b"version 1");
    assert_eq!(names.len(), 2, "AW6 must leave the dead writer's temp: {names:?}");
}
