//! Which file system this thread's calls go to: the real one, or the simulated one of the
//! check that is running here.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use faultline_core::SimFs;

/// Checks running in this process, on any thread. Outside a check it is 0 and every call
/// goes straight to `std::fs` after one relaxed load.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static CURRENT: RefCell<Option<Arc<Session>>> = const { RefCell::new(None) };
}

/// The simulated file system of one run of the workload (or of one recovery), and what the
/// workload acknowledged, each with the trace length at the time.
pub(crate) struct Session {
    pub(crate) fs: SimFs,
    /// Under loom, every call takes this lock for a moment: loom then sees the calls of
    /// different threads as conflicting steps and explores their orders (its reduction
    /// ignores what it cannot see, such as the simulated file system's own state).
    #[cfg(loom)]
    kernel: loom::sync::Mutex<()>,
    pub(crate) acks: std::sync::Mutex<Vec<(usize, String)>>,
    pub(crate) locks: std::sync::Mutex<crate::locks::Locks>,
}

impl Session {
    pub(crate) fn new(fs: SimFs) -> Arc<Self> {
        Arc::new(Session {
            fs,
            #[cfg(loom)]
            kernel: loom::sync::Mutex::new(()),
            acks: std::sync::Mutex::new(Vec::new()),
            locks: std::sync::Mutex::new(crate::locks::Locks::default()),
        })
    }

    /// The simulated file system, for one call. Built with `--cfg shuttle` or `--cfg loom`,
    /// each call is first a scheduling point, so the model checker can run another thread
    /// between two system calls, as the kernel can.
    pub(crate) fn step(&self) -> &SimFs {
        #[cfg(shuttle)]
        shuttle::thread::yield_now();
        #[cfg(loom)]
        drop(self.kernel.lock());
        &self.fs
    }

    /// The lock table.
    pub(crate) fn locks(&self) -> std::sync::MutexGuard<'_, crate::locks::Locks> {
        self.locks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Lets another thread run while this one waits for a lock.
pub(crate) fn yield_now() {
    #[cfg(shuttle)]
    shuttle::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(any(shuttle, loom)))]
    std::thread::yield_now();
}

/// Makes `session` this thread's file system until the guard drops.
pub(crate) struct Enter {
    previous: Option<Arc<Session>>,
}

impl Enter {
    pub(crate) fn new(session: Arc<Session>) -> Self {
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        let previous = CURRENT.with(|c| c.borrow_mut().replace(session));
        Enter { previous }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// This thread's simulated session, if a check is running on it.
pub(crate) fn current() -> Option<Arc<Session>> {
    if ACTIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    CURRENT.with(|c| c.borrow().clone())
}

/// A path on the simulated file system: relative paths start at its root.
pub(crate) fn sim_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    out.extend(
        path.components()
            .filter(|c| !matches!(c, std::path::Component::CurDir)),
    );
    out
}

/// Runs `f` on this thread's session. The spawned thread shares the check's file system;
/// use it for threads that do file work inside a check.
pub fn spawn<F, T>(f: F) -> std::thread::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let session = current();
    std::thread::spawn(move || {
        let _enter = session.map(Enter::new);
        f()
    })
}
