//! The persistence models, rule by rule, on small traces whose crash states can be listed.

use std::collections::BTreeSet;
use std::path::Path;

use faultline_core::fs::write_all;
use faultline_core::{FdGuard, Fs, OpenOptions, PersistenceModel::*, SimFs};

use super::{contents, create, create_durable, states};

fn dir(fs: &SimFs) {
    fs.mkdir(Path::new("/d"), 0o755).expect("mkdir");
}

fn set(items: &[Option<&[u8]>]) -> BTreeSet<Option<Vec<u8>>> {
    items.iter().map(|i| i.map(<[u8]>::to_vec)).collect()
}

#[test]
fn power_loss_loses_a_created_name_without_a_directory_fsync() {
    let body = |fs: &SimFs| {
        let f = FdGuard::open(fs, Path::new("/d/a"), &OpenOptions::write_only().create_new()).expect("open");
        write_all(fs, f.fd(), b"hello").expect("write");
        fs.fsync(f.fd()).expect("fsync");
    };
    let s = states(PowerLoss, 4096, dir, body);
    // fsync of the file made its data durable, not its name.
    assert_eq!(contents(&s, "/d/a"), set(&[None, Some(b""), Some(b"hello")]));
}

#[test]
fn directory_fsync_makes_the_name_durable() {
    let s = states(PowerLoss, 4096, dir, |fs| create_durable(fs, "/d/a", b"hello"));
    // The last moment has nothing pending; earlier moments may still lose it, but the final
    // state must be exactly the new file.
    let last = s.last().expect("at least one state");
    assert_eq!(
        last.read(Path::new("/d/a")).map(|d| d.to_vec()),
        Ok(b"hello".to_vec())
    );
}

#[test]
fn power_loss_can_undo_a_rename_that_no_directory_fsync_covered() {
    let setup = |fs: &SimFs| {
        dir(fs);
        create_durable(fs, "/d/a", b"old");
    };
    let body = |fs: &SimFs| {
        create(fs, "/d/t", b"new");
        let f = FdGuard::open(fs, Path::new("/d/t"), &OpenOptions::write_only()).expect("open");
        fs.fsync(f.fd()).expect("fsync");
        f.close().expect("close");
        fs.rename(Path::new("/d/t"), Path::new("/d/a")).expect("rename");
    };
    let s = states(PowerLoss, 4096, setup, body);
    assert_eq!(contents(&s, "/d/a"), set(&[Some(b"old"), Some(b"new")]));
    // After the rename, a state with the rename lost exists: the old file is back.
    let after_rename: Vec<_> = s.iter().filter(|i| i.read(Path::new("/d/t")).is_err()).collect();
    assert!(
        after_rename
            .iter()
            .any(|i| i.read(Path::new("/d/a")).map(|d| d.to_vec()) == Ok(b"old".to_vec()))
    );
}

#[test]
fn a_rename_before_the_data_fsync_can_expose_an_empty_file() {
    let setup = |fs: &SimFs| {
        dir(fs);
        create_durable(fs, "/d/a", b"old");
    };
    let body = |fs: &SimFs| {
        create(fs, "/d/t", b"new");
        fs.rename(Path::new("/d/t"), Path::new("/d/a")).expect("rename");
        fs.fsync_dir(Path::new("/d")).expect("fsync dir");
    };
    let s = states(PowerLoss, 4096, setup, body);
    assert!(
        contents(&s, "/d/a").contains(&Some(Vec::new())),
        "the unsynced data must be losable"
    );
}

#[test]
fn power_loss_can_resurrect_an_unlinked_file() {
    let setup = |fs: &SimFs| {
        dir(fs);
        create_durable(fs, "/d/a", b"x");
    };
    let s = states(PowerLoss, 4096, setup, |fs| {
        fs.unlink(Path::new("/d/a")).expect("unlink")
    });
    assert_eq!(contents(&s, "/d/a"), set(&[None, Some(b"x")]));
}

#[test]
fn a_cross_directory_rename_waits_for_both_directories() {
    let setup = |fs: &SimFs| {
        dir(fs);
        fs.mkdir(Path::new("/e"), 0o755).expect("mkdir");
        create_durable(fs, "/d/a", b"x");
    };
    let body = |fs: &SimFs| {
        fs.rename(Path::new("/d/a"), Path::new("/e/a")).expect("rename");
        fs.fsync_dir(Path::new("/e")).expect("fsync one side");
    };
    let s = states(PowerLoss, 4096, setup, body);
    let last = s.iter().filter(|i| i.read(Path::new("/e/a")).is_err()).count();
    assert!(last > 0, "one directory's fsync must not make the rename durable");
}

#[test]
fn writes_tear_at_the_block_size() {
    let setup = |fs: &SimFs| {
        dir(fs);
        create_durable(fs, "/d/a", b"");
    };
    let data = vec![b'x'; 1500];
    let body = |fs: &SimFs| {
        let f = FdGuard::open(fs, Path::new("/d/a"), &OpenOptions::write_only()).expect("open");
        write_all(fs, f.fd(), &data).expect("write");
    };
    let at_512 = contents(&states(PowerLoss, 512, setup, body), "/d/a");
    // Three blocks, each kept or lost: 8 states, lost blocks read as zeros.
    assert_eq!(at_512.len(), 8, "{at_512:?}");
    assert!(at_512.contains(&Some([vec![0u8; 512], vec![b'x'; 512]].concat())));
    let at_4096 = contents(&states(PowerLoss, 4096, setup, body), "/d/a");
    assert_eq!(at_4096.len(), 2, "one block: kept or lost");
}

#[test]
fn fdatasync_does_not_make_the_mode_durable() {
    let setup = |fs: &SimFs| {
        dir(fs);
        create_durable(fs, "/d/a", b"x");
    };
    let body = |fs: &SimFs| {
        let f = FdGuard::open(fs, Path::new("/d/a"), &OpenOptions::write_only()).expect("open");
        fs.fchmod(f.fd(), 0o600).expect("chmod");
        fs.fdatasync(f.fd()).expect("fdatasync");
    };
    let modes: BTreeSet<u32> = states(PowerLoss, 4096, setup, body)
        .iter()
        .map(|i| {
            i.node(i.lookup(Path::new("/d/a")).expect("exists"))
                .expect("node")
                .mode()
        })
        .collect();
    assert!(
        modes.contains(&0o644),
        "the old mode must survive some crash: {modes:?}"
    );
}

#[test]
fn process_crash_keeps_every_completed_call_and_tears_only_the_last_write_as_a_prefix() {
    let setup = |fs: &SimFs| {
        dir(fs);
        create_durable(fs, "/d/a", b"old");
    };
    let data = vec![b'n'; 1500];
    let body = |fs: &SimFs| {
        create(fs, "/d/t", &data);
        fs.rename(Path::new("/d/t"), Path::new("/d/a")).expect("rename");
    };
    let s = states(ProcessCrash, 512, setup, body);
    let a = contents(&s, "/d/a");
    // No dir fsync, no file fsync, and still the file is only ever old or new: the kernel
    // survived.
    assert_eq!(a, set(&[Some(b"old"), Some(&data)]));
    let t = contents(&s, "/d/t");
    // The temp was seen torn only as prefixes: 0, 512, 1024 or all 1500 bytes.
    let lens: BTreeSet<usize> = t.iter().flatten().map(Vec::len).collect();
    assert_eq!(lens, [0, 512, 1024, 1500].into_iter().collect());
    assert!(
        t.iter().flatten().all(|d| d.iter().all(|b| *b == b'n')),
        "prefixes, never holes"
    );
}
