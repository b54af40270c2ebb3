//! The reference store: one save at a time, and the newest snapshot always wins.

use std::path::Path;

use faultline_core::{Fs, FsResult};

use super::{Generation, Render, SaveLogic};
use crate::atomic_write::{AtomicWrite, Durable};
use crate::sync::{Mutex, lock};

/// Saves under a save lock, snapshots inside it, and skips a snapshot no newer than the one
/// already saved; writes with the durable atomic write.
#[derive(Debug)]
pub struct Generational {
    state: Generation,
    /// The generation on disk; held for the whole save, so saves never overlap.
    saved: Mutex<u64>,
}

impl Default for Generational {
    fn default() -> Self {
        Generational {
            state: Generation::default(),
            saved: Mutex::new(0),
        }
    }
}

impl SaveLogic for Generational {
    fn mutate(&self) -> u64 {
        self.state.bump()
    }

    fn save(&self, fs: &(dyn Fs + Sync), path: &Path, render: Render<'_>) -> FsResult<()> {
        let mut saved = lock(&self.saved);
        // The snapshot is taken after the save lock, so no older snapshot can be written after
        // this one.
        let generation = self.state.get();
        if generation <= *saved {
            return Ok(());
        }
        let (generation, data) = self.state.snapshot(render);
        Durable.replace(fs, path, &data)?;
        *saved = generation;
        Ok(())
    }

    fn generation(&self) -> u64 {
        self.state.get()
    }
}
