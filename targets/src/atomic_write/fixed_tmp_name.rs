//! AW5: every writer shares one temp name.

use super::reference::{Recipe, TempName};

/// Writes through `<path>.tmp` (opened with O_TRUNC, no O_EXCL), which every writer shares;
/// otherwise durable. Recovery removes the leftover `<path>.tmp`.
///
/// Catalogue AW5 (seed 000's fix, seed 002 pattern 2). Caught by concurrent writers (R): one
/// writer truncates and rewrites the temp another is filling, so a torn or wrong file is
/// committed, or the second rename fails with ENOENT (`UnexpectedError`).
#[derive(Clone, Copy, Debug, Default)]
pub struct FixedTmpName;

const RECIPE: Recipe = Recipe {
    temp: TempName::Fixed,
    ..Recipe::DURABLE
};

super::recipe_variant!(FixedTmpName, RECIPE);
