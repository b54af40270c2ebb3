//! The FUSE file system: each request the kernel sends is answered from the [`Core`]'s live
//! image and, when it changes something, recorded there, so reads see the pending state as a
//! page cache would and a cut knows what was never made durable.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use faultline_core::image::ROOT_INO;
use faultline_core::trace_builder::SYMLINK_MODE;
use faultline_core::{FsImage, Ino, Node};
use fuser::{
    FileAttr, FileType, Filesystem, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};

use super::core::Core;
use super::trigger::Op;

/// How long the kernel may cache names and attributes: every change comes through this
/// server, so what it cached cannot go stale behind its back.
const TTL: Duration = Duration::from_secs(1);

/// The processes that used the mount, so a cut can stop them.
pub struct Users {
    /// Process id to its start time (to tell a reused id apart).
    seen: HashMap<u32, u64>,
    /// A request names the thread that made it: thread id to its process's id.
    threads: HashMap<u32, u32>,
    /// The mount point: a process is stopped only while it holds something under it.
    mountpoint: std::path::PathBuf,
}

impl Users {
    /// The process of thread `tid` (cached), or `None` for this process, the kernel, or a
    /// thread already gone.
    fn process_of(&mut self, tid: u32) -> Option<u32> {
        if tid == 0 {
            return None;
        }
        let pid = match self.threads.get(&tid) {
            Some(pid) => *pid,
            None => {
                let pid = thread_group(tid)?;
                if self.threads.len() >= 4096 {
                    self.threads.clear();
                }
                self.threads.insert(tid, pid);
                pid
            }
        };
        (pid != std::process::id()).then_some(pid)
    }

    fn note(&mut self, tid: u32) {
        let Some(pid) = self.process_of(tid) else { return };
        if self.seen.contains_key(&pid) {
            return;
        }
        if self.seen.len() >= 4096 {
            self.seen.retain(|p, start| start_time(*p) == Some(*start));
        }
        if let Some(start) = start_time(pid) {
            self.seen.insert(pid, start);
        }
    }

    /// No users yet, of the mount at `mountpoint`.
    pub fn new(mountpoint: &std::path::Path) -> Self {
        Users {
            seen: HashMap::new(),
            threads: HashMap::new(),
            mountpoint: mountpoint.to_path_buf(),
        }
    }

    /// Sends SIGKILL to the process of thread `tid`, which just made a call on the mount or
    /// named a crash point that cut; never to this process.
    pub fn kill(&mut self, tid: u32) {
        if let Some(pid) = self.process_of(tid)
            && let Some(pid) = rustix::process::Pid::from_raw(pid as i32)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }

    /// Sends SIGKILL to every process that used the mount, is still the same process, and
    /// still holds a file, its working directory or its root under the mount: a shell that
    /// once redirected into the mount and closed the file is left alone, and so is the
    /// helper that mounted it.
    pub fn kill_all(&self) {
        for (pid, start) in &self.seen {
            if start_time(*pid) == Some(*start)
                && holds_under(*pid, &self.mountpoint)
                && let Some(pid) = rustix::process::Pid::from_raw(*pid as i32)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

/// Whether process `pid` has an open file, its working directory or its root under `dir`.
fn holds_under(pid: u32, dir: &std::path::Path) -> bool {
    let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
    let under = |link: &std::path::Path| std::fs::read_link(link).is_ok_and(|t| t.starts_with(dir));
    if under(&proc.join("cwd")) || under(&proc.join("root")) {
        return true;
    }
    std::fs::read_dir(proc.join("fd")).is_ok_and(|fds| fds.flatten().any(|fd| under(&fd.path())))
}

/// The process (thread group) thread `tid` belongs to, from `/proc/TID/status`.
fn thread_group(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// A process's start time in clock ticks since boot (field 22 of `/proc/PID/stat`).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The file system the kernel talks to.
pub struct LiveFs {
    core: Arc<Mutex<Core>>,
    users: Arc<Mutex<Users>>,
    /// Wakes whoever waits for a cut.
    on_cut: std::sync::mpsc::Sender<()>,
    uid: u32,
    gid: u32,
    started: SystemTime,
    /// Let the kernel cache writes and hand them over in large pieces (at an fsync, a cut,
    /// or when it writes back on its own), instead of one request per write call.
    write_back: bool,
}

impl LiveFs {
    /// A file system over `core`.
    pub fn new(
        core: Arc<Mutex<Core>>,
        users: Arc<Mutex<Users>>,
        on_cut: std::sync::mpsc::Sender<()>,
        write_back: bool,
    ) -> Self {
        LiveFs {
            core,
            users,
            on_cut,
            write_back,
            uid: rustix::process::getuid().as_raw(),
            gid: rustix::process::getgid().as_raw(),
            started: SystemTime::now(),
        }
    }

    /// The core, after noting who asked; `None` (answer EIO) once a cut is asked for.
    fn core(&self, req: &Request<'_>) -> Option<MutexGuard<'_, Core>> {
        if let Ok(mut users) = self.users.lock() {
            users.note(req.pid());
        }
        let core = self.lock();
        if core.cut_requested() || core.frozen() {
            None
        } else {
            Some(core)
        }
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        self.core
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// After a call: if it asked for a cut, stop the mount's users (the caller first: its
    /// call is the last it makes) and say so. Returns whether it did; the call then fails.
    fn after(&self, core: MutexGuard<'_, Core>, req: &Request<'_>) -> bool {
        let cut = core.cut_requested();
        drop(core);
        if cut {
            if let Ok(mut users) = self.users.lock() {
                users.kill(req.pid());
                users.kill_all();
            }
            let _ = self.on_cut.send(());
        }
        cut
    }

    fn attr(&self, image: &FsImage, ino: Ino) -> Option<FileAttr> {
        let node = image.node(ino)?;
        let (kind, size, perm, nlink) = match node {
            Node::File { data, mode } if *mode == SYMLINK_MODE => (FileType::Symlink, data.len(), 0o777, 1),
            Node::File { data, mode } => (FileType::RegularFile, data.len(), *mode, 1),
            Node::Dir { entries, mode } => (FileType::Directory, entries.len() as u64, *mode, 2),
        };
        Some(FileAttr {
            ino,
            size,
            blocks: size.div_ceil(512),
            atime: self.started,
            mtime: self.started,
            ctime: self.started,
            crtime: self.started,
            kind,
            perm: (perm & 0o7777) as u16,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }
}

fn is_dir(image: &FsImage, ino: Ino) -> bool {
    matches!(image.node(ino), Some(Node::Dir { .. }))
}

fn name_of(name: &OsStr) -> Option<&str> {
    name.to_str().filter(|n| !n.is_empty() && !n.contains('/'))
}

/// Checks a new name in `parent`: `Ok` if `parent` is a directory without `name`.
fn free_name(image: &FsImage, parent: Ino, name: &str) -> Result<(), i32> {
    if !is_dir(image, parent) {
        return Err(libc::ENOTDIR);
    }
    if image.entry(parent, name).is_some() {
        return Err(libc::EEXIST);
    }
    Ok(())
}

impl Filesystem for LiveFs {
    fn init(&mut self, _req: &Request<'_>, config: &mut fuser::KernelConfig) -> Result<(), libc::c_int> {
        if self.write_back {
            let _ = config.add_capabilities(fuser::consts::FUSE_WRITEBACK_CACHE);
        }
        let _ = config.set_max_write(1 << 20);
        Ok(())
    }

    fn lookup(&mut self, req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let Some(mut core) = self.core(req) else {
            return reply.error(libc::EIO);
        };
        let Some(name) = name_of(name) else {
            return reply.error(libc::ENOENT);
        };
        match core.live().entry(parent, name) {
            Some(ino) => {
                core.name(parent, name, ino);
                match self.attr(core.live(), ino) {
                    Some(attr) => reply.entry(&TTL, &attr, 0),
                    None => reply.error(libc::ENOENT),
                }
            }
            None => reply.error(libc::ENOENT),
        }
    }

    fn getattr(&mut self, req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        let Some(core) = self.core(req) else {
            return reply.error(libc::EIO);
        };
        match self.attr(core.live(), ino) {
            Some(attr) => reply.attr(&TTL, &attr),
            None => reply.error(libc::ENOENT),
        }
    }

    fn setattr(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let Some(mut core) = self.core(req) else {
            return reply.error(libc::EIO);
        };
        if core.live().node(ino).is_none() {
            return reply.error(libc::ENOENT);
        }
        let path = core.path(ino);
        if let Some(len) = size {
            if is_dir(core.live(), ino) {
                return reply.error(libc::EISDIR);
            }
            if len > faultline_core::file_data::MAX_FILE_LEN {
                return reply.error(libc::EFBIG);
            }
            core.apply(Op::Truncate, &[&path], |b| {
                b.truncate(format!("truncate {path} to {len}"), ino, len)
            });
        }
        if let Some(mode) = mode {
            core.apply(Op::Chmod, &[&path], |b| {
                b.set_mode(format!("chmod {path} {:o}", mode & 0o7777), ino, mode)
            });
        }
        let attr = self.attr(core.live(), ino);
        if self.after(core, req) {
            return reply.error(libc::EIO);
        }
        match attr {
            Some(attr) => reply.attr(&TTL, &attr),
            None => reply.error(libc::EIO),
        }
    }

    fn readlink(&mut self, req: &Request<'_>, ino: u64, reply: ReplyData) {
        let Some(core) = self.core(req) else {
            return reply.error(libc::EIO);
        };
        match core.live().node(ino) {
            Some(Node::File { data, mode }) if *mode == SYMLINK_MODE => reply.data(&data.bytes()),
            _ => reply.error(libc::EINVAL),
        }
    }

    fn mknod(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(libc::EPERM);
        }
        let made = self.new_entry(req, parent, name, Op::Create, |b, path, name| {
            b.create_file_at(format!("create {path}"), parent, name, mode & !umask)
        });
        reply_entry(made, reply);
    }

    fn mkdir(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let made = self.new_entry(req, parent, name, Op::Mkdir, |b, path, name| {
            b.mkdir_at(format!("mkdir {path}"), parent, name, mode & !umask)
        });
        reply_entry(made, reply);
    }

    fn unlink(&mut self, req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        self.remove(req, parent, name, false, reply);
    }

    fn rmdir(&mut self, req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        self.remove(req, parent, name, true, reply);
    }

    fn symlink(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        link_name: &OsStr,
        target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        let Some(target) = target.to_str() else {
            return reply.error(libc::EINVAL);
        };
        let made = self.new_entry(req, parent, link_name, Op::Symlink, |b, path, name| {
            b.symlink_at(format!("symlink {path} -> {target}"), parent, name, target)
        });
        reply_entry(made, reply);
    }

    fn rename(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let Some(mut core) = self.core(req) else {
            return reply.error(libc::EIO);
        };
        let (Some(name), Some(newname)) = (name_of(name), name_of(newname)) else {
            return reply.error(libc::EINVAL);
        };
        if flags & !libc::RENAME_NOREPLACE != 0 {
            // RENAME_EXCHANGE and RENAME_WHITEOUT have no mutation in the model.
            return reply.error(libc::EINVAL);
        }
        let image = core.live();
        if !is_dir(image, parent) || !is_dir(image, newparent) {
            return reply.error(libc::ENOTDIR);
        }
        let Some(ino) = image.entry(parent, name) else {
            return reply.error(libc::ENOENT);
        };
        if let Some(target) = image.entry(newparent, newname) {
            if flags & libc::RENAME_NOREPLACE != 0 {
                return reply.error(libc::EEXIST);
            }
            match (is_dir(image, ino), image.node(target)) {
                (false, Some(Node::Dir { .. })) => return reply.error(libc::EISDIR),
                (true, Some(Node::File { .. })) => return reply.error(libc::ENOTDIR),
                (true, Some(Node::Dir { entries, .. })) if !entries.is_empty() && target != ino => {
                    return reply.error(libc::ENOTEMPTY);
                }
                _ => {}
            }
        }
        let (from, to) = (core.child_path(parent, name), core.child_path(newparent, newname));
        core.apply(Op::Rename, &[&from, &to], |b| {
            b.rename_at(format!("rename {from} -> {to}"), parent, name, newparent, newname)
        });
        core.name(newparent, newname, ino);
        if self.after(core, req) {
            return reply.error(libc::EIO);
        }
        reply.ok();
    }

    fn link(&mut self, req: &Request<'_>, ino: u64, newparent: u64, newname: &OsStr, reply: ReplyEntry) {
        let Some(mut core) = self.core(req) else {
            return reply.error(libc::EIO);
        };
        let Some(name) = name_of(newname) else {
            return reply.error(libc::EINVAL);
        };
        if let Err(e) = free_name(core.live(), newparent, name) {
            return reply.error(e);
        }
        if is_dir(core.live(), ino) {
            return reply.error(libc::EPERM);
        }
        let (from, to) = (core.path(ino), core.child_path(newparent, name));
        core.apply(Op::Link, &[&from, &to], |b| {
            b.link_at(format!("link {from} -> {to}"), ino, newparent, name)
        });
        let attr = self.attr(core.live(), ino);
        if self.after(core, req) {
            return reply.error(libc::EIO);
        }
        match attr {
            Some(attr) => reply.entry(&TTL, &attr, 0),
            None => reply.error(libc::EIO),
        }
    }

    fn open(&mut self, req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        let Some(core) = self.core(req) else {
            return reply.error(libc::EIO);
        };
        match core.live().node(ino) {
            Some(_) => reply.opened(0, 0),
            None => reply.error(libc::ENOENT),
        }
    }

    fn read(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock: Option<u64>,
        reply: ReplyData,
    ) {
        let Some(core) = self.core(req) else {
            return reply.error(libc::EIO);
        };
        let Ok(offset) = u64::try_from(offset) else {
            return reply.error(libc::EINVAL);
        };
        match core.live().node(ino) {
            Some(Node::File { data, .. }) => {
                let want = (size as u64).min(data.len().saturating_sub(offset)) as usize;
                let mut buf = vec![0; want];
                let n = data.read_at(offset, &mut buf);
                reply.data(&buf[..n]);
            }
            Some(Node::Dir { .. }) => reply.error(libc::EISDIR),
            None => reply.error(libc::ENOENT),
        }
    }

    fn write(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        data: &[u8],
        write_flags: u32,
        _flags: i32,
        _lock: Option<u64>,
        reply: ReplyWrite,
    ) {
        // The kernel writing back data its users wrote before a cut was asked for: taken
        // until the cut is made, so a cut can keep or lose it like any data in doubt.
        let write_back = write_flags & fuser::consts::FUSE_WRITE_CACHE != 0;
        let core = if write_back {
            Some(self.lock()).filter(|c| c.cut().is_none() && !c.frozen())
        } else {
            self.core(req)
        };
        let Some(mut core) = core else {
            return reply.error(libc::EIO);
        };
        let asked_before = core.cut_requested();
        let Ok(offset) = u64::try_from(offset) else {
            return reply.error(libc::EINVAL);
        };
        if !matches!(core.live().node(ino), Some(Node::File { .. })) {
            return reply.error(libc::EBADF);
        }
        if offset.saturating_add(data.len() as u64) > faultline_core::file_data::MAX_FILE_LEN {
            return reply.error(libc::EFBIG);
        }
        let path = core.path(ino);
        core.apply(Op::Write, &[&path], |b| {
            b.write(
                format!("write {path} {} bytes at {offset}", data.len()),
                ino,
                offset,
                data,
            )
        });
        if asked_before {
            return reply.written(data.len() as u32);
        }
        if self.after(core, req) {
            return reply.error(libc::EIO);
        }
        reply.written(data.len() as u32);
    }

    fn fsync(&mut self, req: &Request<'_>, ino: u64, _fh: u64, datasync: bool, reply: ReplyEmpty) {
        let Some(mut core) = self.core(req) else {
            return reply.error(libc::EIO);
        };
        let path = core.path(ino);
        let (op, name) = if datasync {
            (Op::Fdatasync, "fdatasync")
        } else {
            (Op::Fsync, "fsync")
        };
        core.apply(op, &[&path], |b| b.fsync(format!("{name} {path}"), ino, datasync));
        if self.after(core, req) {
            return reply.error(libc::EIO);
        }
        reply.ok();
    }

    fn fsyncdir(&mut self, req: &Request<'_>, ino: u64, _fh: u64, _datasync: bool, reply: ReplyEmpty) {
        let Some(mut core) = self.core(req) else {
            return reply.error(libc::EIO);
        };
        let path = if ino == ROOT_INO {
            ".".to_string()
        } else {
            core.path(ino)
        };
        core.apply(Op::Fsyncdir, &[&path], |b| {
            b.fsync(format!("fsync directory {path}"), ino, false)
        });
        if self.after(core, req) {
            return reply.error(libc::EIO);
        }
        reply.ok();
    }

    fn readdir(&mut self, req: &Request<'_>, ino: u64, _fh: u64, offset: i64, mut reply: ReplyDirectory) {
        let Some(mut core) = self.core(req) else {
            return reply.error(libc::EIO);
        };
        let Some(Node::Dir { entries, .. }) = core.live().node(ino).cloned() else {
            return reply.error(libc::ENOTDIR);
        };
        let mut all: Vec<(Ino, FileType, String)> = vec![(ino, FileType::Directory, ".".into())];
        all.push((ROOT_INO, FileType::Directory, "..".into()));
        for (name, child) in entries.iter() {
            core.name(ino, name, *child);
            let kind = match core.live().node(*child) {
                Some(Node::Dir { .. }) => FileType::Directory,
                Some(Node::File { mode, .. }) if *mode == SYMLINK_MODE => FileType::Symlink,
                _ => FileType::RegularFile,
            };
            all.push((*child, kind, name.to_string()));
        }
        let skip = usize::try_from(offset).unwrap_or(0);
        for (i, (child, kind, name)) in all.into_iter().enumerate().skip(skip) {
            if reply.add(child, (i + 1) as i64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        reply.statfs(1 << 24, 1 << 23, 1 << 23, 1 << 20, 1 << 19, 4096, 255, 4096);
    }

    fn access(&mut self, _req: &Request<'_>, _ino: u64, _mask: i32, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let Some(mut core) = self.core(req) else {
            return reply.error(libc::EIO);
        };
        let Some(name) = name_of(name) else {
            return reply.error(libc::EINVAL);
        };
        if !is_dir(core.live(), parent) {
            return reply.error(libc::ENOTDIR);
        }
        let path = core.child_path(parent, name);
        let ino = match core.live().entry(parent, name) {
            Some(_) if flags & libc::O_EXCL != 0 => return reply.error(libc::EEXIST),
            Some(ino) if is_dir(core.live(), ino) => return reply.error(libc::EISDIR),
            Some(ino) => {
                if flags & libc::O_TRUNC != 0 {
                    core.apply(Op::Truncate, &[&path], |b| {
                        b.truncate(format!("truncate {path} to 0"), ino, 0)
                    });
                }
                ino
            }
            None => core.apply(Op::Create, &[&path], |b| {
                b.create_file_at(format!("create {path}"), parent, name, mode & !umask)
            }),
        };
        core.name(parent, name, ino);
        let attr = self.attr(core.live(), ino);
        if self.after(core, req) {
            return reply.error(libc::EIO);
        }
        match attr {
            Some(attr) => reply.created(&TTL, &attr, 0, 0, 0),
            None => reply.error(libc::EIO),
        }
    }

    fn fallocate(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if mode != 0 {
            return reply.error(libc::EOPNOTSUPP);
        }
        let Some(mut core) = self.core(req) else {
            return reply.error(libc::EIO);
        };
        let (Ok(offset), Ok(length)) = (u64::try_from(offset), u64::try_from(length)) else {
            return reply.error(libc::EINVAL);
        };
        let end = offset.saturating_add(length);
        let Some(Node::File { data, .. }) = core.live().node(ino) else {
            return reply.error(libc::EBADF);
        };
        if end > faultline_core::file_data::MAX_FILE_LEN {
            return reply.error(libc::EFBIG);
        }
        if end > data.len() {
            let path = core.path(ino);
            core.apply(Op::Truncate, &[&path], |b| {
                b.truncate(format!("fallocate {path} to {end}"), ino, end)
            });
        }
        if self.after(core, req) {
            return reply.error(libc::EIO);
        }
        reply.ok();
    }
}

/// Answers a request that made a new name: its attributes, or the error.
fn reply_entry(made: Result<FileAttr, i32>, reply: ReplyEntry) {
    match made {
        Ok(attr) => reply.entry(&TTL, &attr, 0),
        Err(e) => reply.error(e),
    }
}

impl LiveFs {
    /// A new name `name` in `parent`, made by `make` (given the builder, the path and the
    /// name) as call `op`: the checks every new name passes, then the call, then its
    /// attributes.
    fn new_entry(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        op: Op,
        make: impl FnOnce(&mut faultline_core::trace_builder::TraceBuilder, &str, &str) -> Ino,
    ) -> Result<FileAttr, i32> {
        let mut core = self.core(req).ok_or(libc::EIO)?;
        let name = name_of(name).ok_or(libc::EINVAL)?;
        free_name(core.live(), parent, name)?;
        let path = core.child_path(parent, name);
        let ino = core.apply(op, &[&path], |b| make(b, &path, name));
        core.name(parent, name, ino);
        let attr = self.attr(core.live(), ino);
        if self.after(core, req) {
            return Err(libc::EIO);
        }
        attr.ok_or(libc::EIO)
    }

    fn remove(&mut self, req: &Request<'_>, parent: u64, name: &OsStr, dir: bool, reply: ReplyEmpty) {
        let Some(mut core) = self.core(req) else {
            return reply.error(libc::EIO);
        };
        let Some(name) = name_of(name) else {
            return reply.error(libc::EINVAL);
        };
        let Some(ino) = core.live().entry(parent, name) else {
            return reply.error(libc::ENOENT);
        };
        match (dir, core.live().node(ino)) {
            (false, Some(Node::Dir { .. })) => return reply.error(libc::EISDIR),
            (true, Some(Node::File { .. })) => return reply.error(libc::ENOTDIR),
            (true, Some(Node::Dir { entries, .. })) if !entries.is_empty() => {
                return reply.error(libc::ENOTEMPTY);
            }
            _ => {}
        }
        let path = core.child_path(parent, name);
        let (op, call) = if dir {
            (Op::Rmdir, "rmdir")
        } else {
            (Op::Unlink, "unlink")
        };
        core.apply(op, &[&path], |b| {
            b.unlink_at(format!("{call} {path}"), parent, name)
        });
        if self.after(core, req) {
            return reply.error(libc::EIO);
        }
        reply.ok();
    }
}
