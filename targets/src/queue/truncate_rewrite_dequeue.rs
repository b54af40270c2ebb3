//! Q1 `truncate_rewrite_dequeue` (seed 002, pattern 3): a JSONL-style task queue in one file.
//! `enqueue` appends a line under the lock (and, so that this variant has one bug only,
//! fdatasyncs it); `dequeue` reads every line, truncates the file and writes the rest back one
//! line per write, with no fsync. A kill after the truncate, or a power loss before the
//! rewrite reaches the disk, loses every item still queued.
//!
//! A line is `<id> <payload as hex>\n`; ids are the process's enqueue count and the payload's
//! CRC, unique enough for `ack` to match its delivery.

use std::path::{Path, PathBuf};

use faultline_core::fs::{FdGuard, LockKind, LockWait, OpenOptions, read_file, write_all};
use faultline_core::{Errno, Fs};

use super::{Delivery, Queue, QueueError};

/// The queue file inside the queue directory.
pub const FILE: &str = "queue.jsonl";

pub(crate) struct TruncateRewrite<'f> {
    fs: &'f dyn Fs,
    dir: PathBuf,
    lock: faultline_core::Fd,
    enqueued: u64,
    pending: Option<u64>,
}

impl<'f> TruncateRewrite<'f> {
    pub(crate) fn open(fs: &'f dyn Fs, dir: &Path) -> Result<Self, QueueError> {
        match fs.mkdir(dir, 0o755) {
            Ok(()) => fs.fsync_dir(faultline_core::fs::parent_dir(dir))?,
            Err(e) if e.errno == Errno::EXIST => {}
            Err(e) => return Err(e.into()),
        }
        let lock = fs.open(
            &dir.join("queue.lock"),
            &OpenOptions::read_only().create(true).nofollow(true).mode(0o644),
        )?;
        Ok(TruncateRewrite {
            fs,
            dir: dir.to_path_buf(),
            lock,
            enqueued: 0,
            pending: None,
        })
    }

    fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    fn locked<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, QueueError>) -> Result<T, QueueError> {
        self.fs.flock(self.lock, LockKind::Exclusive, LockWait::Block)?;
        let result = f(self);
        let _ = self.fs.unlock(self.lock);
        result
    }
}

fn line(id: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{id} ").into_bytes();
    for b in payload {
        out.extend_from_slice(format!("{b:02x}").as_bytes());
    }
    out.push(b'\n');
    out
}

fn parse(line: &str) -> Option<Delivery> {
    let (id, hex) = line.split_once(' ')?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let payload = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(Delivery {
        id: id.parse().ok()?,
        payload,
    })
}

impl Queue for TruncateRewrite<'_> {
    fn enqueue(&mut self, payload: &[u8]) -> Result<u64, QueueError> {
        self.enqueued += 1;
        let id = self.enqueued << 32 | u64::from(crc32c::crc32c(payload));
        self.locked(|q| {
            let options = OpenOptions::write_only().create(true).append(true).mode(0o644);
            let file = FdGuard::open(q.fs, &q.path(), &options)?;
            write_all(q.fs, file.fd(), &line(id, payload))?;
            q.fs.crash_point("queue.after_write");
            q.fs.fdatasync(file.fd())?;
            file.close()?;
            Ok(id)
        })
    }

    fn dequeue(&mut self) -> Result<Option<Delivery>, QueueError> {
        if let Some(id) = self.pending {
            return Err(QueueError::Pending(id));
        }
        let found = self.locked(|q| {
            let bytes = match read_file(q.fs, &q.path()) {
                Ok(bytes) => bytes,
                Err(e) if e.errno == Errno::NOENT => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let text = String::from_utf8_lossy(&bytes);
            let mut items = Vec::new();
            let mut offset = 0u64;
            for l in text.split_inclusive('\n') {
                let item = parse(l.trim_end_matches('\n')).ok_or_else(|| QueueError::Corrupt {
                    segment: q.path(),
                    offset,
                    detail: format!("unparsable line {:?}", l.chars().take(40).collect::<String>()),
                })?;
                items.push(item);
                offset += l.len() as u64;
            }
            if items.is_empty() {
                return Ok(None);
            }
            let first = items.remove(0);
            // Write the rest back: truncate, then one line per write, no fsync.
            let options = OpenOptions::write_only().create(true).truncate(true).mode(0o644);
            let file = FdGuard::open(q.fs, &q.path(), &options)?;
            q.fs.crash_point("queue.after_truncate");
            for item in &items {
                write_all(q.fs, file.fd(), &line(item.id, &item.payload))?;
            }
            file.close()?;
            Ok(Some(first))
        })?;
        if let Some(d) = &found {
            self.pending = Some(d.id);
            self.fs.crash_point("queue.delivered");
        }
        Ok(found)
    }

    fn ack(&mut self, id: u64) -> Result<(), QueueError> {
        match self.pending {
            Some(p) if p == id => {
                self.pending = None;
                Ok(())
            }
            _ => Err(QueueError::NotPending(id)),
        }
    }
}

impl Drop for TruncateRewrite<'_> {
    fn drop(&mut self) {
        let _ = self.fs.close(self.lock);
    }
}
