//! The lock family's references in one process: exclusion between open file descriptions,
//! shared holds, timeouts, the owner-record lock's stale break, symlink refusal, lock order.

use std::time::Duration;

use faultline_targets::lock::{self, LockError, Mode, Range, Variant};

const SHORT: Option<Duration> = Some(Duration::from_millis(30));

fn timed_out<T>(r: Result<T, LockError>) -> bool {
    matches!(r, Err(LockError::Timeout { .. }))
}

#[test]
fn descriptor_references_exclude_each_other_and_share_reads() {
    for variant in [Variant::Flock, Variant::Ofd] {
        let dir = tempfile::tempdir().expect("temp");
        let path = dir.path().join("a.lock");
        // Two opens are two open file descriptions: they conflict like two processes.
        let one = variant.open(&path).expect("open");
        let two = variant.open(&path).expect("open");
        {
            let _w = one.lock(Mode::Exclusive, SHORT).expect("free");
            assert!(timed_out(two.lock(Mode::Exclusive, SHORT)), "{variant:?}");
            assert!(timed_out(two.lock(Mode::Shared, SHORT)), "{variant:?}");
        }
        let _r1 = one.lock(Mode::Shared, SHORT).expect("shared");
        let _r2 = two.lock(Mode::Shared, SHORT).expect("shared with shared");
        let three = variant.open(&path).expect("open");
        assert!(timed_out(three.lock(Mode::Exclusive, SHORT)), "{variant:?}");
    }
}

#[test]
fn a_timeout_waits_about_its_length() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("a.lock");
    let one = Variant::Flock.open(&path).expect("open");
    let two = Variant::Flock.open(&path).expect("open");
    let _held = one.lock(Mode::Exclusive, None).expect("free");
    // At least its length: never less. (How much more depends on the machine, so no upper
    // bound is asserted.)
    match two.lock(Mode::Exclusive, Some(Duration::from_millis(50))) {
        Err(LockError::Timeout { waited, .. }) => {
            assert!(waited >= Duration::from_millis(50), "{waited:?}");
        }
        other => panic!("expected a timeout, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn an_upgrade_alone_succeeds_and_excludes() {
    for variant in [Variant::Flock, Variant::Ofd] {
        let dir = tempfile::tempdir().expect("temp");
        let path = dir.path().join("a.lock");
        let one = variant.open(&path).expect("open");
        let two = variant.open(&path).expect("open");
        let mut g = one.lock(Mode::Shared, SHORT).expect("shared");
        g.upgrade(SHORT).expect("nobody else holds it");
        assert_eq!(g.mode(), Mode::Exclusive);
        assert!(timed_out(two.lock(Mode::Shared, SHORT)), "{variant:?}");
    }
}

#[test]
fn lock_files_are_created_safely_and_never_follow_links() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("a.lock");
    let _ = Variant::Flock.open(&path).expect("open");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(
        mode & 0o022,
        0,
        "lock file must not be group/world writable: {mode:o}"
    );

    let victim = dir.path().join("victim");
    std::fs::write(&victim, "data").expect("write");
    let link = dir.path().join("b.lock");
    std::os::unix::fs::symlink(&victim, &link).expect("symlink");
    for variant in [Variant::Flock, Variant::Ofd] {
        assert!(
            matches!(variant.open(&link), Err(LockError::Symlink { .. })),
            "{variant:?}"
        );
    }
    // L12 follows it and writes its owner record into the victim.
    let l12 = Variant::FollowsSymlink.open(&link).expect("follows");
    drop(l12.lock(Mode::Exclusive, SHORT).expect("locks"));
    assert_ne!(std::fs::read(&victim).expect("read"), b"data");
}

#[test]
fn the_owner_record_lock_excludes_and_cleans_up() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("a.lock");
    let one = Variant::OwnerRecord.open(&path).expect("open");
    let two = Variant::OwnerRecord.open(&path).expect("open");
    {
        let g = one.lock(Mode::Exclusive, SHORT).expect("free");
        g.check_owner().expect("our record");
        let record = std::fs::read_to_string(&path).expect("record");
        assert!(
            record.starts_with(&format!("pid {} host ", std::process::id())),
            "{record}"
        );
        // Its owner (this process) is alive: never broken, however long it holds.
        assert!(timed_out(two.lock(Mode::Exclusive, SHORT)));
    }
    assert!(!path.exists(), "released: the lock file is gone");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(names.is_empty(), "no temp left: {names:?}");
    drop(two.lock(Mode::Exclusive, SHORT).expect("free again"));
}

#[test]
fn a_dead_owners_lock_is_broken_and_a_live_or_foreign_one_is_not() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("a.lock");
    let lock = Variant::OwnerRecord.open(&path).expect("open");
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();

    // A child that has exited and been reaped: its PID names no running process.
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead = child.id();
    child.wait().expect("wait");
    std::fs::write(&path, format!("pid {dead} host {host} start 1\n")).expect("plant");
    let g = lock
        .lock(Mode::Exclusive, SHORT)
        .expect("a dead owner's lock is broken");
    g.check_owner().expect("now ours");
    drop(g);

    // Our own PID with a different start time: the PID was reused, the owner is dead.
    std::fs::write(&path, format!("pid {} host {host} start 1\n", std::process::id())).expect("plant");
    drop(
        lock.lock(Mode::Exclusive, SHORT)
            .expect("a reused PID is not the owner"),
    );

    // Another host's owner cannot be judged from here: never broken.
    std::fs::write(&path, "pid 1 host some-other-host start 1\n").expect("plant");
    assert!(timed_out(lock.lock(Mode::Exclusive, SHORT)));
    std::fs::remove_file(&path).expect("clean");
}

#[test]
fn stale_by_age_breaks_a_live_holder() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("a.lock");
    let one = Variant::StaleByAge.open(&path).expect("open");
    let two = Variant::StaleByAge.open(&path).expect("open");
    let g = one.lock(Mode::Exclusive, SHORT).expect("free");
    std::thread::sleep(Duration::from_millis(150));
    let stolen = two.lock(Mode::Exclusive, SHORT).expect("L7 breaks it by age");
    assert!(g.check_owner().is_err(), "the first holder's record is gone");
    drop(stolen);
    drop(g);
}

#[test]
fn lock_all_holds_every_lock() {
    let dir = tempfile::tempdir().expect("temp");
    let (a, b) = (dir.path().join("a.lock"), dir.path().join("b.lock"));
    for variant in [Variant::Flock, Variant::LockOrderInversion] {
        let la = variant.open(&a).expect("open");
        let lb = variant.open(&b).expect("open");
        let guards = lock::lock_all(&[&lb, &la], Mode::Exclusive, SHORT).expect("free");
        assert_eq!(guards.len(), 2);
        // Holding both: each is excluded from a fresh description.
        let other = variant.open(&a).expect("open");
        assert!(timed_out(other.lock(Mode::Exclusive, SHORT)));
        let other = variant.open(&b).expect("open");
        assert!(timed_out(other.lock(Mode::Exclusive, SHORT)));
    }
}

#[test]
fn the_helpers_run_the_closure_under_the_lock() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("a.lock");
    let got = lock::with_write_lock(&path, SHORT, || {
        let other = Variant::Flock.open(&path).expect("open");
        timed_out(other.lock(Mode::Shared, SHORT))
    })
    .expect("locks");
    assert!(got, "a reader is excluded while the write lock is held");
    let got = lock::with_read_lock(&path, SHORT, || {
        let other = Variant::Flock.open(&path).expect("open");
        other.lock(Mode::Shared, SHORT).is_ok()
    })
    .expect("locks");
    assert!(got, "readers share");
}

#[test]
fn increment_counts_under_the_lock() {
    let dir = tempfile::tempdir().expect("temp");
    let lock = Variant::Flock.open(&dir.path().join("a.lock")).expect("open");
    let counter = dir.path().join("counter");
    for expected in 1..=5 {
        assert_eq!(
            lock::increment(&lock, &counter, SHORT).expect("increments"),
            expected
        );
    }
    assert_eq!(std::fs::read_to_string(&counter).expect("read").trim(), "5");
}

#[test]
fn lockdep_records_the_held_locks_and_call_sites() {
    let dir = tempfile::tempdir().expect("temp");
    lock::lockdep::enable(dir.path()).expect("enable");
    let la = Variant::Flock.open(&dir.path().join("x.lock")).expect("open");
    let lb = Variant::Flock.open(&dir.path().join("y.lock")).expect("open");
    let ga = la.lock(Mode::Exclusive, SHORT).expect("x");
    let gb = lb.lock(Mode::Shared, SHORT).expect("y");
    drop((gb, ga));
    // The reference sorts: asked for z then w, it takes w first. L10 keeps the order given.
    let (w, z) = (dir.path().join("w.lock"), dir.path().join("z.lock"));
    for variant in [Variant::Flock, Variant::LockOrderInversion] {
        let (lw, lz) = (variant.open(&w).expect("open"), variant.open(&z).expect("open"));
        drop(lock::lock_all(&[&lz, &lw], Mode::Exclusive, SHORT).expect("free"));
    }
    let text = std::fs::read_to_string(dir.path().join(format!("lockdep.{}.jsonl", std::process::id())))
        .expect("the record");
    let line = text
        .lines()
        .find(|l| l.contains(r#""class":"y.lock""#))
        .expect("y's acquisition");
    assert!(line.contains(r#""mode":"shared""#), "{line}");
    assert!(
        line.contains(r#""held":[{"class":"x.lock","mode":"exclusive","site":"targets/tests/it/lock.rs:"#),
        "{line}"
    );
    let second_taken: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(r#""held":[{"class":"#) && (l.contains("w.lock") || l.contains("z.lock")))
        .collect();
    assert_eq!(second_taken.len(), 2, "{text}");
    assert!(
        second_taken[0].starts_with(&format!(r#"{{"pid":{},"class":"z.lock""#, std::process::id())),
        "{text}"
    );
    assert!(
        second_taken[1].contains(r#""class":"w.lock""#),
        "L10 took w second: {text}"
    );
}

#[test]
fn ofd_ranges_exclude_only_where_they_overlap() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("a.lock");
    let one = Variant::Ofd.open(&path).expect("open");
    let two = Variant::Ofd.open(&path).expect("open");
    let first = Range { start: 0, len: 100 };
    let _held = one.lock_range(Mode::Exclusive, first, SHORT).expect("free");
    drop(
        two.lock_range(Mode::Exclusive, Range { start: 100, len: 100 }, SHORT)
            .expect("disjoint"),
    );
    assert!(timed_out(two.lock_range(
        Mode::Exclusive,
        Range { start: 50, len: 10 },
        SHORT
    )));
    assert!(
        timed_out(two.lock(Mode::Shared, SHORT)),
        "the whole file overlaps"
    );
    // flock locks whole files only, and says so.
    let flock = Variant::Flock.open(&path).expect("open");
    assert!(matches!(
        flock.lock_range(Mode::Shared, first, SHORT),
        Err(LockError::NoRanges { .. })
    ));
}

#[test]
fn closing_another_descriptor_drops_a_posix_lock_but_not_an_ofd_lock() {
    // The L4 pitfall, shown in one process: a POSIX lock belongs to the process, and any close
    // of the file releases it; an OFD lock belongs to its open file description.
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("a.lock");
    let ofd = Variant::Ofd.open(&path).expect("open");
    let other = Variant::Ofd.open(&path).expect("open");
    let _held = ofd.lock(Mode::Exclusive, SHORT).expect("free");
    drop(std::fs::read(&path).expect("open, read and close the lock file"));
    assert!(
        timed_out(other.lock(Mode::Exclusive, SHORT)),
        "the OFD lock survives the close"
    );

    let posix_path = dir.path().join("b.lock");
    let posix = Variant::FcntlCloseReleases.open(&posix_path).expect("open");
    let g = posix.lock(Mode::Exclusive, SHORT).expect("free");
    let intruder = Variant::Ofd.open(&posix_path).expect("open");
    assert!(
        timed_out(intruder.lock(Mode::Exclusive, SHORT)),
        "OFD and POSIX locks conflict"
    );
    assert!(g.check_owner().is_ok(), "the record is ours");
    // check_owner read the file by path and closed it: the POSIX lock is gone, and the OFD
    // lock from another description gets in.
    assert!(
        intruder.lock(Mode::Exclusive, SHORT).is_ok(),
        "L4's lock was released by the close"
    );
}

/// The child side of the test below: takes a lock with `FAULTLINE_LOCKDEP` set, as a worker
/// of a program would, and writes "done".
#[test]
fn lockdep_from_the_environment_child() {
    let Some(dir) = std::env::var_os("FAULTLINE_LOCKDEP_TEST_CHILD") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let l = Variant::Flock.open(&dir.join("e.lock")).expect("open");
    drop(l.lock(Mode::Exclusive, SHORT).expect("free"));
    std::fs::write(dir.join("done"), "done").expect("write");
}

#[test]
fn lockdep_enabled_by_the_environment_records_and_does_not_hang() {
    // FAULTLINE_LOCKDEP is read once per process: run this test binary again as the child.
    let dir = tempfile::tempdir().expect("temp");
    let mut child = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "lock::lockdep_from_the_environment_child",
            "--test-threads",
            "1",
        ])
        .env("FAULTLINE_LOCKDEP", dir.path())
        .env("FAULTLINE_LOCKDEP_TEST_CHILD", dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // It used to wait forever on its own initialisation: say where it is stuck if it does.
    let mut looked = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        looked += 1;
        if looked == 600 {
            let wchan = std::fs::read_to_string(format!("/proc/{}/wchan", child.id())).unwrap_or_default();
            let _ = child.kill();
            panic!("the child still waits, in {wchan:?}, after 600 looks");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success());
    assert!(dir.path().join("done").exists());
    let logs: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("lockdep."))
        .collect();
    assert_eq!(logs.len(), 1, "one log, of the child");
    let text = std::fs::read_to_string(logs[0].path()).expect("log");
    assert!(text.contains(r#""class":"e.lock""#), "{text}");
}
