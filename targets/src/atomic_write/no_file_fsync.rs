//! AW2: the temp's data is never fsynced.

use super::reference::{DataSync, Recipe};

/// Writes a unique temp and renames it over the target (and even fsyncs the directory), but
/// never fsyncs the temp's data: the pattern of tempfile's `persist` and of seed 000's fix.
///
/// Catalogue AW2. Caught by the power-loss model as `TornFile`: the rename is durable, the
/// bytes it points at are not, so the file comes back empty or zero-filled.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFileFsync;

const RECIPE: Recipe = Recipe {
    data_sync: DataSync::Never,
    ..Recipe::DURABLE
};

super::recipe_variant!(NoFileFsync, RECIPE);
