//! T1 `check_then_create` (seed 004 #3).

use super::{Registry, State};
use crate::sync::{Mutex, lock};

/// Asks "has the session an active task?" in one critical section and creates the task in
/// another: two starts for one session both see none and both create one.
///
/// Catalogue T1. Caught by the model checkers (M) as `DuplicateTask`.
#[derive(Debug)]
pub struct CheckThenCreate {
    state: Mutex<State>,
}

impl Default for CheckThenCreate {
    fn default() -> Self {
        CheckThenCreate {
            state: Mutex::new(State::default()),
        }
    }
}

impl Registry for CheckThenCreate {
    fn start(&self, session: u32) -> Option<u64> {
        let busy = lock(&self.state).has_active(session);
        if busy {
            return None;
        }
        Some(lock(&self.state).create(session))
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
