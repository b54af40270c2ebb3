//! The public API on small save functions: each oracle fails the broken one and passes the
//! fixed one, outside a check the calls reach the disk, and a printed replay judges one state.

use std::io::Write;
use std::path::Path;

use faultline::{Check, Model, fs, oracle};

/// Writes the file in place: a crash between the truncate and the write leaves it empty.
fn save_in_place(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(data)?;
    file.sync_all()
}

/// A temp file, fsynced, renamed over, directory fsynced: durable and atomic.
fn save_durable(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    faultline::crash_point!("before_rename");
    fs::rename(&tmp, path)?;
    faultline::crash_point!("after_rename");
    fs::sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn two_versions(
    save: fn(&Path, &[u8]) -> std::io::Result<()>,
    model: Model,
) -> Result<faultline::Summary, faultline::Failures> {
    Check::new()
        .models(&[model])
        .setup(|| {
            fs::create_dir("data")?;
            save_durable(Path::new("data/doc"), b"version zero")
        })
        .run(
            || {
                save(Path::new("data/doc"), b"version one, longer")?;
                faultline::ack("one");
                Ok(())
            },
            |state| oracle::old_or_new(state, "data/doc", &[b"version zero", b"version one, longer"]),
        )
}

#[test]
fn a_save_in_place_is_torn_by_a_process_crash_and_the_durable_one_is_not() {
    let failures = two_versions(save_in_place, Model::ProcessCrash).expect_err("a truncate in place tears");
    let text = failures.to_string();
    assert!(
        text.contains("under process-crash") && text.contains("holds 0 bytes"),
        "{text}"
    );
    assert!(text.contains("FAULTLINE_REPLAY=process-crash:"), "{text}");
    for model in [Model::ProcessCrash, Model::PowerLoss] {
        let summary = two_versions(save_durable, model).expect("the durable save passes");
        assert!(summary.exhaustive && summary.states >= 3, "{summary:?}");
    }
}

#[test]
fn a_failure_names_the_crash_point_passed_and_what_was_lost() {
    // Without the directory fsync the rename can be lost after the acknowledgement.
    let failures = Check::new()
        .models(&[Model::PowerLoss])
        .setup(|| fs::write("doc", "old"))
        .run(
            || {
                let mut f = fs::File::create("doc.tmp")?;
                f.write_all(b"new")?;
                f.sync_all()?;
                fs::rename("doc.tmp", "doc")?;
                faultline::crash_point!("after_rename");
                faultline::ack("new");
                Ok(())
            },
            |state| oracle::acknowledged_durable(state, "doc", &[("new", b"new")]),
        )
        .expect_err("the rename is not durable");
    let text = failures.to_string();
    assert!(
        text.contains("\"new\" was acknowledged, but doc holds 3 bytes \"old\""),
        "{text}"
    );
    assert!(text.contains("lost: call #") && text.contains("rename"), "{text}");
    assert!(text.contains("crash point after_rename"), "{text}");
}

#[test]
fn temps_left_by_a_crash_fail_until_the_recovery_removes_them() {
    let run = |recover: bool| {
        let mut check = Check::new().setup(|| fs::write("doc", "old"));
        if recover {
            check = check.recover(|| match fs::remove_file("doc.tmp") {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            });
        }
        check.run(
            || save_durable(Path::new("doc"), b"new"),
            |s| oracle::no_leaked_temps(s, "/", &["doc"]),
        )
    };
    let failures = run(false).expect_err("a crash before the rename leaves the temp");
    assert!(failures.to_string().contains("[\"doc.tmp\"]"), "{failures}");
    run(true).expect("the recovery removes it");
}

#[test]
fn a_replace_that_loses_the_mode_is_caught() {
    let run = |save: fn(&Path, &[u8]) -> std::io::Result<()>| {
        Check::new()
            .models(&[Model::ProcessCrash])
            .setup(|| save_durable(Path::new("secret"), b"old"))
            .run(
                || save(Path::new("secret"), b"new"),
                |s| oracle::metadata_preserved(s, "secret", 0o600),
            )
    };
    let plain = |path: &Path, data: &[u8]| -> std::io::Result<()> {
        fs::write(path.with_extension("tmp"), data)?;
        fs::rename(path.with_extension("tmp"), path)
    };
    let failures = run(plain).expect_err("the temp has mode 666");
    assert!(
        failures.to_string().contains("has mode 666, not 600"),
        "{failures}"
    );
    run(save_durable).expect("the durable save creates its temp 0600");
}

#[test]
fn outside_a_check_the_calls_reach_the_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sub/doc");
    fs::create_dir_all(dir.path().join("sub")).expect("mkdir");
    save_durable(&path, b"on disk").expect("save");
    faultline::crash_point!("nothing happens outside a check");
    faultline::ack("nothing either");
    assert_eq!(std::fs::read(&path).expect("std reads it"), b"on disk");
    assert_eq!(fs::read_to_string(&path).expect("read"), "on disk");
    assert_eq!(fs::metadata(&path).expect("stat").mode(), 0o600);
    assert_eq!(fs::read_dir_names(dir.path().join("sub")).expect("list"), ["doc"]);
    assert!(!fs::exists(path.with_extension("tmp")));
}

#[test]
fn threads_spawned_with_faultline_share_the_checks_file_system() {
    let summary = Check::new()
        .models(&[Model::PowerLoss])
        .run(
            || {
                let writers: Vec<_> = (0..2)
                    .map(|i| faultline::spawn(move || save_durable(Path::new(&format!("doc{i}")), b"x")))
                    .collect();
                for w in writers {
                    w.join().expect("no panic")?;
                }
                faultline::ack("both");
                Ok(())
            },
            |state| {
                if state.last_ack() == Some("both") {
                    for i in 0..2 {
                        oracle::old_or_new(state, format!("doc{i}"), &[b"x"])?;
                    }
                }
                Ok(())
            },
        )
        .expect("both saves are durable");
    assert!(
        summary.calls > 10,
        "both threads' calls were recorded: {summary:?}"
    );
}

/// Judged alone by `a_printed_replay_judges_that_one_state` in a child process.
#[test]
fn replay_target() {
    if std::env::var(faultline::REPLAY_VAR).is_err() {
        return;
    }
    two_versions(save_in_place, Model::ProcessCrash)
        .map(|_| ())
        .unwrap_or_else(|f| panic!("{f}"));
}

#[test]
fn a_printed_replay_judges_that_one_state() {
    let failures = two_versions(save_in_place, Model::ProcessCrash).expect_err("torn");
    assert!(
        failures
            .replay
            .ends_with("cargo test -- --exact a_printed_replay_judges_that_one_state"),
        "the replay line names this test: {}",
        failures.replay
    );
    let assignment = failures.replay.split_whitespace().next().expect("VAR=VALUE");
    let (var, value) = assignment.split_once('=').expect("VAR=VALUE");
    assert_eq!(var, faultline::REPLAY_VAR);
    let out = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", "replay_target", "--nocapture", "--test-threads=1"])
        .env(var, value)
        .output()
        .expect("the test binary runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the replayed state fails again:\n{text}");
    assert!(
        text.contains("1 of 1 crash states failed"),
        "only that state is judged:\n{text}"
    );
    assert!(
        text.contains(&format!(
            "first failed state under process-crash: {}",
            &value["process-crash:".len()..]
        )),
        "{text}"
    );
}

#[test]
fn two_threads_taking_two_file_locks_in_opposite_orders_are_reported_with_both_chains() {
    use std::sync::{Arc, Barrier};
    let both_hold_one = Arc::new(Barrier::new(2));
    let lock_both = |first: &'static str, second: &'static str, barrier: Arc<Barrier>| {
        faultline::spawn(move || -> std::io::Result<()> {
            let a = fs::OpenOptions::new().write(true).create(true).open(first)?;
            a.lock()?;
            barrier.wait();
            let b = fs::OpenOptions::new().write(true).create(true).open(second)?;
            b.lock()?;
            Ok(())
        })
    };
    let outcome = std::panic::catch_unwind(|| {
        Check::new().models(&[Model::ProcessCrash]).run(
            || {
                let one = lock_both("a.lock", "b.lock", Arc::clone(&both_hold_one));
                let two = lock_both("b.lock", "a.lock", Arc::clone(&both_hold_one));
                let (one, two) = (one.join().expect("no panic"), two.join().expect("no panic"));
                one.and(two)
            },
            |_| Ok(()),
        )
    });
    let panic = outcome.expect_err("the workload cannot finish both");
    let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("lock-order cycle between 2 threads"), "{text}");
    // Both chains: each thread's held lock (with where it was taken) and the one it waits for.
    assert!(
        text.contains("holds a.lock (locked at") && text.contains("and waits for b.lock"),
        "{text}"
    );
    assert!(
        text.contains("holds b.lock (locked at") && text.contains("and waits for a.lock"),
        "{text}"
    );
    assert!(
        text.contains("tests/check.rs:"),
        "the places are the test's lock calls: {text}"
    );
}

/// Judged by `a_replay_that_names_no_state_of_the_check_fails` in a child process.
#[test]
fn replay_of_nothing() {
    if std::env::var(faultline::REPLAY_VAR).is_err() {
        return;
    }
    let _ = two_versions(save_durable, Model::PowerLoss);
}

#[test]
fn a_replay_that_names_no_state_of_the_check_fails() {
    let out = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", "replay_of_nothing", "--nocapture", "--test-threads=1"])
        .env(faultline::REPLAY_VAR, "process-crash:3:-")
        .output()
        .expect("the test binary runs");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "a power-loss check has no process-crash state:\n{text}"
    );
    assert!(text.contains("names no state of this check"), "{text}");
}
