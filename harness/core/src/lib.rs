//! faultline's engine: the file-system surface targets are written against, a simulated file
//! system that records what targets do, the persistence models that turn a trace into crash
//! states, the crash-state enumerator, verdicts, and failure-rate statistics.
//!
//! This crate runs no processes, parses no scenario files and prints nothing; the runner and
//! the command line build on it. Targets depend on it for [`Fs`] and crash points only.

pub mod crash_point;
pub mod crash_state;
pub mod file_data;
pub mod fs;
pub mod image;
pub mod lock_order;
pub mod persistence;
pub mod real_fs;
pub mod sim_fs;
pub mod stats;
pub mod trace;
pub mod trace_builder;
pub mod verdict;

pub use crash_point::CrashPlan;
pub use crash_state::{CrashState, CrashStateId, EnumerationConfig, EnumerationStats};
pub use file_data::FileData;
pub use fs::{
    Errno, Fd, FdGuard, FileKind, Fs, FsCall, FsError, FsResult, LockKind, LockWait, Metadata, OpenOptions,
};
pub use image::{FsImage, Ino, Node};
pub use persistence::{BlockSize, Durability, PersistenceModel};
pub use real_fs::RealFs;
pub use sim_fs::{SimFs, SimOptions};
pub use verdict::{Failure, FailureKind, Verdict};
