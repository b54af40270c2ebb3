//! Family `queue`: a durable file queue shared by producer and consumer processes.
//!
//! The reference ([`SegmentedQueue`]) keeps checksummed, length-prefixed records in segment
//! files, makes each record durable before `enqueue` returns, cuts a torn tail on open and
//! reports corruption in the middle, commits its consumer cursor with the reference atomic
//! write, and delivers at least once: every record has an id, and a consumer that dies
//! between delivery and ack gets the record delivered again.
//!
//! The broken variants Q1-Q8 are the catalogue's: Q1 ([`Variant::TruncateRewriteDequeue`]) is
//! a one-file JSONL queue of its own; Q2-Q8 are the reference with one step changed (a
//! recipe each, in `variants.rs`). [`Variant::open`] opens any of them behind
//! the [`Queue`] trait.

mod reference;
mod truncate_rewrite_dequeue;
mod variants;

use std::path::{Path, PathBuf};

use faultline_core::{FailureKind, Fs, FsError};

use crate::info::{Detector, Expectation, FamilyInfo, VariantInfo};
pub use reference::{HEADER, SegmentedQueue, Slot, checksum, encode, read_slot, record_id, segment_name};
pub use truncate_rewrite_dequeue::FILE as JSONL_FILE;

/// The family's name.
pub const FAMILY: &str = "queue";

/// This family's entry in the registry.
pub const INFO: FamilyInfo = FamilyInfo {
    name: FAMILY,
    variants: VARIANTS,
    crash_points: CRASH_POINTS,
};

/// The crash points the family's code passes: a record written but not yet synced, synced but
/// not yet acknowledged, delivered but not acknowledged, and the cursor committed but old
/// segments not yet deleted; and those of the atomic write the cursor is committed with.
///
/// `queue.processed` is passed by the runner's consumers after processing a delivery and
/// before acking it. Some broken variants pass more: `queue.after_header` (Q3 and Q7, between a record's
/// header and its payload), `queue.between_chunks` (Q2, between two pieces of one record) and
/// `queue.after_truncate` (Q1, between truncating the file and writing back the rest).
pub const CRASH_POINTS: &[&str] = &[
    "queue.after_header",
    "queue.between_chunks",
    "queue.after_truncate",
    "queue.after_write",
    "queue.after_sync",
    "queue.delivered",
    "queue.after_cursor",
    "queue.processed",
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

/// A queue of any variant: what producers and consumers call.
pub trait Queue {
    /// Appends `payload`; returns its id once the record is (for the reference) durable.
    fn enqueue(&mut self, payload: &[u8]) -> Result<u64, QueueError>;
    /// The next record, held for this consumer until [`Queue::ack`]; `None` when empty.
    fn dequeue(&mut self) -> Result<Option<Delivery>, QueueError>;
    /// Acknowledges the delivery `id`: it is not delivered again.
    fn ack(&mut self, id: u64) -> Result<(), QueueError>;
}

impl<F: Fs + ?Sized> Queue for SegmentedQueue<'_, F> {
    fn enqueue(&mut self, payload: &[u8]) -> Result<u64, QueueError> {
        SegmentedQueue::enqueue(self, payload)
    }

    fn dequeue(&mut self) -> Result<Option<Delivery>, QueueError> {
        SegmentedQueue::dequeue(self)
    }

    fn ack(&mut self, id: u64) -> Result<(), QueueError> {
        SegmentedQueue::ack(self, id)
    }
}

/// Every variant of the family, selectable by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The reference.
    Segmented,
    /// Q1
    TruncateRewriteDequeue,
    /// Q2
    UnlockedBufferedAppend,
    /// Q3
    SplitLengthPayload,
    /// Q4
    TornTailSwallow,
    /// Q5
    AckBeforeProcess,
    /// Q6
    NoFsyncEnqueue,
    /// Q7
    HeaderBeforeData,
    /// Q8
    SegmentNoDirFsync,
}

impl Variant {
    /// Every variant, reference first (the order of [`VARIANTS`]).
    pub const ALL: [Variant; 9] = [
        Variant::Segmented,
        Variant::TruncateRewriteDequeue,
        Variant::UnlockedBufferedAppend,
        Variant::SplitLengthPayload,
        Variant::TornTailSwallow,
        Variant::AckBeforeProcess,
        Variant::NoFsyncEnqueue,
        Variant::HeaderBeforeData,
        Variant::SegmentNoDirFsync,
    ];

    /// The variant called `name`.
    pub fn by_name(name: &str) -> Option<Variant> {
        crate::info::variant_by_name(&Variant::ALL, VARIANTS, name)
    }

    /// Its registry entry.
    pub fn info(self) -> &'static VariantInfo {
        crate::info::entry_of(&Variant::ALL, VARIANTS, &self)
    }

    /// Opens (creating if needed) the queue in `dir`, running the variant's own recovery.
    pub fn open<'f>(
        self,
        fs: &'f dyn Fs,
        dir: &Path,
        options: Options,
    ) -> Result<Box<dyn Queue + 'f>, QueueError> {
        let recipe = match self {
            Variant::TruncateRewriteDequeue => {
                return Ok(Box::new(truncate_rewrite_dequeue::TruncateRewrite::open(
                    fs, dir,
                )?));
            }
            Variant::Segmented => reference::Recipe::REFERENCE,
            Variant::UnlockedBufferedAppend => variants::UNLOCKED_BUFFERED_APPEND,
            Variant::SplitLengthPayload => variants::SPLIT_LENGTH_PAYLOAD,
            Variant::TornTailSwallow => variants::TORN_TAIL_SWALLOW,
            Variant::AckBeforeProcess => variants::ACK_BEFORE_PROCESS,
            Variant::NoFsyncEnqueue => variants::NO_FSYNC_ENQUEUE,
            Variant::HeaderBeforeData => variants::HEADER_BEFORE_DATA,
            Variant::SegmentNoDirFsync => variants::SEGMENT_NO_DIR_FSYNC,
        };
        Ok(Box::new(SegmentedQueue::open_with(fs, dir, options, recipe)?))
    }
}

const fn expect(detector: Detector, kind: FailureKind) -> Expectation {
    Expectation { detector, kind }
}

/// The registry entries, in the order of [`Variant::ALL`].
pub const VARIANTS: &[VariantInfo] = &[
    VariantInfo {
        name: "segmented",
        catalogue_id: None,
        summary: "checksummed records in segments, fdatasync before enqueue returns, torn tail cut, cursor by atomic write",
        expectations: &[],
    },
    VariantInfo {
        name: "truncate_rewrite_dequeue",
        catalogue_id: Some("Q1"),
        summary: "dequeue reads every line, truncates the file and writes the rest back",
        expectations: &[
            expect(Detector::Kill, FailureKind::LostItem),
            expect(Detector::PowerLoss, FailureKind::LostItem),
        ],
    },
    VariantInfo {
        name: "unlocked_buffered_append",
        catalogue_id: Some("Q2"),
        summary: "producers append through a small buffer without the append lock",
        expectations: &[
            expect(Detector::Readers, FailureKind::LostItem),
            expect(Detector::Readers, FailureKind::CorruptRecord),
        ],
    },
    VariantInfo {
        name: "split_length_payload",
        catalogue_id: Some("Q3"),
        summary: "length and payload in separate writes, no checksum, no tail repair",
        expectations: &[
            expect(Detector::Kill, FailureKind::LostItem),
            expect(Detector::PowerLoss, FailureKind::LostItem),
        ],
    },
    VariantInfo {
        name: "torn_tail_swallow",
        catalogue_id: Some("Q4"),
        summary: "appends after a torn tail; the reader later cuts at the torn record, and what follows",
        expectations: &[
            expect(Detector::Kill, FailureKind::LostItem),
            expect(Detector::PowerLoss, FailureKind::LostItem),
        ],
    },
    VariantInfo {
        name: "ack_before_process",
        catalogue_id: Some("Q5"),
        summary: "dequeue removes the item before the consumer has processed it",
        expectations: &[expect(Detector::Kill, FailureKind::LostItem)],
    },
    VariantInfo {
        name: "no_fsync_enqueue",
        catalogue_id: Some("Q6"),
        summary: "enqueue returns before the record is fdatasynced",
        expectations: &[expect(Detector::PowerLoss, FailureKind::LostItem)],
    },
    VariantInfo {
        name: "header_before_data",
        catalogue_id: Some("Q7"),
        summary: "header written before the payload with no barrier, and believed without a checksum",
        expectations: &[expect(Detector::PowerLoss, FailureKind::CorruptRecord)],
    },
    VariantInfo {
        name: "segment_no_dir_fsync",
        catalogue_id: Some("Q8"),
        summary: "segments created and deleted without a directory fsync",
        expectations: &[expect(Detector::PowerLoss, FailureKind::LostItem)],
    },
];
