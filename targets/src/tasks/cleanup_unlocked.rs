//! T4 `cleanup_unlocked` (seed 004 #5).

use super::{Cell, Registry};
use crate::sync::lock;

/// `cleanup` copies the task table under the lock, drops finished tasks from the copy outside
/// it, and writes the copy back: a task started in between is overwritten away.
///
/// Catalogue T4. Caught by the model checkers (M) as `LostEntry`.
#[derive(Debug, Default)]
pub struct CleanupUnlocked(Cell);

impl Registry for CleanupUnlocked {
    fn cell(&self) -> &Cell {
        &self.0
    }

    fn cleanup(&self) {
        let mut tasks = lock(self.0.mutex()).tasks.clone();
        tasks.retain(|_, t| t.active);
        lock(self.0.mutex()).tasks = tasks;
    }
}
