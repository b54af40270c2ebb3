//! Family `atomic-write`: replace a file's contents so that, whatever happens, the file holds
//! one complete version.
//!
//! [`reference::Durable`] is the correct procedure; each other module is one catalogue bug
//! (AW1-AW7). [`Variant`] names them all and dispatches to each, so callers can pick one by name
//! without trait objects (the methods are generic over [`Fs`]).
//!
//! What this family does not cover: symlinked targets (the simulated file system has none) and
//! preserving ownership or extended attributes.

mod fixed_tmp_name;
mod fsync_after_rename;
mod leaks_temp_files;
mod mode_not_preserved;
mod no_dir_fsync;
mod no_file_fsync;
pub mod reference;
mod truncate_in_place;

use std::path::Path;

use faultline_core::{FailureKind, Fs, FsResult};

pub use fixed_tmp_name::FixedTmpName;
pub use fsync_after_rename::FsyncAfterRename;
pub use leaks_temp_files::LeaksTempFiles;
pub use mode_not_preserved::ModeNotPreserved;
pub use no_dir_fsync::NoDirFsync;
pub use no_file_fsync::NoFileFsync;
pub use reference::Durable;
pub use truncate_in_place::TruncateInPlace;

use crate::info::{Detector, Expectation, FamilyInfo, VariantInfo};

/// Implements [`AtomicWrite`] for a variant that is the reference [`reference::Recipe`] with
/// one step changed.
macro_rules! recipe_variant {
    ($variant:ty, $recipe:expr) => {
        impl $crate::atomic_write::AtomicWrite for $variant {
            fn replace<F: faultline_core::Fs + ?Sized>(
                &self,
                fs: &F,
                path: &std::path::Path,
                data: &[u8],
            ) -> faultline_core::FsResult<()> {
                $recipe.replace(fs, path, data)
            }

            fn recover<F: faultline_core::Fs + ?Sized>(
                &self,
                fs: &F,
                path: &std::path::Path,
            ) -> faultline_core::FsResult<()> {
                $recipe.recover(fs, path)
            }
        }
    };
}
pub(crate) use recipe_variant;

/// The family's name.
pub const FAMILY: &str = "atomic-write";

/// This family's entry in the registry.
pub const INFO: FamilyInfo = FamilyInfo {
    name: FAMILY,
    variants: VARIANTS,
    crash_points: CRASH_POINTS,
};

/// After the file that will receive the data is open (the temp, or the target itself).
pub const AFTER_CREATE: &str = "atomic_write.after_create";
/// After all the data is written, before anything is synced.
pub const AFTER_WRITE: &str = "atomic_write.after_write";
/// After the data is synced (or where it would be), before the rename.
pub const BEFORE_RENAME: &str = "atomic_write.before_rename";
/// After the rename, before the directory is synced.
pub const AFTER_RENAME: &str = "atomic_write.after_rename";

/// Every crash point of the family, in the order a replace passes them.
pub const CRASH_POINTS: &[&str] = &[AFTER_CREATE, AFTER_WRITE, BEFORE_RENAME, AFTER_RENAME];

/// Replaces a file's contents.
pub trait AtomicWrite {
    /// Makes `path` hold exactly `data`. On `Ok` the new contents are meant to be durable.
    fn replace<F: Fs + ?Sized>(&self, fs: &F, path: &Path, data: &[u8]) -> FsResult<()>;

    /// Cleans up after a crash: meant to run when the program starts, before it reads `path`.
    fn recover<F: Fs + ?Sized>(&self, fs: &F, path: &Path) -> FsResult<()>;
}

/// Every variant of the family, selectable by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The reference.
    Durable,
    /// AW1
    TruncateInPlace,
    /// AW2
    NoFileFsync,
    /// AW3
    NoDirFsync,
    /// AW4
    FsyncAfterRename,
    /// AW5
    FixedTmpName,
    /// AW6
    LeaksTempFiles,
    /// AW7
    ModeNotPreserved,
}

impl Variant {
    /// Every variant, reference first, in catalogue order (the order of [`VARIANTS`]).
    pub const ALL: [Variant; 8] = [
        Variant::Durable,
        Variant::TruncateInPlace,
        Variant::NoFileFsync,
        Variant::NoDirFsync,
        Variant::FsyncAfterRename,
        Variant::FixedTmpName,
        Variant::LeaksTempFiles,
        Variant::ModeNotPreserved,
    ];

    /// The variant called `name`.
    pub fn by_name(name: &str) -> Option<Variant> {
        crate::info::variant_by_name(&Variant::ALL, VARIANTS, name)
    }

    /// Its registry entry.
    pub fn info(self) -> &'static VariantInfo {
        crate::info::entry_of(&Variant::ALL, VARIANTS, &self)
    }
}

impl AtomicWrite for Variant {
    fn replace<F: Fs + ?Sized>(&self, fs: &F, path: &Path, data: &[u8]) -> FsResult<()> {
        match self {
            Variant::Durable => Durable.replace(fs, path, data),
            Variant::TruncateInPlace => TruncateInPlace.replace(fs, path, data),
            Variant::NoFileFsync => NoFileFsync.replace(fs, path, data),
            Variant::NoDirFsync => NoDirFsync.replace(fs, path, data),
            Variant::FsyncAfterRename => FsyncAfterRename.replace(fs, path, data),
            Variant::FixedTmpName => FixedTmpName.replace(fs, path, data),
            Variant::LeaksTempFiles => LeaksTempFiles.replace(fs, path, data),
            Variant::ModeNotPreserved => ModeNotPreserved.replace(fs, path, data),
        }
    }

    fn recover<F: Fs + ?Sized>(&self, fs: &F, path: &Path) -> FsResult<()> {
        match self {
            Variant::Durable => Durable.recover(fs, path),
            Variant::TruncateInPlace => TruncateInPlace.recover(fs, path),
            Variant::NoFileFsync => NoFileFsync.recover(fs, path),
            Variant::NoDirFsync => NoDirFsync.recover(fs, path),
            Variant::FsyncAfterRename => FsyncAfterRename.recover(fs, path),
            Variant::FixedTmpName => FixedTmpName.recover(fs, path),
            Variant::LeaksTempFiles => LeaksTempFiles.recover(fs, path),
            Variant::ModeNotPreserved => ModeNotPreserved.recover(fs, path),
        }
    }
}

const fn expect(detector: Detector, kind: FailureKind) -> Expectation {
    Expectation { detector, kind }
}

/// The registry entries, in the order of [`Variant::ALL`].
pub const VARIANTS: &[VariantInfo] = &[
    VariantInfo {
        name: "durable",
        catalogue_id: None,
        summary: "unique O_EXCL temp, write, keep mode, fsync, rename, fsync directory; cleans stale temps",
        expectations: &[],
    },
    VariantInfo {
        name: "truncate_in_place",
        catalogue_id: Some("AW1"),
        summary: "opens the file with O_TRUNC and writes into it",
        expectations: &[
            expect(Detector::Readers, FailureKind::TornRead),
            expect(Detector::Kill, FailureKind::TornFile),
            expect(Detector::PowerLoss, FailureKind::TornFile),
        ],
    },
    VariantInfo {
        name: "no_file_fsync",
        catalogue_id: Some("AW2"),
        summary: "temp and rename, but the temp's data is never fsynced",
        expectations: &[expect(Detector::PowerLoss, FailureKind::TornFile)],
    },
    VariantInfo {
        name: "no_dir_fsync",
        catalogue_id: Some("AW3"),
        summary: "fsyncs the temp and renames, but never fsyncs the directory",
        expectations: &[expect(Detector::PowerLoss, FailureKind::LostAcknowledgedWrite)],
    },
    VariantInfo {
        name: "fsync_after_rename",
        catalogue_id: Some("AW4"),
        summary: "renames the temp into place first and fsyncs it afterwards",
        expectations: &[expect(Detector::PowerLoss, FailureKind::TornFile)],
    },
    VariantInfo {
        name: "fixed_tmp_name",
        catalogue_id: Some("AW5"),
        summary: "every writer uses the same `path.tmp`",
        expectations: &[expect(Detector::Readers, FailureKind::UnexpectedError)],
    },
    VariantInfo {
        name: "leaks_temp_files",
        catalogue_id: Some("AW6"),
        summary: "never removes temps left by a crashed writer",
        expectations: &[expect(Detector::Kill, FailureKind::LeakedTemp)],
    },
    VariantInfo {
        name: "mode_not_preserved",
        catalogue_id: Some("AW7"),
        summary: "the replacement keeps the temp's 0600 instead of the file's mode",
        expectations: &[expect(Detector::Metadata, FailureKind::MetadataChanged)],
    },
];
