//! The atomic-write family's workload, oracles and interleaving check.
//!
//! The workload: a directory `/data` holding `config.json` (version 0, mode 0640, durable),
//! then several `replace` calls, each with a JSON document of a different size so that a torn
//! or mixed file cannot pass for a complete one. The history records when each replace began
//! and when it returned, keyed by trace position, so the oracles know at any crash moment which
//! versions were acknowledged.

pub mod interleave;
pub mod oracle;

use std::path::{Path, PathBuf};

use faultline_core::fs::write_all;
use faultline_core::{FdGuard, Fs, FsError, FsImage, OpenOptions, SimFs, SimOptions};
use faultline_targets::atomic_write::{AtomicWrite, Variant};
use faultline_targets::store;

/// The directory the workload writes in.
pub const DATA_DIR: &str = "/data";
/// The file the workload replaces.
pub const TARGET: &str = "/data/config.json";
/// The mode the file starts with; a replace must keep it.
pub const INITIAL_MODE: u32 = 0o640;

/// What to write: version 0 exists before the trace starts, versions 1.. are written in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// The file's successive contents; at least two, all different.
    versions: Vec<Vec<u8>>,
}

impl Default for Workload {
    fn default() -> Self {
        Workload::json_documents(&[212, 1536, 5000, 301])
    }
}

impl Workload {
    /// JSON documents of exactly these sizes (each at least 64 bytes), one per version, each
    /// naming its version so no two are equal.
    pub fn json_documents(sizes: &[usize]) -> Self {
        let versions = sizes
            .iter()
            .enumerate()
            .map(|(version, size)| {
                let head = format!("{{\"version\":{version},\"servers\":[");
                let tail = "]}\n";
                let mut doc = head.into_bytes();
                let mut server = 0;
                while doc.len() + tail.len() < *size {
                    let entry = format!(
                        "{}{{\"name\":\"mcp-{version}-{server}\",\"enabled\":true}}",
                        if server > 0 { "," } else { "" }
                    );
                    if doc.len() + entry.len() + tail.len() > *size {
                        break;
                    }
                    doc.extend_from_slice(entry.as_bytes());
                    server += 1;
                }
                // Pad with spaces inside the array so the size is exact and the JSON stays valid.
                while doc.len() + tail.len() < *size {
                    doc.push(b' ');
                }
                doc.extend_from_slice(tail.as_bytes());
                doc
            })
            .collect();
        Workload { versions }
    }

    /// A workload of these versions: at least two, no two equal (the oracles tell versions
    /// apart by their bytes, so equal versions would make a regression look like a pass).
    pub fn from_versions(versions: Vec<Vec<u8>>) -> Result<Self, WorkloadError> {
        if versions.len() < 2 {
            return Err(WorkloadError::TooFewVersions(versions.len()));
        }
        for (i, v) in versions.iter().enumerate() {
            if let Some(j) = versions[..i].iter().position(|w| w == v) {
                return Err(WorkloadError::EqualVersions(j, i));
            }
        }
        Ok(Workload { versions })
    }

    /// How many replaces the workload makes.
    pub fn replaces(&self) -> usize {
        self.versions.len().saturating_sub(1)
    }

    /// The versions, version 0 first.
    pub fn versions(&self) -> &[Vec<u8>] {
        &self.versions
    }

    /// The sizes of the versions, for descriptions.
    pub fn sizes(&self) -> Vec<usize> {
        self.versions.iter().map(Vec::len).collect()
    }
}

/// A workload that cannot be judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadError {
    /// Fewer than two versions: nothing would be replaced.
    #[error("a workload needs at least two versions, got {0}")]
    TooFewVersions(usize),
    /// Two versions are byte-for-byte equal.
    #[error("versions {0} and {1} are equal; every version must differ")]
    EqualVersions(usize, usize),
}

/// Something the workload did, at a trace position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `replace` of this version began.
    Began(usize),
    /// `replace` of this version returned Ok.
    Acknowledged(usize),
    /// `replace` of this version returned an error.
    Failed(usize, FsError),
}

/// The workload's history: events with the trace length at which they happened.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// `(trace position, event)` in order.
    pub events: Vec<(usize, Event)>,
}

/// What the workload had done by one crash moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Progress {
    /// The newest version whose replace had begun (0: none had).
    pub started: usize,
    /// The newest version whose replace had returned Ok (0: none had; version 0 was durable).
    pub acknowledged: usize,
}

impl History {
    /// The progress at each moment 0..=trace_len.
    pub fn progress_by_moment(&self, trace_len: usize) -> Vec<Progress> {
        let mut out = Vec::with_capacity(trace_len + 1);
        let mut progress = Progress {
            started: 0,
            acknowledged: 0,
        };
        let mut events = self.events.iter().peekable();
        for moment in 0..=trace_len {
            while let Some((at, event)) = events.peek() {
                if *at > moment {
                    break;
                }
                match event {
                    Event::Began(v) => progress.started = progress.started.max(*v),
                    Event::Acknowledged(v) => progress.acknowledged = progress.acknowledged.max(*v),
                    Event::Failed(..) => {}
                }
                events.next();
            }
            out.push(progress);
        }
        out
    }

    /// The replaces that failed although no fault was injected.
    pub fn failures(&self) -> impl Iterator<Item = (usize, &FsError)> {
        self.events.iter().filter_map(|(_, e)| match e {
            Event::Failed(v, err) => Some((*v, err)),
            _ => None,
        })
    }
}

/// A workload run on the simulated file system: where the trace starts, and what happened.
pub struct Recorded {
    /// The durable image the trace starts from.
    pub base: FsImage,
    /// Every call the variant made.
    pub trace: Vec<faultline_core::trace::TraceEntry>,
    /// What the workload was told.
    pub history: History,
}

/// What replaces the document in the simulated workload: an atomic-write variant, or a store
/// variant's save (one generation per version). Both recover the same way after a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saver {
    /// `replace` of an atomic-write variant.
    AtomicWrite(Variant),
    /// `mutate` then `save` of one store of a store variant.
    Store(store::Variant),
}

impl From<Variant> for Saver {
    fn from(v: Variant) -> Self {
        Saver::AtomicWrite(v)
    }
}

impl Saver {
    /// The variant's recovery after a crash.
    pub fn recover(self, fs: &dyn Fs, path: &Path) -> faultline_core::FsResult<()> {
        match self {
            Saver::AtomicWrite(v) => v.recover(fs, path),
            Saver::Store(v) => v.recover(fs, path),
        }
    }
}

/// Sets up version 0 and saves every later version of `workload` with `saver` on a fresh
/// SimFs.
pub fn record(saver: impl Into<Saver>, workload: &Workload, seed: u64) -> Result<Recorded, FsError> {
    let saver = saver.into();
    let fs = SimFs::new(SimOptions {
        seed,
        ..SimOptions::default()
    });
    setup(&fs, workload)?;
    let base = fs.checkpoint();
    let target = Path::new(TARGET);
    let mut history = History::default();
    enum Writer {
        Replace(Variant),
        Save(Box<dyn store::SaveLogic>),
    }
    let writer = match saver {
        Saver::AtomicWrite(v) => Writer::Replace(v),
        Saver::Store(v) => Writer::Save(v.store()),
    };
    // A store renders generation g as version g.
    let render = |generation: u64| workload.versions[generation as usize % workload.versions.len()].clone();
    for (version, data) in workload.versions.iter().enumerate().skip(1) {
        history.events.push((fs.trace_len(), Event::Began(version)));
        let saved = match &writer {
            Writer::Replace(v) => v.replace(&fs, target, data),
            Writer::Save(store) => {
                store.mutate();
                store.save(&fs, target, &render)
            }
        };
        let event = match saved {
            Ok(()) => Event::Acknowledged(version),
            Err(e) => Event::Failed(version, e),
        };
        history.events.push((fs.trace_len(), event));
    }
    Ok(Recorded {
        base,
        trace: fs.trace(),
        history,
    })
}

/// Creates `/data/config.json` holding version 0, mode [`INITIAL_MODE`], all durable.
pub fn setup<F: Fs + ?Sized>(fs: &F, workload: &Workload) -> Result<(), FsError> {
    fs.mkdir(Path::new(DATA_DIR), 0o755)?;
    let options = OpenOptions::write_only().create_new().mode(INITIAL_MODE);
    let file = FdGuard::open(fs, Path::new(TARGET), &options)?;
    write_all(fs, file.fd(), &workload.versions[0])?;
    fs.fsync(file.fd())?;
    file.close()?;
    fs.fsync_dir(Path::new(DATA_DIR))
}

/// The target's path.
pub fn target_path() -> PathBuf {
    PathBuf::from(TARGET)
}
