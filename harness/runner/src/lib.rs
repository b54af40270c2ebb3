//! faultline's runner: scenarios, the detectors that run them, the families' workloads and
//! oracles, and the reports. It sits between the engine (`faultline-core`) and the command line:
//! it parses no command-line arguments and prints nothing itself.
//!
//! The pipeline, one module for each step:
//!
//! - **what to run**: [`scenario_file`] reads a scenario file into a [`scenario::Scenario`]
//!   (each section checked by its owner: a family's own section by the family);
//!   [`family::target`] maps each variant to a bundled implementation or to programs
//!   ([`program`]) of the same family. Each family implements [`family::Family`] once, in
//!   its folder.
//! - **which detector**: [`run::Detector`], the process detector or the crash detector.
//! - **workload -> trace**: real processes ([`process`]: a trial loop that knows no family,
//!   driving a family's [`process::roles::Roles`] from `family/<name>/`); a family's workload
//!   on the simulated file system (its [`family::Simulated`]); or a program recorded with
//!   strace ([`external::record`], into the trace file format of [`external::trace_file`]).
//! - **trace -> crash states -> recovery -> oracle**: the one crash sweep, [`crash`], used by
//!   [`explore`] (bundled variants), scenarios of programs and `explore --trace`'s checkers.
//! - **verdict**: [`results`] (a variant's result and whether it met its expectation) and
//!   [`gate`] (against a baseline).
//! - **report**: [`report`] and [`render`] (JSON, Markdown, HTML, JUnit), written through
//!   [`envelope`] with faultline's own durable atomic write; [`merge`] and [`replay`] read
//!   them back. [`exit`] holds the command's exit codes.
//!
//! Results, the report envelope and the trace file format sit below everything that reads or
//! writes them: no module imports one that imports it back.

pub mod child;
pub mod crash;
pub mod document;
pub mod envelope;
pub mod environment;
pub mod exit;
pub mod explore;
pub mod external;
pub mod family;
#[cfg(feature = "arbitrary")]
pub mod fuzzing;
pub mod gate;
pub mod live;
pub mod merge;
pub mod outcome;
pub mod process;
pub mod program;
pub mod render;
pub mod replay;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;
pub mod scenario_file;
pub mod scratch;
pub mod text;
