//! L4 `fcntl_close_releases`: a POSIX `fcntl` lock (`F_SETLK`), and code in the holding
//! process that opens and closes the lock file again (here: to read the owner record). POSIX
//! locks belong to the process and any close of any descriptor of the file releases them, so
//! another process gets in while the holder is still inside (the file-lock crate, fslock#6,
//! rocksdb#1780). Detector R (`TwoHolders`).

use super::expect;
use super::fd_lock::{Kernel, Recipe};
use crate::info::{Detector, VariantInfo};
use faultline_core::FailureKind;

pub(super) const RECIPE: Recipe = Recipe {
    kernel: Kernel::Posix,
    owner_record: true,
    reopen_to_read_owner: true,
    ..Recipe::FLOCK
};

pub(super) const INFO: VariantInfo = VariantInfo {
    name: "fcntl_close_releases",
    catalogue_id: Some("L4"),
    summary: "POSIX fcntl lock; reading the lock file by path inside the lock releases it",
    expectations: &[expect(Detector::Readers, FailureKind::TwoHolders)],
};
