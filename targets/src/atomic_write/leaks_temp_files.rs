//! AW6: temps of crashed writers are never removed.

use super::reference::Recipe;

/// Durable in every step but one: its recovery never removes temps a crashed writer left.
///
/// Catalogue AW6 (atomic-write-file #14). Caught by kill -9 (K) and the process-crash model
/// as `LeakedTemp`: each crash between create and rename leaves a temp, and they pile up.
#[derive(Clone, Copy, Debug, Default)]
pub struct LeaksTempFiles;

const RECIPE: Recipe = Recipe {
    clean_stale_temps: false,
    ..Recipe::DURABLE
};

super::recipe_variant!(LeaksTempFiles, RECIPE);
