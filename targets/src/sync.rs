//! The synchronisation types the in-process families use: std's in ordinary builds, loom's
//! under `--cfg loom` and shuttle's under `--cfg shuttle`, so the same code runs in production
//! and under both model checkers. Ordinary builds never compile loom or shuttle (they are
//! dependencies only for those cfgs).
//!
//! Only what the families need is here: `Mutex`, `RwLock`, `Arc` and `thread`.

#[cfg(loom)]
pub use loom::sync::{Arc, Mutex, MutexGuard, RwLock};
#[cfg(loom)]
pub use loom::thread;

#[cfg(all(shuttle, not(loom)))]
pub use shuttle::sync::{Arc, Mutex, MutexGuard, RwLock};
#[cfg(all(shuttle, not(loom)))]
pub use shuttle::thread;

#[cfg(not(any(loom, shuttle)))]
pub use std::sync::{Arc, Mutex, MutexGuard, RwLock};
#[cfg(not(any(loom, shuttle)))]
pub use std::thread;

/// Locks `m`, ignoring poisoning (a panicking holder leaves the state as it was at the panic,
/// which the invariants then judge).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
