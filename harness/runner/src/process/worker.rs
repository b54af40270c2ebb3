//! How worker processes talk to the trial loop, whatever their family.
//!
//! Workers run in forked children. They wait at the barrier (a pipe the runner writes one
//! byte per worker into), do their work, and send one JSON line to the results pipe; a line is
//! kept under the pipe's atomic-write size so reports from many workers never interleave.
//! Workers print nothing: the terminal belongs to the runner.

use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;

use faultline_core::{Errno, FailureKind};

/// The pipes a worker shares with the runner.
pub struct Pipes<'a> {
    /// Read one byte from here to start; `None` when the trial has a single worker, which
    /// has no one to start together with.
    pub barrier: Option<BorrowedFd<'a>>,
    /// Non-blocking; a byte (or end of file) here tells writers to stop. `None` when there are
    /// no readers: writers then stop after their last write or when killed.
    pub stop: Option<BorrowedFd<'a>>,
    /// One JSON line goes here at the end.
    pub results: BorrowedFd<'a>,
}

/// The first failure a worker saw.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FirstFailure {
    /// Its kind.
    pub kind: FailureKind,
    /// What was seen.
    pub detail: String,
    /// Seconds after the release.
    pub at_s: f64,
}

/// What a worker reports at the end.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Report {
    /// From a writer that was not killed.
    Writer {
        /// Writer number.
        id: u32,
        /// Replaces that returned Ok.
        writes: u64,
        /// Replaces that returned an error.
        errors: u64,
        /// The first error.
        first: Option<FirstFailure>,
        /// For a store: the newest generation it made, which the file must end holding.
        final_generation: Option<u64>,
    },
    /// From a reader.
    Reader {
        /// Reader number.
        id: u32,
        /// Reads made.
        reads: u64,
        /// Failed reads by kind.
        failures: BTreeMap<FailureKind, u64>,
        /// The first failed read.
        first: Option<FirstFailure>,
    },
    /// From a lock holder that was not killed.
    Holder {
        /// Holder number.
        id: u32,
        /// Critical sections completed.
        sections: u64,
        /// Counter increments that returned Ok.
        acknowledged: u64,
        /// Acquisitions refused because the lock path was a symlink.
        refused: u64,
        /// Failures by kind (erased owner records, errors).
        failures: BTreeMap<FailureKind, u64>,
        /// The first of them.
        first: Option<FirstFailure>,
        /// Why it stopped waiting for the lock, if its timeout ran out: not a failure by
        /// itself (a slow machine waits longer), so the trial is inconclusive unless a fact
        /// (such as the lock still held once every holder has ended) shows a failure.
        #[serde(default)]
        gave_up: Option<String>,
    },
}

pub(crate) fn wait_at_barrier(pipes: &Pipes<'_>) -> bool {
    let Some(barrier) = &pipes.barrier else {
        return true;
    };
    let mut byte = [0u8; 1];
    loop {
        match rustix::io::read(barrier, &mut byte) {
            Ok(1) => return true,
            Err(Errno::INTR) => {}
            // End of file: the runner gave up before the start.
            _ => return false,
        }
    }
}

pub(crate) fn send(pipes: &Pipes<'_>, report: &Report) {
    let mut line = serde_json::to_vec(report).expect("reports serialise infallibly");
    line.push(b'\n');
    // One write of less than PIPE_BUF (4096) bytes is atomic; details are kept short.
    let _ = rustix::io::write(pipes.results, &line);
}

pub(crate) fn short(text: String) -> String {
    crate::text::shortened(&text, 300)
}

pub(crate) fn told_to_stop(pipes: &Pipes<'_>) -> bool {
    let Some(stop) = &pipes.stop else { return false };
    let mut byte = [0u8; 1];
    !matches!(rustix::io::read(stop, &mut byte), Err(Errno::AGAIN | Errno::INTR))
}

/// Nanoseconds on the system-wide monotonic clock, comparable between processes.
pub fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}
