//! `faultline record`: run an unmodified program under strace and turn the system calls it
//! made inside one directory into a trace.
//!
//! The directory is snapshotted first (that is the trace's base image, taken as durable). The
//! program runs under `strace -f`, so forks, threads and exec'd children are followed. This
//! module keeps each process's descriptor table (shared between threads, copied on fork,
//! pruned of close-on-exec descriptors on exec), each open file's offset (shared by
//! duplicates), and each process's working directory, and resolves every path and directory
//! descriptor against them. Calls on paths outside the directory are ignored; writes to the
//! program's original standard output are kept as output, for the checker.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use faultline_core::file_data::MAX_FILE_LEN;
use faultline_core::trace::{Effect, Mutation};
use faultline_core::trace_builder::{SYMLINK_MODE, TraceBuilder};
use faultline_core::{FileData, FsImage, Ino, Node};

use super::strace::{Call, Joiner, decode_iovec};
use super::trace_file::{Source, TraceFile, Unsupported};

mod copy;

/// The calls strace is asked to trace. A name with `?` is one an older strace may not know
/// (it is then skipped, not refused).
pub const TRACED: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "read",
    "readv",
    "lseek",
    "write",
    "pwrite64",
    "writev",
    "pwritev",
    "pwritev2",
    "truncate",
    "ftruncate",
    "fallocate",
    "copy_file_range",
    "sendfile",
    "splice",
    "tee",
    "pipe",
    "pipe2",
    "ioctl",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "mknod",
    "mknodat",
    "io_uring_setup",
    "fsync",
    "fdatasync",
    "sync",
    "syncfs",
    "sync_file_range",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "unlink",
    "unlinkat",
    "mkdir",
    "mkdirat",
    "rmdir",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "mmap",
    "chdir",
    "fchdir",
    "chmod",
    "fchmod",
    "fchmodat",
    "?fchmodat2",
    "umask",
    "clone",
    "clone3",
    "fork",
    "vfork",
    "execve",
    "execveat",
];

/// Errors of `faultline record`.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// strace could not be started.
    #[error(
        "cannot run strace ({0}); install it (Debian and Ubuntu: `apt-get install strace`) or name it with --strace"
    )]
    NoStrace(std::io::Error),
    /// strace ran but could not trace the program (no ptrace, program not found).
    #[error("strace could not run the program: {0}")]
    Strace(String),
    /// The recorded program failed (when its output is not shown).
    #[error("the recorded program exited with {}: {stderr}", code.map_or("a signal".to_string(), |c| format!("code {c}")))]
    Failed {
        /// Its exit code.
        code: Option<i32>,
        /// The start of its stderr.
        stderr: String,
    },
    /// The program ran past its time (a daemon it started, say, kept strace waiting); it and
    /// everything in its process group were killed.
    #[error(
        "the program ran past {} and was killed, with what it started; give it longer with --timeout, \
         or keep it from leaving a daemon behind",
        humantime::format_duration(*.0)
    )]
    TimedOut(std::time::Duration),
    /// Ctrl-C or SIGTERM: the program and strace were killed and the log removed.
    #[error("interrupted")]
    Interrupted,
    /// The directory could not be read.
    #[error("{path}: {message}")]
    Dir {
        /// The directory or file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// What to record.
#[derive(Clone, Debug)]
pub struct RecordRequest {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// The directory whose files the trace covers.
    pub dir: PathBuf,
    /// The strace binary.
    pub strace: PathBuf,
    /// Where strace's own output goes while it runs (a temp directory outside `dir`).
    pub scratch: PathBuf,
    /// The program's working directory; `None`: this process's.
    pub cwd: Option<PathBuf>,
    /// Pass the program's stdout and stderr through to ours (`faultline record`); otherwise
    /// they are kept in the error when the program fails.
    pub echo: bool,
    /// How long the program may run, with everything it starts.
    pub timeout: std::time::Duration,
}

/// How long a recorded program may run unless told otherwise: generous, since a recording
/// ends with its program; the limit catches a daemon that would keep strace waiting forever.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Runs the program and records its trace. Setting `cancel` (Ctrl-C) kills the program and
/// strace at once.
pub fn record(request: &RecordRequest, cancel: &AtomicBool) -> Result<TraceFile, RecordError> {
    let dir = std::fs::canonicalize(&request.dir).map_err(|e| RecordError::Dir {
        path: request.dir.clone(),
        message: format!("cannot open the directory to record in ({e}); create it first"),
    })?;
    let base = snapshot(&dir)?;
    let started = std::time::SystemTime::now();
    let log = request.scratch.join("strace.log");
    let cwd = match &request.cwd {
        Some(c) => c.clone(),
        None => std::env::current_dir().map_err(|e| RecordError::Dir {
            path: PathBuf::from("."),
            message: e.to_string(),
        })?,
    };
    // The acknowledgement channel: a descriptor the program inherits (open on /dev/null;
    // strace shows what is written to it), named in FAULTLINE_ACK_FD.
    let ack = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .map_err(|e| RecordError::Dir {
            path: PathBuf::from("/dev/null"),
            message: e.to_string(),
        })?;
    let open_fd = std::os::fd::AsRawFd::as_raw_fd(&ack);
    // The program sees it as descriptor 9 whatever number it has here: a shell redirects
    // only to single digits (`>&"$FAULTLINE_ACK_FD"` fails in dash at 10 and above).
    let ack_fd = ACK_FD_NUMBER;
    let side_file = |what: &str| {
        std::fs::File::create(request.scratch.join(what)).map_err(|e| RecordError::Dir {
            path: request.scratch.join(what),
            message: e.to_string(),
        })
    };
    let mut command = Command::new(&request.strace);
    command
        .current_dir(&cwd)
        .env(ACK_FD_VAR, ack_fd.to_string())
        .args(["-f", "-qq", "-z", "-s", "16777216", "-xx", "-X", "raw", "-o"])
        .arg(&log)
        .arg("-e")
        .arg(format!("trace={}", TRACED.join(",")))
        // Reads count only by what they return: printed raw, their buffers are addresses,
        // not megabytes of hex.
        .args(["-e", "raw=read,readv"])
        // Only the traced calls stop the program (a seccomp filter lets the rest through).
        .arg("--seccomp-bpf")
        .arg("--")
        .args(&request.command)
        .stdin(Stdio::inherit())
        .stdout(side_file("stdout")?)
        .stderr(side_file("stderr")?);
    // strace and the program in a group of their own: Ctrl-C reaches faultline, which kills
    // the group at once; the lifeline kills it if faultline dies first.
    crate::child::own_group(&mut command);
    #[expect(unsafe_code, reason = "pre_exec runs between fork and exec in the child")]
    // SAFETY: the closure makes two system calls (dup2, fcntl), both async-signal-safe; it
    // allocates nothing and touches no lock. In the child only, it puts the channel on
    // descriptor 9 and clears close-on-exec there.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            if open_fd != ack_fd && libc::dup2(open_fd, ack_fd) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let fd = std::os::fd::BorrowedFd::borrow_raw(ack_fd);
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(RecordError::NoStrace)?;
    let lifeline = crate::child::Lifeline::guard(&child);
    let deadline = std::time::Instant::now() + request.timeout;
    let waited = crate::child::wait(&mut child, Some(deadline), &|| {
        cancel.load(std::sync::atomic::Ordering::SeqCst)
    });
    drop(lifeline);
    drop(ack);
    let status = match waited {
        Ok(crate::child::Waited::Exited(status)) => status,
        Ok(crate::child::Waited::TimedOut) => return Err(RecordError::TimedOut(request.timeout)),
        Ok(crate::child::Waited::Cancelled) => return Err(RecordError::Interrupted),
        Err(e) => {
            crate::child::kill_group(&mut child);
            return Err(RecordError::Strace(format!("waiting for strace: {e}")));
        }
    };
    let read_side = |what: &str| std::fs::read(request.scratch.join(what)).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&read_side("stderr")).into_owned();
    if request.echo {
        eprint!("{stderr}");
        // The program's own output passed through strace's stdout; print it for the user.
        print!("{}", String::from_utf8_lossy(&read_side("stdout")));
    }
    let lines = || -> Result<_, RecordError> {
        let file = std::fs::File::open(&log).map_err(|_| RecordError::Strace(stderr.trim().to_string()))?;
        Ok(std::io::BufReader::new(file)
            .lines()
            .map(|l| l.map_err(|e| RecordError::Strace(format!("reading strace's output: {e}")))))
    };
    let cwd = std::fs::canonicalize(&cwd).unwrap_or(cwd);
    let mut recorder = Recorder::new(dir.clone(), base, cwd, started);
    recorder.ack_fd = Some(i64::from(ack_fd));
    // A child's first calls can be printed before the clone that made it (`-z` prints a call
    // when it returns), so every child's parent is found first, in a pass of its own.
    let mut joiner = Joiner::default();
    for (i, line) in lines()?.enumerate() {
        if let Some(call) = joiner.line(i + 1, &line?) {
            recorder.note_parent(&call);
        }
    }
    for (i, line) in lines()?.enumerate() {
        recorder.line(i + 1, &line?);
    }
    if status.code().is_none() && recorder.builder.entries().is_empty() {
        return Err(RecordError::Strace(stderr.trim().to_string()));
    }
    // No execve succeeded: the program never ran (not found, not executable), and an empty
    // trace of it would pass anything.
    if recorder.execs == 0 {
        return Err(RecordError::Strace(format!(
            "the program did not start: {}",
            stderr.trim()
        )));
    }
    let mut trace = recorder.finish();
    if let Some(warning) = buffered_acknowledgements(&trace) {
        trace.warnings.push(warning);
    }
    trace.command = request.command.clone();
    trace.exit_code = status.code();
    if !request.echo && !status.success() {
        return Err(RecordError::Failed {
            code: status.code(),
            stderr: stderr.trim().chars().take(400).collect(),
        });
    }
    Ok(trace)
}

/// The directory as an image: files with their bytes and modes, directories, symlinks.
pub fn snapshot(dir: &Path) -> Result<FsImage, RecordError> {
    let mut image = FsImage::new();
    let mode = |m: &std::fs::Metadata| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o7777
    };
    let err = |path: &Path, e: std::io::Error| RecordError::Dir {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let root_meta = std::fs::metadata(dir).map_err(|e| err(dir, e))?;
    if let Some(Node::Dir { mode: m, .. }) = image.node_mut(faultline_core::image::ROOT_INO) {
        *m = mode(&root_meta);
    }
    let mut stack = vec![(dir.to_path_buf(), faultline_core::image::ROOT_INO)];
    while let Some((path, ino)) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&path)
            .map_err(|e| err(&path, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| err(&path, e))?;
        names.sort_by_key(|e| e.file_name());
        for entry in names {
            let child = entry.path();
            let name: Arc<str> = Arc::from(entry.file_name().to_string_lossy().as_ref());
            let meta = std::fs::symlink_metadata(&child).map_err(|e| err(&child, e))?;
            let child_ino = image.next_ino();
            let node = if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&child).map_err(|e| err(&child, e))?;
                Node::File {
                    data: Arc::new(target.to_string_lossy().as_bytes().into()),
                    mode: SYMLINK_MODE,
                }
            } else if meta.is_dir() {
                stack.push((child.clone(), child_ino));
                Node::empty_dir(mode(&meta))
            } else if meta.is_file() {
                Node::File {
                    data: Arc::new(read_sparse(&child).map_err(|e| err(&child, e))?),
                    mode: mode(&meta),
                }
            } else {
                continue;
            };
            image.insert(child_ino, node);
            image.set_entry(ino, &name, child_ino);
        }
    }
    Ok(image)
}

/// A file's contents as they lie on disk: only its data extents are read (SEEK_DATA and
/// SEEK_HOLE), so a sparse file costs what was written, not its length.
fn read_sparse(path: &Path) -> std::io::Result<FileData> {
    use rustix::fs::{SeekFrom, seek};
    use std::os::unix::fs::FileExt as _;
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > MAX_FILE_LEN {
        return Err(std::io::Error::other(format!(
            "{len} bytes is past the {} GiB a file may hold",
            MAX_FILE_LEN >> 30
        )));
    }
    let mut data = FileData::new();
    let mut at = 0;
    while at < len {
        // ENXIO: no data from here to the end.
        let start = match seek(&file, SeekFrom::Data(at)) {
            Ok(start) => start,
            Err(rustix::io::Errno::NXIO) => break,
            // A file system without SEEK_DATA: the whole file is data.
            Err(rustix::io::Errno::INVAL) if at == 0 => 0,
            Err(e) => return Err(e.into()),
        };
        let stop = seek(&file, SeekFrom::Hole(start)).unwrap_or(len).min(len);
        let mut bytes = vec![0; usize::try_from(stop - start).map_err(std::io::Error::other)?];
        file.read_exact_at(&mut bytes, start)?;
        data.write_at(start, &bytes);
        at = stop;
    }
    data.set_len(len);
    Ok(data)
}

/// What a descriptor refers to.
#[derive(Clone, Debug)]
enum Target {
    /// A file or directory inside the recorded directory.
    Inside(Ino),
    /// The program's standard output as it was started.
    Stdout,
    /// A pipe the program made: what was written to it and not yet read.
    Pipe(Rc<RefCell<copy::PipeBytes>>),
    /// Anything else: files elsewhere, sockets, the terminal, pipes made before the program.
    Outside,
}

/// An open file description: shared by duplicated descriptors and across fork.
#[derive(Debug)]
struct Description {
    target: Target,
    /// The host path it was opened by (for directory descriptors used as `dirfd`).
    path: Option<PathBuf>,
    offset: u64,
    append: bool,
}

#[derive(Clone, Debug)]
struct Slot {
    desc: Rc<RefCell<Description>>,
    cloexec: bool,
}

type FdTable = Rc<RefCell<HashMap<i64, Slot>>>;

#[derive(Clone)]
struct Process {
    fds: FdTable,
    cwd: Rc<RefCell<PathBuf>>,
}

// The traced program runs on this machine's architecture, so its flag values are libc's for
// the target faultline is built for (O_TMPFILE, for one, differs between architectures).
const CLONE_FS: i64 = libc::CLONE_FS as i64;
const CLONE_FILES: i64 = libc::CLONE_FILES as i64;
const O_ACCMODE: i64 = libc::O_ACCMODE as i64;
const O_CREAT: i64 = libc::O_CREAT as i64;
const O_EXCL: i64 = libc::O_EXCL as i64;
const O_WRONLY: i64 = libc::O_WRONLY as i64;
const O_TRUNC: i64 = libc::O_TRUNC as i64;
const O_APPEND: i64 = libc::O_APPEND as i64;
const O_CLOEXEC: i64 = libc::O_CLOEXEC as i64;
const O_TMPFILE: i64 = libc::O_TMPFILE as i64;
const O_NOFOLLOW: i64 = libc::O_NOFOLLOW as i64;
const AT_SYMLINK_NOFOLLOW: i64 = libc::AT_SYMLINK_NOFOLLOW as i64;
const AT_SYMLINK_FOLLOW: i64 = libc::AT_SYMLINK_FOLLOW as i64;
const AT_FDCWD: i64 = libc::AT_FDCWD as i64;
const AT_EMPTY_PATH: i64 = libc::AT_EMPTY_PATH as i64;
const AT_REMOVEDIR: i64 = libc::AT_REMOVEDIR as i64;
const RENAME_EXCHANGE: i64 = libc::RENAME_EXCHANGE as i64;
const FALLOC_FL_KEEP_SIZE: i64 = libc::FALLOC_FL_KEEP_SIZE as i64;
const FALLOC_FL_PUNCH_HOLE: i64 = libc::FALLOC_FL_PUNCH_HOLE as i64;
const FALLOC_FL_ZERO_RANGE: i64 = libc::FALLOC_FL_ZERO_RANGE as i64;
const FALLOC_FL_COLLAPSE_RANGE: i64 = libc::FALLOC_FL_COLLAPSE_RANGE as i64;
const FALLOC_FL_INSERT_RANGE: i64 = libc::FALLOC_FL_INSERT_RANGE as i64;
const F_DUPFD: i64 = libc::F_DUPFD as i64;
const F_DUPFD_CLOEXEC: i64 = libc::F_DUPFD_CLOEXEC as i64;
const F_SETFD: i64 = libc::F_SETFD as i64;
const F_SETFL: i64 = libc::F_SETFL as i64;
const FD_CLOEXEC: i64 = libc::FD_CLOEXEC as i64;

/// Turns calls into trace entries.
struct Recorder {
    dir: PathBuf,
    builder: TraceBuilder,
    processes: HashMap<i32, Process>,
    /// A clone whose first half was seen: the parent's pid and the flags, for a child that
    /// speaks before the parent's call returns.
    cloning: HashMap<i32, i64>,
    /// Every child's parent and clone flags, from a first pass over the log.
    parents: HashMap<i32, (i32, i64)>,
    sources: Vec<Source>,
    output: Vec<Vec<u8>>,
    warnings: Vec<String>,
    unsupported: Vec<Unsupported>,
    initial_cwd: PathBuf,
    joiner: Joiner,
    /// The file-mode creation mask (one for all processes: programs rarely change it).
    umask: u32,
    /// When the recording began: a file outside the directory changed after it is not read.
    started: std::time::SystemTime,
    /// The acknowledgement descriptor the program inherited (`FAULTLINE_ACK_FD`).
    ack_fd: Option<i64>,
    /// Successful execve calls: none means the program never started.
    execs: usize,
}

impl Recorder {
    fn new(dir: PathBuf, base: FsImage, cwd: PathBuf, started: std::time::SystemTime) -> Self {
        Recorder {
            dir,
            builder: TraceBuilder::new(base),
            processes: HashMap::new(),
            cloning: HashMap::new(),
            parents: HashMap::new(),
            sources: Vec::new(),
            output: Vec::new(),
            warnings: Vec::new(),
            unsupported: Vec::new(),
            initial_cwd: cwd,
            joiner: Joiner::default(),
            umask: current_umask(),
            started,
            ack_fd: None,
            execs: 0,
        }
    }

    fn finish(self) -> TraceFile {
        let (base, entries) = self.builder.finish();
        TraceFile {
            command: Vec::new(),
            dir: self.dir.display().to_string(),
            exit_code: None,
            base,
            entries,
            sources: self.sources,
            output: self.output,
            warnings: self.warnings,
            unsupported: self.unsupported,
        }
    }

    /// The first process: stdin, stdout and stderr as inherited, and the acknowledgement
    /// descriptor, whose writes are output as stdout's are.
    fn first_process(&self) -> Process {
        let mut fds = HashMap::new();
        let ack = self.ack_fd.map(|fd| (fd, Target::Stdout));
        for (fd, target) in [(0, Target::Outside), (1, Target::Stdout), (2, Target::Outside)]
            .into_iter()
            .chain(ack)
        {
            fds.insert(
                fd,
                Slot {
                    desc: Rc::new(RefCell::new(Description {
                        target,
                        path: None,
                        offset: 0,
                        append: false,
                    })),
                    cloexec: false,
                },
            );
        }
        Process {
            fds: Rc::new(RefCell::new(fds)),
            cwd: Rc::new(RefCell::new(self.initial_cwd.clone())),
        }
    }

    /// Remembers the parent of the process a clone, fork or vfork made.
    fn note_parent(&mut self, call: &Call) {
        let flags = match call.name.as_str() {
            "clone" | "clone3" => clone_flags(&call.args.join(", ")),
            "fork" | "vfork" => 0,
            _ => return,
        };
        if let Some(child) = call
            .ret_int()
            .and_then(|r| i32::try_from(r).ok())
            .filter(|c| *c > 0)
        {
            self.parents.insert(child, (call.pid, flags));
        }
    }

    fn process(&mut self, pid: i32) -> Process {
        if let Some(p) = self.processes.get(&pid) {
            return p.clone();
        }
        // A child that speaks before its parent's clone was printed: its parent, as it is now
        // (inside the clone, so its descriptors are what the child inherited).
        if let Some(&(parent, flags)) = self.parents.get(&pid)
            && self.processes.contains_key(&parent)
        {
            let p = child_of(&self.processes[&parent], flags);
            self.processes.insert(pid, p.clone());
            return p;
        }
        // A child that speaks before its parent's clone returned: take the parent that is
        // inside a clone (or, the first time, the program itself).
        let p = match self
            .cloning
            .iter()
            .next()
            .map(|(parent, flags)| (*parent, *flags))
        {
            Some((parent, flags)) if self.processes.contains_key(&parent) => {
                let parent = self.processes[&parent].clone();
                child_of(&parent, flags)
            }
            _ => self.first_process(),
        };
        self.processes.insert(pid, p.clone());
        p
    }

    fn slot(&mut self, pid: i32, fd: i64) -> Option<Slot> {
        self.process(pid).fds.borrow().get(&fd).cloned()
    }

    fn inside(&mut self, pid: i32, fd: i64) -> Option<(Ino, Rc<RefCell<Description>>)> {
        let slot = self.slot(pid, fd)?;
        let ino = match slot.desc.borrow().target {
            Target::Inside(ino) => ino,
            _ => return None,
        };
        Some((ino, slot.desc))
    }

    /// The host path `path` names, relative to `dirfd` (or the working directory).
    fn host_path(&mut self, pid: i32, dirfd: i64, path: &str) -> Option<PathBuf> {
        let p = Path::new(path);
        let base = if p.is_absolute() {
            PathBuf::from("/")
        } else if dirfd == AT_FDCWD {
            self.process(pid).cwd.borrow().clone()
        } else {
            self.slot(pid, dirfd)?.desc.borrow().path.clone()?
        };
        Some(normalise(&base.join(p)))
    }

    /// The image path of a host path inside the directory.
    fn image_path(&self, host: &Path) -> Option<PathBuf> {
        let rest = host.strip_prefix(&self.dir).ok()?;
        Some(Path::new("/").join(rest))
    }

    /// `image` with the symlinks its last component names followed, as open, truncate and
    /// chmod follow them; `None` when a link leads outside the directory or links loop.
    fn follow(&self, mut image: PathBuf) -> Option<PathBuf> {
        for _ in 0..40 {
            let live = self.builder.live();
            let target = match self.builder.lookup(&image).and_then(|ino| live.node(ino)) {
                Some(Node::File { data, mode }) if *mode == SYMLINK_MODE => {
                    String::from_utf8_lossy(&data.bytes()).into_owned()
                }
                _ => return Some(image),
            };
            let host = if Path::new(&target).is_absolute() {
                PathBuf::from(&target)
            } else {
                let parent = image.strip_prefix("/").ok()?.parent()?;
                self.dir.join(parent).join(&target)
            };
            image = self.image_path(&normalise(&host))?;
        }
        None
    }

    fn resolve(&mut self, pid: i32, dirfd: i64, path: &str) -> (Option<PathBuf>, Option<PathBuf>) {
        let host = self.host_path(pid, dirfd, path);
        let image = host.as_deref().and_then(|h| self.image_path(h));
        (host, image)
    }

    /// Gives every entry `call` added its source; `output` goes with the last of them.
    fn push_source(&mut self, call: &Call, output: Option<Vec<u8>>) {
        while self.sources.len() < self.builder.entries().len() {
            self.sources.push(Source {
                pid: call.pid,
                line: call.line,
                syscall: shown(call),
            });
            self.output.push(Vec::new());
        }
        if let (Some(out), Some(last)) = (output, self.output.last_mut()) {
            *last = out;
        }
    }

    /// Takes in line `number` of strace's output.
    fn line(&mut self, number: usize, text: &str) {
        if let Some(call) = self.joiner.line(number, text) {
            self.dispatch(&call);
            self.push_source(&call, None);
        } else if let Some((pid, head)) = self.joiner.unfinished_clone() {
            // A clone's first half: its child may speak before it returns.
            let flags = clone_flags(&head);
            self.cloning.insert(pid, flags);
        }
    }

    fn open_desc(&mut self, pid: i32, fd: i64, target: Target, path: Option<PathBuf>, flags: i64) {
        let p = self.process(pid);
        p.fds.borrow_mut().insert(
            fd,
            Slot {
                desc: Rc::new(RefCell::new(Description {
                    target,
                    path,
                    offset: 0,
                    append: flags & O_APPEND != 0,
                })),
                cloexec: flags & O_CLOEXEC != 0,
            },
        );
    }

    fn write_to(&mut self, call: &Call, fd: i64, data: &[u8], at: Option<u64>) {
        let Some(slot) = self.slot(call.pid, fd) else {
            return;
        };
        let target = slot.desc.borrow().target.clone();
        match target {
            Target::Inside(ino) => {
                // With O_APPEND every write goes to the end, pwrite's too (Linux ignores its
                // offset there).
                let offset = match at {
                    _ if slot.desc.borrow().append => self.builder.len(ino),
                    Some(o) => o,
                    None => slot.desc.borrow().offset,
                };
                if at.is_none() {
                    slot.desc.borrow_mut().offset = offset + data.len() as u64;
                }
                let text = format!(
                    "[{}] {} {} bytes at {offset} to {}",
                    call.pid,
                    call.name,
                    data.len(),
                    self.name_of(ino)
                );
                self.builder.write(text, ino, offset, data);
            }
            Target::Stdout => {
                let shown = String::from_utf8_lossy(data);
                self.builder
                    .note(format!("[{}] stdout {:?}", call.pid, shown.trim_end()));
                self.push_source(call, Some(data.to_vec()));
            }
            Target::Pipe(pipe) => pipe.borrow_mut().put(data),
            Target::Outside => {}
        }
    }

    /// A file's name in the live image, for the trace's text.
    fn name_of(&self, ino: Ino) -> String {
        self.builder
            .live()
            .path_of(ino)
            .unwrap_or_else(|| format!("(unnamed inode {ino})"))
    }

    fn dispatch(&mut self, call: &Call) {
        if call.truncated() {
            self.warnings.push(format!(
                "line {}: strace cut a string argument of {} short; the trace holds only its start",
                call.line, call.name
            ));
        }
        match call.name.as_str() {
            "open" | "openat" | "openat2" | "creat" => self.on_open(call),
            "close" => self.on_close(call),
            "dup" | "dup2" | "dup3" | "fcntl" => self.on_dup(call),
            "read" | "readv" => self.on_advance(call),
            "lseek" => self.on_seek(call),
            "write" => self.on_write(call),
            "pwrite64" => self.on_pwrite(call),
            "writev" | "pwritev" | "pwritev2" => self.on_writev(call),
            "ftruncate" => self.on_ftruncate(call),
            "truncate" => self.on_truncate(call),
            "fallocate" => self.on_fallocate(call),
            "copy_file_range" | "sendfile" | "splice" | "tee" => self.on_copy(call),
            "pipe" | "pipe2" => self.on_pipe(call),
            "ioctl" => self.on_ioctl(call),
            "setxattr" | "lsetxattr" | "fsetxattr" => self.on_setxattr(call),
            "mknod" | "mknodat" => self.on_mknod(call),
            "io_uring_setup" => self.unsupported(
                call,
                "io_uring: reads and writes submitted through its rings are no system calls strace \
                 sees"
                    .into(),
            ),
            "fsync" | "fdatasync" => self.on_fsync(call),
            "sync" | "syncfs" => self.on_sync_all(call),
            "sync_file_range" => self.on_sync_file_range(call),
            "rename" | "renameat" | "renameat2" => self.on_rename(call),
            "link" | "linkat" => self.on_link(call),
            "symlink" | "symlinkat" => self.on_symlink(call),
            "unlink" | "unlinkat" | "rmdir" => self.on_unlink(call),
            "mkdir" | "mkdirat" => self.on_mkdir(call),
            "chmod" | "fchmodat" | "fchmodat2" | "fchmod" => self.on_chmod(call),
            "mmap" => self.on_mmap(call),
            "chdir" => self.on_chdir(call),
            "fchdir" => self.on_fchdir(call),
            "clone" | "clone3" | "fork" | "vfork" => self.on_clone(call),
            "umask" => self.on_umask(call),
            "execve" | "execveat" => self.on_execve(call),
            _ => {}
        }
    }

    fn on_open(&mut self, call: &Call) {
        let pid = call.pid;
        let ret = call.ret_int().unwrap_or(0);
        let (dirfd, path_at, flags, mode) = match call.name.as_str() {
            "openat" => (call.int(0).unwrap_or(AT_FDCWD), 1, call.int(2), call.octal(3)),
            "openat2" => {
                let how = call.args.get(2).map_or("", String::as_str);
                let flags = copy::field(how, "flags").and_then(super::strace::parse_int);
                let mode = copy::field(how, "mode").and_then(|m| u32::from_str_radix(m, 8).ok());
                (call.int(0).unwrap_or(AT_FDCWD), 1, flags, mode)
            }
            "open" => (AT_FDCWD, 0, call.int(1), call.octal(2)),
            _ => (AT_FDCWD, 0, Some(O_CREAT | O_WRONLY | O_TRUNC), call.octal(1)),
        };
        let flags = flags.unwrap_or(0);
        let mode = mode.unwrap_or(0o666) & !self.umask;
        let Some(path) = call.path(path_at) else { return };
        if let Some(fd) = proc_fd(&path)
            && self
                .slot(pid, fd)
                .is_some_and(|s| matches!(s.desc.borrow().target, Target::Stdout))
        {
            // `/proc/self/fd/$FAULTLINE_ACK_FD` (or stdout's) opened anew: the same channel.
            self.open_desc(pid, ret, Target::Stdout, None, flags);
            return;
        }
        let (host, image) = self.resolve(pid, dirfd, &path);
        let image = match image {
            Some(image) if flags & O_NOFOLLOW == 0 => self.follow(image),
            image => image,
        };
        let target = match &image {
            Some(image) => {
                let text = format!("[{pid}] {} {} {}", call.name, image.display(), open_flags(flags));
                if flags & O_TMPFILE == O_TMPFILE {
                    Some(self.builder.tmpfile(text, mode))
                } else {
                    let writes = flags & O_ACCMODE != 0;
                    self.builder.open(
                        text,
                        image,
                        flags & O_CREAT != 0,
                        flags & O_TRUNC != 0 && writes,
                        mode,
                    )
                }
            }
            None => None,
        };
        let target = target.map_or(Target::Outside, Target::Inside);
        self.open_desc(pid, ret, target, host, flags);
    }

    fn on_close(&mut self, call: &Call) {
        let pid = call.pid;
        self.process(pid)
            .fds
            .borrow_mut()
            .remove(&call.int(0).unwrap_or(-1));
    }

    fn on_dup(&mut self, call: &Call) {
        let pid = call.pid;
        let ret = call.ret_int().unwrap_or(0);
        let fd = call.int(0).unwrap_or(-1);
        let cloexec = match call.name.as_str() {
            "fcntl" => match call.int(1) {
                Some(F_DUPFD) => false,
                Some(F_DUPFD_CLOEXEC) => true,
                Some(F_SETFD) => {
                    if let Some(slot) = self.process(pid).fds.borrow_mut().get_mut(&fd) {
                        slot.cloexec = call.int(2).unwrap_or(0) & FD_CLOEXEC != 0;
                    }
                    return;
                }
                Some(F_SETFL) => {
                    // O_APPEND may change.
                    if let Some(slot) = self.slot(pid, fd) {
                        slot.desc.borrow_mut().append = call.int(2).unwrap_or(0) & O_APPEND != 0;
                    }
                    return;
                }
                _ => return,
            },
            "dup3" => call.int(2).unwrap_or(0) & O_CLOEXEC != 0,
            _ => false,
        };
        // A descriptor this recording does not know (a pipe, a socket) is outside.
        let desc = match self.slot(pid, fd) {
            Some(slot) => slot.desc,
            None => Rc::new(RefCell::new(Description {
                target: Target::Outside,
                path: None,
                offset: 0,
                append: false,
            })),
        };
        self.process(pid)
            .fds
            .borrow_mut()
            .insert(ret, Slot { desc, cloexec });
    }

    fn on_advance(&mut self, call: &Call) {
        let pid = call.pid;
        let ret = call.ret_int().unwrap_or(0).max(0) as u64;
        if let Some(slot) = self.slot(pid, call.int(0).unwrap_or(-1)) {
            let pipe = match &slot.desc.borrow().target {
                Target::Pipe(pipe) => Some(Rc::clone(pipe)),
                _ => None,
            };
            match pipe {
                Some(pipe) => drop(pipe.borrow_mut().take(ret, self.builder.live())),
                None => slot.desc.borrow_mut().offset += ret,
            }
        }
    }

    fn on_seek(&mut self, call: &Call) {
        let pid = call.pid;
        let ret = call.ret_int().unwrap_or(0);
        if let Some(slot) = self.slot(pid, call.int(0).unwrap_or(-1)) {
            slot.desc.borrow_mut().offset = ret.max(0) as u64;
        }
    }

    fn on_write(&mut self, call: &Call) {
        let ret = call.ret_int().unwrap_or(0);
        let data = call.bytes(1).unwrap_or_default();
        let n = (ret.max(0) as usize).min(data.len());
        self.write_to(call, call.int(0).unwrap_or(-1), &data[..n], None);
    }

    fn on_pwrite(&mut self, call: &Call) {
        let ret = call.ret_int().unwrap_or(0);
        let data = call.bytes(1).unwrap_or_default();
        let n = (ret.max(0) as usize).min(data.len());
        let at = call.int(3).unwrap_or(0).max(0) as u64;
        self.write_to(call, call.int(0).unwrap_or(-1), &data[..n], Some(at));
    }

    fn on_writev(&mut self, call: &Call) {
        let ret = call.ret_int().unwrap_or(0);
        let data = decode_iovec(call.args.get(1).map_or("", String::as_str));
        let n = (ret.max(0) as usize).min(data.len());
        let fd = call.int(0).unwrap_or(-1);
        let at = (call.name != "writev")
            .then(|| call.int(3).unwrap_or(0))
            .filter(|o| *o >= 0)
            .map(|o| o as u64);
        // pwritev2 with RWF_APPEND writes at the end, whatever the offset.
        let append = call.name == "pwritev2" && call.int(4).unwrap_or(0) & i64::from(libc::RWF_APPEND) != 0;
        let at = match self.inside(call.pid, fd) {
            Some((ino, _)) if append => Some(self.builder.len(ino)),
            _ => at,
        };
        self.write_to(call, fd, &data[..n], at);
    }

    fn on_ftruncate(&mut self, call: &Call) {
        let pid = call.pid;
        if let Some((ino, _)) = self.inside(pid, call.int(0).unwrap_or(-1)) {
            let len = call.int(1).unwrap_or(0).max(0) as u64;
            let text = format!("[{pid}] ftruncate {} to {len}", self.name_of(ino));
            self.builder.truncate(text, ino, len);
        }
    }

    fn on_truncate(&mut self, call: &Call) {
        let pid = call.pid;
        let Some(path) = call.path(0) else { return };
        if let (_, Some(image)) = self.resolve(pid, AT_FDCWD, &path)
            && let Some(image) = self.follow(image)
            && let Some(ino) = self.builder.lookup(&image)
        {
            let len = call.int(1).unwrap_or(0).max(0) as u64;
            self.builder
                .truncate(format!("[{pid}] truncate {} to {len}", image.display()), ino, len);
        }
    }

    fn on_fallocate(&mut self, call: &Call) {
        let pid = call.pid;
        let Some((ino, _)) = self.inside(pid, call.int(0).unwrap_or(-1)) else {
            return;
        };
        let mode = call.int(1).unwrap_or(0);
        let offset = call.int(2).unwrap_or(0).max(0) as u64;
        let len = call.int(3).unwrap_or(0).max(0) as u64;
        let size = self.builder.len(ino);
        let text = format!(
            "[{pid}] fallocate {} mode {mode:#x} {offset}+{len}",
            self.name_of(ino)
        );
        let tail = |from: u64| match self.builder.live().node(ino) {
            Some(Node::File { data, .. }) if from <= data.len() => {
                let mut rest = vec![0; usize::try_from(data.len() - from).ok()?];
                data.read_at(from, &mut rest);
                Some(rest)
            }
            _ => None,
        };
        if mode & FALLOC_FL_COLLAPSE_RANGE != 0 {
            // The range is cut out and what follows moves down.
            let Some(rest) = tail(offset.saturating_add(len)) else {
                return;
            };
            let mut effects = Vec::new();
            if !rest.is_empty() {
                effects.push(Effect::Mutation(Mutation::Write {
                    ino,
                    offset,
                    data: Arc::from(rest),
                }));
            }
            effects.push(Effect::Mutation(Mutation::Truncate {
                ino,
                len: size.saturating_sub(len),
            }));
            self.builder.push(text, effects);
        } else if mode & FALLOC_FL_INSERT_RANGE != 0 {
            // A hole of zeros opens at the offset and what follows moves up.
            let Some(rest) = tail(offset) else { return };
            let mut data = vec![0u8; usize::try_from(len).unwrap_or(0)];
            data.extend(rest);
            self.builder.write(text, ino, offset, &data);
        } else if mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE) != 0 {
            let end = if mode & FALLOC_FL_KEEP_SIZE != 0 {
                (offset + len).min(size)
            } else {
                offset + len
            };
            if end > offset {
                let zeros = vec![0u8; usize::try_from(end - offset).unwrap_or(0)];
                self.builder.write(text, ino, offset, &zeros);
            }
        } else if mode & FALLOC_FL_KEEP_SIZE == 0 && offset + len > size {
            self.builder.truncate(text, ino, offset + len);
        }
    }

    fn on_fsync(&mut self, call: &Call) {
        let pid = call.pid;
        if let Some((ino, _)) = self.inside(pid, call.int(0).unwrap_or(-1)) {
            let text = format!("[{pid}] {} {}", call.name, self.name_of(ino));
            self.builder.fsync(text, ino, call.name == "fdatasync");
        }
    }

    fn on_sync_all(&mut self, call: &Call) {
        let pid = call.pid;
        self.builder.sync_all(format!("[{pid}] {}", call.name));
    }

    fn on_sync_file_range(&mut self, call: &Call) {
        let pid = call.pid;
        if self.inside(pid, call.int(0).unwrap_or(-1)).is_none() {
            return;
        }
        self.builder.note(format!(
            "[{pid}] sync_file_range (starts writeback only; no durability barrier)"
        ));
    }

    fn on_rename(&mut self, call: &Call) {
        let pid = call.pid;
        let (from_dir, from, to_dir, to) = if call.name == "rename" {
            (AT_FDCWD, call.path(0), AT_FDCWD, call.path(1))
        } else {
            (
                call.int(0).unwrap_or(AT_FDCWD),
                call.path(1),
                call.int(2).unwrap_or(AT_FDCWD),
                call.path(3),
            )
        };
        let (Some(from), Some(to)) = (from, to) else {
            return;
        };
        let (_, from_image) = self.resolve(pid, from_dir, &from);
        let (_, to_image) = self.resolve(pid, to_dir, &to);
        let exchange = call.name == "renameat2" && call.int(4).unwrap_or(0) & RENAME_EXCHANGE != 0;
        match (from_image, to_image) {
            (Some(f), Some(t)) if exchange => {
                self.warnings.push(format!(
                    "line {}: renameat2 RENAME_EXCHANGE of {} and {} is recorded as two renames, \
                     which a crash may split",
                    call.line,
                    f.display(),
                    t.display()
                ));
                let tmp = t.with_file_name(".faultline-exchange");
                self.builder.rename(format!("[{pid}] exchange (1/3)"), &t, &tmp);
                self.builder.rename(format!("[{pid}] exchange (2/3)"), &f, &t);
                self.builder.rename(format!("[{pid}] exchange (3/3)"), &tmp, &f);
            }
            (Some(f), Some(t)) => {
                let text = format!("[{pid}] {} {} -> {}", call.name, f.display(), t.display());
                self.builder.rename(text, &f, &t);
            }
            (Some(f), None) => {
                let text = format!("[{pid}] {} {} -> (outside)", call.name, f.display());
                self.builder.unlink(text, &f);
            }
            (None, Some(t)) => self.warnings.push(format!(
                "line {}: a file from outside the directory was renamed to {}; its contents are not in the trace",
                call.line,
                t.display()
            )),
            (None, None) => {}
        }
    }

    fn on_link(&mut self, call: &Call) {
        let pid = call.pid;
        let (from_dir, from, to_dir, to, flags) = if call.name == "link" {
            (AT_FDCWD, call.path(0), AT_FDCWD, call.path(1), 0)
        } else {
            (
                call.int(0).unwrap_or(AT_FDCWD),
                call.path(1),
                call.int(2).unwrap_or(AT_FDCWD),
                call.path(3),
                call.int(4).unwrap_or(0),
            )
        };
        let (Some(from), Some(to)) = (from, to) else {
            return;
        };
        let ino = if flags & AT_EMPTY_PATH != 0 && from.is_empty() {
            self.inside(pid, from_dir).map(|(ino, _)| ino)
        } else if let Some(fd) = proc_fd(&from) {
            // linkat(AT_FDCWD, "/proc/self/fd/N", ..., AT_SYMLINK_FOLLOW): how an
            // O_TMPFILE file gets its name without CAP_DAC_READ_SEARCH.
            self.inside(pid, fd).map(|(ino, _)| ino)
        } else {
            let (_, image) = self.resolve(pid, from_dir, &from);
            let image = if flags & AT_SYMLINK_FOLLOW != 0 {
                image.and_then(|i| self.follow(i))
            } else {
                image
            };
            image.and_then(|i| self.builder.lookup(&i))
        };
        let (_, to_image) = self.resolve(pid, to_dir, &to);
        if let (Some(ino), Some(t)) = (ino, to_image) {
            self.builder.link(
                format!("[{pid}] {} {} as {}", call.name, self.name_of(ino), t.display()),
                ino,
                &t,
            );
        }
    }

    fn on_symlink(&mut self, call: &Call) {
        let pid = call.pid;
        let (target, dirfd, path) = if call.name == "symlink" {
            (call.path(0), AT_FDCWD, call.path(1))
        } else {
            (call.path(0), call.int(1).unwrap_or(AT_FDCWD), call.path(2))
        };
        let (Some(target), Some(path)) = (target, path) else {
            return;
        };
        if let (_, Some(image)) = self.resolve(pid, dirfd, &path) {
            self.builder.symlink(
                format!("[{pid}] symlink {} -> {target}", image.display()),
                &target,
                &image,
            );
        }
    }

    fn on_unlink(&mut self, call: &Call) {
        let pid = call.pid;
        let (dirfd, path, flags) = match call.name.as_str() {
            "unlinkat" => (
                call.int(0).unwrap_or(AT_FDCWD),
                call.path(1),
                call.int(2).unwrap_or(0),
            ),
            "rmdir" => (AT_FDCWD, call.path(0), AT_REMOVEDIR),
            _ => (AT_FDCWD, call.path(0), 0),
        };
        let Some(path) = path else { return };
        if let (_, Some(image)) = self.resolve(pid, dirfd, &path) {
            let what = if flags & AT_REMOVEDIR != 0 {
                "rmdir"
            } else {
                "unlink"
            };
            self.builder
                .unlink(format!("[{pid}] {what} {}", image.display()), &image);
        }
    }

    fn on_mkdir(&mut self, call: &Call) {
        let pid = call.pid;
        let (dirfd, path, mode) = if call.name == "mkdir" {
            (AT_FDCWD, call.path(0), call.octal(1))
        } else {
            (call.int(0).unwrap_or(AT_FDCWD), call.path(1), call.octal(2))
        };
        let Some(path) = path else { return };
        let mode = mode.unwrap_or(0o777) & !self.umask;
        if let (_, Some(image)) = self.resolve(pid, dirfd, &path) {
            self.builder
                .mkdir(format!("[{pid}] mkdir {}", image.display()), &image, mode);
        }
    }

    fn on_chmod(&mut self, call: &Call) {
        let pid = call.pid;
        let (ino, mode) = match call.name.as_str() {
            "fchmod" => (
                self.inside(pid, call.int(0).unwrap_or(-1)).map(|(i, _)| i),
                call.octal(1),
            ),
            name => {
                let (dirfd, at) = if name == "chmod" {
                    (AT_FDCWD, 0)
                } else {
                    (call.int(0).unwrap_or(AT_FDCWD), 1)
                };
                let Some(path) = call.path(at) else { return };
                let (_, image) = self.resolve(pid, dirfd, &path);
                let nofollow = name != "chmod" && call.int(3).unwrap_or(0) & AT_SYMLINK_NOFOLLOW != 0;
                let image = if nofollow {
                    image
                } else {
                    image.and_then(|i| self.follow(i))
                };
                (image.and_then(|i| self.builder.lookup(&i)), call.octal(at + 1))
            }
        };
        if let (Some(ino), Some(mode)) = (ino, mode) {
            let text = format!("[{pid}] chmod {} {mode:o}", self.name_of(ino));
            self.builder.set_mode(text, ino, mode);
        }
    }

    fn on_mmap(&mut self, call: &Call) {
        let pid = call.pid;
        let prot = call.int(2).unwrap_or(0);
        let flags = call.int(3).unwrap_or(0);
        let fd = call.int(4).unwrap_or(-1);
        // PROT_WRITE and MAP_SHARED: stores go to the file without a system call.
        if prot & 2 != 0
            && flags & 1 != 0
            && let Some((ino, _)) = self.inside(pid, fd)
        {
            let name = self.name_of(ino);
            self.unsupported(
                call,
                format!(
                    "{name} is mapped shared and writable (mmap): stores through the mapping are no \
                     system calls, so the trace does not hold them"
                ),
            );
        }
    }

    fn on_chdir(&mut self, call: &Call) {
        let pid = call.pid;
        if let Some(path) = call.path(0)
            && let Some(host) = self.host_path(pid, AT_FDCWD, &path)
        {
            *self.process(pid).cwd.borrow_mut() = host;
        }
    }

    fn on_fchdir(&mut self, call: &Call) {
        let pid = call.pid;
        if let Some(slot) = self.slot(pid, call.int(0).unwrap_or(-1))
            && let Some(path) = slot.desc.borrow().path.clone()
        {
            *self.process(pid).cwd.borrow_mut() = path;
        }
    }

    fn on_clone(&mut self, call: &Call) {
        let pid = call.pid;
        let ret = call.ret_int().unwrap_or(0);
        let flags = match call.name.as_str() {
            "clone" | "clone3" => clone_flags(&call.args.join(", ")),
            _ => 0,
        };
        let parent = self.process(pid);
        if ret > 0 {
            let child = i32::try_from(ret).unwrap_or(0);
            self.processes
                .entry(child)
                .or_insert_with(|| child_of(&parent, flags));
        }
        self.cloning.remove(&pid);
    }

    fn on_umask(&mut self, call: &Call) {
        self.umask = call.octal(0).unwrap_or(self.umask) & 0o777;
    }

    fn on_execve(&mut self, call: &Call) {
        let pid = call.pid;
        self.execs += 1;
        let p = self.process(pid);
        p.fds.borrow_mut().retain(|_, slot| !slot.cloexec);
    }
}

/// The environment variable that names the acknowledgement descriptor of a recorded program.
pub const ACK_FD_VAR: &str = "FAULTLINE_ACK_FD";

/// The descriptor the recorded program inherits the acknowledgement channel on: one digit,
/// so shells can redirect to it.
pub const ACK_FD_NUMBER: i32 = 9;

/// A warning when every acknowledgement arrived in one write after the program's last change:
/// the sign of output block-buffered into a pipe, which makes no crash state count anything
/// as acknowledged.
fn buffered_acknowledgements(trace: &TraceFile) -> Option<String> {
    let mut written = trace.output.iter().enumerate().filter(|(_, o)| !o.is_empty());
    let (at, output) = written.next()?;
    let lines = output.iter().filter(|b| **b == b'\n').count();
    let changed_after = trace.entries[at + 1..].iter().any(|e| !e.effects.is_empty());
    let changed_before = trace.entries[..at]
        .iter()
        .filter(|e| !e.effects.is_empty())
        .count();
    (written.next().is_none() && lines >= 2 && !changed_after && changed_before >= 2).then(|| {
        format!(
            "all {lines} lines of output arrived in one write after the program's last change: \
             if they are acknowledgements, they were buffered (Python's print and sqlite3's \
             .print block-buffer into a pipe), and no crash state counts them. Flush after each \
             one, or write them to the descriptor ${ACK_FD_VAR} (`echo saved >&\"${ACK_FD_VAR}\"`, \
             `faultline ack saved`)"
        )
    })
}

/// A call as strace printed it, its strings decoded (the first 64 bytes of each), shortened to
/// 200 bytes.
fn shown(call: &Call) -> String {
    let args: Vec<String> = call
        .args
        .iter()
        .map(|arg| match arg.trim().strip_prefix('"') {
            Some(hex) => {
                // Each byte is printed as four characters (`\xNN`).
                let end = hex.find('"').unwrap_or(hex.len());
                let cut = end.min(4 * 64);
                let bytes =
                    super::strace::decode_string(&format!("\"{}\"", hex.get(..cut).unwrap_or_default()))
                        .unwrap_or_default();
                let more = if cut < end || hex[end..].contains("...") {
                    "..."
                } else {
                    ""
                };
                format!("{:?}{more}", String::from_utf8_lossy(&bytes))
            }
            None => arg.clone(),
        })
        .collect();
    crate::text::shortened(&format!("{}({})", call.name, args.join(", ")), 200)
}

/// This process's umask, which the recorded program inherits (from /proc; 022 if unknown).
fn current_umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|m| u32::from_str_radix(m.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// The `flags=` of a clone or clone3 call's arguments (0 for fork and vfork).
fn clone_flags(args: &str) -> i64 {
    args.split("flags=")
        .nth(1)
        .and_then(|f| super::strace::parse_int(f.split([',', '}', ')']).next()?))
        .unwrap_or(0)
}

fn child_of(parent: &Process, flags: i64) -> Process {
    Process {
        fds: if flags & CLONE_FILES != 0 {
            Rc::clone(&parent.fds)
        } else {
            Rc::new(RefCell::new(parent.fds.borrow().clone()))
        },
        cwd: if flags & CLONE_FS != 0 {
            Rc::clone(&parent.cwd)
        } else {
            Rc::new(RefCell::new(parent.cwd.borrow().clone()))
        },
    }
}

fn open_flags(flags: i64) -> String {
    let mut names = vec![match flags & O_ACCMODE {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        _ => "O_RDWR",
    }];
    for (bit, name) in [
        (O_CREAT, "O_CREAT"),
        (O_EXCL, "O_EXCL"),
        (O_TRUNC, "O_TRUNC"),
        (O_APPEND, "O_APPEND"),
    ] {
        if flags & bit != 0 {
            names.push(name);
        }
    }
    if flags & O_TMPFILE == O_TMPFILE {
        names.push("O_TMPFILE");
    }
    names.join("|")
}

/// The descriptor a `/proc/self/fd/N` (or `/proc/PID/fd/N`) path names.
fn proc_fd(path: &str) -> Option<i64> {
    let rest = path.strip_prefix("/proc/")?;
    let (_, fd) = rest.split_once("/fd/")?;
    fd.parse().ok()
}

/// `..` and `.` removed without following links.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// Records `sh -c SCRIPT` under strace in a fresh directory (the trace's root), where
/// `prepare` put the files the run starts from and returned the script.
pub fn record_in_fresh_dir(
    prepare: impl FnOnce(&Path) -> Result<String, String>,
) -> Result<TraceFile, String> {
    let work =
        crate::scratch::private_dir("faultline-record-", None).map_err(|e| format!("temp dir: {e}"))?;
    let dir = work.path().join("data");
    let scratch = work.path().join("strace");
    for d in [&dir, &scratch] {
        std::fs::create_dir(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let script = prepare(&dir)?;
    let request = RecordRequest {
        command: vec!["sh".into(), "-c".into(), script],
        dir: dir.clone(),
        strace: std::env::var_os("FAULTLINE_STRACE").map_or_else(|| PathBuf::from("strace"), PathBuf::from),
        scratch,
        cwd: None,
        echo: false,
        timeout: DEFAULT_TIMEOUT,
    };
    let trace = record(&request, &AtomicBool::new(false)).map_err(|e| e.to_string())?;
    match trace.unsupported.first() {
        Some(u) => Err(format!(
            "the program made a call faultline cannot model, so its crash states cannot be judged: \
             strace line {}: {}: {}",
            u.line, u.syscall, u.why
        )),
        None => Ok(trace),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder(lines: &[&str]) -> Recorder {
        let started = std::time::SystemTime::now();
        let mut r = Recorder::new(PathBuf::from("/w"), FsImage::new(), PathBuf::from("/w"), started);
        let mut joiner = Joiner::default();
        for (i, l) in lines.iter().enumerate() {
            if let Some(call) = joiner.line(i + 1, l) {
                r.note_parent(&call);
            }
        }
        for (i, l) in lines.iter().enumerate() {
            r.line(i + 1, l);
        }
        r
    }

    #[test]
    fn a_child_printed_before_its_clone_inherits_its_parents_descriptors() {
        // A subshell of a command substitution: its parent's stdout is a pipe, and the child,
        // whose calls strace printed before the parent's clone, writes to it.
        let r = recorder(&[
            "7 pipe2([4, 5], 0) = 0",
            "7 dup2(5, 1) = 1",
            "7 clone(child_stack=NULL, flags=0x1200000|17) = 8",
            &format!("9 write(1, \"{}\", 4) = 4", hex("pipe")),
            "8 clone(child_stack=NULL, flags=0x1200000|17) = 9",
            &format!("7 write(1, \"{}\", 4) = 4", hex("also")),
        ]);
        assert!(r.output.iter().all(Vec::is_empty), "{:?}", r.output);
        // The program's own stdout is still recorded.
        let r = recorder(&[
            "7 clone(child_stack=NULL, flags=0x1200000|17) = 8",
            &format!("8 write(1, \"{}\", 4) = 4", hex("done")),
        ]);
        assert_eq!(r.output.concat(), b"done");
    }

    /// `"/w/x"` and friends as strace prints them with -xx.
    fn hex(s: &str) -> String {
        s.bytes().map(|b| format!("\\x{b:02x}")).collect()
    }

    #[test]
    fn a_tmpfile_named_by_linkat_and_a_dup2_onto_stdout_are_followed() {
        let r = recorder(&[
            &format!("7 openat(-100, \"{}\", 0x410001, 0644) = 3", hex(".")),
            &format!("7 write(3, \"{}\", 2) = 2", hex("hi")),
            &format!(
                "7 linkat(-100, \"{}\", -100, \"{}\", 0x400) = 0",
                hex("/proc/self/fd/3"),
                hex("t.txt")
            ),
            "7 dup2(3, 1) = 1",
            &format!("7 write(1, \"{}\", 1) = 1", hex("!")),
            "7 pipe2([4, 5], 0) = 0",
            "7 dup2(5, 1) = 1",
            &format!("7 write(1, \"{}\", 3) = 3", hex("out")),
        ]);
        let live = r.builder.live();
        assert_eq!(
            live.read(Path::new("/t.txt")).map(|d| d.to_vec()),
            Ok(b"hi!".to_vec())
        );
        // Output through a pipe dup'ed onto stdout is not the program's standard output.
        assert!(r.output.iter().all(Vec::is_empty));
    }
}
