//! Oracles for the atomic-write family, judged on a crash state after the variant's recovery.
//!
//! - `old-or-new`: the file is byte for byte one complete version that had been started by
//!   then; never torn, empty or missing (it existed from the start).
//! - `acknowledged-durable`: once `replace` returned Ok for version v, the file holds v or a
//!   newer version.
//! - `no-leaked-temps`: after recovery, the directory holds nothing but the file.
//! - `metadata-preserved`: the file keeps the mode it started with.
//!
//! What is not judged here: what concurrent readers saw while writers ran (the interleaving
//! check and the process runner do that).

use std::collections::HashMap;
use std::path::Path;

use faultline_core::{Failure, FailureKind, FsImage, Node, SimFs, SimOptions, Verdict};
use xxhash_rust::xxh3::xxh3_128;

use super::{DATA_DIR, INITIAL_MODE, Progress, Saver, TARGET, Workload};

/// One of the family's properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Oracle {
    /// Never torn, empty or missing.
    OldOrNew,
    /// Acknowledged versions survive.
    AcknowledgedDurable,
    /// Recovery leaves no temps.
    NoLeakedTemps,
    /// The mode is kept.
    MetadataPreserved,
}

impl std::str::FromStr for Oracle {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Oracle::ALL.into_iter().find(|o| o.name() == s).ok_or_else(|| {
            let valid: Vec<&str> = Oracle::ALL.iter().map(|o| o.name()).collect();
            format!("unknown oracle '{s}'; valid oracles: {}", valid.join(", "))
        })
    }
}

impl Oracle {
    /// Every oracle of the family; explore judges with all of them by default.
    pub const ALL: [Oracle; 4] = [
        Oracle::OldOrNew,
        Oracle::AcknowledgedDurable,
        Oracle::NoLeakedTemps,
        Oracle::MetadataPreserved,
    ];

    /// The oracle's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Oracle::OldOrNew => "old-or-new",
            Oracle::AcknowledgedDurable => "acknowledged-durable",
            Oracle::NoLeakedTemps => "no-leaked-temps",
            Oracle::MetadataPreserved => "metadata-preserved",
        }
    }
}

/// The pid of the process that boots a crash state; the workload's writer (pid 1000) is dead.
const RECOVERY_PID: u32 = 2000;

/// Judges crash states of one workload.
pub struct Judge {
    saver: Saver,
    /// Each version's size, for describing torn files.
    version_sizes: Vec<usize>,
    by_digest: HashMap<u128, usize>,
    oracles: Vec<Oracle>,
}

/// The file as recovery left it, with the version it matches.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Observed {
    /// The file's bytes, or `None` if it is missing.
    pub len: Option<usize>,
    /// The version those bytes are, if any.
    pub version: Option<usize>,
    /// The file's mode.
    pub mode: Option<u32>,
    /// Other names in the directory.
    pub extra_entries: Vec<String>,
}

impl Judge {
    /// A judge for `variant` running `workload`, with every oracle.
    pub fn new(variant: impl Into<Saver>, workload: &Workload) -> Self {
        Judge::with_oracles(variant, workload, &Oracle::ALL)
    }

    /// A judge that applies only `oracles`.
    pub fn with_oracles(variant: impl Into<Saver>, workload: &Workload, oracles: &[Oracle]) -> Self {
        let by_digest = workload
            .versions
            .iter()
            .enumerate()
            .map(|(i, v)| (xxh3_128(v), i))
            .collect();
        Judge {
            saver: variant.into(),
            version_sizes: workload.sizes(),
            by_digest,
            oracles: oracles.to_vec(),
        }
    }

    /// Boots `image` as a new process would, runs the variant's recovery, and returns the
    /// resulting image, or the recovery's error.
    pub fn recover(&self, image: FsImage) -> (FsImage, Option<String>) {
        let fs = SimFs::from_image(
            image,
            SimOptions {
                seed: 0,
                pid: RECOVERY_PID,
                record: false,
            },
        );
        let error = self
            .saver
            .recover(&fs, Path::new(TARGET))
            .err()
            .map(|e| format!("{e}: {}", e.errno));
        (fs.image(), error)
    }

    /// What the file and its directory hold in `image`.
    pub fn observe(&self, image: &FsImage) -> Observed {
        let (len, version, mode) = match image
            .lookup(Path::new(TARGET))
            .ok()
            .and_then(|ino| image.node(ino))
        {
            Some(Node::File { data, mode }) => (
                Some(usize::try_from(data.len()).unwrap_or(usize::MAX)),
                self.by_digest.get(&xxh3_128(&data.bytes())).copied(),
                Some(*mode),
            ),
            _ => (None, None, None),
        };
        let extra_entries = image
            .lookup(Path::new(DATA_DIR))
            .ok()
            .and_then(|dir| image.entries(dir))
            .map(|entries| {
                entries
                    .keys()
                    .filter(|n| &***n != "config.json")
                    .map(|n| n.to_string())
                    .collect()
            })
            .unwrap_or_default();
        Observed {
            len,
            version,
            mode,
            extra_entries,
        }
    }

    /// Recovers `image` and judges it at a moment with `progress`.
    pub fn judge(&self, image: FsImage, progress: Progress) -> (Verdict, Observed) {
        let (recovered, recovery_error) = self.recover(image);
        let observed = self.observe(&recovered);
        let mut failures = Vec::new();
        if let Some(error) = recovery_error {
            failures.push(Failure {
                kind: FailureKind::RecoveryFailed,
                detail: format!("recovery failed: {error}"),
            });
        }
        for oracle in &self.oracles {
            if let Some(failure) = self.check(*oracle, &observed, progress) {
                failures.push(failure);
            }
        }
        (Verdict::from_failures(failures), observed)
    }

    fn check(&self, oracle: Oracle, seen: &Observed, progress: Progress) -> Option<Failure> {
        let fail = |kind, detail: String| Some(Failure { kind, detail });
        match oracle {
            Oracle::OldOrNew => match (seen.len, seen.version) {
                (None, _) => fail(
                    FailureKind::MissingFile,
                    format!("{TARGET} is missing after the crash"),
                ),
                (Some(len), None) => fail(FailureKind::TornFile, self.describe_torn(len, progress)),
                (Some(_), Some(v)) if v > progress.started => fail(
                    FailureKind::TornFile,
                    format!("file holds version {v}, which no replace had begun writing"),
                ),
                _ => None,
            },
            Oracle::AcknowledgedDurable => match seen.version {
                Some(v) if v < progress.acknowledged => fail(
                    FailureKind::LostAcknowledgedWrite,
                    format!(
                        "replace of version {} returned Ok, but the file holds version {v}",
                        progress.acknowledged
                    ),
                ),
                _ => None,
            },
            Oracle::NoLeakedTemps if !seen.extra_entries.is_empty() => fail(
                FailureKind::LeakedTemp,
                format!(
                    "{} file(s) besides config.json after recovery: {}",
                    seen.extra_entries.len(),
                    seen.extra_entries.join(", ")
                ),
            ),
            Oracle::MetadataPreserved => match seen.mode {
                Some(mode) if mode != INITIAL_MODE => fail(
                    FailureKind::MetadataChanged,
                    format!("mode is {mode:o}, was {INITIAL_MODE:o}"),
                ),
                _ => None,
            },
            Oracle::NoLeakedTemps => None,
        }
    }

    fn describe_torn(&self, len: usize, progress: Progress) -> String {
        let candidates: Vec<String> = (0..=progress.started)
            .map(|v| self.version_sizes[v].to_string())
            .collect();
        if len == 0 {
            format!(
                "file is empty; complete versions are {} bytes",
                candidates.join(" or ")
            )
        } else {
            format!(
                "file holds {len} bytes that match no complete version ({} bytes)",
                candidates.join(" or ")
            )
        }
    }
}
