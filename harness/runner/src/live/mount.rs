//! A mount's life: load the backing directory, serve it over FUSE, take cuts from triggers
//! and the control socket, and at the end leave the backing directory in the crash state (or,
//! after a clean stop, in the state the users left), then unmount.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_core::persistence::BlockSize;
use faultline_core::{FsImage, Node};

use super::core::{Core, Cut, Keep};
use super::fs::{LiveFs, Users};
use super::trigger::Trigger;

/// What a mount needs.
#[derive(Clone, Debug)]
pub struct MountOptions {
    /// The directory whose files the mount serves, and which gets the crash state.
    pub backing: PathBuf,
    /// An empty directory to mount on.
    pub mountpoint: PathBuf,
    /// Cut after the `N`th matching call of any of these.
    pub triggers: Vec<Trigger>,
    /// Cut right after this many calls that change something (a seeded random moment).
    pub cut_after_changes: Option<u64>,
    /// What a cut keeps of the changes in doubt.
    pub keep: Keep,
    /// Seeds the subset a cut keeps.
    pub seed: u64,
    /// The unit writes tear in.
    pub block_size: BlockSize,
    /// The control socket; `None` for [`control_path`] of the mount point.
    pub control: Option<PathBuf>,
    /// Let the kernel cache writes and hand them over in large pieces (fast; a `write`
    /// trigger then counts the pieces), instead of one request per write call.
    pub write_back: bool,
}

/// A mount that could not be made or ended cleanly.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The options do not describe a mount that can be made; the message says what to change.
    #[error("{0}")]
    Usage(String),
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LiveError {
    let what = what.into();
    move |source| LiveError::Io { what, source }
}

/// How a mount ended.
#[derive(Clone, Debug)]
pub enum Ending {
    /// The power was cut: the backing directory holds the crash state.
    Cut(Cut),
    /// A clean stop: the backing directory holds everything the users wrote.
    Clean {
        /// Calls that changed something.
        changes: u64,
    },
}

/// The control socket of a mount at `mountpoint` when none is named: in the temp directory,
/// named by the mount point's canonical path, so `faultline cut MOUNTPOINT` finds it.
pub fn control_path(mountpoint: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(mountpoint).unwrap_or_else(|_| mountpoint.to_path_buf());
    let hash = xxhash_rust::xxh3::xxh3_64(canonical.as_os_str().as_encoded_bytes());
    std::env::temp_dir().join(format!("faultline-mount-{hash:016x}.sock"))
}

/// A live mount.
pub struct Mounted {
    shared: Arc<Shared>,
    session: Option<fuser::BackgroundSession>,
    cuts: Receiver<()>,
    control: Option<Control>,
    backing: PathBuf,
    mountpoint: PathBuf,
}

/// What the mount, its control socket and its owner share.
struct Shared {
    core: Arc<Mutex<Core>>,
    users: Arc<Mutex<Users>>,
    /// The mount's root, open, to have the kernel hand over cached writes (syncfs).
    root: std::sync::OnceLock<std::os::fd::OwnedFd>,
    cuts: Sender<()>,
}

impl Shared {
    fn core(&self) -> std::sync::MutexGuard<'_, Core> {
        self.core
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Has the kernel hand over every write it still caches.
    fn flush(&self) {
        if let Some(root) = self.root.get() {
            let _ = rustix::fs::syncfs(root);
        }
    }

    /// Makes the cut asked for (or one for `why`): stops the mount's users, takes in what the
    /// kernel still caches of what they wrote (so the cut may keep or lose it like any data
    /// in doubt), then decides what survives.
    fn settle(&self, why: &str) -> Cut {
        self.core().request_cut(why.to_string());
        if let Ok(users) = self.users.lock() {
            users.kill_all();
        }
        self.flush();
        let cut = self.core().settle(why).clone();
        let _ = self.cuts.send(());
        cut
    }
}

impl Mounted {
    /// Loads `options.backing` and mounts it on `options.mountpoint`.
    pub fn mount(options: &MountOptions) -> Result<Mounted, LiveError> {
        let backing = std::fs::canonicalize(&options.backing)
            .map_err(io(format!("backing directory {}", options.backing.display())))?;
        let mountpoint = std::fs::canonicalize(&options.mountpoint)
            .map_err(io(format!("mount point {}", options.mountpoint.display())))?;
        if !backing.is_dir() {
            return Err(LiveError::Usage(format!(
                "{} is not a directory; give the directory the program's files live in",
                backing.display()
            )));
        }
        if backing.starts_with(&mountpoint) || mountpoint.starts_with(&backing) {
            return Err(LiveError::Usage(format!(
                "the backing directory {} and the mount point {} must not contain one another",
                backing.display(),
                mountpoint.display()
            )));
        }
        let mut entries =
            std::fs::read_dir(&mountpoint).map_err(io(format!("mount point {}", mountpoint.display())))?;
        if entries.next().is_some() {
            return Err(LiveError::Usage(format!(
                "the mount point {} is not empty; give an empty directory",
                mountpoint.display()
            )));
        }
        let base =
            crate::external::record::snapshot(&backing).map_err(|e| LiveError::Usage(e.to_string()))?;
        let core = Core::new(base, options.block_size, options.keep, options.seed)
            .with_triggers(options.triggers.clone())
            .with_cut_after_changes(options.cut_after_changes);
        let (cut_tx, cuts) = std::sync::mpsc::channel();
        let shared = Arc::new(Shared {
            core: Arc::new(Mutex::new(core)),
            users: Arc::new(Mutex::new(Users::new(&mountpoint))),
            root: std::sync::OnceLock::new(),
            cuts: cut_tx.clone(),
        });
        let control_at = options
            .control
            .clone()
            .unwrap_or_else(|| control_path(&mountpoint));
        let control = Control::start(&control_at, shared.clone())?;
        let fs = LiveFs::new(
            shared.core.clone(),
            shared.users.clone(),
            cut_tx,
            options.write_back,
        );
        let session = mount_fuse(fs, &mountpoint)?;
        if let Ok(root) = rustix::fs::open(
            &mountpoint,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) {
            let _ = shared.root.set(root);
        }
        Ok(Mounted {
            shared,
            session: Some(session),
            cuts,
            control: Some(control),
            backing,
            mountpoint,
        })
    }

    /// The mount point (canonical).
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The control socket.
    pub fn control(&self) -> Option<&Path> {
        self.control.as_ref().map(|c| c.path.as_path())
    }

    /// Waits up to `slice` for a cut; whether there has been one.
    pub fn wait_for_cut(&self, slice: Duration) -> bool {
        let _ = self.cuts.recv_timeout(slice);
        self.is_cut()
    }

    /// Whether a cut was asked for or made.
    pub fn is_cut(&self) -> bool {
        self.shared.core().cut_requested()
    }

    /// Whether the file system stopped serving (unmounted from outside).
    pub fn is_gone(&self) -> bool {
        self.session.as_ref().is_none_or(|s| s.guard.is_finished())
    }

    /// Calls that changed something so far.
    pub fn changes(&self) -> u64 {
        self.shared.core().changes()
    }

    /// Cuts the power now (unless a cut was already made), stopping the mount's users.
    pub fn cut_now(&self, why: &str) -> Cut {
        self.shared.settle(why)
    }

    /// Unmounts and leaves the backing directory in the crash state, or after no cut in the
    /// state the users left.
    pub fn finish(mut self) -> Result<Ending, LiveError> {
        if self.is_cut() {
            self.shared.settle("asked for");
        } else {
            // A clean stop: first everything the kernel still caches.
            self.shared.flush();
        }
        let (ending, image) = {
            let mut core = self.shared.core();
            match core.cut() {
                Some(cut) => (Ending::Cut(cut.clone()), cut.image.clone()),
                None => {
                    core.freeze();
                    (
                        Ending::Clean {
                            changes: core.changes(),
                        },
                        core.live().clone(),
                    )
                }
            }
        };
        self.unmount();
        replace_dir(&self.backing, &image)?;
        Ok(ending)
    }

    fn unmount(&mut self) {
        self.shared.core().freeze();
        if let Some(session) = self.session.take() {
            // Dropping the session has the mount helper detach the mount; its thread ends
            // with the connection.
            drop(session);
            // The helper does it on its own time, or not at all when it was killed: detach
            // it now ourselves, so no mount is ever left behind.
            if is_mounted(&self.mountpoint) {
                let _ = detach(&self.mountpoint);
            }
        }
        self.control.take();
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        self.unmount();
    }
}

fn mount_fuse(fs: LiveFs, mountpoint: &Path) -> Result<fuser::BackgroundSession, LiveError> {
    use fuser::MountOption;
    let mut options = vec![
        MountOption::FSName("faultline".into()),
        MountOption::Subtype("faultline".into()),
        MountOption::DefaultPermissions,
        MountOption::RW,
    ];
    // AutoUnmount: fusermount unmounts when this process dies, however it dies. It needs
    // allow_other, which root has and other users get from `user_allow_other` in /etc/fuse.conf.
    let auto = rustix::process::geteuid().is_root() || fuse_conf_allows_other();
    if auto {
        options.push(MountOption::AutoUnmount);
        options.push(MountOption::AllowOther);
    }
    fuser::spawn_mount2(fs, mountpoint, &options).map_err(|e| {
        let hint = if Path::new("/dev/fuse").exists() {
            "is fuse3 installed (fusermount3) and may this user mount?"
        } else {
            "this machine has no /dev/fuse: load the fuse module or give the container the device"
        };
        LiveError::Io {
            what: format!("mounting on {} ({hint})", mountpoint.display()),
            source: e,
        }
    })
}

fn fuse_conf_allows_other() -> bool {
    std::fs::read_to_string("/etc/fuse.conf").is_ok_and(|t| t.lines().any(|l| l.trim() == "user_allow_other"))
}

/// Makes `dir` hold exactly `image`: the state is written beside it, then the two are
/// exchanged in one rename, so a crash of faultline leaves either the old or the new state,
/// never a mix. The old one is then removed.
pub fn replace_dir(dir: &Path, image: &FsImage) -> Result<(), LiveError> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let scratch = tempfile::Builder::new()
        .prefix(".faultline-state-")
        .tempdir_in(parent)
        .map_err(io(format!("a scratch directory in {}", parent.display())))?;
    let fresh = scratch.path().join("state");
    crate::crash::materialise(image, &fresh)
        .map_err(io(format!("writing the state into {}", fresh.display())))?;
    if let Some(Node::Dir { mode, .. }) = image.node(faultline_core::image::ROOT_INO) {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(*mode | 0o700));
    }
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        &fresh,
        rustix::fs::CWD,
        dir,
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .map_err(|e| LiveError::Io {
        what: format!("exchanging {} with the new state", dir.display()),
        source: e.into(),
    })?;
    if let Ok(d) = std::fs::File::open(parent) {
        let _ = d.sync_all();
    }
    // `scratch` now holds the old state; dropping it removes it.
    Ok(())
}

/// The control socket: one line per command, one line back.
///
/// - `cut`: cut the power now.
/// - `point NAME`: the program reached crash point NAME; cuts if a `point:NAME:N` trigger fires.
/// - `status`: calls that changed something, and changes in doubt.
struct Control {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Control {
    fn start(path: &Path, shared: Arc<Shared>) -> Result<Control, LiveError> {
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(LiveError::Usage(format!(
                    "{} answers: a mount using this control socket is running; unmount it first (faultline mount --cleanup)",
                    path.display()
                )));
            }
            std::fs::remove_file(path)
                .map_err(io(format!("removing the stale socket {}", path.display())))?;
        }
        let listener = UnixListener::bind(path).map_err(io(format!("control socket {}", path.display())))?;
        {
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        listener
            .set_nonblocking(true)
            .map_err(io(format!("control socket {}", path.display())))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &shared),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(Control {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(stream: UnixStream, shared: &Shared) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(mut out) = stream.try_clone() else { return };
    // A command is one short line: a connection may send at most 64 KiB in all.
    for line in BufReader::new(std::io::Read::take(stream, 1 << 16))
        .lines()
        .take(1024)
    {
        let Ok(line) = line else { return };
        let line = line.trim();
        let answer = if line == "cut" {
            let cut = shared.settle("faultline cut (the control socket)");
            let lost = cut.log.iter().filter(|l| !l.starts_with("kept")).count();
            format!("cut: {} changes in doubt, {lost} lost or torn", cut.log.len())
        } else if let Some(name) = line.strip_prefix("point ") {
            let fired = shared.core().crash_point(name.trim());
            if fired {
                // The program that named the point stops here (it may hold nothing open on
                // the mount, so it is found by the socket's peer); the owner makes the cut.
                if let Ok(mut users) = shared.users.lock() {
                    if let Ok(peer) = rustix::net::sockopt::socket_peercred(&out) {
                        users.kill(peer.pid.as_raw_nonzero().get() as u32);
                    }
                    users.kill_all();
                }
                let _ = shared.cuts.send(());
                "cut".to_string()
            } else {
                "continue".to_string()
            }
        } else if line == "status" {
            let core = shared.core();
            format!(
                "changes {}, in doubt {}, cut {}",
                core.changes(),
                core.pending(),
                core.cut_requested()
            )
        } else {
            format!("error: unknown command '{line}'; send cut, point NAME or status")
        };
        if writeln!(out, "{answer}").is_err() {
            return;
        }
    }
}

/// Sends one command to the control socket at `path` and returns the answer.
pub fn send(path: &Path, command: &str) -> Result<String, LiveError> {
    let mut stream = UnixStream::connect(path).map_err(io(format!(
        "control socket {} (is `faultline mount` running on this mount point?)",
        path.display()
    )))?;
    writeln!(stream, "{command}").map_err(io("sending the command"))?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .map_err(io("reading the answer"))?;
    Ok(answer.trim().to_string())
}

/// Unmounts a faultline mount left at `mountpoint` (by a faultline that was killed before
/// its auto-unmount helper could act) and removes its stale control socket. Refuses a mount
/// that is not faultline's. Returns what it did.
pub fn cleanup(mountpoint: &Path) -> Result<String, LiveError> {
    let target = std::fs::canonicalize(mountpoint).unwrap_or_else(|_| mountpoint.to_path_buf());
    let mut did = Vec::new();
    for (point, fstype) in mounts() {
        if point != target {
            continue;
        }
        if fstype != "fuse.faultline" {
            return Err(LiveError::Usage(format!(
                "{} is mounted as {fstype}, not by faultline; not touching it",
                target.display()
            )));
        }
        detach(&target).map_err(|e| LiveError::Io {
            what: format!("unmounting {}", target.display()),
            source: e.into(),
        })?;
        did.push(format!("unmounted {}", target.display()));
    }
    let socket = control_path(&target);
    if socket.exists() && UnixStream::connect(&socket).is_err() {
        let _ = std::fs::remove_file(&socket);
        did.push(format!("removed the stale control socket {}", socket.display()));
    }
    if did.is_empty() {
        did.push(format!(
            "nothing to clean at {}: no faultline mount there",
            target.display()
        ));
    }
    Ok(did.join("\n"))
}

/// Detaches the mount at `target`: directly as root, else through fusermount3.
fn detach(target: &Path) -> Result<(), rustix::io::Errno> {
    rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH).or_else(|_| {
        std::process::Command::new("fusermount3")
            .args(["-u", "-z", "--"])
            .arg(target)
            .status()
            .ok()
            .filter(std::process::ExitStatus::success)
            .map(|_| ())
            .ok_or(rustix::io::Errno::PERM)
    })
}

/// Whether a faultline mount sits at `target` (canonical).
fn is_mounted(target: &Path) -> bool {
    mounts()
        .iter()
        .any(|(point, fstype)| point == target && fstype == "fuse.faultline")
}

/// Every mount of this process's namespace: mount point and type.
fn mounts() -> Vec<(PathBuf, String)> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            Some((
                PathBuf::from(unescape(fields.get(4)?)),
                (*fields.get(sep + 1)?).to_string(),
            ))
        })
        .collect()
}

/// A mountinfo path with its octal escapes (`\040` for a space) undone.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Ok(v) = u8::from_str_radix(&field[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
