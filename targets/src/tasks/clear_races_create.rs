//! T3 `clear_races_create` (seed 004 #4).

use super::{Registry, State};
use crate::sync::{Mutex, lock};

/// `clear` checks for active tasks in one critical section and removes the session in
/// another; a task started between the two is left without its session.
///
/// Catalogue T3. Caught by the model checkers (M) as `OrphanedTask`.
#[derive(Debug)]
pub struct ClearRacesCreate {
    state: Mutex<State>,
}

impl Default for ClearRacesCreate {
    fn default() -> Self {
        ClearRacesCreate {
            state: Mutex::new(State::default()),
        }
    }
}

impl Registry for ClearRacesCreate {
    fn start(&self, session: u32) -> Option<u64> {
        let mut state = lock(&self.state);
        (!state.has_active(session)).then(|| state.create(session))
    }

    fn finish(&self, id: u64) {
        if let Some(t) = lock(&self.state).tasks.get_mut(&id) {
            t.active = false;
        }
    }

    fn clear(&self, session: u32) -> bool {
        let busy = lock(&self.state).has_active(session);
        if busy {
            return false;
        }
        lock(&self.state).sessions.remove(&session);
        true
    }

    fn cleanup(&self) {
        lock(&self.state).tasks.retain(|_, t| t.active);
    }

    fn state(&self) -> State {
        lock(&self.state).clone()
    }
}
