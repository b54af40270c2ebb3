//! Integration tests of faultline-core: the persistence models' rules one by one, the
//! enumerator's guarantees, and the simulated file system checked against the real one.

mod crash_state;
mod differential;
mod persistence;

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::Path;

use faultline_core::crash_state::enumerate;
use faultline_core::fs::write_all;
use faultline_core::{
    BlockSize, EnumerationConfig, FdGuard, Fs, FsImage, OpenOptions, PersistenceModel, SimFs,
};

/// Every distinct image the model allows for what `body` does after `setup`, keyed by digest.
pub fn states(
    model: PersistenceModel,
    block_size: u64,
    setup: impl Fn(&SimFs),
    body: impl Fn(&SimFs),
) -> Vec<FsImage> {
    let fs = SimFs::default();
    setup(&fs);
    let base = fs.checkpoint();
    body(&fs);
    let mut config = EnumerationConfig::new(model);
    config.block_size = BlockSize::new(block_size).expect("tests use valid block sizes");
    let mut out = Vec::new();
    enumerate(
        &base,
        &fs.trace(),
        &config,
        |_| 0,
        |s| {
            out.push(s.image);
            ControlFlow::Continue(())
        },
    );
    out
}

/// What `path` holds in each state: `None` if missing.
pub fn contents(states: &[FsImage], path: &str) -> BTreeSet<Option<Vec<u8>>> {
    states
        .iter()
        .map(|s| s.read(Path::new(path)).ok().map(|d| d.to_vec()))
        .collect()
}

/// Creates `path` with `data` (no fsync).
pub fn create(fs: &SimFs, path: &str, data: &[u8]) {
    let f = FdGuard::open(
        fs,
        Path::new(path),
        &OpenOptions::write_only().create(true).truncate(true),
    )
    .expect("create");
    write_all(fs, f.fd(), data).expect("write");
    f.close().expect("close");
}

/// Creates `path` with `data`, fsyncs it and its directory.
pub fn create_durable(fs: &SimFs, path: &str, data: &[u8]) {
    create(fs, path, data);
    let f = FdGuard::open(fs, Path::new(path), &OpenOptions::write_only()).expect("reopen");
    fs.fsync(f.fd()).expect("fsync");
    f.close().expect("close");
    fs.fsync_dir(faultline_core::fs::parent_dir(Path::new(path)))
        .expect("fsync dir");
}
