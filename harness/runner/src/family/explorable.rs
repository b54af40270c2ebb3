//! The bundled variants the crash detector can explore: those whose family runs a workload on
//! the simulated file system.

use faultline_core::{BlockSize, PersistenceModel};
use faultline_targets::registry::{Detector, VariantInfo};
use faultline_targets::{atomic_write as aw_targets, queue as queue_targets, store as store_targets};

/// A bundled variant whose family has a workload on the simulated file system, for the crash
/// detector ([`crate::explore`]). A family says which of its variants are (see
/// [`super::Family::explorable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Explorable {
    /// An atomic-write variant replacing the document.
    AtomicWrite(aw_targets::Variant),
    /// A store variant saving one generation per version.
    Store(store_targets::Variant),
    /// A queue variant under the enqueue/dequeue workload.
    Queue(queue_targets::Variant),
}

impl From<aw_targets::Variant> for Explorable {
    fn from(v: aw_targets::Variant) -> Self {
        Explorable::AtomicWrite(v)
    }
}

impl Explorable {
    /// The families with a simulated workload, in registry order.
    pub fn families() -> Vec<&'static str> {
        super::FAMILIES
            .iter()
            .filter(|f| f.info().variants.iter().any(|v| f.explorable(v.name).is_some()))
            .map(|f| f.info().name)
            .collect()
    }

    /// Variant `variant` of `family`, if the family has a simulated workload and the variant.
    pub fn by_name(family: &str, variant: &str) -> Option<Self> {
        super::by_name(family)?.explorable(variant)
    }

    /// Its family.
    pub fn family(self) -> &'static str {
        match self {
            Explorable::AtomicWrite(_) => aw_targets::FAMILY,
            Explorable::Store(_) => store_targets::FAMILY,
            Explorable::Queue(_) => queue_targets::FAMILY,
        }
    }

    /// Its registry entry.
    pub fn info(self) -> &'static VariantInfo {
        match self {
            Explorable::AtomicWrite(v) => v.info(),
            Explorable::Store(v) => v.info(),
            Explorable::Queue(v) => v.info(),
        }
    }

    /// Where writes tear unless asked otherwise: queue records are small, and tear at the
    /// 512-byte sector as in the queue's scenario; documents at 4096.
    pub fn default_block_size(family: &str) -> BlockSize {
        match family {
            queue_targets::FAMILY => BlockSize::new(512).unwrap_or(BlockSize::DEFAULT),
            _ => BlockSize::DEFAULT,
        }
    }

    /// Whether the family's oracles are the document ones ([`Oracle`]).
    pub fn judges_documents(self) -> bool {
        !matches!(self, Explorable::Queue(_))
    }

    /// The catalogue's detectors a model stands for in this family's workload: process-crash
    /// is the simulated kill (K), power-loss is P, and the metadata check (X) runs under both.
    /// The queue's simulated consumer processes each delivery at once, so a kill between
    /// delivery and processing (what K catches in queues) is for process runs only.
    pub fn detectors(self, model: PersistenceModel) -> Vec<Detector> {
        match (self, model) {
            (Explorable::Queue(_), PersistenceModel::ProcessCrash) => Vec::new(),
            (Explorable::Queue(_), PersistenceModel::PowerLoss) => vec![Detector::PowerLoss],
            (_, model) => detectors_for(model).to_vec(),
        }
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
