//! A race window held open on purpose ([`crate::scenario::Scenario::window`]).
//!
//! Each step's worker carries a stop plan: at the given pass of its crash point it stops
//! itself (SIGSTOP). The runner holds every step after the first (it stops them before the
//! barrier opens) and lets step k go once step k-1 has stopped at its point or ended. Once
//! every step has stopped or ended, they go on one at a time, in order: the earliest stopped
//! is continued, and the next only once it has ended. Workers outside the window run freely
//! throughout. Nothing here waits on a clock: each move follows an observed state (a worker
//! stopped, a worker ended). Should a continued worker block on one still stopped (a lock
//! it holds, say), the watchdog's look finds no progress and [`Window::unblock`] continues
//! the next.

use nix::sys::signal::Signal;

use super::fork::Group;

/// Where one step's worker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Stopped by the runner until the step before has stopped or ended.
    Held,
    /// Running towards its point.
    Running,
    /// Stopped itself at its point.
    AtPoint,
    /// Continued after its point; runs to its end.
    Continued,
}

/// The window of one trial.
pub struct Window {
    /// Group index and state of each step's worker, in order.
    steps: Vec<(usize, State)>,
}

impl Window {
    /// A window over the workers at `indices` (in step order), holding all but the first.
    /// Call before the barrier opens; an empty `indices` is no window.
    pub fn open(group: &Group, indices: Vec<usize>) -> Window {
        let steps = indices
            .into_iter()
            .enumerate()
            .map(|(i, index)| {
                if i == 0 {
                    (index, State::Running)
                } else {
                    group.workers[index].signal(Signal::SIGSTOP);
                    (index, State::Held)
                }
            })
            .collect();
        Window { steps }
    }

    /// Moves the window on from what the workers are doing now.
    pub fn advance(&mut self, group: &Group) {
        if self.steps.is_empty() {
            return;
        }
        let ended = |index: usize| group.workers[index].ended.is_some();
        for (index, state) in &mut self.steps {
            if *state == State::Running && !ended(*index) && is_stopped(group, *index) {
                *state = State::AtPoint;
            }
        }
        // Release each held step once the one before is at its point or gone.
        for i in 1..self.steps.len() {
            let (before, before_state) = self.steps[i - 1];
            let passed = before_state != State::Held && (before_state != State::Running || ended(before));
            if self.steps[i].1 == State::Held && passed {
                let index = self.steps[i].0;
                group.workers[index].signal(Signal::SIGCONT);
                self.steps[i].1 = State::Running;
            }
        }
        // Once every step is at its point or gone, continue them one at a time.
        let all_there = self
            .steps
            .iter()
            .all(|(index, state)| ended(*index) || matches!(state, State::AtPoint | State::Continued));
        let one_running = self
            .steps
            .iter()
            .any(|(index, state)| *state == State::Continued && !ended(*index));
        if all_there && !one_running {
            self.continue_next(group);
        }
    }

    /// Continues the earliest step stopped at its point; whether there was one.
    fn continue_next(&mut self, group: &Group) -> bool {
        let next = self
            .steps
            .iter_mut()
            .find(|(index, state)| *state == State::AtPoint && group.workers[*index].ended.is_none());
        match next {
            Some((index, state)) => {
                group.workers[*index].signal(Signal::SIGCONT);
                *state = State::Continued;
                true
            }
            None => false,
        }
    }

    /// The group made no progress: a worker the window still holds back, or keeps stopped at
    /// its point, may be what the others wait for. Lets the next one go; whether it did.
    pub fn unblock(&mut self, group: &Group) -> bool {
        if self.continue_next(group) {
            return true;
        }
        match self.steps.iter_mut().find(|(_, state)| *state == State::Held) {
            Some((index, state)) => {
                group.workers[*index].signal(Signal::SIGCONT);
                *state = State::Running;
                true
            }
            None => false,
        }
    }
}

/// Whether the worker at `index` is stopped (state `T` in `/proc/PID/stat`).
fn is_stopped(group: &Group, index: usize) -> bool {
    let pid = group.workers[index].pid;
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let close = stat.rfind(')')?;
            stat.get(close + 1..)?
                .split_ascii_whitespace()
                .next()
                .map(|s| s == "T")
        })
        .unwrap_or(false)
}
