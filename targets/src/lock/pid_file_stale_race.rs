//! L6 `pid_file_stale_race`: an O_EXCL lock file holding the owner's PID, with seed 003's
//! orphaned-lock cleanup: "if the PID is dead, delete the file and retry". Two ways to end up
//! with two holders: the holder's file exists but its PID is not written yet, so a waiter
//! reads an empty file, takes it as stale and deletes it; and two waiters that both judged a
//! dead holder's file stale both delete "it", the second one deleting the first one's fresh
//! lock. Detectors R and K (`TwoHolders`).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::{Backoff, LockError, Mechanism, expect};
use crate::info::{Detector, VariantInfo};
use faultline_core::FailureKind;

pub(super) const MECHANISM: Mechanism = Mechanism::PidFile;

/// A held PID-file lock.
pub(crate) struct PidHeld {
    pid: u32,
}

pub(super) fn lock(path: &Path, timeout: Option<Duration>) -> Result<PidHeld, LockError> {
    let pid = std::process::id();
    let mut backoff = Backoff::new(timeout.or(Some(Duration::MAX)));
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(mut file) => {
                // The window: the file exists, empty, until this write.
                faultline_core::crash_point::pass("lock.created");
                file.write_all(format!("{pid}\n").as_bytes())
                    .map_err(|e| LockError::std("write", path, &e))?;
                return Ok(PidHeld { pid });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(LockError::std("open", path, &e)),
        }
        let owner = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok());
        let alive = owner.is_some_and(|p| super::liveness(p) != super::Liveness::Gone);
        if alive {
            backoff.wait(path)?;
        } else {
            // "Orphaned": delete and retry, with no check that it is still the file judged.
            faultline_core::crash_point::pass("lock.judged_stale");
            let _ = std::fs::remove_file(path);
        }
    }
}

impl PidHeld {
    pub(crate) fn check_owner(&self, path: &Path) -> Result<(), String> {
        let bytes = std::fs::read(path).map_err(|e| format!("the lock file is gone: {e}"))?;
        super::owner_record::compare(&bytes, &format!("{}\n", self.pid))
    }

    pub(crate) fn release(self, path: &Path) {
        let _ = std::fs::remove_file(path);
    }
}

pub(super) const INFO: VariantInfo = VariantInfo {
    name: "pid_file_stale_race",
    catalogue_id: Some("L6"),
    summary: "O_EXCL lock file with PID; \"PID dead -> delete and retry\"",
    expectations: &[
        expect(Detector::Readers, FailureKind::TwoHolders),
        expect(Detector::Kill, FailureKind::TwoHolders),
    ],
};
