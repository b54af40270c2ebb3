//! AW7: the replacement does not keep the file's mode.

use super::reference::Recipe;

/// Durable, except the temp keeps the 0600 it was created with: a replaced 0644 config
/// becomes unreadable to its other readers (a 0600 secret stays 0600 by luck).
///
/// Catalogue AW7 (natefinch/atomic, safer). Caught by the metadata check (X) as
/// `MetadataChanged`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ModeNotPreserved;

const RECIPE: Recipe = Recipe {
    preserve_mode: false,
    ..Recipe::DURABLE
};

super::recipe_variant!(ModeNotPreserved, RECIPE);
