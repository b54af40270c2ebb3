//! Live mode on real FUSE mounts: what a cut loses, agreement with the explorer on the same
//! program, triggers, the control socket, and that no mount is left behind.
//!
//! FUSE needs /dev/fuse and fusermount3 (`.ci/run` installs fuse3 and sets
//! FAULTLINE_REQUIRE_FUSE=1 where the device exists). Without them these tests say so and
//! pass, unless FAULTLINE_REQUIRE_FUSE is set.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use faultline_core::crash_state::{self, EnumerationConfig};
use faultline_core::persistence::{BlockSize, PersistenceModel};
use faultline_runner::external::record::{DEFAULT_TIMEOUT, RecordRequest, record, snapshot};
use faultline_runner::live::trial::{self, LiveRequest, LiveResult};
use faultline_runner::live::{Ending, Keep, MountOptions, Mounted};

/// Whether FUSE mounts work here; panics when they must and do not.
fn fuse_works() -> bool {
    let dir = tempfile::tempdir().expect("temp");
    let (b, m) = (dir.path().join("b"), dir.path().join("m"));
    std::fs::create_dir(&b).expect("mkdir");
    std::fs::create_dir(&m).expect("mkdir");
    match Mounted::mount(&options(&b, &m)) {
        Ok(mounted) => {
            mounted.finish().expect("unmounts");
            true
        }
        Err(e) => {
            assert!(
                std::env::var_os("FAULTLINE_REQUIRE_FUSE").is_none(),
                "FAULTLINE_REQUIRE_FUSE is set and a FUSE mount failed: {e}"
            );
            eprintln!("skipped: no FUSE here ({e}); install fuse3 and give the machine /dev/fuse");
            false
        }
    }
}

fn options(backing: &Path, mountpoint: &Path) -> MountOptions {
    MountOptions {
        backing: backing.to_path_buf(),
        mountpoint: mountpoint.to_path_buf(),
        triggers: Vec::new(),
        cut_after_changes: None,
        keep: Keep::Nothing,
        seed: 0,
        block_size: BlockSize::DEFAULT,
        control: Some(mountpoint.with_extension("sock")),
        write_back: true,
    }
}

/// faultline mounts under `dir` (tests run side by side; each looks at its own).
fn faultline_mounts(dir: &Path) -> usize {
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

fn words(text: &str) -> Vec<String> {
    shell_words::split(text).expect("words")
}

fn live(start: &Path, program: &str, checker: &str, trials: u64, keep: Keep) -> LiveResult {
    let temp = tempfile::tempdir().expect("temp");
    let request = LiveRequest {
        program: words(program),
        start: snapshot(start).expect("snapshot"),
        trials,
        duration: None,
        seed: 7,
        only_trial: None,
        triggers: Vec::new(),
        keep,
        block_size: BlockSize::new(512).expect("block"),
        temp_dir: temp.path().to_path_buf(),
        keep_failures: false,
        write_back: true,
        reproduce_prefix: vec!["faultline".into(), "live".into(), "--".into()],
    };
    let judge = trial::Judge::Command(words(checker));
    let result = trial::run(&request, &judge, &|_| true, &mut |_| {}, &|| false).expect("the live run runs");
    assert_eq!(faultline_mounts(temp.path()), 0, "no mount is left behind");
    assert_eq!(
        std::fs::read_dir(temp.path()).expect("dir").count(),
        0,
        "every trial directory is removed"
    );
    result
}

fn start_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    dir
}

const ACKED_NEW: &str = r#"sh -c 'if grep -q done {stdout} && [ "$(cat {dir}/f)" != new ]; then echo acknowledged rename lost; exit 1; fi'"#;

/// A `mv` that no directory fsync covers loses its rename at a cut after the program said it
/// was done; with `sync .` after it, no cut ever does. (A file system that passes renames
/// through cannot show the first.)
#[test]
fn a_rename_without_a_directory_fsync_is_lost_and_with_one_never() {
    if !fuse_works() {
        return;
    }
    let start = start_with(&[("f", "old\n")]);
    let broken = live(
        start.path(),
        "sh -c 'echo new > f.tmp && sync f.tmp && mv f.tmp f && echo done'",
        ACKED_NEW,
        60,
        Keep::Nothing,
    );
    let failing: Vec<_> = broken.trials.iter().filter(|t| t.failure.is_some()).collect();
    assert!(!failing.is_empty(), "{broken:#?}");
    for t in &failing {
        assert!(
            t.lost.iter().any(|l| l == "lost: rename f.tmp -> f (call 4)"),
            "{t:#?}"
        );
        assert!(t.reproduce.contains("--trial"), "{}", t.reproduce);
    }
    let fixed = live(
        start.path(),
        "sh -c 'echo new > f.tmp && sync f.tmp && mv f.tmp f && sync . && echo done'",
        ACKED_NEW,
        200,
        Keep::Random,
    );
    assert_eq!(fixed.count().failures, 0, "{fixed:#?}");
    assert_eq!(fixed.trials.len(), 200);
}

/// sqlite3 in rollback-journal mode commits by unlinking the journal. With
/// `synchronous=FULL` it does not fsync the directory after, so a cut can bring the journal
/// back and the next open rolls the acknowledged commit back; `EXTRA` fsyncs it and never
/// loses one.
#[test]
fn sqlite_full_loses_a_commit_after_the_journal_unlink_and_extra_never() {
    if !fuse_works() {
        return;
    }
    let start = tempfile::tempdir().expect("temp");
    let made = Command::new("sqlite3")
        .arg(start.path().join("db.sqlite"))
        .arg("CREATE TABLE t(x);")
        .status()
        .expect("sqlite3 must be installed (.ci/run installs it)");
    assert!(made.success());
    let checker = r#"sh -c 'if grep -q committed {stdout} && [ "$(sqlite3 {dir}/db.sqlite "select count(*) from t")" != 1 ]; then echo committed row lost; exit 1; fi'"#;
    let run = |mode: &str, trials| {
        live(
            start.path(),
            &format!(
                "sh -c \"sqlite3 db.sqlite 'PRAGMA synchronous={mode}; INSERT INTO t VALUES(1);' && echo committed\""
            ),
            checker,
            trials,
            Keep::Nothing,
        )
    };
    let full = run("FULL", 80);
    let lost: Vec<_> = full.trials.iter().filter(|t| t.failure.is_some()).collect();
    assert!(!lost.is_empty(), "{full:#?}");
    for t in lost {
        assert!(
            t.lost
                .iter()
                .any(|l| l.starts_with("lost: unlink db.sqlite-journal")),
            "{t:#?}"
        );
    }
    let extra = run("EXTRA", 150);
    assert_eq!(extra.count().failures, 0, "{extra:#?}");
}

const PROGRAM: &str = "echo one > a.tmp && sync a.tmp && mv a.tmp a && mkdir d && echo two > d/b && \
     sync d/b && echo three >> a && sync . && echo four > d/c && ln d/c d/e && rm d/b";

/// Every state a live cut leaves (at random moments, keeping random subsets, writes torn at
/// 512 bytes, with and without the kernel's write cache) is one that `explore --trace` of
/// the same program enumerates: the two share
/// the durability rules, and the kernel's calls through FUSE are the calls strace sees.
#[test]
fn every_state_a_live_cut_leaves_is_one_the_explorer_enumerates() {
    if !fuse_works() {
        return;
    }
    let work = tempfile::tempdir().expect("temp");
    let (start, recorded, scratch) = (
        work.path().join("start"),
        work.path().join("recorded"),
        work.path().join("scratch"),
    );
    for d in [&start, &recorded, &scratch] {
        std::fs::create_dir(d).expect("mkdir");
        set_mode(d, 0o755);
    }
    std::fs::write(start.join("a"), "zero\n").expect("write");
    std::fs::write(recorded.join("a"), "zero\n").expect("write");
    let trace = record(
        &RecordRequest {
            command: words(&format!("sh -c '{PROGRAM}'")),
            dir: recorded.clone(),
            strace: "strace".into(),
            scratch,
            cwd: Some(recorded.clone()),
            echo: false,
            timeout: DEFAULT_TIMEOUT,
        },
        &AtomicBool::new(false),
    )
    .expect("strace must be installed (.ci/run installs it)");
    assert!(trace.unsupported.is_empty(), "{:?}", trace.unsupported);
    let mut config = EnumerationConfig::new(PersistenceModel::PowerLoss);
    config.block_size = BlockSize::new(512).expect("block");
    config.max_choices = 1 << 22;
    let mut explored = HashSet::new();
    let stats = crash_state::enumerate(
        &trace.base,
        &trace.entries,
        &config,
        |_| 0,
        |state| {
            explored.insert(state.image.digest());
            ControlFlow::Continue(())
        },
    );
    assert!(
        stats.exhaustive(),
        "the explorer covers every state of so small a program"
    );
    // The live side: many cuts, each at a seeded moment, keeping a seeded subset.
    let mut seen = HashSet::new();
    for seed in 0..120u64 {
        let dir = tempfile::tempdir().expect("temp");
        let (b, m) = (dir.path().join("b"), dir.path().join("m"));
        std::fs::create_dir(&b).expect("mkdir");
        std::fs::create_dir(&m).expect("mkdir");
        set_mode(&b, 0o755);
        std::fs::write(b.join("a"), "zero\n").expect("write");
        let mut opts = options(&b, &m);
        opts.keep = Keep::Random;
        opts.seed = seed;
        opts.block_size = config.block_size;
        // Both ways writes reach the mount: one request per call, or the kernel's cache.
        opts.write_back = seed % 2 == 0;
        opts.cut_after_changes = Some(trial::random_moment(seed, 16)).filter(|n| *n <= 14);
        let mounted = Mounted::mount(&opts).expect("mounts");
        let status = Command::new("sh")
            .args(["-c", PROGRAM])
            .current_dir(mounted.mountpoint())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("sh runs");
        if !mounted.is_cut() {
            assert!(status.success());
            mounted.cut_now("after the program");
        }
        let Ending::Cut(cut) = mounted.finish().expect("finishes") else {
            panic!("a cut was made")
        };
        let state = snapshot(&b).expect("snapshot");
        let digest = state.digest();
        assert_eq!(
            digest,
            cut.image.digest(),
            "the backing directory holds the cut's image"
        );
        assert!(
            explored.contains(&digest),
            "seed {seed}: the live state after '{}' is not one the explorer enumerates:\n{:#?}\nlost: {:#?}",
            cut.why,
            state.walk().iter().map(|(p, _)| p).collect::<Vec<_>>(),
            cut.log
        );
        seen.insert(digest);
        assert_eq!(faultline_mounts(dir.path()), 0, "no mount is left behind");
    }
    assert!(seen.len() >= 8, "the cuts reach many states: {}", seen.len());
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A `--cut-after` trigger cuts at its Nth matching call and stops the program; the control
/// socket answers `status` and cuts on `cut`; a clean finish keeps everything written.
#[test]
fn triggers_and_the_control_socket_cut_and_a_clean_finish_keeps_everything() {
    if !fuse_works() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp");
    let (b, m) = (dir.path().join("b"), dir.path().join("m"));
    std::fs::create_dir(&b).expect("mkdir");
    std::fs::create_dir(&m).expect("mkdir");
    // The trigger: the second fsync of a *.wal file.
    let mut opts = options(&b, &m);
    opts.triggers = vec!["fsync:*.wal:2".parse().expect("trigger")];
    let mounted = Mounted::mount(&opts).expect("mounts");
    let status = Command::new("sh")
        .args([
            "-c",
            "echo 1 >> x.wal && sync x.wal && echo 2 >> x.wal && sync x.wal && echo 3 >> x.wal && echo reached",
        ])
        .current_dir(mounted.mountpoint())
        .output()
        .expect("sh runs");
    assert!(
        !String::from_utf8_lossy(&status.stdout).contains("reached"),
        "the cut stopped the program"
    );
    let Ending::Cut(cut) = mounted.finish().expect("finishes") else {
        panic!("the trigger cut")
    };
    assert!(cut.why.contains("fsync:*.wal:2"), "{}", cut.why);
    assert_eq!(
        std::fs::read_to_string(b.join("x.wal")).ok(),
        None,
        "the file's name was never made durable"
    );

    // The control socket, and a clean finish.
    let (b2, m2) = (dir.path().join("b2"), dir.path().join("m2"));
    std::fs::create_dir(&b2).expect("mkdir");
    std::fs::create_dir(&m2).expect("mkdir");
    let opts = options(&b2, &m2);
    let socket: PathBuf = opts.control.clone().expect("socket");
    let mounted = Mounted::mount(&opts).expect("mounts");
    std::fs::write(mounted.mountpoint().join("kept"), "all of it").expect("write");
    let status = faultline_runner::live::mount::send(&socket, "status").expect("answers");
    assert!(status.starts_with("changes 2, in doubt 2"), "{status}");
    let bad = faultline_runner::live::mount::send(&socket, "reboot").expect("answers");
    assert!(bad.starts_with("error: unknown command 'reboot'"), "{bad}");
    assert!(!mounted.is_cut());
    let Ending::Clean { changes } = mounted.finish().expect("finishes") else {
        panic!("nothing cut")
    };
    assert_eq!(changes, 2);
    assert_eq!(
        std::fs::read_to_string(b2.join("kept")).expect("kept"),
        "all of it"
    );
    assert!(!socket.exists(), "the control socket is removed");

    let (b3, m3) = (dir.path().join("b3"), dir.path().join("m3"));
    std::fs::create_dir(&b3).expect("mkdir");
    std::fs::create_dir(&m3).expect("mkdir");
    let opts = options(&b3, &m3);
    let mounted = Mounted::mount(&opts).expect("mounts");
    std::fs::write(mounted.mountpoint().join("lost"), "never synced").expect("write");
    let answer =
        faultline_runner::live::mount::send(opts.control.as_ref().expect("socket"), "cut").expect("answers");
    assert_eq!(answer, "cut: 2 changes in doubt, 2 lost or torn");
    assert!(
        std::fs::write(mounted.mountpoint().join("after"), "x").is_err(),
        "after the cut every call fails"
    );
    let Ending::Cut(cut) = mounted.finish().expect("finishes") else {
        panic!("cut")
    };
    assert_eq!(
        cut.log,
        [
            "lost: create lost (call 1)",
            "lost: write lost 12 bytes at 0 (call 2)"
        ]
    );
    assert_eq!(std::fs::read_dir(&b3).expect("dir").count(), 0);
    assert_eq!(faultline_mounts(dir.path()), 0, "no mount is left behind");
}
