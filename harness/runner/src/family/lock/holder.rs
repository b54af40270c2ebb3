//! Lock holders: worker processes of family `lock`. Each opens the trial's lock file once and
//! enters critical sections in a loop, logging each entry and exit with a monotonic clock
//! reading to its own log file, so the runner can tell afterwards whether two holders were
//! ever inside at once.
//!
//! Log lines: `<event> <holder> <section> <nanoseconds>`, event `E` (entered exclusive), `S`
//! (entered shared), `X` (left), `D` (about to die at its crash point); an upgrade logs `X`
//! before it and `E` after it. Each line is one `write` to a file opened O_APPEND, so a kill never leaves half of
//! one (a partial last line is ignored anyway).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use faultline_core::{CrashPlan, FailureKind};
use faultline_targets::lock::{self, LockError, Mode};

use super::plan::{LockPlan, LockWorkload};
use crate::process::worker::{FirstFailure, Pipes, Report, now_ns, send, short, wait_at_barrier};

/// The lock file every holder locks.
pub const LOCK_FILE: &str = "main.lock";
/// The second lock of the nested workload.
pub const SECOND_LOCK_FILE: &str = "second.lock";
/// The counter of the counter workload.
pub const COUNTER_FILE: &str = "counter";
/// What a planted symlink points to.
pub const VICTIM_FILE: &str = "victim.txt";
/// The victim's contents, which must survive.
pub const VICTIM_TEXT: &str = "the user's data: locking must never touch this file\n";

/// A holder's instructions.
#[derive(Clone, Debug)]
pub struct HolderPlan {
    /// Holder number (writers from 1, then readers).
    pub id: u32,
    /// The lock variant.
    pub variant: lock::Variant,
    /// The trial directory.
    pub dir: PathBuf,
    /// Writers hold exclusively, readers shared.
    pub mode: Mode,
    /// Critical sections to run.
    pub sections: u32,
    /// Pause between sections.
    pub pause_us: u64,
    /// The scenario's `[lock]` table.
    pub lock: LockPlan,
    /// Kill itself at this crash point.
    pub crash: Option<CrashPlan>,
}

/// The log file of holder `id`.
pub fn log_name(id: u32) -> String {
    format!("cs.{id}.log")
}

struct Log(std::fs::File);

impl Log {
    fn event(&mut self, event: char, id: u32, section: u32) {
        let _ = self
            .0
            .write_all(format!("{event} {id} {section} {}\n", now_ns()).as_bytes());
    }
}

struct Tally {
    id: u32,
    start: Instant,
    failures: BTreeMap<FailureKind, u64>,
    first: Option<FirstFailure>,
    gave_up: Option<String>,
}

impl Tally {
    fn new(id: u32) -> Self {
        Tally {
            id,
            start: Instant::now(),
            failures: BTreeMap::new(),
            first: None,
            gave_up: None,
        }
    }

    fn fail(&mut self, kind: FailureKind, detail: String) {
        *self.failures.entry(kind).or_default() += 1;
        let id = self.id;
        let at_s = self.start.elapsed().as_secs_f64();
        self.first.get_or_insert_with(|| FirstFailure {
            kind,
            detail: short(format!("holder {id}: {detail}")),
            at_s,
        });
    }

    /// Records a failed acquisition; returns whether the holder should go on.
    fn lock_error(&mut self, e: &LockError, refused: &mut u64) -> bool {
        match e {
            // Waiting longer than the timeout is no fact: the holder stops, and the trial
            // is judged by what is left (the lock held with every holder gone is StuckLock).
            LockError::Timeout { .. } => {
                let id = self.id;
                self.gave_up
                    .get_or_insert_with(|| format!("holder {id} gave up: {e}"));
            }
            // Refusing a planted symlink is the right answer, not a failure.
            LockError::Symlink { .. } => *refused += 1,
            LockError::Io { .. } | LockError::NoRanges { .. } => {
                self.fail(FailureKind::UnexpectedError, e.to_string())
            }
        }
        false
    }
}

/// A holder's body; returns its exit code.
pub fn holder(plan: &HolderPlan, pipes: &Pipes<'_>) -> i32 {
    if !wait_at_barrier(pipes) {
        return 0;
    }
    let mut tally = Tally::new(plan.id);
    let mut sections = 0u64;
    let mut acknowledged = 0u64;
    let mut refused = 0u64;
    run(plan, &mut tally, &mut sections, &mut acknowledged, &mut refused);
    send(
        pipes,
        &Report::Holder {
            id: plan.id,
            sections,
            acknowledged,
            refused,
            failures: tally.failures,
            first: tally.first,
            gave_up: tally.gave_up,
        },
    );
    0
}

fn run(plan: &HolderPlan, tally: &mut Tally, sections: &mut u64, acknowledged: &mut u64, refused: &mut u64) {
    // Crash points inside the lock's own code (L6's PID file) are passed through the
    // process's armed plan; `lock.held` is this holder's to pass.
    faultline_core::crash_point::arm(plan.crash.clone().filter(|c| c.point != "lock.held"));
    let timeout = (plan.lock.timeout_ms > 0).then(|| Duration::from_millis(plan.lock.timeout_ms));
    let hold = Duration::from_micros(plan.lock.hold_us);
    if plan.lock.lockdep
        && let Err(e) = lock::lockdep::enable(&plan.dir)
    {
        tally.fail(FailureKind::UnexpectedError, format!("lockdep: {e}"));
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(plan.dir.join(log_name(plan.id)));
    let mut log = match log {
        Ok(f) => Log(f),
        Err(e) => return tally.fail(FailureKind::UnexpectedError, format!("log: {e}")),
    };
    let main = match plan.variant.open(&plan.dir.join(LOCK_FILE)) {
        Ok(l) => l,
        Err(e) => {
            tally.lock_error(&e, refused);
            return;
        }
    };
    let second = match plan.lock.workload {
        LockWorkload::Nested => match plan.variant.open(&plan.dir.join(SECOND_LOCK_FILE)) {
            Ok(l) => Some(l),
            Err(e) => {
                tally.lock_error(&e, refused);
                return;
            }
        },
        _ => None,
    };
    let mut hits = 0u64;
    for section in 1..=plan.sections {
        let entered = match plan.lock.workload {
            LockWorkload::Counter => {
                lock::increment(&main, &plan.dir.join(COUNTER_FILE), timeout).map(|_| {
                    *acknowledged += 1;
                })
            }
            LockWorkload::Nested => {
                let second = second.as_ref().expect("opened for the nested workload");
                nested_section(plan, [&main, second], section, timeout, hold)
            }
            LockWorkload::CriticalSection | LockWorkload::Upgrade => {
                let mut inside = Inside {
                    plan,
                    log: &mut log,
                    tally: &mut *tally,
                    hits: &mut hits,
                };
                inside.section(&main, section, timeout, hold)
            }
        };
        if let Err(e) = entered {
            tally.lock_error(&e, refused);
            return;
        }
        *sections += 1;
        if plan.pause_us > 0 {
            std::thread::sleep(Duration::from_micros(plan.pause_us));
        }
    }
}

/// One section of the nested workload: both locks, in the order the holder names them this
/// section (holders start on alternate orders), taken in the variant's acquisition order (the
/// reference sorts), one at a time with the hold between: the first at one call site, the
/// second at another, so the lock-order graph names both.
fn nested_section(
    plan: &HolderPlan,
    [main, second]: [&lock::LockFile; 2],
    section: u32,
    timeout: Option<Duration>,
    hold: Duration,
) -> Result<(), LockError> {
    let wanted = if (plan.id + section) % 2 == 0 {
        [main, second]
    } else {
        [second, main]
    };
    let order = lock::acquisition_order(&wanted);
    let first = order[0].lock(plan.mode, timeout)?;
    std::thread::sleep(hold);
    let then = order[1].lock(plan.mode, timeout)?;
    std::thread::sleep(hold);
    drop((then, first));
    Ok(())
}

/// A holder inside its logged critical sections.
struct Inside<'a> {
    plan: &'a HolderPlan,
    log: &'a mut Log,
    tally: &'a mut Tally,
    /// Passes of the crash point `lock.held` so far.
    hits: &'a mut u64,
}

impl Inside<'_> {
    /// One logged critical section: enter (`E` or `S`), maybe die at `lock.held`, check the
    /// owner record, hold (upgrading every other section in the upgrade workload), check it
    /// again, leave (`X`).
    fn section(
        &mut self,
        main: &lock::LockFile,
        section: u32,
        timeout: Option<Duration>,
        hold: Duration,
    ) -> Result<(), LockError> {
        let plan = self.plan;
        let mut guard = main.lock(plan.mode, timeout)?;
        // The mode held, which for locks with no shared mode is exclusive.
        self.log.event(
            if guard.mode() == Mode::Exclusive { 'E' } else { 'S' },
            plan.id,
            section,
        );
        if let Some(crash) = &plan.crash
            && crash.point == "lock.held"
        {
            *self.hits += 1;
            if *self.hits == crash.hit {
                if !crash.stop {
                    self.log.event('D', plan.id, section);
                }
                crash.reach();
            }
        }
        // A holder checks its owner record on entering and again before leaving.
        if let Err(detail) = guard.check_owner() {
            self.tally.fail(FailureKind::OwnerRecordErased, detail);
        }
        if plan.lock.spawn_helper {
            spawn_helper(plan.lock.timeout_ms);
        }
        std::thread::sleep(hold);
        if plan.lock.workload == LockWorkload::Upgrade && guard.mode() == Mode::Shared && section % 2 == 0 {
            // The references release the shared hold before waiting for the exclusive one,
            // so the shared stretch ends here; an in-place upgrade (L9) is judged by the
            // watchdog, not by overlaps.
            self.log.event('X', plan.id, section);
            guard.upgrade(timeout)?;
            self.log.event('E', plan.id, section);
            std::thread::sleep(hold);
        }
        if let Err(detail) = guard.check_owner() {
            self.tally.fail(FailureKind::OwnerRecordErased, detail);
        }
        self.log.event('X', plan.id, section);
        drop(guard);
        Ok(())
    }
}

/// Starts `sleep` with no stdio, as a holder running a hook would, and does not wait for it.
/// It inherits every descriptor not marked close-on-exec. It sleeps ten lock timeouts, so a
/// lock it inherited outlasts holders giving up on it one after another (as a race window's
/// do); it is in the trial's process group, and the runner kills it when the trial ends.
fn spawn_helper(timeout_ms: u64) {
    let seconds = (timeout_ms * 10).div_ceil(1000).max(1);
    let _ = std::process::Command::new("sleep")
        .arg(seconds.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// The victim a planted symlink at the lock path points to, and the link.
pub fn plant_symlink(dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join(VICTIM_FILE), VICTIM_TEXT)?;
    std::os::unix::fs::symlink(VICTIM_FILE, dir.join(LOCK_FILE))
}

/// The body of `faultline critical-section`, the command a lock program's holder runs as
/// `{critical}` while it holds the lock: logs entering (`E`) to `log`, stays `hold`, logs
/// leaving (`X`). It is a child of the holder program, so it dies with it: an interval with no
/// `X` ends where the runner killed the holder.
pub fn critical_section(log: &Path, holder: u32, section: u32, hold: Duration) -> std::io::Result<()> {
    let parent = rustix::process::getppid();
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    if rustix::process::getppid() != parent {
        return Err(std::io::Error::other("the holder died before the section began"));
    }
    let mut log = Log(std::fs::OpenOptions::new().create(true).append(true).open(log)?);
    log.event('E', holder, section);
    std::thread::sleep(hold);
    log.event('X', holder, section);
    Ok(())
}

/// A lock program's holder (a `holder` command): a worker that runs the program once per
/// section; the program takes the lock and runs `{critical}` inside.
#[derive(Clone, Debug)]
pub struct CommandHolderPlan<'s> {
    /// Holder number, from 1.
    pub id: u32,
    /// The table's commands and directory.
    pub roles: &'s crate::program::CommandRoles,
    /// The holder command.
    pub holder: &'s [String],
    /// The trial directory.
    pub dir: PathBuf,
    /// Sections to run.
    pub sections: u32,
    /// Pause between sections.
    pub pause_us: u64,
    /// How long `{critical}` stays inside.
    pub hold_us: u64,
}

/// A lock program's holder's body; returns its exit code.
pub fn command_holder(plan: &CommandHolderPlan<'_>, pipes: &Pipes<'_>) -> i32 {
    use crate::program::{self, Vars};
    if !wait_at_barrier(pipes) {
        return 0;
    }
    let mut tally = Tally::new(plan.id);
    let mut sections = 0u64;
    {
        let lock = plan.dir.join(LOCK_FILE);
        let log = plan.dir.join(log_name(plan.id)).display().to_string();
        for section in 1..=plan.sections {
            let critical = [
                program::faultline_binary(),
                "critical-section".to_string(),
                log.clone(),
                plan.id.to_string(),
                section.to_string(),
                plan.hold_us.to_string(),
            ];
            let vars = Vars {
                writer: plan.id,
                critical: &critical,
                ..Vars::new(&lock, 0)
            };
            let words = plan.roles.expand(plan.holder, &vars);
            match program::run(&words, &plan.dir) {
                Ok(out) if out.status.success() => sections += 1,
                Ok(out) => tally.fail(
                    FailureKind::UnexpectedError,
                    format!("section {section}: {}", program::failure_detail(&words, &out)),
                ),
                Err(e) => tally.fail(
                    FailureKind::UnexpectedError,
                    format!("cannot run `{}`: {e}", words[0]),
                ),
            }
            if plan.pause_us > 0 {
                std::thread::sleep(Duration::from_micros(plan.pause_us));
            }
        }
    }
    send(
        pipes,
        &Report::Holder {
            id: plan.id,
            sections,
            acknowledged: 0,
            refused: 0,
            failures: tally.failures,
            first: tally.first,
            gave_up: tally.gave_up,
        },
    );
    0
}
