//! L9 `upgrade_deadlock`: shared holders upgrade to exclusive in place (an OFD `fcntl` write
//! lock requested while holding the read lock). Two shared holders that both upgrade wait for
//! each other forever; the kernel detects no deadlock between OFD locks (nix#7521). The
//! references release the shared lock before waiting for the exclusive one. Detector R
//! (`Deadlock`, through the watchdog); M in the model-checking family.

use super::expect;
use super::fd_lock::Recipe;
use crate::info::{Detector, VariantInfo};
use faultline_core::FailureKind;

pub(super) const RECIPE: Recipe = Recipe {
    upgrade_in_place: true,
    ..Recipe::OFD
};

pub(super) const INFO: VariantInfo = VariantInfo {
    name: "upgrade_deadlock",
    catalogue_id: Some("L9"),
    summary: "two shared holders both upgrade to exclusive in place",
    expectations: &[expect(Detector::Readers, FailureKind::Deadlock)],
};
