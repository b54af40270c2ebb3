//! Real processes on a real file system: the `process` detector.
//!
//! A trial ([`trial`]) prepares a fresh directory, forks the workers (see [`fork`]), releases
//! them together, injects the scenario's faults (random SIGKILL of a worker, an exact kill at
//! a crash point, a SIGSTOP pause), watches with a watchdog, and hands the judgement to the
//! family: what its writers and readers are, and how a trial is judged, is the family's
//! [`roles::Roles`] (in `family/<name>/`), so the loop never asks which family it runs.

pub mod fork;
pub mod outcome;
pub mod roles;
pub mod trial;
pub mod waits;
pub mod window;
pub mod worker;
