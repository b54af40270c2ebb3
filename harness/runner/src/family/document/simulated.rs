//! The document families' workload on the simulated file system: a document replaced again
//! and again (by an atomic-write variant, or a store variant's save), each crash state
//! recovered as the next run would and judged by the document oracles.

use faultline_core::crash_state::CrashStateId;
use faultline_core::trace::TraceEntry;
use faultline_core::{FsError, FsImage, Verdict};
use faultline_targets::{atomic_write, store};

use super::{AtomicWriteFamily, StoreFamily};
use crate::family::document::workload::oracle::Judge;
use crate::family::document::workload::{self as workload, Progress, Saver};
use crate::family::explorable::{ExploreRequest, Judged, Recorded, Simulated};

/// A document workload as it ran, with its judge.
struct Document {
    recorded: workload::Recorded,
    progress: Vec<Progress>,
    judge: Judge,
}

impl Recorded for Document {
    fn base(&self) -> &FsImage {
        &self.recorded.base
    }

    fn trace(&self) -> &[TraceEntry] {
        &self.recorded.trace
    }

    /// States told the same (versions begun and acknowledged) form one class.
    fn class(&self, moment: usize) -> u64 {
        let p = self.progress[moment];
        (p.started as u64) << 32 | p.acknowledged as u64
    }

    fn errors(&self) -> Vec<String> {
        self.recorded
            .history
            .failures()
            .map(|(v, e)| format!("replace of version {v} failed: {e}: {}", e.errno))
            .collect()
    }

    fn judge(&self, image: FsImage, id: &CrashStateId) -> Judged {
        let at = self.progress[id.moment];
        let (verdict, observed) = self.judge.judge(image, at);
        Judged {
            failures: match verdict {
                Verdict::Fail(failures) => failures,
                Verdict::Pass => Vec::new(),
            },
            document: Some((at, observed)),
        }
    }
}

/// Runs `saver` under `request`'s workload and records it.
fn record(saver: Saver, request: &ExploreRequest) -> Result<Box<dyn Recorded>, FsError> {
    let recorded = workload::record(saver, &request.workload, request.config.seed)?;
    let progress = recorded.history.progress_by_moment(recorded.trace.len());
    Ok(Box::new(Document {
        recorded,
        progress,
        judge: Judge::with_oracles(saver, &request.workload, &request.oracles),
    }))
}

impl Simulated for AtomicWriteFamily {
    fn judges_documents(&self) -> bool {
        true
    }

    fn record(&self, variant: &str, request: &ExploreRequest) -> Option<Result<Box<dyn Recorded>, FsError>> {
        let v = atomic_write::Variant::by_name(variant)?;
        Some(record(Saver::AtomicWrite(v), request))
    }
}

impl Simulated for StoreFamily {
    fn judges_documents(&self) -> bool {
        true
    }

    fn record(&self, variant: &str, request: &ExploreRequest) -> Option<Result<Box<dyn Recorded>, FsError>> {
        let v = store::Variant::by_name(variant)?;
        Some(record(Saver::Store(v), request))
    }
}
