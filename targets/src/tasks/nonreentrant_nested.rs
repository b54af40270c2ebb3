//! T2 `nonreentrant_nested` (seed 004 #7).

use super::{Cell, Registry};
use crate::sync::lock;

/// `start` takes the lock and, holding it, calls `has_active_task`, which takes the same
/// non-reentrant lock: the thread waits for itself.
///
/// Catalogue T2. Caught by the model checkers (M) as `Deadlock`, on the first `start`.
#[derive(Debug, Default)]
pub struct NonreentrantNested(Cell);

impl NonreentrantNested {
    fn has_active_task(&self, session: u32) -> bool {
        lock(self.0.mutex()).has_active(session)
    }
}

impl Registry for NonreentrantNested {
    fn cell(&self) -> &Cell {
        &self.0
    }

    fn start(&self, session: u32) -> Option<u64> {
        let mut state = lock(self.0.mutex());
        if self.has_active_task(session) {
            return None;
        }
        Some(state.create(session))
    }
}
