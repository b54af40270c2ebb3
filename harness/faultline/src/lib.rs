//! Test your own file-persistence code against crashes and power loss.
//!
//! Write the code against [`fs`], a `std::fs`-shaped module: in ordinary builds it is the
//! real file system. Inside [`check`] the same calls go to a simulated file system that
//! records what each one changed; faultline then enumerates every state a process crash or
//! a power cut could leave (lost renames, torn writes, data never fsynced), runs your
//! recovery on each, and asks your oracle whether it is acceptable. A failure names the
//! state, the call the crash came after, what was lost, and an environment variable that
//! replays exactly that state.
//!
//! The swap happens at run time (a thread-local set by the check) rather than by a `cfg`
//! as loom does: the code under test needs no second build, the same binary runs both ways,
//! and each test thread of `cargo test` has its own simulated file system. Outside a check
//! a call costs one atomic load more than `std::fs`.
//!
//! # Example: a save function missing its directory fsync
//!
//! ```
//! use std::io::Write;
//! use std::path::Path;
//!
//! use faultline::{Check, fs, oracle};
//!
//! /// Replaces the file at `path` with `data`: a temp file, fsynced, renamed over it.
//! fn save(path: &Path, data: &[u8]) -> std::io::Result<()> {
//!     let tmp = path.with_extension("tmp");
//!     let mut file = fs::File::create(&tmp)?;
//!     file.write_all(data)?;
//!     file.sync_all()?;
//!     fs::rename(&tmp, path)
//! }
//!
//! /// The same, then an fsync of the directory: only that makes the new name durable.
//! fn save_fixed(path: &Path, data: &[u8]) -> std::io::Result<()> {
//!     save(path, data)?;
//!     fs::sync_dir(path.parent().unwrap_or(Path::new(".")))
//! }
//!
//! type Save = fn(&Path, &[u8]) -> std::io::Result<()>;
//!
//! fn check(save: Save) -> Result<faultline::Summary, faultline::Failures> {
//!     Check::new().setup(|| fs::write("config.json", "v0")).run(
//!         || {
//!             save(Path::new("config.json"), b"v1")?;
//!             faultline::ack("saved v1");
//!             Ok(())
//!         },
//!         |state| {
//!             oracle::old_or_new(state, "config.json", &[b"v0", b"v1"])?;
//!             oracle::acknowledged_durable(state, "config.json", &[("saved v1", b"v1")])
//!         },
//!     )
//! }
//!
//! // A power cut after the save returned can undo the rename: v0 is back.
//! let failures = check(save).expect_err("the rename is not durable");
//! assert!(failures.to_string().contains("lost: call"), "{failures}");
//! // With the directory fsync every crash state passes.
//! let summary = check(save_fixed).expect("the fixed save survives every crash");
//! assert!(summary.exhaustive && summary.states > 5);
//! ```
//!
//! [`check`] panics instead of returning the failures, for use in a `#[test]`; [`Check`]
//! sets the models, the block size writes tear at, the budget, the setup and the recovery.
//! [`Check::run_real`] kills the workload for real, with SIGKILL at each [`crash_point!`],
//! in a child process. Built with `--cfg shuttle` or `--cfg loom`, each simulated call is a
//! scheduling point of that model checker, so a check inside a shuttle or loom test judges the
//! crash states of every schedule it visits.

pub mod fs;
pub mod oracle;

mod check;
mod core_fs;
mod locks;
mod real;
mod session;

pub use check::{Check, Failures, Model, REPLAY_VAR, State, Summary, ack, check};
pub use core_fs::CheckFs;
pub use session::spawn;

/// Marks a named place in the code: inside a check it is recorded in the trace, so failed
/// states name the last point passed; in a child of [`Check::run_real`] it is where the child
/// may be killed; elsewhere it costs two atomic loads.
#[doc(hidden)]
pub fn __crash_point(name: &'static str) {
    match session::current() {
        Some(session) => faultline_core::Fs::crash_point(session.step(), name),
        None => real::crash_point(name),
    }
}

/// Marks a named place in your code, e.g. `faultline::crash_point!("after_rename")`.
/// Inside a check it is recorded in the trace, so a failed state names the last point
/// passed; outside a check it costs two relaxed atomic loads.
#[macro_export]
macro_rules! crash_point {
    ($name:literal) => {
        $crate::__crash_point($name)
    };
}
