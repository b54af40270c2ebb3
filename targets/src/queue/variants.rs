//! Q2-Q8: the reference queue with one step changed, each a [`Recipe`].

use super::reference::{Recipe, Tail, Writes};

/// Q2 `unlocked_buffered_append` (seed 002 pattern 1 without its lock): producers skip the
/// append lock and write each record through a 64-byte buffer, at the end of the file as they
/// last saw it. Two producers write over each other or interleave their pieces; a reader meets
/// a record that is neither, and stops there.
pub(crate) const UNLOCKED_BUFFERED_APPEND: Recipe = Recipe {
    lock_append: false,
    writes: Writes::Chunks(64),
    tail: Tail::NoRepair,
    ..Recipe::REFERENCE
};

/// Q3 `split_length_payload` (dque): the length and the payload go out in two writes, nothing
/// is checksummed, the next record is appended wherever the file ends, and nothing is repaired.
/// A kill or power loss between the two writes leaves a length with no payload; the next
/// append lands inside what the length claims, and readers go off the rails from there.
pub(crate) const SPLIT_LENGTH_PAYLOAD: Recipe = Recipe {
    writes: Writes::HeaderThenPayload,
    verify: false,
    tail: Tail::NoRepair,
    ..Recipe::REFERENCE
};

/// Q4 `torn_tail_swallow` (eliza#30878): opening does not repair a torn tail, so the next
/// record is appended after it; when a reader reaches the torn record it cuts the segment
/// there, and the acknowledged record after it goes too.
pub(crate) const TORN_TAIL_SWALLOW: Recipe = Recipe {
    tail: Tail::CutAtFirstInvalid,
    ..Recipe::REFERENCE
};

/// Q5 `ack_before_process`: `dequeue` commits the cursor before it returns. A consumer killed
/// before it processed the item loses it.
pub(crate) const ACK_BEFORE_PROCESS: Recipe = Recipe {
    ack_on_delivery: true,
    ..Recipe::REFERENCE
};

/// Q6 `no_fsync_enqueue` (yaque, dque's turbo mode): `enqueue` returns before the record is
/// on the disk; power loss takes acknowledged items.
pub(crate) const NO_FSYNC_ENQUEUE: Recipe = Recipe {
    sync_enqueue: false,
    ..Recipe::REFERENCE
};

/// Q7 `header_before_data` (the Tape #67 class): the header goes out before the payload with
/// no barrier between, and readers believe a header without checking the payload against it.
/// Power loss can keep the header and lose payload blocks: the record then delivers garbage.
pub(crate) const HEADER_BEFORE_DATA: Recipe = Recipe {
    writes: Writes::HeaderThenPayload,
    verify: false,
    ..Recipe::REFERENCE
};

/// Q8 `segment_no_dir_fsync` (persist-queue): a new segment's name and an old segment's removal
/// are never made durable with a directory fsync; power loss can take a segment holding
/// acknowledged records, or bring back a deleted one.
pub(crate) const SEGMENT_NO_DIR_FSYNC: Recipe = Recipe {
    dir_fsync: false,
    ..Recipe::REFERENCE
};
