//! T3 `clear_races_create` (seed 004 #4).

use super::{Cell, Registry};
use crate::sync::lock;

/// `clear` checks for active tasks in one critical section and removes the session in
/// another; a task started between the two is left without its session.
///
/// Catalogue T3. Caught by the model checkers (M) as `OrphanedTask`.
#[derive(Debug, Default)]
pub struct ClearRacesCreate(Cell);

impl Registry for ClearRacesCreate {
    fn cell(&self) -> &Cell {
        &self.0
    }

    fn clear(&self, session: u32) -> bool {
        let busy = lock(self.0.mutex()).has_active(session);
        if busy {
            return false;
        }
        lock(self.0.mutex()).sessions.remove(&session);
        true
    }
}
