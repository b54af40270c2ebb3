//! S1: the debounced save is scheduled while the state lock is held.

use std::path::Path;

use faultline_core::{Fs, FsResult};

use super::{Render, SaveLogic};
use crate::atomic_write::{AtomicWrite, Durable};
use crate::sync::{Mutex, RwLock, lock, read, write};

/// `mutate` changes the state under its write lock and, still holding it, schedules the
/// debounced save, which takes the save lock to mark a save pending. The save timer takes the
/// save lock and then the state lock to snapshot: the two take the locks in opposite orders.
///
/// Catalogue S1 (seed 000, before its fix). Caught by the model checkers (M) as `Deadlock`,
/// and by the in-process lock-order graph (D) as `LockOrderInversion` from one sequential
/// mutate and save, without deadlocking.
#[derive(Debug)]
pub struct SaveUnderLock {
    state: RwLock<u64>,
    /// The generation on disk and whether a save is pending.
    save: Mutex<(u64, bool)>,
}

impl Default for SaveUnderLock {
    fn default() -> Self {
        SaveUnderLock {
            state: RwLock::new(0),
            save: Mutex::new((0, false)),
        }
    }
}

impl SaveLogic for SaveUnderLock {
    fn mutate(&self) -> u64 {
        let mut state = write(&self.state);
        *state += 1;
        // Scheduling the save while the state lock is held.
        lock(&self.save).1 = true;
        *state
    }

    fn save(&self, fs: &(dyn Fs + Sync), path: &Path, render: Render<'_>) -> FsResult<()> {
        let mut save = lock(&self.save);
        let generation = *read(&self.state);
        save.1 = false;
        if generation <= save.0 {
            return Ok(());
        }
        Durable.replace(fs, path, &render(generation))?;
        save.0 = generation;
        Ok(())
    }

    fn generation(&self) -> u64 {
        *read(&self.state)
    }
}
