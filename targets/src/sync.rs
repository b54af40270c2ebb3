//! The synchronisation types the in-process families use: std's in ordinary builds, loom's
//! under `--cfg loom` and shuttle's under `--cfg shuttle`, so the same code runs in production
//! and under both model checkers. Ordinary builds never compile loom or shuttle (they are
//! dependencies only for those cfgs).
//!
//! The families lock through [`lock`], [`read`] and [`write()`]. In ordinary builds these also
//! feed the in-process lock-order graph ([`order`]) once it is enabled: like tracing-mutex,
//! it records which lock was taken while which were held, and reports a cycle the moment an
//! acquisition closes one, from a single sequential run, without the deadlock happening.

use std::panic::Location;

#[cfg(loom)]
pub use loom::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
#[cfg(loom)]
pub use loom::thread;

#[cfg(all(shuttle, not(loom)))]
pub use shuttle::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
#[cfg(all(shuttle, not(loom)))]
pub use shuttle::thread;

#[cfg(not(any(loom, shuttle)))]
pub use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
#[cfg(not(any(loom, shuttle)))]
pub use std::thread;

/// A held lock's place in the lock-order graph; released when dropped.
pub struct Held<G> {
    guard: G,
    _order: order::Token,
}

impl<G: std::ops::Deref> std::ops::Deref for Held<G> {
    type Target = G::Target;
    fn deref(&self) -> &G::Target {
        &self.guard
    }
}

impl<G: std::ops::DerefMut> std::ops::DerefMut for Held<G> {
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.guard
    }
}

/// Locks `m`, ignoring poisoning (a panicking holder leaves the state as it was at the panic,
/// which the invariants then judge).
#[track_caller]
pub fn lock<T>(m: &Mutex<T>) -> Held<MutexGuard<'_, T>> {
    let token = order::acquire(m as *const Mutex<T> as usize, Location::caller());
    Held {
        guard: m.lock().unwrap_or_else(|p| p.into_inner()),
        _order: token,
    }
}

/// Takes `rw` shared, ignoring poisoning.
#[track_caller]
pub fn read<T>(rw: &RwLock<T>) -> Held<RwLockReadGuard<'_, T>> {
    let token = order::acquire(rw as *const RwLock<T> as usize, Location::caller());
    Held {
        guard: rw.read().unwrap_or_else(|p| p.into_inner()),
        _order: token,
    }
}

/// Takes `rw` exclusively, ignoring poisoning.
#[track_caller]
pub fn write<T>(rw: &RwLock<T>) -> Held<RwLockWriteGuard<'_, T>> {
    let token = order::acquire(rw as *const RwLock<T> as usize, Location::caller());
    Held {
        guard: rw.write().unwrap_or_else(|p| p.into_inner()),
        _order: token,
    }
}

/// The in-process lock-order graph. Off until `enable` is called; under the model checkers it never
/// records (they find the deadlocks themselves).
pub mod order {
    use std::cell::RefCell;
    use std::panic::Location;

    use faultline_core::lock_order::OrderGraph;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    static ON: AtomicBool = AtomicBool::new(false);
    static GRAPH: Mutex<Graph> = Mutex::new(Graph {
        edges: OrderGraph::new(),
        found: Vec::new(),
    });

    thread_local! {
        /// The locks this thread holds, oldest first, with where each was taken.
        static HELD: RefCell<Vec<(usize, &'static Location<'static>)>> = const { RefCell::new(Vec::new()) };
    }

    /// Where the held lock and the acquired one were taken, as first seen.
    type Sites = (&'static Location<'static>, &'static Location<'static>);

    struct Graph {
        /// held -> acquired (locks by address).
        edges: OrderGraph<usize, Sites>,
        found: Vec<Inversion>,
    }

    /// Two orders of acquisition that form a cycle: a deadlock waiting to happen.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Inversion {
        /// The acquisition that closed the cycle: `taken at X while holding a lock taken at Y`.
        pub closing: String,
        /// The earlier acquisitions it reverses, each the same way.
        pub earlier: Vec<String>,
    }

    impl std::fmt::Display for Inversion {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            if self.earlier.is_empty() {
                return f.write_str(&self.closing);
            }
            write!(
                f,
                "{}; but earlier {}",
                self.closing,
                self.earlier.join(", then ")
            )
        }
    }

    /// Starts recording (for the whole process).
    pub fn enable() {
        ON.store(true, Ordering::SeqCst);
    }

    /// Stops recording and forgets the graph and what was found.
    pub fn reset() {
        ON.store(false, Ordering::SeqCst);
        let mut g = GRAPH.lock().unwrap_or_else(|p| p.into_inner());
        g.edges.clear();
        g.found.clear();
    }

    /// The cycles found so far.
    pub fn inversions() -> Vec<Inversion> {
        GRAPH.lock().unwrap_or_else(|p| p.into_inner()).found.clone()
    }

    fn site(l: &Location<'_>) -> String {
        format!("{}:{}", l.file(), l.line())
    }

    /// Marks a lock held by this thread until dropped.
    pub struct Token(Option<usize>);

    impl Drop for Token {
        fn drop(&mut self) {
            if let Some(id) = self.0 {
                HELD.with(|h| {
                    let mut h = h.borrow_mut();
                    if let Some(i) = h.iter().rposition(|(held, _)| *held == id) {
                        h.remove(i);
                    }
                });
            }
        }
    }

    /// Records that this thread is about to take lock `id` at `at`. Taking a lock it already
    /// holds would wait forever on a non-reentrant lock: that panics instead of hanging.
    pub(crate) fn acquire(id: usize, at: &'static Location<'static>) -> Token {
        if cfg!(any(loom, shuttle)) || !ON.load(Ordering::Relaxed) {
            return Token(None);
        }
        let held: Vec<(usize, &'static Location<'static>)> = HELD.with(|h| h.borrow().clone());
        if let Some((_, first)) = held.iter().find(|(h, _)| *h == id) {
            let inversion = Inversion {
                closing: format!(
                    "lock taken at {} while this thread already holds it (taken at {})",
                    site(at),
                    site(first)
                ),
                earlier: Vec::new(),
            };
            GRAPH
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .found
                .push(inversion.clone());
            panic!("lock order: {inversion}: a non-reentrant lock would wait for itself");
        }
        {
            let mut g = GRAPH.lock().unwrap_or_else(|p| p.into_inner());
            for (h, h_at) in &held {
                if g.edges.get(h, &id).is_some() {
                    continue;
                }
                if let Some(path) = g.edges.path(&id, h) {
                    let earlier = path
                        .iter()
                        .filter_map(|(a, b)| g.edges.get(a, b))
                        .map(|(a_at, b_at)| {
                            format!(
                                "a lock taken at {} while holding one taken at {}",
                                site(b_at),
                                site(a_at)
                            )
                        })
                        .collect();
                    g.found.push(Inversion {
                        closing: format!(
                            "a lock taken at {} while holding one taken at {}",
                            site(at),
                            site(h_at)
                        ),
                        earlier,
                    });
                }
                g.edges.insert(*h, id, (*h_at, at));
            }
        }
        HELD.with(|h| h.borrow_mut().push((id, at)));
        Token(Some(id))
    }
}
