//! Unmodified programs as targets: recording a program's system calls into a trace, exploring
//! a recorded trace's crash states with the user's checker, and (in scenarios) commands as
//! writers, readers and checkers, queue producers and consumers, and lock holders.

pub mod explore;
pub mod queue_explore;
pub mod record;
pub mod scenario_explore;
pub mod strace;
pub mod trace_file;
