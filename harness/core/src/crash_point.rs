//! Crash points: named places in target code where a crash is interesting.
//!
//! A target calls `fs.crash_point("atomic_write.before_rename")` between two steps. On
//! [`crate::RealFs`] that is one branch on an absent plan unless a [`CrashPlan`] is armed, in which
//! case the process SIGKILLs itself at the planned hit, so a kill mid-write is exact and
//! repeatable. On [`crate::SimFs`] the point is recorded in the trace (it labels crash states) and
//! may run a hook, which is how two simulated writers are interleaved at an exact place.
//! Names are `family.place`; each family lists its points so scenarios can be checked.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Kill this process (or stop it) at the `hit`-th time (counting from 1) it passes crash
/// point `point`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CrashPlan {
    /// The crash point's name, e.g. `atomic_write.before_rename`.
    pub point: String,
    /// Which hit kills: 1 is the first time the point is reached.
    pub hit: u64,
    /// Stop (SIGSTOP itself) there instead of dying, and go on once continued: a race
    /// window held open on purpose while other processes run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stop: bool,
}

/// The plan armed for this process's crash points outside a [`crate::RealFs`] ([`pass`]).
static ARMED: Mutex<Option<CrashPlan>> = Mutex::new(None);
/// Passes of the armed plan's point so far.
static HITS: AtomicU64 = AtomicU64::new(0);

/// Arms `plan` for the crash points this process passes through [`pass`] (code that has no
/// file system handle to ask, such as lock files made with `std::fs`).
pub fn arm(plan: Option<CrashPlan>) {
    if let Ok(mut armed) = ARMED.lock() {
        *armed = plan;
        HITS.store(0, Ordering::SeqCst);
    }
}

/// Passes crash point `name`: a no-op unless the armed plan names it and this is its hit.
pub fn pass(name: &'static str) {
    // Only a pass of the armed point clones the plan (to reach it outside the lock).
    let plan = match ARMED.lock() {
        Ok(armed) => armed.as_ref().filter(|p| p.point == name).cloned(),
        Err(_) => None,
    };
    if let Some(plan) = plan
        && HITS.fetch_add(1, Ordering::SeqCst) + 1 == plan.hit
    {
        plan.reach();
    }
}

impl CrashPlan {
    /// Its hit is reached: the process dies ([`CrashPlan::fire`]) or, for a stop plan, stops
    /// until it is continued.
    pub fn reach(&self) {
        if self.stop {
            let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::STOP);
        } else {
            self.fire();
        }
    }

    /// SIGKILLs this process. Used by [`crate::RealFs`] (and workers with their own crash points) when the plan's hit is reached.
    pub fn fire(&self) -> ! {
        // SIGKILL cannot be caught, so nothing after this line runs; the loop only satisfies
        // the type checker should the signal be delayed.
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        loop {
            std::thread::park();
        }
    }
}
