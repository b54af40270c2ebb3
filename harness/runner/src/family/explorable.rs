//! The crash detector's view of a family: a workload on the simulated file system, recorded
//! once, whose crash states are swept and judged by the family's own recovery and oracles.
//!
//! A family with such a workload implements [`Simulated`] (in its folder) and returns it from
//! [`super::Family::simulated`]; `faultline explore` ([`crate::explore`]) then runs the one
//! sweep over it without knowing which family it is.

use std::fmt;

use faultline_core::crash_state::{CrashStateId, EnumerationConfig};
use faultline_core::trace::TraceEntry;
use faultline_core::{BlockSize, Failure, FsError, FsImage, PersistenceModel};
use faultline_targets::registry::{Detector, VariantInfo};

use crate::family::document::workload::oracle::{Observed, Oracle};
use crate::family::document::workload::{Progress, Workload};

/// A family's workload on the simulated file system.
pub trait Simulated: Sync {
    /// Where writes tear unless asked otherwise.
    fn default_block_size(&self) -> BlockSize {
        BlockSize::DEFAULT
    }

    /// Whether its oracles are the document ones ([`Oracle`]): the request's document
    /// workload and oracles apply to it.
    fn judges_documents(&self) -> bool {
        false
    }

    /// The catalogue's detectors a model stands for in this workload.
    fn detectors(&self, model: PersistenceModel) -> Vec<Detector> {
        detectors_for(model).to_vec()
    }

    /// Runs the workload of `variant` as `request` asks, recording it; `None` when the
    /// family has no such variant.
    fn record(&self, variant: &str, request: &ExploreRequest) -> Option<Result<Box<dyn Recorded>, FsError>>;
}

/// A recorded workload: the trace the sweep enumerates, and how each state is judged.
pub trait Recorded {
    /// The durable image the trace starts from.
    fn base(&self) -> &FsImage;
    /// Every call the workload made.
    fn trace(&self) -> &[TraceEntry];
    /// The class of a crash after `moment` entries: states of one class are told the same
    /// things, so equal images within a class are judged once.
    fn class(&self, moment: usize) -> u64;
    /// Calls that failed although nothing was injected.
    fn errors(&self) -> Vec<String>;
    /// Recovers crash state `id` (its image) as the next run would and judges it.
    fn judge(&self, image: FsImage, id: &CrashStateId) -> Judged;
}

/// What the oracles said of one crash state.
#[derive(Clone, Debug, Default)]
pub struct Judged {
    /// Empty when it passed.
    pub failures: Vec<Failure>,
    /// Document families: what the workload had been told by then and what recovery left.
    pub document: Option<(Progress, Observed)>,
}

/// A bundled variant whose family has a workload on the simulated file system, for the crash
/// detector ([`crate::explore`]).
#[derive(Clone, Copy)]
pub struct Explorable {
    family: &'static dyn super::Family,
    simulated: &'static dyn Simulated,
    variant: &'static VariantInfo,
}

impl fmt::Debug for Explorable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.family(), self.variant.name)
    }
}

impl PartialEq for Explorable {
    fn eq(&self, other: &Self) -> bool {
        self.family() == other.family() && self.variant.name == other.variant.name
    }
}

impl Eq for Explorable {}

impl Explorable {
    /// The families with a simulated workload, in registry order.
    pub fn families() -> Vec<&'static str> {
        super::FAMILIES
            .iter()
            .filter(|f| f.simulated().is_some())
            .map(|f| f.info().name)
            .collect()
    }

    /// Variant `variant` of `family`, if the family has a simulated workload and the variant.
    pub fn by_name(family: &str, variant: &str) -> Option<Self> {
        let family: &'static dyn super::Family = super::by_name(family)?;
        Some(Explorable {
            family,
            simulated: family.simulated()?,
            variant: family.info().variant(variant)?,
        })
    }

    /// Its family.
    pub fn family(self) -> &'static str {
        self.family.info().name
    }

    /// Its registry entry.
    pub fn info(self) -> &'static VariantInfo {
        self.variant
    }

    /// Its family's workload.
    pub fn simulated(self) -> &'static dyn Simulated {
        self.simulated
    }

    /// Where writes tear unless asked otherwise.
    pub fn default_block_size(self) -> BlockSize {
        self.simulated.default_block_size()
    }

    /// Whether its oracles are the document ones ([`Oracle`]).
    pub fn judges_documents(self) -> bool {
        self.simulated.judges_documents()
    }

    /// The catalogue's detectors a model stands for in its family's workload.
    pub fn detectors(self, model: PersistenceModel) -> Vec<Detector> {
        self.simulated.detectors(model)
    }
}

impl From<faultline_targets::atomic_write::Variant> for Explorable {
    fn from(v: faultline_targets::atomic_write::Variant) -> Self {
        match Explorable::by_name(faultline_targets::atomic_write::FAMILY, v.info().name) {
            Some(e) => e,
            // Every atomic-write variant is explorable: the registry lists them all.
            None => unreachable!("atomic-write variant {} is in the registry", v.info().name),
        }
    }
}

/// What to explore.
#[derive(Clone, Debug)]
pub struct ExploreRequest {
    /// The variant.
    pub variant: Explorable,
    /// The crash model and its parameters.
    pub config: EnumerationConfig,
    /// The documents to write (document families).
    pub workload: Workload,
    /// The properties to judge (document families); all by default.
    pub oracles: Vec<Oracle>,
}

impl ExploreRequest {
    /// The default workload for `variant` under `model`, tearing at its family's block size.
    pub fn new(variant: impl Into<Explorable>, model: PersistenceModel) -> Self {
        let variant = variant.into();
        ExploreRequest {
            variant,
            config: EnumerationConfig {
                block_size: variant.default_block_size(),
                ..EnumerationConfig::new(model)
            },
            workload: Workload::default(),
            oracles: Oracle::ALL.to_vec(),
        }
    }

    /// Records the workload it asks for.
    pub fn record(&self) -> Result<Box<dyn Recorded>, FsError> {
        let name = self.variant.variant.name;
        // An `Explorable` names one of its family's registry variants, which its workload
        // runs; a variant it could not find is reported as a missing one.
        self.variant.simulated.record(name, self).unwrap_or_else(|| {
            Err(FsError::at(
                faultline_core::fs::FsCall::Open,
                std::path::Path::new(name),
                faultline_core::fs::Errno::NOENT,
            ))
        })
    }
}

/// The detectors a model stands for: process-crash is the simulated kill (K), power-loss is
/// P; the metadata check (X) runs under both.
pub fn detectors_for(model: PersistenceModel) -> [Detector; 2] {
    match model {
        PersistenceModel::ProcessCrash => [Detector::Kill, Detector::Metadata],
        PersistenceModel::PowerLoss => [Detector::PowerLoss, Detector::Metadata],
    }
}
