//! File locks between the threads of a check: who holds which file, who waits for which,
//! and the wait-for cycle when there is one, reported with each thread's chain (what it
//! holds, where it took it, what it waits for and where).

use std::fmt::Write as _;
use std::panic::Location;

use faultline_core::fs::Fd;

/// A thread (or a shuttle task) of the check.
pub(crate) type Task = u64;

/// This thread's task number: the model checker's thread under shuttle or loom (whose
/// threads share one OS thread), else a number per thread.
pub(crate) fn task() -> Task {
    #[cfg(shuttle)]
    {
        usize::from(shuttle::current::me()) as Task
    }
    #[cfg(loom)]
    {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        loom::thread::current().id().hash(&mut hasher);
        hasher.finish()
    }
    #[cfg(not(any(shuttle, loom)))]
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        thread_local! {
            static ME: Task = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        ME.with(|me| *me)
    }
}

struct Held {
    task: Task,
    fd: Fd,
    path: String,
    at: &'static Location<'static>,
}

struct Waiting {
    task: Task,
    path: String,
    at: &'static Location<'static>,
}

/// The lock table of one check.
#[derive(Default)]
pub(crate) struct Locks {
    held: Vec<Held>,
    waiting: Vec<Waiting>,
}

impl Locks {
    pub(crate) fn acquired(&mut self, task: Task, fd: Fd, path: String, at: &'static Location<'static>) {
        self.waiting.retain(|w| w.task != task);
        self.held.retain(|h| h.fd != fd);
        self.held.push(Held { task, fd, path, at });
    }

    pub(crate) fn released(&mut self, fd: Fd) {
        self.held.retain(|h| h.fd != fd);
    }

    /// `task` waits for `path`: the cycle this closes, described, if it closes one. The wait
    /// is withdrawn when it does (the caller gives up with the description).
    pub(crate) fn wait(
        &mut self,
        task: Task,
        path: String,
        at: &'static Location<'static>,
    ) -> Option<String> {
        self.waiting.retain(|w| w.task != task);
        self.waiting.push(Waiting { task, path, at });
        let mut chain: Vec<(&Waiting, &Held)> = Vec::new();
        let mut current = task;
        loop {
            let waiting = self.waiting.iter().find(|w| w.task == current)?;
            let holder = self
                .held
                .iter()
                .find(|h| h.path == waiting.path && h.task != current)?;
            if chain.iter().any(|(w, _)| w.task == holder.task) && holder.task != task {
                return None;
            }
            chain.push((waiting, holder));
            if holder.task == task {
                break;
            }
            current = holder.task;
        }
        let mut out = format!("lock-order cycle between {} threads:", chain.len());
        for (waiting, _) in &chain {
            let held: Vec<String> = self
                .held
                .iter()
                .filter(|h| h.task == waiting.task)
                .map(|h| format!("{} (locked at {})", h.path, h.at))
                .collect();
            let _ = write!(
                out,
                "\n  thread {} holds {} and waits for {} (at {})",
                waiting.task,
                held.join(", "),
                waiting.path,
                waiting.at
            );
        }
        self.waiting.retain(|w| w.task != task);
        Some(out)
    }
}
