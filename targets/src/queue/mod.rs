//! Family `queue`: a durable file queue shared by producer and consumer processes.
//!
//! The reference ([`SegmentedQueue`]) keeps checksummed, length-prefixed records in segment
//! files, makes each record durable before `enqueue` returns, cuts a torn tail on open and
//! reports corruption in the middle, commits its consumer cursor with the reference atomic
//! write, and delivers at least once: every record has an id, and a consumer that dies
//! between delivery and ack gets the record delivered again.
//!
//! Not here yet: the broken variants Q1-Q8 and the queue scenarios (the issue that brings
//! them is open).

mod reference;

use std::path::PathBuf;

use faultline_core::FsError;

pub use reference::{HEADER, SegmentedQueue, Slot, checksum, encode, read_slot, record_id, segment_name};

/// The family's name.
pub const FAMILY: &str = "queue";

/// The crash points the family's code passes: a record written but not yet synced, synced but
/// not yet acknowledged, delivered but not acknowledged, and the cursor committed but old
/// segments not yet deleted; and those of the atomic write the cursor is committed with.
pub const CRASH_POINTS: &[&str] = &[
    "queue.after_write",
    "queue.after_sync",
    "queue.delivered",
    "queue.after_cursor",
    "atomic_write.after_create",
    "atomic_write.after_write",
    "atomic_write.before_rename",
    "atomic_write.after_rename",
];

/// Tuning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// A segment is closed once a record would take it past this size.
    pub segment_bytes: u64,
    /// The largest payload accepted (and believed when reading a length).
    pub max_payload: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_bytes: 1 << 20,
            max_payload: 16 << 20,
        }
    }
}

/// One delivered record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Its id: unique in the queue, rising in queue order.
    pub id: u64,
    /// What was enqueued.
    pub payload: Vec<u8>,
}

/// Why a queue call failed.
#[derive(Debug)]
pub enum QueueError {
    /// A file-system call failed.
    Fs(FsError),
    /// A record (or the cursor) in the middle of the queue is not valid: not a torn tail,
    /// which is cut off, but damage that must not be silently dropped.
    Corrupt {
        /// The file.
        segment: PathBuf,
        /// Where in it.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// A payload over [`Options::max_payload`].
    TooLarge(usize),
    /// `ack` of a record that is not this consumer's pending delivery.
    NotPending(u64),
    /// `dequeue` or `peek` while a delivery awaits its ack.
    Pending(u64),
}

impl std::fmt::Display for QueueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueError::Fs(e) => write!(f, "{e}: {}", e.errno),
            QueueError::Corrupt {
                segment,
                offset,
                detail,
            } => write!(
                f,
                "{} is corrupt at offset {offset}: {detail}; the queue stops here rather than skip records",
                segment.display()
            ),
            QueueError::TooLarge(n) => write!(f, "a payload of {n} bytes is over the queue's limit"),
            QueueError::NotPending(id) => write!(f, "record {id:#x} is not awaiting an ack here"),
            QueueError::Pending(id) => write!(f, "record {id:#x} awaits its ack; ack it first"),
        }
    }
}

impl std::error::Error for QueueError {}

impl From<FsError> for QueueError {
    fn from(e: FsError) -> Self {
        QueueError::Fs(e)
    }
}
