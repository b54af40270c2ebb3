//! Crash points: named places in target code where a crash is interesting.
//!
//! A target calls `fs.crash_point("atomic_write.before_rename")` between two steps. On
//! [`crate::RealFs`] that is one branch on an absent plan unless a [`CrashPlan`] is armed, in which
//! case the process SIGKILLs itself at the planned hit, so a kill mid-write is exact and
//! repeatable. On [`crate::SimFs`] the point is recorded in the trace (it labels crash states) and
//! may run a hook, which is how two simulated writers are interleaved at an exact place.
//! Names are `family.place`; each family lists its points so scenarios can be checked.

/// Kill this process at the `hit`-th time (counting from 1) it passes crash point `point`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CrashPlan {
    /// The crash point's name, e.g. `atomic_write.before_rename`.
    pub point: String,
    /// Which hit kills: 1 is the first time the point is reached.
    pub hit: u64,
}

impl CrashPlan {
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
