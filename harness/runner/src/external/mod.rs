//! Unmodified programs as targets: recording a program's system calls into a trace
//! ([`record`], [`strace`], [`trace_file`]), and judging a recorded trace's crash states: with
//! the user's checker ([`explore`], `faultline explore --trace`), or, for programs given in a
//! scenario's `[explore]`, with the oracles of the family they implement ([`scenario_explore`]
//! for documents, [`queue_explore`] for queues), all through the one crash sweep
//! ([`crate::crash`]).

pub mod explore;
pub mod queue_explore;
pub mod record;
pub mod scenario_explore;
pub mod strace;
pub mod trace_file;
