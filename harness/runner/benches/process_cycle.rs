//! The cost of one kill-and-check cycle of the process runner, next to a bare fork + SIGKILL +
//! waitpid in the same run.
//!
//! `kill_and_check_trial` is a whole trial with a random kill at the earliest offset: a fresh
//! directory holding version 0, a writer forked, SIGKILLed by the runner, reaped, then the
//! old-or-new check, the variant's recovery, the temp check and the directory's removal. Its
//! cost over the bare cycle is the harness's own.
//! `crash_point_trial` lets the writer run until it kills itself at `atomic_write.after_write`:
//! the extra time is the child running target code (faulting in its pages), not harness cost.
//! Trials run in one workspace, as `faultline run`
//! makes one per variant. All run on /dev/shm when it exists, so disk latency does not hide the harness's cost.
//!
//! fork(2) costs in proportion to the memory the forking process has mapped (about 100 µs more
//! per 4 MiB of touched heap here), and criterion's own analysis leaves freed heap behind after
//! each benchmark. Without care the benchmark that runs later forks a bigger process than the
//! one before it. So before every sample each benchmark hands free heap back to the kernel
//! (`malloc_trim`), and all three fork the same size of process.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faultline_runner::family::target::Target;
use faultline_runner::process::trial::{TrialPlan, Workspace, run_trial};
use faultline_runner::scenario_file;
use faultline_targets::atomic_write::Variant;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};

const KILL: &str = r#"
family = "atomic-write"
variants = ["durable"]
[roles]
writers = 1
[workload]
document_bytes = 4096
[faults]
kill = { offset_ms = [0, 0] }
[oracle]
checks = ["old-or-new", "no-leaked-temps"]
"#;

const CRASH_POINT: &str = r#"
family = "atomic-write"
variants = ["durable"]
[roles]
writers = 1
[workload]
document_bytes = 4096
[faults]
crash_points = [{ point = "atomic_write.after_write", hit = 1 }]
[oracle]
checks = ["old-or-new", "no-leaked-temps"]
"#;

fn bare_fork_kill_wait() {
    #[expect(
        unsafe_code,
        reason = "the baseline is a bare fork; the child only sleeps until killed"
    )]
    // SAFETY: the child runs no Rust code that could need a lock: it sleeps until SIGKILL.
    let forked = unsafe { fork() }.expect("fork");
    match forked {
        ForkResult::Child => loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        },
        ForkResult::Parent { child } => {
            kill(child, Signal::SIGKILL).expect("kill");
            waitpid(child, None).expect("waitpid");
        }
    }
}

/// Returns the heap's free memory to the kernel, so every benchmark forks the same process size.
fn trim_heap() {
    #[expect(unsafe_code, reason = "malloc_trim has no safe wrapper")]
    // SAFETY: malloc_trim only releases free memory; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn cycles(c: &mut Criterion) {
    let shm = Path::new("/dev/shm");
    let root = shm.is_dir().then_some(shm);
    let kill = scenario_file::parse(Path::new("kill.toml"), KILL).expect("the bench scenario parses");
    let crash =
        scenario_file::parse(Path::new("crash.toml"), CRASH_POINT).expect("the bench scenario parses");
    let cancel = AtomicBool::new(false);
    let mut group = c.benchmark_group("process_cycle");
    group.throughput(Throughput::Elements(1));
    group.bench_function("bare_fork_sigkill_waitpid", |b| {
        trim_heap();
        b.iter(bare_fork_kill_wait)
    });
    for (name, scenario) in [("kill_and_check_trial", &kill), ("crash_point_trial", &crash)] {
        // One workspace and one set of roles per variant, as `faultline run` makes them.
        let mut workspace = Workspace::new(root).expect("workspace");
        let mut roles = Target::BuiltIn(Variant::Durable.info())
            .roles(scenario)
            .expect("a process workload");
        group.bench_function(name, |b| {
            trim_heap();
            b.iter(|| {
                let plan = TrialPlan { scenario, trial: 0 };
                let outcome =
                    run_trial(&plan, &mut *roles, &mut workspace, &cancel, false).expect("the trial runs");
                assert!(!outcome.failed(), "{outcome:?}");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, cycles);
criterion_main!(benches);
