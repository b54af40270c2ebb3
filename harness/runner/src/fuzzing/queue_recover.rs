//! `queue_recover`: arbitrary bytes as the queue's files on disk (segments and the cursor).
//! Opening the reference must recover or return an error; draining what it recovered must
//! end, with every delivery no larger than the bytes on disk, and never panic.

use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use faultline_core::fs::{OpenOptions, write_all};
use faultline_core::{Fs, SimFs};
use faultline_targets::queue::{Options, QueueError, Variant};

/// One file of the queue's directory.
#[derive(Clone, Debug, Arbitrary)]
pub struct File {
    /// Segment number, or the cursor when `None`.
    pub segment: Option<u8>,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The fuzzer's input: the directory's files (at most 6).
#[derive(Clone, Debug, Arbitrary)]
pub struct Input {
    /// The files.
    pub files: Vec<File>,
}

const DIR: &str = "/queue";

/// Opens and drains the reference over the files `data` decodes to.
pub fn check(data: &[u8]) -> Result<(), String> {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return Ok(());
    };
    run(&input)
}

/// Opens and drains the reference over `input`'s files.
pub fn run(input: &Input) -> Result<(), String> {
    let fs = SimFs::default();
    let dir = Path::new(DIR);
    fs.mkdir(dir, 0o755).map_err(|e| e.to_string())?;
    let mut on_disk = 0usize;
    for file in input.files.iter().take(6) {
        let name = match file.segment {
            Some(n) => format!("seg-{:020}.log", n % 8),
            None => "cursor".to_string(),
        };
        let fd = fs
            .open(
                &dir.join(name),
                &OpenOptions::write_only().create(true).truncate(true),
            )
            .map_err(|e| e.to_string())?;
        write_all(&fs, fd, &file.bytes).map_err(|e| e.to_string())?;
        fs.close(fd).map_err(|e| e.to_string())?;
        on_disk += file.bytes.len();
    }
    let options = Options {
        segment_bytes: 4096,
        max_payload: 1 << 16,
    };
    let mut queue = match Variant::Segmented.open(&fs, dir, options) {
        Ok(q) => q,
        Err(QueueError::Corrupt { .. } | QueueError::Fs(_)) => return Ok(()),
        Err(e) => return Err(format!("open failed with an unexpected error: {e:?}")),
    };
    // Every record takes at least its header, so a drain that delivers more records than
    // there are bytes on disk is not ending.
    let mut delivered = 0usize;
    loop {
        match queue.dequeue() {
            Ok(Some(d)) => {
                if d.payload.len() > on_disk {
                    return Err(format!(
                        "delivered {} bytes from {on_disk} bytes on disk",
                        d.payload.len()
                    ));
                }
                delivered += 1;
                if delivered > on_disk + 1 {
                    return Err(format!(
                        "{delivered} deliveries from {on_disk} bytes on disk: the drain does not end"
                    ));
                }
                if let Err(e) = queue.ack(d.id) {
                    return match e {
                        QueueError::Corrupt { .. } | QueueError::Fs(_) => Ok(()),
                        other => Err(format!("ack of a delivery failed: {other:?}")),
                    };
                }
            }
            Ok(None) => return Ok(()),
            Err(QueueError::Corrupt { .. } | QueueError::Fs(_)) => return Ok(()),
            Err(e) => return Err(format!("dequeue failed with an unexpected error: {e:?}")),
        }
    }
}
