//! T4 `cleanup_unlocked` (seed 004 #5).

use super::{Registry, State};
use crate::sync::{Mutex, lock};

/// `cleanup` copies the task table under the lock, drops finished tasks from the copy outside
/// it, and writes the copy back: a task started in between is overwritten away.
///
/// Catalogue T4. Caught by the model checkers (M) as `LostEntry`.
#[derive(Debug)]
pub struct CleanupUnlocked {
    state: Mutex<State>,
}

impl Default for CleanupUnlocked {
    fn default() -> Self {
        CleanupUnlocked {
            state: Mutex::new(State::default()),
        }
    }
}

impl Registry for CleanupUnlocked {
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
        let mut state = lock(&self.state);
        if state.has_active(session) {
            return false;
        }
        state.remove_session(session);
        true
    }

    fn cleanup(&self) {
        let mut tasks = lock(&self.state).tasks.clone();
        tasks.retain(|_, t| t.active);
        lock(&self.state).tasks = tasks;
    }

    fn state(&self) -> State {
        lock(&self.state).clone()
    }
}
