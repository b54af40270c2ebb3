//! `faultline record`: a program that exercises every call the recorder follows leaves a
//! trace whose replay is exactly the directory the program left.

use std::path::Path;

use faultline_core::FsImage;
use faultline_core::trace::Effect;
use faultline_runner::external::record::{RecordRequest, record, snapshot};

/// Threads, fork, an exec'd child, dup/dup2/fcntl(F_DUPFD), O_APPEND, O_TMPFILE with linkat,
/// write/pwrite/writev, lseek, ftruncate, truncate, fallocate, fsync/fdatasync/sync,
/// rename/renameat2 (through mv), link, symlink, unlink, mkdir/rmdir, chdir, a relative
/// dirfd, chmod, and a shared writable mmap (which must be reported as unsupported).
const PROGRAM: &str = r#"
import mmap, os, subprocess, threading
os.mkdir("sub")
def in_thread():
    with open("sub/thread.txt", "w") as f:
        f.write("from a thread\n")
t = threading.Thread(target=in_thread); t.start(); t.join()
fd = os.open("a.txt", os.O_WRONLY | os.O_CREAT, 0o640)
os.write(fd, b"hello world\n")
fd2 = os.dup(fd); os.dup2(fd, 20)
import fcntl; fd3 = fcntl.fcntl(fd, fcntl.F_DUPFD, 30)
os.writev(fd2, [b"ab", b"cd"])
os.pwrite(20, b"HELLO", 0)
os.lseek(fd3, 2, os.SEEK_SET); os.write(fd3, b"ll")
os.ftruncate(fd, 10); os.fsync(fd); os.fdatasync(fd2)
os.close(fd); os.close(fd2); os.close(20); os.close(fd3)
ap = os.open("log.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
os.write(ap, b"one\n"); os.write(ap, b"two\n"); os.close(ap)
os.truncate("log.txt", 6)
tmp = os.open(".", os.O_TMPFILE | os.O_WRONLY, 0o644)
os.write(tmp, b"anonymous then linked\n")
try:  # some file systems (overlayfs) refuse to name an O_TMPFILE file: EXDEV
    os.link("/proc/self/fd/%d" % tmp, "linked.txt", follow_symlinks=True)
except OSError:
    open("linked.txt", "w").write("anonymous then linked\n")
os.close(tmp)
big = os.open("big.bin", os.O_RDWR | os.O_CREAT, 0o644)
os.posix_fallocate(big, 0, 10000)
os.close(big)
m = os.open("mapped.bin", os.O_RDWR | os.O_CREAT, 0o644)
os.write(m, b"\0" * 4096)
mm = mmap.mmap(m, 4096); mm[0:5] = b"MMAP!"; mm.flush(); mm.close(); os.close(m)
pid = os.fork()
if pid == 0:
    with open("sub/child.txt", "w") as f:
        f.write("from the child\n")
    os._exit(0)
os.waitpid(pid, 0)
subprocess.run(["sh", "-c", "echo via-shell > sh.txt && mv sh.txt sub/moved.txt"], check=True)
os.link("a.txt", "a-link.txt"); os.symlink("a.txt", "a-sym")
os.rename("a-link.txt", "sub/a-link.txt"); os.unlink("sub/thread.txt")
os.mkdir("gone"); os.rmdir("gone")
os.chmod("log.txt", 0o604)
dirfd = os.open("sub", os.O_RDONLY | os.O_DIRECTORY)
with open("rel.txt", "w", opener=lambda p, fl: os.open(p, fl, 0o644, dir_fd=dirfd)) as f:
    f.write("relative to a dirfd\n")
os.close(dirfd)
os.chdir("sub"); open("cwd.txt", "w").write("after chdir\n"); os.chdir("..")
os.sync()
print("done", flush=True)
"#;

/// The image after every entry of the trace.
fn replayed(base: &FsImage, entries: &[faultline_core::trace::TraceEntry]) -> FsImage {
    let mut image = base.clone();
    for effect in entries.iter().flat_map(|e| &e.effects) {
        if let Effect::Mutation(m) = effect {
            m.apply(&mut image, u64::MAX, 4096);
        }
    }
    image
}

#[test]
fn a_recorded_trace_replays_to_exactly_the_directory_the_program_left() {
    let work = tempfile::tempdir().expect("temp");
    let dir = work.path().join("data");
    let scratch = work.path().join("scratch");
    std::fs::create_dir(&dir).expect("dir");
    std::fs::create_dir(&scratch).expect("dir");
    std::fs::write(dir.join("before.txt"), "in the snapshot\n").expect("write");
    let program = work.path().join("program.py");
    std::fs::write(&program, PROGRAM).expect("write");
    let trace = record(&RecordRequest {
        command: vec!["python3".into(), program.display().to_string()],
        dir: dir.clone(),
        strace: "strace".into(),
        scratch,
        cwd: Some(dir.clone()),
        echo: false,
    });
    let trace = trace.expect("strace and python3 must be installed (.ci/run installs them)");
    assert_eq!(trace.exit_code, Some(0));
    assert!(
        trace
            .warnings
            .iter()
            .any(|w| w.contains("mapped.bin") && w.contains("unsupported")),
        "the shared writable mapping is reported: {:?}",
        trace.warnings
    );
    assert_eq!(String::from_utf8_lossy(&trace.output.concat()), "done\n");
    let after = snapshot(&dir).expect("snapshot");
    let mut replay = replayed(&trace.base, &trace.entries);
    // The mapping's store is the one change a trace cannot hold: put it in by hand.
    let mapped = after.read(Path::new("/mapped.bin")).expect("mapped").clone();
    if let Ok(ino) = replay.lookup(Path::new("/mapped.bin"))
        && let Some(faultline_core::Node::File { data, .. }) = replay.node_mut(ino)
    {
        *data = mapped;
    }
    let listing = |image: &FsImage| {
        image
            .walk()
            .into_iter()
            .map(|(p, n)| match n {
                faultline_core::Node::File { data, mode } => {
                    format!(
                        "{p} {mode:o} {:?}",
                        String::from_utf8_lossy(&data[..data.len().min(40)])
                    )
                }
                faultline_core::Node::Dir { mode, .. } => format!("{p}/ {mode:o}"),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(listing(&replay), listing(&after));
    assert_eq!(replay.digest(), after.digest());
    for name in ["/sub/child.txt", "/sub/moved.txt", "/sub/rel.txt", "/sub/cwd.txt"] {
        assert!(after.read(Path::new(name)).is_ok(), "{name} was made");
    }
}
