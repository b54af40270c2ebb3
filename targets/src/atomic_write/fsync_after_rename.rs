//! AW4: the rename comes before the fsync.

use super::reference::{DataSync, Recipe};

/// Renames the temp over the target first and fsyncs the data afterwards.
///
/// Catalogue AW4. Caught by the power-loss model as `TornFile`: between the rename and the
/// fsync, the new name can be durable while its data is not.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsyncAfterRename;

const RECIPE: Recipe = Recipe {
    data_sync: DataSync::AfterRename,
    ..Recipe::DURABLE
};

super::recipe_variant!(FsyncAfterRename, RECIPE);
