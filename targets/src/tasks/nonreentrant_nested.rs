//! T2 `nonreentrant_nested` (seed 004 #7).

use super::{Registry, State};
use crate::sync::{Mutex, lock};

/// `start` takes the lock and, holding it, calls `has_active_task`, which takes the same
/// non-reentrant lock: the thread waits for itself.
///
/// Catalogue T2. Caught by the model checkers (M) as `Deadlock`, on the first `start`.
#[derive(Debug)]
pub struct NonreentrantNested {
    state: Mutex<State>,
}

impl Default for NonreentrantNested {
    fn default() -> Self {
        NonreentrantNested {
            state: Mutex::new(State::default()),
        }
    }
}

impl NonreentrantNested {
    fn has_active_task(&self, session: u32) -> bool {
        lock(&self.state).has_active(session)
    }
}

impl Registry for NonreentrantNested {
    fn start(&self, session: u32) -> Option<u64> {
        let mut state = lock(&self.state);
        if self.has_active_task(session) {
            return None;
        }
        Some(state.create(session))
    }

    fn finish(&self, id: u64) {
        if let Some(t) = lock(&self.state).tasks.get_mut(&id) {
            t.active = false;
        }
    }

    fn clear(&self, session: u32) -> bool {
        let mut state = lock(&self.state);
        if state.has_active(session) {
            return false;
        }
        state.remove_session(session);
        true
    }

    fn cleanup(&self) {
        lock(&self.state).tasks.retain(|_, t| t.active);
    }

    fn state(&self) -> State {
        lock(&self.state).clone()
    }
}
