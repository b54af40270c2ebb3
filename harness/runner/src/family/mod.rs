//! The families faultline judges, one folder each, and the registry of what a scenario can
//! run: a bundled variant of a family or programs given in the scenario ([`target`]).
//!
//! A family brings its roles for the process detector (how a trial's directory is prepared,
//! which workers start, when they stop, and how the trial is judged afterwards: a
//! [`Roles`](crate::process::roles::Roles)), its oracles, and its own crash-state workload
//! where it has one.

pub mod document;
pub mod lock;
pub mod queue;
pub mod target;
