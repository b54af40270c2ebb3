//! The shape of the registry's entries: a family, its variants, and how each broken variant
//! must be caught. Every family module describes itself with these; the [`crate::registry`]
//! lists the families.

use std::fmt;

use faultline_core::FailureKind;

/// The ways faultline can catch a bug (the letters of the catalogue).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Detector {
    /// R: concurrent readers and writers.
    Readers,
    /// K: kill -9 of a real process, at random or at a crash point.
    Kill,
    /// P: power-loss crash states on the simulated file system.
    PowerLoss,
    /// M: model checking of in-process lock logic.
    Model,
    /// D: the lock-order graph.
    Lockdep,
    /// X: a metadata or security property check.
    Metadata,
}

impl Detector {
    /// The catalogue's letter.
    pub fn letter(self) -> char {
        match self {
            Detector::Readers => 'R',
            Detector::Kill => 'K',
            Detector::PowerLoss => 'P',
            Detector::Model => 'M',
            Detector::Lockdep => 'D',
            Detector::Metadata => 'X',
        }
    }
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.letter())
    }
}

/// One detector that must catch a variant, and the failure kind it must report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Expectation {
    /// The detector.
    pub detector: Detector,
    /// The kind it must report.
    pub kind: FailureKind,
}

/// A variant of a family: the reference or a broken one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VariantInfo {
    /// Its name on the command line: `durable`, `no_dir_fsync`.
    pub name: &'static str,
    /// Its catalogue ID (`AW3`); `None` for the reference.
    pub catalogue_id: Option<&'static str>,
    /// What it does, in one line.
    pub summary: &'static str,
    /// How it must be caught; empty for the reference, which must pass everything.
    pub expectations: &'static [Expectation],
}

impl VariantInfo {
    /// Whether this is the family's reference implementation.
    pub fn is_reference(&self) -> bool {
        self.catalogue_id.is_none()
    }

    /// The detectors that must catch it, as catalogue letters: `R,K,P`.
    pub fn detector_letters(&self) -> String {
        let letters: Vec<String> = self.expectations.iter().map(|e| e.detector.to_string()).collect();
        letters.join(",")
    }
}

/// A family of implementations of one persistence pattern.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct FamilyInfo {
    /// Its name on the command line: `atomic-write`.
    pub name: &'static str,
    /// The reference first, then the broken variants in catalogue order.
    pub variants: &'static [VariantInfo],
    /// The crash points its code passes.
    pub crash_points: &'static [&'static str],
}

impl FamilyInfo {
    /// The variant called `name`.
    pub fn variant(&self, name: &str) -> Option<&'static VariantInfo> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// Valid variant names, comma-separated, for error messages.
    pub fn variant_names(&self) -> String {
        self.variants
            .iter()
            .map(|v| v.name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The variant of `all` whose entry in `entries` (same order) is called `name`.
pub(crate) fn variant_by_name<V: Copy>(all: &[V], entries: &'static [VariantInfo], name: &str) -> Option<V> {
    entries.iter().position(|e| e.name == name).map(|i| all[i])
}

/// The entry in `entries` of `variant`, whose place in `all` is its place in `entries`.
pub(crate) fn entry_of<V: PartialEq>(
    all: &[V],
    entries: &'static [VariantInfo],
    variant: &V,
) -> &'static VariantInfo {
    let index = all
        .iter()
        .position(|v| v == variant)
        .expect("a family's ALL lists every variant");
    &entries[index]
}
