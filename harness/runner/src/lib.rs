//! faultline's runner: the workloads that drive targets, the oracles that judge them,
//! crash-state exploration, and the reports it writes.
//!
//! It sits between the engine (`faultline-core`) and the command line: it knows families and
//! their properties, but parses no command-line arguments and prints nothing itself.
//! Real-process runs and scenario files are not here yet.

pub mod atomic_write;
pub mod document;
pub mod envelope;
pub mod exit;
pub mod explore;
pub mod external;
pub mod family;
#[cfg(feature = "arbitrary")]
pub mod fuzzing;
pub mod gate;
pub mod merge;
pub mod process;
pub mod program;
pub mod render;
pub mod replay;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;
