//! AW3: the parent directory is never fsynced.

use super::reference::Recipe;

/// Syncs the temp file and renames it over the target, but never syncs the parent directory.
///
/// Catalogue AW3 (seed 001's fix; renameio, natefinch/atomic). Caught by the power-loss model
/// as `LostAcknowledgedWrite`: the data is durable, the new name is not, so `replace` returned
/// Ok and the old version comes back.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDirFsync;

const RECIPE: Recipe = Recipe {
    dir_sync: false,
    ..Recipe::DURABLE
};

super::recipe_variant!(NoDirFsync, RECIPE);
