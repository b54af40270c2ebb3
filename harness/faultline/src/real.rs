//! The real-process mode: [`Check::run_real`] kills the workload with SIGKILL at each crash
//! point it passes, on the real file system, in a child process, and judges what is left.
//!
//! The child is this test binary run again for the same test (as `rusty-fork` does), with an
//! environment variable saying what to do: no `fork` of a multi-threaded test process.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use faultline_core::{FileData, FsImage, Node};

use crate::check::{Check, Failures, REPLAY_VAR, State, Summary};

/// Tells a child run of the test what to do: `crash\tDIR\tPOINT\tHIT` or `recover\tDIR`.
const CHILD_VAR: &str = "FAULTLINE_REAL_CHILD";

/// In a crash child: the point to die at and which pass of it, and the passes so far.
static PLAN: Mutex<Option<(String, u64)>> = Mutex::new(None);
static PASSES: AtomicU64 = AtomicU64::new(0);
/// Whether a plan is set: outside a crash child a crash point costs this one load.
static ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Called by every crash point: in a crash child, dies at the planned pass.
pub(crate) fn crash_point(name: &str) {
    if !ARMED.load(Ordering::Relaxed) {
        return;
    }
    let plan = PLAN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((point, hit)) = plan.as_ref()
        && point == name
        && PASSES.fetch_add(1, Ordering::SeqCst) + 1 == *hit
    {
        // SIGKILL, as a crash: no destructor, no flush, no atexit.
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

/// What the child of this process run was asked to do, if it is one.
enum Child {
    Crash { dir: PathBuf, point: String, hit: u64 },
    Recover { dir: PathBuf },
}

fn child() -> Option<Child> {
    let spec = std::env::var(CHILD_VAR).ok()?;
    let mut parts = spec.split('\t');
    match (parts.next()?, parts.next()?, parts.next(), parts.next()) {
        ("crash", dir, Some(point), Some(hit)) => Some(Child::Crash {
            dir: dir.into(),
            point: point.to_string(),
            hit: hit.parse().ok()?,
        }),
        ("recover", dir, None, None) => Some(Child::Recover { dir: dir.into() }),
        _ => None,
    }
}

/// Runs this test again in a child process with `spec`; its exit status and output.
fn run_child(test: &str, spec: &str) -> io::Result<std::process::Output> {
    Command::new(std::env::current_exe()?)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, spec)
        .output()
}

/// A directory on the real file system read into an image, so that the oracle sees it as it
/// sees a simulated state.
fn image_of(dir: &Path) -> io::Result<FsImage> {
    fn walk(image: &mut FsImage, at: Ino, path: &Path) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let meta = entry.metadata()?;
            let mode = meta.permissions().mode() & 0o7777;
            let ino = image.next_ino();
            if meta.is_dir() {
                image.insert(ino, Node::empty_dir(mode));
                walk(image, ino, &entry.path())?;
            } else if meta.is_file() {
                let mut data = FileData::new();
                data.write_at(0, &std::fs::read(entry.path())?);
                image.insert(
                    ino,
                    Node::File {
                        data: Arc::new(data),
                        mode,
                    },
                );
            } else {
                continue;
            }
            let name: Arc<str> = entry.file_name().to_string_lossy().into();
            image.set_entry(at, &name, ino);
        }
        Ok(())
    }
    use faultline_core::Ino;
    let mut image = FsImage::new();
    walk(&mut image, faultline_core::image::ROOT_INO, dir)?;
    Ok(image)
}

impl Check {
    /// Process crashes on the real file system. The workload first runs once on the
    /// simulated file system to learn the crash points it passes ([`crate::crash_point!`]).
    /// Then, for each point and each time it is passed, this test runs again in a child
    /// process, in a fresh directory made by the setup, and is killed with SIGKILL there. The
    /// recovery runs in a second child on what the real file system kept, and the oracle judges
    /// it. Relative paths in the workload, setup and recovery name files in that directory.
    ///
    /// Call it from a `#[test]`: the child is found by the test's name.
    pub fn run_real(
        &self,
        workload: impl FnOnce() -> io::Result<()>,
        oracle: impl Fn(&State) -> Result<(), String>,
    ) -> Result<Summary, Failures> {
        match child() {
            Some(Child::Crash { dir, point, hit }) => {
                std::env::set_current_dir(&dir)
                    .unwrap_or_else(|e| panic!("faultline: {}: {e}", dir.display()));
                if let Some(setup) = &self.setup {
                    setup().unwrap_or_else(|e| panic!("faultline: the setup failed: {e}"));
                }
                *PLAN.lock().unwrap_or_else(|p| p.into_inner()) = Some((point, hit));
                ARMED.store(true, Ordering::SeqCst);
                let result = workload();
                // Past the point without dying: the run differed from the simulated one.
                std::process::exit(if result.is_ok() { 0 } else { 1 });
            }
            Some(Child::Recover { dir }) => {
                std::env::set_current_dir(&dir)
                    .unwrap_or_else(|e| panic!("faultline: {}: {e}", dir.display()));
                let result = self.recover.as_ref().map_or(Ok(()), |recover| recover());
                if let Err(e) = result {
                    eprintln!("faultline: the recovery failed: {e}");
                    std::process::exit(1);
                }
                std::process::exit(0);
            }
            None => {}
        }
        thread_local! {
            static CALLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        assert!(
            !CALLED.with(|c| c.replace(true)),
            "faultline: one run_real per test: its child process runs the test again and stops at the first"
        );
        let test = crate::check::test_name().unwrap_or_else(|| {
            panic!("faultline: run_real must run inside a #[test], whose name finds the child")
        });
        let run = self.record(workload);
        // Each point and pass, with what had been acknowledged when the workload got there.
        let mut points: Vec<(String, u64, Vec<String>)> = Vec::new();
        for (at, entry) in run.trace.iter().enumerate() {
            if let Some(point) = entry.crash_point {
                let hit = points.iter().filter(|(p, _, _)| p == point).count() as u64 + 1;
                points.push((point.to_string(), hit, run.acknowledged_at(at)));
            }
        }
        assert!(
            !points.is_empty(),
            "faultline: the workload passes no crash point; mark places with faultline::crash_point!"
        );
        let replay = std::env::var(REPLAY_VAR).ok();
        let mut failures = Failures {
            states: 0,
            failed: 0,
            first: Vec::new(),
            replay: String::new(),
        };
        for (point, hit, acknowledged) in points {
            let id = format!("real:{point}:{hit}");
            if replay.as_ref().is_some_and(|r| *r != id) {
                continue;
            }
            failures.states += 1;
            let dir = tempdir_for(&test);
            let verdict = judge_real(&test, &dir, (&point, hit), acknowledged, &oracle);
            let _ = std::fs::remove_dir_all(&dir);
            if let Err(why) = verdict {
                failures.failed += 1;
                if failures.first.is_empty() {
                    failures.first.push(format!(
                        "\nfirst failed state: killed at crash point {point} (pass {hit})\n{why}\n"
                    ));
                    failures.replay = format!("{}={id} cargo test -- --exact {test}", REPLAY_VAR);
                }
            }
        }
        // A replay that names no state of this check must not pass it silently.
        if let Some(replay) = &replay
            && failures.states == 0
        {
            panic!("faultline: {}={replay} names no state of this check", REPLAY_VAR);
        }
        if failures.failed > 0 {
            return Err(failures);
        }
        Ok(Summary {
            calls: run.trace.len(),
            states: failures.states,
            exhaustive: true,
        })
    }
}

/// A fresh directory for one child, named after the test and this process.
fn tempdir_for(test: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name: String = test
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let dir = std::env::temp_dir().join(format!(
        "faultline-real-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("faultline: {}: {e}", dir.display()));
    dir
}

/// One kill at `point`, pass `hit`, then the recovery and the oracle.
fn judge_real(
    test: &str,
    dir: &Path,
    (point, hit): (&str, u64),
    acknowledged: Vec<String>,
    oracle: &dyn Fn(&State) -> Result<(), String>,
) -> Result<(), String> {
    use std::os::unix::process::ExitStatusExt as _;
    let shown = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).trim().to_string();
    let crashed = run_child(test, &format!("crash\t{}\t{point}\t{hit}", dir.display()))
        .map_err(|e| format!("could not start the child: {e}"))?;
    if crashed.status.signal() != Some(rustix::process::Signal::KILL.as_raw()) {
        return Err(format!(
            "the child was not killed at the point ({}): {}",
            crashed.status,
            shown(&crashed)
        ));
    }
    let recovered = run_child(test, &format!("recover\t{}", dir.display()))
        .map_err(|e| format!("could not start the recovery: {e}"))?;
    if !recovered.status.success() {
        return Err(format!(
            "the recovery failed ({}): {}",
            recovered.status,
            shown(&recovered)
        ));
    }
    let image = image_of(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    let state = State::real(image, acknowledged, format!("real:{point}:{hit}"));
    oracle(&state).map_err(|why| {
        format!(
            "  oracle: {why}\n  acknowledged by then: {:?}\n  files after recovery:{}",
            state.acknowledged(),
            crate::check::listing(&state.image)
        )
    })
}
