//! T1 `check_then_create` (seed 004 #3).

use super::{Cell, Registry};
use crate::sync::lock;

/// Asks "has the session an active task?" in one critical section and creates the task in
/// another: two starts for one session both see none and both create one.
///
/// Catalogue T1. Caught by the model checkers (M) as `DuplicateTask`.
#[derive(Debug, Default)]
pub struct CheckThenCreate(Cell);

impl Registry for CheckThenCreate {
    fn cell(&self) -> &Cell {
        &self.0
    }

    fn start(&self, session: u32) -> Option<u64> {
        let busy = lock(self.0.mutex()).has_active(session);
        if busy {
            return None;
        }
        Some(lock(self.0.mutex()).create(session))
    }
}
