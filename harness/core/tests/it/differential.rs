//! SimFs against the real file system: the same calls must give the same answers and leave the
//! same tree. Without this, every crash state would be a statement about a file system that
//! does not exist.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use faultline_core::{Errno, Fd, Fs, LockKind, LockWait, OpenOptions, RealFs, SimFs};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Open {
        name: u8,
        create: bool,
        excl: bool,
        trunc: bool,
        append: bool,
    },
    Write {
        handle: u8,
        len: u16,
    },
    Pwrite {
        handle: u8,
        len: u16,
        offset: u16,
    },
    Truncate {
        handle: u8,
        len: u16,
    },
    Fsync {
        handle: u8,
    },
    Close {
        handle: u8,
    },
    Rename {
        from: u8,
        to: u8,
    },
    Link {
        from: u8,
        to: u8,
    },
    Unlink {
        name: u8,
    },
    Mkdir {
        name: u8,
    },
    FsyncDir,
    Flock {
        handle: u8,
        exclusive: bool,
    },
    Unlock {
        handle: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let name = 0u8..4;
    let handle = 0u8..4;
    prop_oneof![
        (
            name.clone(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(name, create, excl, trunc, append)| Op::Open {
                name,
                create,
                excl,
                trunc,
                append
            }),
        (handle.clone(), 0u16..3000).prop_map(|(handle, len)| Op::Write { handle, len }),
        (handle.clone(), 0u16..700, 0u16..5000).prop_map(|(handle, len, offset)| Op::Pwrite {
            handle,
            len,
            offset
        }),
        (handle.clone(), 0u16..5000).prop_map(|(handle, len)| Op::Truncate { handle, len }),
        handle.clone().prop_map(|handle| Op::Fsync { handle }),
        handle.prop_map(|handle| Op::Close { handle }),
        (name.clone(), name.clone()).prop_map(|(from, to)| Op::Rename { from, to }),
        (name.clone(), name.clone()).prop_map(|(from, to)| Op::Link { from, to }),
        name.clone().prop_map(|name| Op::Unlink { name }),
        name.prop_map(|name| Op::Mkdir { name }),
        Just(Op::FsyncDir),
        (0u8..4, any::<bool>()).prop_map(|(handle, exclusive)| Op::Flock { handle, exclusive }),
        (0u8..4).prop_map(|handle| Op::Unlock { handle }),
    ]
}

/// Runs `ops` under `root` and returns each call's errno (or 0) and the final tree.
fn run<F: Fs>(fs: &F, root: &Path, ops: &[Op]) -> (Vec<i32>, BTreeMap<String, Option<Vec<u8>>>) {
    let path = |n: u8| root.join(format!("n{n}"));
    let mut handles: Vec<Option<Fd>> = vec![None; 4];
    let mut answers = Vec::new();
    let mut counter = 0u8;
    let mut bytes = |len: u16| {
        counter = counter.wrapping_add(1);
        vec![counter; usize::from(len)]
    };
    let code = |r: Result<(), faultline_core::FsError>| r.err().map_or(0, |e| e.errno.raw_os_error());
    for op in ops {
        let answer = match op {
            Op::Open {
                name,
                create,
                excl,
                trunc,
                append,
            } => {
                let slot = usize::from(*name);
                if handles[slot].is_some() {
                    continue;
                }
                let options = OpenOptions::write_only()
                    .create(*create)
                    .truncate(*trunc)
                    .append(*append)
                    .mode(0o644);
                let options = OpenOptions {
                    read: true,
                    exclusive: *excl && *create,
                    ..options
                };
                match fs.open(&path(*name), &options) {
                    Ok(fd) => {
                        handles[slot] = Some(fd);
                        0
                    }
                    Err(e) => e.errno.raw_os_error(),
                }
            }
            Op::Write { handle, len } => match handles[usize::from(*handle)] {
                Some(fd) => code(fs.write(fd, &bytes(*len)).map(drop)),
                None => continue,
            },
            Op::Pwrite { handle, len, offset } => match handles[usize::from(*handle)] {
                Some(fd) => code(fs.pwrite(fd, &bytes(*len), u64::from(*offset)).map(drop)),
                None => continue,
            },
            Op::Truncate { handle, len } => match handles[usize::from(*handle)] {
                Some(fd) => code(fs.ftruncate(fd, u64::from(*len))),
                None => continue,
            },
            Op::Fsync { handle } => match handles[usize::from(*handle)] {
                Some(fd) => code(fs.fsync(fd)),
                None => continue,
            },
            Op::Close { handle } => match handles[usize::from(*handle)].take() {
                Some(fd) => code(fs.close(fd)),
                None => continue,
            },
            Op::Rename { from, to } => code(fs.rename(&path(*from), &path(*to))),
            Op::Link { from, to } => code(fs.link(&path(*from), &path(*to))),
            Op::Unlink { name } => code(fs.unlink(&path(*name))),
            Op::Mkdir { name } => code(fs.mkdir(&path(*name), 0o755)),
            Op::FsyncDir => code(fs.fsync_dir(root)),
            // Non-blocking only: flock is per open file description, so two handles of one
            // process conflict on the real kernel too, and a blocking call would hang.
            Op::Flock { handle, exclusive } => match handles[usize::from(*handle)] {
                Some(fd) => {
                    let kind = if *exclusive {
                        LockKind::Exclusive
                    } else {
                        LockKind::Shared
                    };
                    code(fs.flock(fd, kind, LockWait::NonBlocking))
                }
                None => continue,
            },
            Op::Unlock { handle } => match handles[usize::from(*handle)] {
                Some(fd) => code(fs.unlock(fd)),
                None => continue,
            },
        };
        answers.push(answer);
    }
    for fd in handles.into_iter().flatten() {
        fs.close(fd).expect("open handles close");
    }
    let mut tree = BTreeMap::new();
    for name in fs.read_dir(root).expect("root is readable") {
        let p = root.join(&name);
        let data = faultline_core::fs::read_file(fs, &p).ok();
        tree.insert(name, data);
    }
    (answers, tree)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn sim_fs_answers_like_the_real_file_system(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().expect("temp dir");
        let real = run(&RealFs::new(), dir.path(), &ops);
        let sim_fs = SimFs::default();
        sim_fs.mkdir(Path::new("/root"), 0o755).expect("mkdir");
        let sim = run(&sim_fs, &PathBuf::from("/root"), &ops);
        prop_assert_eq!(sim, real);
    }
}

#[test]
fn sim_fs_injected_failure_changes_nothing() {
    let fs = SimFs::default();
    fs.mkdir(Path::new("/d"), 0o755).expect("mkdir");
    let before = fs.image();
    fs.fail_call(fs.calls(), Errno::NOSPC);
    let err = fs.mkdir(Path::new("/d/x"), 0o755).expect_err("injected");
    assert_eq!(err.errno, Errno::NOSPC);
    assert_eq!(fs.image(), before);
    fs.mkdir(Path::new("/d/x"), 0o755)
        .expect("only the one call fails");
}
