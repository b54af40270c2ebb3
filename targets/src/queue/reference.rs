//! The reference queue: a segmented log of checksummed records, a consumer cursor committed
//! with the reference atomic write, and flock to share it between processes.
//!
//! Layout of the queue directory:
//! - `seg-<20 digits>.log`: records, appended; a new segment starts once one passes
//!   [`Options::segment_bytes`]. A record is a 16-byte header, `len: u32` (payload bytes),
//!   `crc: u32` (CRC-32C of the id and the payload) and `id: u64`, then the payload. A record's
//!   id is its place: segment number << 40 | offset, so ids rise and never repeat.
//! - `cursor`: the next record to deliver, `<segment> <offset>\n`, replaced atomically and
//!   durably ([`crate::atomic_write::Durable`]).
//! - `append.lock`: producers hold it exclusively while appending; `consume.lock`: a consumer
//!   holds it from `dequeue` until `ack`, so two consumers never get the same record (a
//!   consumer that dies before its ack releases it, and the record is delivered again).
//!
//! Durability: `enqueue` returns after the record is written and the segment fdatasynced (and
//! a new segment's directory entry fsynced), so an acknowledged record survives power loss.
//! Only the record being written when a crash hits can be torn, and it was never
//! acknowledged: on the next append or open the tail is checked, and a torn last record is cut
//! off. An invalid record followed by a valid one is corruption, reported with the segment and
//! offset, never cut. `dequeue`, `peek` and `ack` read or write one record and one cursor: O(1)
//! in the queue's length. Fully consumed segments are deleted after the cursor moves past them,
//! with a directory fsync.

use std::path::{Path, PathBuf};

use faultline_core::fs::{FdGuard, LockKind, LockWait, OpenOptions};
use faultline_core::{Errno, Fs, FsError};

use super::{Delivery, Options, QueueError};
use crate::atomic_write::{AtomicWrite, Durable};

/// Header bytes before every payload.
pub const HEADER: u64 = 16;

/// The segment file of number `n`.
pub fn segment_name(n: u64) -> String {
    format!("seg-{n:020}.log")
}

fn segment_number(name: &str) -> Option<u64> {
    name.strip_prefix("seg-")?.strip_suffix(".log")?.parse().ok()
}

/// A record's id from its place.
pub fn record_id(segment: u64, offset: u64) -> u64 {
    segment << 40 | offset
}

/// The checksum of a record.
pub fn checksum(id: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&id.to_le_bytes()), payload)
}

/// A record's bytes.
pub fn encode(id: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER as usize + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(id, payload).to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// What is at an offset of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Slot {
    /// A valid record: its id, payload and the offset after it.
    Record(u64, Vec<u8>, u64),
    /// The end of the segment.
    End,
    /// Not a valid record: what is wrong.
    Invalid(String),
}

/// Reads the record at `offset` of the open segment `fd` of length `len`, expecting the id
/// its place gives and checking the checksum.
pub fn read_slot<F: Fs + ?Sized>(
    fs: &F,
    fd: faultline_core::Fd,
    segment: u64,
    offset: u64,
    len: u64,
    max_payload: u32,
) -> Result<Slot, FsError> {
    read_slot_checked(fs, fd, (segment, offset), len, max_payload, true)
}

/// [`read_slot`]; with `verify` false, a header whose length fits is believed (id and
/// checksum unchecked), as the broken variants that trust headers do.
pub(crate) fn read_slot_checked<F: Fs + ?Sized>(
    fs: &F,
    fd: faultline_core::Fd,
    (segment, offset): Place,
    len: u64,
    max_payload: u32,
    verify: bool,
) -> Result<Slot, FsError> {
    if offset == len {
        return Ok(Slot::End);
    }
    if offset > len {
        return Ok(Slot::Invalid(format!(
            "offset {offset} is past the end of the segment ({len} bytes)"
        )));
    }
    if offset + HEADER > len {
        return Ok(Slot::Invalid(format!(
            "{} bytes, shorter than a header",
            len - offset
        )));
    }
    let mut header = [0u8; HEADER as usize];
    pread_all(fs, fd, &mut header, offset)?;
    let size = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let id = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    if size > max_payload {
        return Ok(Slot::Invalid(format!(
            "length {size} over the limit {max_payload}"
        )));
    }
    let end = offset + HEADER + u64::from(size);
    if end > len {
        return Ok(Slot::Invalid(format!("length {size} runs past the end ({len})")));
    }
    let mut payload = vec![0u8; size as usize];
    pread_all(fs, fd, &mut payload, offset + HEADER)?;
    if !verify {
        return Ok(Slot::Record(id, payload, end));
    }
    if id != record_id(segment, offset) {
        return Ok(Slot::Invalid(format!(
            "id {id:#x} where {:#x} belongs",
            record_id(segment, offset)
        )));
    }
    if checksum(id, &payload) != crc {
        return Ok(Slot::Invalid("checksum mismatch".into()));
    }
    Ok(Slot::Record(id, payload, end))
}

fn pwrite_all<F: Fs + ?Sized>(
    fs: &F,
    fd: faultline_core::Fd,
    bytes: &[u8],
    offset: u64,
) -> Result<(), FsError> {
    let mut written = 0;
    while written < bytes.len() {
        match fs.pwrite(fd, &bytes[written..], offset + written as u64) {
            Ok(n) => written += n,
            Err(e) if e.errno == Errno::INTR => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn pread_all<F: Fs + ?Sized>(
    fs: &F,
    fd: faultline_core::Fd,
    mut buf: &mut [u8],
    mut offset: u64,
) -> Result<(), FsError> {
    while !buf.is_empty() {
        match fs.pread(fd, buf, offset) {
            Ok(0) => return Err(FsError::on_fd(faultline_core::fs::FsCall::Read, Errno::IO)),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.errno == Errno::INTR => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A place in the queue: segment number and offset.
type Place = (u64, u64);

/// How a record's bytes go to the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Writes {
    /// Header and payload in one write (the reference).
    Whole,
    /// The header, then (after the crash point `queue.after_header`) the payload.
    HeaderThenPayload,
    /// Through a small buffer: the record in writes of this many bytes.
    Chunks(usize),
}

/// Where appends go, and what is done with an invalid record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Scan to the end of the valid records; cut an invalid last record, report one followed
    /// by a valid record as corruption (the reference).
    Repair,
    /// Append at the file's end, whatever lies before it; a reader that meets an invalid
    /// record cuts the segment there, and whatever follows with it.
    CutAtFirstInvalid,
    /// Append at the file's end; an invalid record is an error forever.
    NoRepair,
}

/// The steps of the segmented queue, each of which a broken variant changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Recipe {
    /// Producers hold `append.lock` while appending.
    pub lock_append: bool,
    /// How a record is written.
    pub writes: Writes,
    /// `fdatasync` before `enqueue` returns.
    pub sync_enqueue: bool,
    /// Check each record's id and checksum when reading.
    pub verify: bool,
    /// Where appends go and how invalid records are handled.
    pub tail: Tail,
    /// `dequeue` commits the cursor before returning; `ack` does nothing.
    pub ack_on_delivery: bool,
    /// Fsync the directory after creating or deleting a segment.
    pub dir_fsync: bool,
}

impl Recipe {
    /// The reference's recipe.
    pub const REFERENCE: Recipe = Recipe {
        lock_append: true,
        writes: Writes::Whole,
        sync_enqueue: true,
        verify: true,
        tail: Tail::Repair,
        ack_on_delivery: false,
        dir_fsync: true,
    };
}

/// A queue directory opened by one process: the reference.
pub struct SegmentedQueue<'f, F: Fs + ?Sized> {
    fs: &'f F,
    dir: PathBuf,
    options: Options,
    append_lock: faultline_core::Fd,
    consume_lock: faultline_core::Fd,
    /// The segment producers append to and the end of its valid records, as last seen.
    tail: Option<(u64, u64)>,
    /// That segment, open for reading and writing, kept across appends.
    writer: Option<(u64, faultline_core::Fd)>,
    /// A delivery awaiting its ack: its id and the place after it. The consume lock is held.
    pending: Option<(u64, (u64, u64))>,
    recipe: Recipe,
}

impl<'f, F: Fs + ?Sized> SegmentedQueue<'f, F> {
    /// Opens (creating if needed) the queue in `dir`, and repairs a torn tail.
    pub fn open(fs: &'f F, dir: &Path, options: Options) -> Result<Self, QueueError> {
        Self::open_with(fs, dir, options, Recipe::REFERENCE)
    }

    /// [`Self::open`] following `recipe`.
    pub(crate) fn open_with(
        fs: &'f F,
        dir: &Path,
        options: Options,
        recipe: Recipe,
    ) -> Result<Self, QueueError> {
        match fs.mkdir(dir, 0o755) {
            Ok(()) => fs.fsync_dir(faultline_core::fs::parent_dir(dir))?,
            Err(e) if e.errno == Errno::EXIST => {}
            Err(e) => return Err(e.into()),
        }
        let lock_file = |name: &str| {
            fs.open(
                &dir.join(name),
                &OpenOptions::read_only().create(true).nofollow(true).mode(0o644),
            )
        };
        let append_lock = lock_file("append.lock")?;
        let consume_lock = match lock_file("consume.lock") {
            Ok(fd) => fd,
            Err(e) => {
                let _ = fs.close(append_lock);
                return Err(e.into());
            }
        };
        let mut queue = SegmentedQueue {
            fs,
            dir: dir.to_path_buf(),
            options,
            append_lock,
            consume_lock,
            tail: None,
            writer: None,
            pending: None,
            recipe,
        };
        Durable.recover(fs, &queue.cursor_path())?;
        queue.locked(queue.append_lock, |q| q.find_tail().map(|_| ()))?;
        Ok(queue)
    }

    fn cursor_path(&self) -> PathBuf {
        self.dir.join("cursor")
    }

    fn segment_path(&self, n: u64) -> PathBuf {
        self.dir.join(segment_name(n))
    }

    fn locked<T>(
        &mut self,
        lock: faultline_core::Fd,
        f: impl FnOnce(&mut Self) -> Result<T, QueueError>,
    ) -> Result<T, QueueError> {
        self.fs.flock(lock, LockKind::Exclusive, LockWait::Block)?;
        let result = f(self);
        let _ = self.fs.unlock(lock);
        result
    }

    /// Segment numbers present, sorted.
    fn segments(&self) -> Result<Vec<u64>, QueueError> {
        let mut numbers: Vec<u64> = self
            .fs
            .read_dir(&self.dir)?
            .iter()
            .filter_map(|n| segment_number(n))
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    /// The segment to append to and its valid end, repairing a torn tail. Holds the append
    /// lock.
    fn find_tail(&mut self) -> Result<(u64, u64), QueueError> {
        let (mut segment, mut end) = match self.tail {
            Some(t) => t,
            None => match self.segments()?.last() {
                Some(n) => (*n, 0),
                None => (0, 0),
            },
        };
        // Another process may have started newer segments.
        while self.fs.metadata(&self.segment_path(segment + 1)).is_ok() {
            segment += 1;
            end = 0;
        }
        let path = self.segment_path(segment);
        let Some(fd) = self.writer_for(segment, false)? else {
            self.tail = Some((segment, 0));
            return Ok((segment, 0));
        };
        let len = self.fs.fstat(fd)?.len;
        if self.recipe.tail != Tail::Repair {
            // The broken variants append wherever the file ends.
            self.tail = Some((segment, len));
            return Ok((segment, len));
        }
        loop {
            match read_slot_checked(
                self.fs,
                fd,
                (segment, end),
                len,
                self.options.max_payload,
                self.recipe.verify,
            )? {
                Slot::Record(_, _, next) => end = next,
                Slot::End => break,
                Slot::Invalid(detail) => {
                    let mut rest = vec![0u8; (len - end) as usize];
                    pread_all(self.fs, fd, &mut rest, end)?;
                    // Without checksums a variant cannot tell a torn tail from damage in the
                    // middle: it cuts either way.
                    if let Some(at) = valid_record_after(&rest, segment, end, self.options.max_payload)
                        && self.recipe.verify
                    {
                        return Err(QueueError::Corrupt {
                            segment: path,
                            offset: end,
                            detail: format!("{detail}, with a valid record after it at offset {at}"),
                        });
                    }
                    // A torn last record: never acknowledged, cut it off.
                    self.fs.ftruncate(fd, end)?;
                    self.fs.fdatasync(fd)?;
                    self.tail = Some((segment, end));
                    return Ok((segment, end));
                }
            }
        }
        self.tail = Some((segment, end));
        Ok((segment, end))
    }

    /// The open descriptor of `segment` (opened now if another one was open); `None` when the
    /// segment does not exist and `create` is false.
    fn writer_for(&mut self, segment: u64, create: bool) -> Result<Option<faultline_core::Fd>, QueueError> {
        if let Some((open, fd)) = self.writer
            && open == segment
        {
            return Ok(Some(fd));
        }
        if let Some((_, old)) = self.writer.take() {
            let _ = self.fs.close(old);
        }
        let options = OpenOptions::read_only().create(create).mode(0o644);
        let options = OpenOptions {
            write: true,
            ..options
        };
        match self.fs.open(&self.segment_path(segment), &options) {
            Ok(fd) => {
                self.writer = Some((segment, fd));
                Ok(Some(fd))
            }
            Err(e) if e.errno == Errno::NOENT && !create => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Appends `payload`; returns its id once the record is durable.
    pub fn enqueue(&mut self, payload: &[u8]) -> Result<u64, QueueError> {
        if payload.len() as u64 > u64::from(self.options.max_payload) {
            return Err(QueueError::TooLarge(payload.len()));
        }
        if !self.recipe.lock_append {
            // Without the lock, a producer appends where it sees the file end now, which
            // another producer may be writing to at the same moment.
            self.tail = None;
            return self.append(payload);
        }
        let lock = self.append_lock;
        self.locked(lock, |q| q.append(payload))
    }

    fn append(&mut self, payload: &[u8]) -> Result<u64, QueueError> {
        let (mut segment, mut end) = self.find_tail()?;
        let fs = self.fs;
        if end > 0 && end + HEADER + payload.len() as u64 > self.options.segment_bytes {
            segment += 1;
            end = 0;
        }
        let path = self.segment_path(segment);
        let created = end == 0 && fs.metadata(&path).is_err();
        let fd = self.writer_for(segment, true)?.expect("opened with create");
        if created && self.recipe.dir_fsync {
            // The new segment's name must be durable before any record in it is acknowledged.
            fs.fsync_dir(&self.dir)?;
        }
        let id = record_id(segment, end);
        let bytes = encode(id, payload);
        match self.recipe.writes {
            Writes::Whole => pwrite_all(fs, fd, &bytes, end)?,
            Writes::HeaderThenPayload => {
                pwrite_all(fs, fd, &bytes[..HEADER as usize], end)?;
                fs.crash_point("queue.after_header");
                pwrite_all(fs, fd, &bytes[HEADER as usize..], end + HEADER)?;
            }
            Writes::Chunks(size) => {
                for (i, chunk) in bytes.chunks(size).enumerate() {
                    if i > 0 {
                        fs.crash_point("queue.between_chunks");
                    }
                    pwrite_all(fs, fd, chunk, end + (i * size) as u64)?;
                }
            }
        }
        fs.crash_point("queue.after_write");
        if self.recipe.sync_enqueue {
            fs.fdatasync(fd)?;
        }
        self.tail = Some((segment, end + bytes.len() as u64));
        fs.crash_point("queue.after_sync");
        Ok(id)
    }

    /// The committed cursor: where the next delivery is.
    fn cursor(&self) -> Result<(u64, u64), QueueError> {
        match faultline_core::fs::read_file(self.fs, &self.cursor_path()) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let mut parts = text.split_whitespace().map(str::parse::<u64>);
                match (parts.next(), parts.next()) {
                    (Some(Ok(segment)), Some(Ok(offset))) => Ok((segment, offset)),
                    _ => Err(QueueError::Corrupt {
                        segment: self.cursor_path(),
                        offset: 0,
                        detail: format!("the cursor holds {:?}", text.trim()),
                    }),
                }
            }
            Err(e) if e.errno == Errno::NOENT => Ok((self.segments()?.first().copied().unwrap_or(0), 0)),
            Err(e) => Err(e.into()),
        }
    }

    /// The next record from `at`, moving to later segments at a segment's end; `None` when
    /// the queue holds nothing more. Holds the append lock, so no record is half written.
    fn next_from(&mut self, mut at: Place) -> Result<Option<(Delivery, Place)>, QueueError> {
        let lock = self.append_lock;
        self.locked(lock, |q| {
            loop {
                let path = q.segment_path(at.0);
                let fd = match q.fs.open(&path, &OpenOptions::read_only()) {
                    Ok(fd) => fd,
                    Err(e) if e.errno == Errno::NOENT => {
                        if q.fs.metadata(&q.segment_path(at.0 + 1)).is_ok() {
                            at = (at.0 + 1, 0);
                            continue;
                        }
                        return Ok(None);
                    }
                    Err(e) => return Err(e.into()),
                };
                let guard = FdGuard::from_fd(q.fs, fd);
                let len = q.fs.fstat(fd)?.len;
                match read_slot_checked(q.fs, fd, at, len, q.options.max_payload, q.recipe.verify)? {
                    Slot::Record(id, payload, next) => {
                        return Ok(Some((Delivery { id, payload }, (at.0, next))));
                    }
                    Slot::End => {
                        drop(guard);
                        if q.fs.metadata(&q.segment_path(at.0 + 1)).is_ok() {
                            at = (at.0 + 1, 0);
                            continue;
                        }
                        return Ok(None);
                    }
                    Slot::Invalid(detail) => {
                        drop(guard);
                        match q.recipe.tail {
                            // Only the tail can be torn; find_tail repairs it or reports
                            // corruption.
                            Tail::Repair => {
                                // A cut tail ends where this record began; valid records
                                // beyond it mean damage that is not a torn tail.
                                if q.find_tail()? == at {
                                    continue;
                                }
                            }
                            Tail::CutAtFirstInvalid => {
                                let fd = q.writer_for(at.0, false)?.expect("the segment was just read");
                                q.fs.ftruncate(fd, at.1)?;
                                q.fs.fdatasync(fd)?;
                                q.tail = None;
                                continue;
                            }
                            Tail::NoRepair => {}
                        }
                        return Err(QueueError::Corrupt {
                            segment: path,
                            offset: at.1,
                            detail,
                        });
                    }
                }
            }
        })
    }

    /// The next record, without claiming it.
    pub fn peek(&mut self) -> Result<Option<Delivery>, QueueError> {
        if let Some((id, _)) = self.pending {
            return Err(QueueError::Pending(id));
        }
        let lock = self.consume_lock;
        self.locked(lock, |q| {
            let at = q.cursor()?;
            Ok(q.next_from(at)?.map(|(d, _)| d))
        })
    }

    /// Delivers the next record and holds it for this consumer until [`Self::ack`]; `None`
    /// when the queue is empty. A consumer that dies before its ack gets it delivered again
    /// (to itself or another consumer): delivery is at least once.
    pub fn dequeue(&mut self) -> Result<Option<Delivery>, QueueError> {
        if let Some((id, _)) = self.pending {
            return Err(QueueError::Pending(id));
        }
        self.fs
            .flock(self.consume_lock, LockKind::Exclusive, LockWait::Block)?;
        let found = self.cursor().and_then(|at| self.next_from(at));
        match found {
            Ok(Some((delivery, next))) if self.recipe.ack_on_delivery => {
                // Removed before the caller has done anything with it.
                let committed = self.commit(next);
                let _ = self.fs.unlock(self.consume_lock);
                committed?;
                self.pending = Some((delivery.id, next));
                self.fs.crash_point("queue.delivered");
                Ok(Some(delivery))
            }
            Ok(Some((delivery, next))) => {
                self.pending = Some((delivery.id, next));
                self.fs.crash_point("queue.delivered");
                Ok(Some(delivery))
            }
            other => {
                let _ = self.fs.unlock(self.consume_lock);
                other.map(|_| None)
            }
        }
    }

    /// Acknowledges delivery `id`: the cursor moves past it, durably, and segments left behind
    /// are deleted.
    pub fn ack(&mut self, id: u64) -> Result<(), QueueError> {
        match self.pending {
            Some((pending, _)) if pending != id => return Err(QueueError::NotPending(id)),
            None => return Err(QueueError::NotPending(id)),
            Some(_) => {}
        }
        let (_, next) = self.pending.expect("checked above");
        self.pending = None;
        if self.recipe.ack_on_delivery {
            return Ok(());
        }
        let result = self.commit(next);
        let _ = self.fs.unlock(self.consume_lock);
        result
    }

    fn commit(&mut self, next: (u64, u64)) -> Result<(), QueueError> {
        Durable.replace(
            self.fs,
            &self.cursor_path(),
            format!("{} {}\n", next.0, next.1).as_bytes(),
        )?;
        self.fs.crash_point("queue.after_cursor");
        let behind: Vec<u64> = self.segments()?.into_iter().filter(|n| *n < next.0).collect();
        if !behind.is_empty() {
            for n in behind {
                self.fs.unlink(&self.segment_path(n))?;
            }
            if self.recipe.dir_fsync {
                self.fs.fsync_dir(&self.dir)?;
            }
        }
        Ok(())
    }
}

impl<F: Fs + ?Sized> Drop for SegmentedQueue<'_, F> {
    fn drop(&mut self) {
        if let Some((_, fd)) = self.writer.take() {
            let _ = self.fs.close(fd);
        }
        let _ = self.fs.close(self.append_lock);
        let _ = self.fs.close(self.consume_lock);
    }
}

/// The offset (in the segment) of a valid record in `rest`, which starts at `base`.
fn valid_record_after(rest: &[u8], segment: u64, base: u64, max_payload: u32) -> Option<u64> {
    (1..rest.len()).find_map(|i| {
        let h = rest.get(i..i + HEADER as usize)?;
        let offset = base + i as u64;
        let id = u64::from_le_bytes(h[8..16].try_into().ok()?);
        if id != record_id(segment, offset) {
            return None;
        }
        let size = u32::from_le_bytes(h[0..4].try_into().ok()?);
        let crc = u32::from_le_bytes(h[4..8].try_into().ok()?);
        if size > max_payload {
            return None;
        }
        let payload = rest.get(i + HEADER as usize..i + HEADER as usize + size as usize)?;
        (checksum(id, payload) == crc).then_some(offset)
    })
}
