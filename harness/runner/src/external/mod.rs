//! Unmodified programs as targets: recording a program's system calls into a trace
//! ([`record`], [`strace`], [`trace_file`]), and judging a recorded trace's crash states with
//! the user's checker ([`explore`], `faultline explore --trace`). Programs given in a
//! scenario's `[explore]` are recorded here too and judged by the oracles of the family they
//! implement (`family::document::programs`, `family::queue::programs`), through the one crash
//! sweep ([`crate::crash`]).

pub mod explore;
pub mod persistent;
pub mod record;
pub mod strace;
pub mod trace_file;
