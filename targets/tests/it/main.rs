//! Integration tests of the targets that do not need the runner: the reference's error paths
//! under injected faults, the flags it opens with, and a real SIGKILL at a crash point.

mod atomic_write;
mod lock;
mod queue;
mod state_machines;
mod through_faultline;
