//! `faultline record`: a program that exercises every call the recorder follows leaves a
//! trace whose replay is exactly the directory the program left.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use faultline_core::FsImage;
use faultline_core::trace::Effect;
use faultline_runner::external::record::{DEFAULT_TIMEOUT, RecordRequest, record, snapshot};

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
    let trace = record(
        &RecordRequest {
            command: vec!["python3".into(), program.display().to_string()],
            dir: dir.clone(),
            strace: "strace".into(),
            scratch,
            cwd: Some(dir.clone()),
            echo: false,
            timeout: DEFAULT_TIMEOUT,
        },
        &AtomicBool::new(false),
    );
    let trace = trace.expect("strace and python3 must be installed (.ci/run installs them)");
    assert_eq!(trace.exit_code, Some(0));
    assert!(
        trace.unsupported.iter().any(|u| u.why.contains("mapped.bin")),
        "the shared writable mapping is reported as unsupported: {:?}",
        trace.unsupported
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
                        String::from_utf8_lossy(&data.to_vec()[..data.len().min(40) as usize])
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

/// Every path, mode and byte of an image, one line each, for a readable difference.
fn listing(image: &FsImage) -> Vec<String> {
    image
        .walk()
        .into_iter()
        .map(|(p, n)| match n {
            faultline_core::Node::File { data, mode } => {
                let digest = data
                    .to_vec()
                    .iter()
                    .fold(0u64, |h, b| h.wrapping_mul(1_099_511_628_211) ^ u64::from(*b));
                format!("{p} {mode:o} {} bytes, digest {digest:x}", data.len())
            }
            faultline_core::Node::Dir { mode, .. } => format!("{p}/ {mode:o}"),
        })
        .collect()
}

/// Records `python3 SCRIPT ARGS` in a fresh directory; the trace and the directory it left.
fn record_python(
    script: &str,
    args: &[String],
) -> (faultline_runner::external::trace_file::TraceFile, FsImage) {
    let work = tempfile::tempdir().expect("temp");
    let dir = work.path().join("data");
    let scratch = work.path().join("scratch");
    std::fs::create_dir(&dir).expect("dir");
    std::fs::create_dir(&scratch).expect("dir");
    let mut command = vec![
        "python3".to_string(),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/it/record")
            .join(script)
            .display()
            .to_string(),
    ];
    command.extend_from_slice(args);
    let trace = record(
        &RecordRequest {
            command,
            dir: dir.clone(),
            strace: "strace".into(),
            scratch,
            cwd: Some(dir.clone()),
            echo: false,
            timeout: DEFAULT_TIMEOUT,
        },
        &AtomicBool::new(false),
    )
    .expect("strace and python3 must be installed (.ci/run installs them)");
    let after = snapshot(&dir).expect("snapshot");
    (trace, after)
}

#[test]
fn every_copying_call_is_recorded_and_replays_to_the_directory_left() {
    let (trace, after) = record_python("calls.py", &[]);
    assert_eq!(trace.exit_code, Some(0));
    assert_eq!(String::from_utf8_lossy(&trace.output.concat()), "done\n");
    assert!(trace.unsupported.is_empty(), "{:?}", trace.unsupported);
    let replay = replayed(&trace.base, &trace.entries);
    assert_eq!(listing(&replay), listing(&after));
    assert_eq!(replay.digest(), after.digest());
    let src: Vec<u8> = (0..=255u8).cycle().take(16384).collect();
    let read = |name: &str| after.read(Path::new(name)).expect(name).to_vec();
    for copy in ["/cp.bin", "/cat.bin", "/shutil.bin"] {
        assert_eq!(read(copy), src, "{copy} is a whole copy");
    }
    let mut cfr = src[100..1100].to_vec();
    cfr.resize(3000, 0);
    cfr.extend_from_slice(&src[7..507]);
    cfr[1000..1005].copy_from_slice(b"after");
    assert_eq!(read("/cfr.bin"), cfr);
    let calls: Vec<&str> = trace.sources.iter().map(|s| s.syscall.as_str()).collect();
    assert_eq!(read("/sedded.txt"), b"after\n");
    assert_eq!(read("/rwf.txt"), b"start\nappended\n");
    let sedded = after.lookup(Path::new("/sedded.txt")).expect("sedded.txt");
    assert_eq!(
        after.node(sedded).map(faultline_core::Node::mode),
        Some(0o664),
        "sed kept the mode"
    );
    for name in ["copy_file_range(", "sendfile(", "splice(", "mknod"] {
        assert!(
            calls.iter().any(|c| c.starts_with(name)),
            "{name} is in the trace: {calls:?}"
        );
    }
}

#[test]
fn generated_programs_leave_exactly_the_directory_their_trace_replays_to() {
    // Each recorded run holds 50 programs in directories of their own; runs x 50 programs.
    let runs: u64 = std::env::var("FAULTLINE_RECORDER_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(40);
    let mut calls = std::collections::BTreeSet::new();
    for seed in 0..runs {
        let (trace, after) = record_python("generated.py", &[seed.to_string(), "50".to_string()]);
        assert_eq!(trace.exit_code, Some(0), "seed {seed}");
        assert!(
            trace.unsupported.is_empty(),
            "seed {seed}: {:?}",
            trace.unsupported
        );
        // What the recorder writes passes the checks every trace file gets when it is read.
        faultline_runner::external::trace_file::TraceFile::from_text(Path::new("t.json"), &trace.to_json())
            .unwrap_or_else(|e| panic!("seed {seed}: the recorded trace is refused: {e}"));
        let replay = replayed(&trace.base, &trace.entries);
        if replay.digest() != after.digest() {
            let (want, got) = (listing(&after), listing(&replay));
            let differ: Vec<_> = want
                .iter()
                .filter(|l| !got.contains(l))
                .map(|l| format!("left by the program: {l}"))
                .chain(
                    got.iter()
                        .filter(|l| !want.contains(l))
                        .map(|l| format!("replayed: {l}")),
                )
                .collect();
            let first_difference = after.walk().into_iter().find_map(|(path, node)| {
                let faultline_core::Node::File { data, .. } = node else {
                    return None;
                };
                let other = replay.read(Path::new(&path)).ok()?;
                let at = data
                    .to_vec()
                    .iter()
                    .zip(other.to_vec().iter())
                    .position(|(a, b)| a != b)?;
                Some(format!("{path} first differs at byte {at}"))
            });
            panic!(
                "seed {seed}: the trace replays to another directory; {first_difference:?} \
                 (python3 harness/runner/tests/it/record/generated.py {seed} 50):\n{}",
                differ.join("\n")
            );
        }
        calls.extend(
            trace
                .sources
                .iter()
                .filter_map(|s| s.syscall.split('(').next().map(str::to_string)),
        );
    }
    let exercised = [
        "copy_file_range",
        "sendfile",
        "splice",
        "fallocate",
        "setxattr",
        "rename",
        "link",
        "symlink",
        "unlink",
        "mkdir",
        "rmdir",
        "chmod",
        "ftruncate",
        "pwrite64",
        "writev",
    ];
    for call in exercised {
        assert!(
            calls.contains(call),
            "the generated programs made a {call} that changed something: {calls:?}"
        );
    }
}

#[test]
fn a_call_that_cannot_be_modelled_is_reported_and_never_judged() {
    let work = tempfile::tempdir().expect("temp");
    let script = work.path().join("fifo.py");
    let program = "import os\n\
                   open('a', 'w').write('a' * 10000)\n\
                   fd = os.open('a', os.O_RDWR)\n\
                   os.lseek(fd, 100, os.SEEK_SET)\n\
                   os.sendfile(fd, fd, 0, 5000)\n\
                   os.mkfifo('pipe')\n";
    std::fs::write(&script, program).expect("write");
    let (trace, _) = record_python(&script.display().to_string(), &[]);
    let [onto_itself, fifo] = &trace.unsupported[..] else {
        panic!("two calls are unsupported: {:?}", trace.unsupported);
    };
    assert!(
        onto_itself.syscall.starts_with("sendfile") && onto_itself.why.contains("overlapping range of /a"),
        "{onto_itself:?}"
    );
    assert!(
        fifo.why.contains("/pipe") && fifo.syscall.starts_with("mknod"),
        "{fifo:?}"
    );
    assert_eq!(trace.supported_until(), Some(onto_itself.moment));
    // A scenario's recorded program is refused outright.
    let refused = faultline_runner::external::record::record_in_fresh_dir(|dir| {
        Ok(format!("cd '{}' && mkfifo pipe", dir.display()))
    });
    let error = refused.expect_err("a FIFO cannot be judged");
    assert!(error.contains("cannot model"), "{error}");
}

#[test]
fn acknowledgements_on_their_own_descriptor_arrive_when_made_and_buffered_ones_are_warned_of() {
    let work = tempfile::tempdir().expect("temp");
    let dir = work.path().join("data");
    let scratch = work.path().join("scratch");
    std::fs::create_dir(&dir).expect("dir");
    std::fs::create_dir(&scratch).expect("dir");
    let run = |script: &str| {
        record(
            &RecordRequest {
                command: vec!["sh".into(), "-c".into(), script.into()],
                dir: dir.clone(),
                strace: "strace".into(),
                scratch: scratch.clone(),
                cwd: Some(dir.clone()),
                echo: false,
                timeout: DEFAULT_TIMEOUT,
            },
            &AtomicBool::new(false),
        )
        .expect("strace must be installed (.ci/run installs it)")
    };
    // Shell and Python write to $FAULTLINE_ACK_FD (Python through /proc/self/fd too): each
    // acknowledgement is output right after the save it follows.
    let python = "import os; open('c', 'w').write('c'); \
                  os.write(int(os.environ['FAULTLINE_ACK_FD']), b'saved c\\n'); \
                  f = open('/proc/self/fd/' + os.environ['FAULTLINE_ACK_FD'], 'w', buffering=1); \
                  open('d', 'w').write('d'); f.write('saved d\\n')";
    let trace = run(&format!(
        "echo a > a && echo saved a >&\"$FAULTLINE_ACK_FD\" && echo b > b && \
         echo saved b >&\"$FAULTLINE_ACK_FD\" && python3 -c \"{python}\""
    ));
    let outputs: Vec<(usize, String)> = trace
        .output
        .iter()
        .enumerate()
        .filter(|(_, o)| !o.is_empty())
        .map(|(i, o)| (i, String::from_utf8_lossy(o).into_owned()))
        .collect();
    let said: Vec<&str> = outputs.iter().map(|(_, o)| o.as_str()).collect();
    assert_eq!(said, ["saved a\n", "saved b\n", "saved c\n", "saved d\n"]);
    // Each comes after the write of its own file and before the next file is made.
    let names = ["/a", "/b", "/c", "/d"];
    for (k, (i, _)) in outputs.iter().enumerate() {
        let then = replayed(&trace.base, &trace.entries[..=*i]);
        assert!(
            then.read(Path::new(names[k])).is_ok(),
            "{} exists when it is acknowledged",
            names[k]
        );
        if let Some(next) = names.get(k + 1) {
            assert!(then.read(Path::new(next)).is_err(), "{next} is not made yet");
        }
    }
    assert!(trace.warnings.is_empty(), "{:?}", trace.warnings);
    // print() to a pipe block-buffers: every line arrives at exit, and the recording says so.
    let buffered = run(
        "env -u PYTHONUNBUFFERED python3 -c \"\nfor n in 'xyz':\n    open(n, 'w').write(n)\n    print('saved', n)\"",
    );
    assert!(
        buffered
            .warnings
            .iter()
            .any(|w| w.contains("arrived in one write") && w.contains("FAULTLINE_ACK_FD")),
        "{:?}",
        buffered.warnings
    );
}
