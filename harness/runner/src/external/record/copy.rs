//! Calls that move bytes from one descriptor to another in the kernel (copy_file_range,
//! sendfile, splice, tee, the FICLONE ioctls), pipes the program made (so bytes spliced out of
//! one are known), extended attributes (a POSIX access ACL sets the mode), mknod, and the
//! calls the recording cannot model, which it marks as unsupported.

use std::collections::VecDeque;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use faultline_core::trace::{Effect, Mutation};
use faultline_core::{FsImage, Ino, Node};

use super::{AT_FDCWD, Call, Recorder, Target, Unsupported};

const FICLONE: i64 = 0x4004_9409;
const FICLONERANGE: i64 = 0x4020_940d;
const S_IFMT: u32 = libc::S_IFMT;
const S_IFREG: u32 = libc::S_IFREG;
const ACL_ACCESS: &str = "system.posix_acl_access";

/// One stretch of what a pipe holds.
#[derive(Debug)]
enum Segment {
    /// Bytes written into it.
    Bytes(Vec<u8>),
    /// A file's bytes spliced into it: the pipe holds the file's pages, not a copy, so a
    /// write to the file before the pipe is drained shows in what comes out.
    File { ino: Ino, offset: u64, len: u64 },
}

impl Segment {
    fn len(&self) -> u64 {
        match self {
            Segment::Bytes(b) => b.len() as u64,
            Segment::File { len, .. } => *len,
        }
    }
}

/// What was written to a pipe and not yet read, as far as the recording saw it.
#[derive(Debug, Default)]
pub(super) struct PipeBytes {
    segments: VecDeque<Segment>,
    /// Bytes the recording could not know went in (spliced from a socket, say): from then on
    /// what comes out is unknown.
    unknown: Option<String>,
}

impl PipeBytes {
    pub(super) fn put(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.segments.push_back(Segment::Bytes(data.to_vec()));
        }
    }

    /// `len` bytes of file `ino` from `offset`, spliced in.
    fn put_file(&mut self, ino: Ino, offset: u64, len: u64) {
        if len > 0 {
            self.segments.push_back(Segment::File { ino, offset, len });
        }
    }

    /// The next `n` bytes, read out of the pipe; files' bytes as `live` holds them now.
    pub(super) fn take(&mut self, n: u64, live: &FsImage) -> Result<Vec<u8>, String> {
        let bytes = self.peek(n, live);
        let mut left = n;
        while left > 0 {
            let Some(front) = self.segments.front_mut() else {
                break;
            };
            let len = front.len();
            if len <= left {
                left -= len;
                self.segments.pop_front();
                continue;
            }
            match front {
                Segment::Bytes(b) => drop(b.drain(..usize::try_from(left).unwrap_or(usize::MAX))),
                Segment::File { offset, len, .. } => {
                    *offset += left;
                    *len -= left;
                }
            }
            left = 0;
        }
        bytes
    }

    /// The next `n` bytes, left in the pipe (`tee`).
    fn peek(&self, n: u64, live: &FsImage) -> Result<Vec<u8>, String> {
        if let Some(why) = &self.unknown {
            return Err(why.clone());
        }
        let mut out = Vec::new();
        for segment in &self.segments {
            let want = n - out.len() as u64;
            if want == 0 {
                break;
            }
            let take = want.min(segment.len());
            match segment {
                Segment::Bytes(b) => out.extend_from_slice(&b[..usize::try_from(take).unwrap_or(b.len())]),
                Segment::File { ino, offset, .. } => {
                    let bytes = file_bytes(live, *ino, *offset, take).ok_or_else(|| {
                        "a pipe holding pages of a file that was cut short before they were read".to_string()
                    })?;
                    out.extend_from_slice(&bytes);
                }
            }
        }
        if (out.len() as u64) < n {
            return Err("a pipe holding bytes the recording did not see written".into());
        }
        Ok(out)
    }

    /// The ranges of file `ino` among the next `n` bytes (held by reference).
    fn ranges_of(&self, ino: Ino, n: u64) -> Vec<(u64, u64)> {
        let mut at = 0;
        let mut ranges = Vec::new();
        for segment in &self.segments {
            if at >= n {
                break;
            }
            if let Segment::File { ino: i, offset, len } = segment
                && *i == ino
            {
                ranges.push((*offset, (*len).min(n - at)));
            }
            at += segment.len();
        }
        ranges
    }

    fn lose(&mut self, why: String) {
        self.unknown.get_or_insert(why);
    }
}

/// `n` bytes of file `ino` from `offset`, if it has them.
fn file_bytes(live: &FsImage, ino: Ino, offset: u64, n: u64) -> Option<Vec<u8>> {
    let Some(Node::File { data, .. }) = live.node(ino) else {
        return None;
    };
    if offset.checked_add(n)? > data.len() {
        return None;
    }
    let mut out = vec![0; usize::try_from(n).ok()?];
    data.read_at(offset, &mut out);
    Some(out)
}

/// The value of `key=` in a structure strace printed (`{flags=0x241, mode=0644, ...}`).
pub(super) fn field<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    inner.split(", ").find_map(|part| {
        let (k, v) = part.split_once('=')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// An offset argument: `NULL` (the descriptor's own offset), `[N]`, or `[N] => [M]` (the
/// value before the call, which is where the bytes were).
fn offset_arg(call: &Call, i: usize) -> Result<Option<u64>, ()> {
    let text = call.args.get(i).map_or("NULL", String::as_str).trim();
    if text == "NULL" {
        return Ok(None);
    }
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.split(']').next())
        .ok_or(())?;
    super::super::strace::parse_int(inner)
        .and_then(|v| u64::try_from(v).ok())
        .map(Some)
        .ok_or(())
}

/// The mode bits a POSIX access ACL (its extended attribute's bytes) sets: the owner's
/// entry, the mask (or, without one, the owning group's) and others'.
pub(super) fn acl_mode(value: &[u8]) -> Option<u32> {
    let (version, entries) = value.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*version) != 2 || entries.len() % 8 != 0 {
        return None;
    }
    let (mut user, mut group, mut mask, mut other) = (None, None, None, None);
    for entry in entries.chunks_exact(8) {
        let tag = u16::from_le_bytes([entry[0], entry[1]]);
        let perm = u32::from(u16::from_le_bytes([entry[2], entry[3]]) & 7);
        match tag {
            0x01 => user = Some(perm),
            0x04 => group = Some(perm),
            0x10 => mask = Some(perm),
            0x20 => other = Some(perm),
            0x02 | 0x08 => {}
            _ => return None,
        }
    }
    Some(user? << 6 | mask.or(group)? << 3 | other?)
}

impl Recorder {
    /// Marks `call` as one the recording cannot model: crash states after it are not judged.
    pub(super) fn unsupported(&mut self, call: &Call, why: String) {
        let moment = self.builder.entries().len();
        self.builder.note(format!("[{}] unsupported: {why}", call.pid));
        self.unsupported.push(Unsupported {
            moment,
            line: call.line,
            syscall: super::shown(call),
            why,
        });
    }

    /// copy_file_range, sendfile, splice and tee: `n` bytes from one descriptor to another.
    pub(super) fn on_copy(&mut self, call: &Call) {
        let n = call.ret_int().unwrap_or(0).max(0) as u64;
        let offsets = match call.name.as_str() {
            "sendfile" => offset_arg(call, 2).map(|i| (1, i, 0, None)),
            "tee" => Ok((0, None, 1, None)),
            _ => offset_arg(call, 1).and_then(|i| offset_arg(call, 3).map(|o| (0, i, 2, o))),
        };
        let Ok((from, from_at, to, to_at)) = offsets else {
            let to = if call.name == "sendfile" { 0 } else { 2 };
            if self.inside(call.pid, call.int(to).unwrap_or(-1)).is_some() {
                self.unsupported(call, "its offsets were not decoded".into());
            }
            return;
        };
        if n == 0 {
            return;
        }
        let (from, to) = (call.int(from).unwrap_or(-1), call.int(to).unwrap_or(-1));
        if let Some(Target::Pipe(pipe)) = self.slot(call.pid, to).map(|s| s.desc.borrow().target.clone())
            && let Some((ino, desc)) = self.inside(call.pid, from)
        {
            // A file's pages go into a pipe by reference.
            let offset = from_at.unwrap_or(desc.borrow().offset);
            if from_at.is_none() {
                desc.borrow_mut().offset += n;
            }
            pipe.borrow_mut().put_file(ino, offset, n);
            return;
        }
        let overlap = self.overlapping(call.pid, (from, from_at), (to, to_at), n);
        let bytes = self.source_bytes(call.pid, from, from_at, n, call.name == "tee");
        let bytes = match overlap {
            // The kernel copies in pieces, reading bytes it has just written: which ones is
            // its own business.
            Some(name) => Err(format!("an overlapping range of {name} itself")),
            None => bytes,
        };
        match bytes {
            Ok(data) => self.write_to(call, to, &data, to_at),
            Err(why) => self.lost_into(call, to, to_at, n, why),
        }
    }

    /// The file's name when a copy of `n` bytes reads and writes overlapping ranges of it
    /// (directly, or through pages of it a pipe holds).
    fn overlapping(
        &mut self,
        pid: i32,
        from: (i64, Option<u64>),
        to: (i64, Option<u64>),
        n: u64,
    ) -> Option<String> {
        let (dst, dst_desc) = self.inside(pid, to.0)?;
        let write_at = match to.1 {
            Some(at) => at,
            None if dst_desc.borrow().append => self.builder.len(dst),
            None => dst_desc.borrow().offset,
        };
        let source = self.slot(pid, from.0)?.desc;
        let reads: Vec<(u64, u64)> = match &source.borrow().target {
            Target::Inside(src) if *src == dst => vec![(from.1.unwrap_or(source.borrow().offset), n)],
            Target::Pipe(pipe) => pipe.borrow().ranges_of(dst, n),
            _ => Vec::new(),
        };
        let overlaps =
            |(at, len): &(u64, u64)| *at < write_at.saturating_add(n) && write_at < at.saturating_add(*len);
        reads.iter().any(overlaps).then(|| self.name_of(dst))
    }

    /// `n` bytes from descriptor `fd` at `at` (or its offset, which then moves on), as far as
    /// the recording knows them; else where they came from.
    fn source_bytes(
        &mut self,
        pid: i32,
        fd: i64,
        at: Option<u64>,
        n: u64,
        peek: bool,
    ) -> Result<Vec<u8>, String> {
        let Some(slot) = self.slot(pid, fd) else {
            return Err(format!("descriptor {fd}, which the recording does not know"));
        };
        let target = slot.desc.borrow().target.clone();
        let offset = at.unwrap_or(slot.desc.borrow().offset);
        if at.is_none() && !matches!(target, Target::Pipe(_)) {
            slot.desc.borrow_mut().offset += n;
        }
        match target {
            Target::Inside(ino) => file_bytes(self.builder.live(), ino, offset, n).ok_or_else(|| {
                format!(
                    "{} at {offset}, past what the recording holds of it",
                    self.name_of(ino)
                )
            }),
            Target::Pipe(pipe) if peek => pipe.borrow().peek(n, self.builder.live()),
            Target::Pipe(pipe) => pipe.borrow_mut().take(n, self.builder.live()),
            Target::Stdout => Err("the program's standard output".into()),
            Target::Outside => match slot.desc.borrow().path.clone() {
                Some(path) => self.outside_bytes(&path, offset, n),
                None => Err(format!(
                    "descriptor {fd}: a socket, or a pipe or file opened before the program started"
                )),
            },
        }
    }

    /// Bytes of a file outside the directory, read now: trusted only if the file has not
    /// changed since the recording began.
    fn outside_bytes(&self, path: &Path, offset: u64, n: u64) -> Result<Vec<u8>, String> {
        use std::os::unix::fs::FileExt;
        let changed = || {
            format!(
                "{}, outside the directory, which changed during the run",
                path.display()
            )
        };
        let file = std::fs::File::open(path).map_err(|_| changed())?;
        let modified = file
            .metadata()
            .and_then(|m| m.modified())
            .map_err(|_| changed())?;
        if modified >= self.started {
            return Err(changed());
        }
        let mut data = vec![0; usize::try_from(n).map_err(|_| changed())?];
        file.read_exact_at(&mut data, offset).map_err(|_| changed())?;
        Ok(data)
    }

    /// `n` bytes the recording does not know went to descriptor `fd`.
    fn lost_into(&mut self, call: &Call, fd: i64, at: Option<u64>, n: u64, why: String) {
        let Some(slot) = self.slot(call.pid, fd) else {
            return;
        };
        let target = slot.desc.borrow().target.clone();
        match target {
            Target::Inside(ino) => {
                if at.is_none() {
                    slot.desc.borrow_mut().offset += n;
                }
                let name = self.name_of(ino);
                self.unsupported(call, format!("{n} bytes went into {name} from {why}"));
            }
            Target::Pipe(pipe) => pipe.borrow_mut().lose(why),
            Target::Stdout | Target::Outside => {}
        }
    }

    /// pipe and pipe2: both ends share what is written and not yet read.
    pub(super) fn on_pipe(&mut self, call: &Call) {
        let ends = call.args.first().map_or("", String::as_str);
        let fds: Vec<i64> = ends
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .filter_map(super::super::strace::parse_int)
            .collect();
        let [read, write] = fds[..] else { return };
        let flags = if call.name == "pipe2" {
            call.int(1).unwrap_or(0)
        } else {
            0
        };
        let pipe = Rc::new(std::cell::RefCell::new(PipeBytes::default()));
        for fd in [read, write] {
            self.open_desc(call.pid, fd, Target::Pipe(Rc::clone(&pipe)), None, flags);
        }
    }

    /// FICLONE and FICLONERANGE: a reflink makes (part of) one file's contents another's.
    pub(super) fn on_ioctl(&mut self, call: &Call) {
        let pid = call.pid;
        let request = call.int(1);
        if request != Some(FICLONE) && request != Some(FICLONERANGE) {
            return;
        }
        let Some((ino, _)) = self.inside(pid, call.int(0).unwrap_or(-1)) else {
            return;
        };
        let name = self.name_of(ino);
        if request == Some(FICLONE) {
            let from = call.int(2).unwrap_or(-1);
            let len = match self.slot(pid, from).map(|s| s.desc.borrow().target.clone()) {
                Some(Target::Inside(src)) => self.builder.len(src),
                _ => u64::MAX,
            };
            match self.source_bytes(pid, from, Some(0), len, true) {
                Ok(data) => {
                    let mut effects = vec![Effect::Mutation(Mutation::Truncate { ino, len: 0 })];
                    if !data.is_empty() {
                        effects.push(Effect::Mutation(Mutation::Write {
                            ino,
                            offset: 0,
                            data: Arc::from(data),
                        }));
                    }
                    self.builder
                        .push(format!("[{pid}] ioctl FICLONE into {name}"), effects);
                }
                Err(why) => self.unsupported(call, format!("{name} was cloned from {why}")),
            }
            return;
        }
        let range = call.args.get(2).map_or("", String::as_str);
        let num = |key: &str| field(range, key).and_then(super::super::strace::parse_int);
        let (Some(from), Some(from_at), Some(len), Some(to_at)) = (
            num("src_fd"),
            num("src_offset"),
            num("src_length"),
            num("dest_offset"),
        ) else {
            self.unsupported(
                call,
                format!("FICLONERANGE into {name}: its range was not decoded"),
            );
            return;
        };
        let (from_at, to_at) = (from_at.max(0) as u64, to_at.max(0) as u64);
        let len = match (len, self.slot(pid, from).map(|s| s.desc.borrow().target.clone())) {
            (0, Some(Target::Inside(src))) => self.builder.len(src).saturating_sub(from_at),
            (0, _) => u64::MAX,
            (len, _) => len.max(0) as u64,
        };
        match self.source_bytes(pid, from, Some(from_at), len, true) {
            Ok(data) => self.builder.write(
                format!("[{pid}] ioctl FICLONERANGE {len} bytes into {name} at {to_at}"),
                ino,
                to_at,
                &data,
            ),
            Err(why) => self.unsupported(call, format!("a range of {name} was cloned from {why}")),
        }
    }

    /// setxattr, lsetxattr, fsetxattr: a POSIX access ACL sets the mode; other attributes are
    /// not part of a crash state, which the warnings say once per name.
    pub(super) fn on_setxattr(&mut self, call: &Call) {
        let pid = call.pid;
        let ino = if call.name == "fsetxattr" {
            self.inside(pid, call.int(0).unwrap_or(-1)).map(|(ino, _)| ino)
        } else {
            let Some(path) = call.path(0) else { return };
            let (_, image) = self.resolve(pid, AT_FDCWD, &path);
            let image = if call.name == "setxattr" {
                image.and_then(|i| self.follow(i))
            } else {
                image
            };
            image.and_then(|i| self.builder.lookup(&i))
        };
        let (Some(ino), Some(attr), Some(value)) = (ino, call.path(1), call.bytes(2)) else {
            return;
        };
        let name = self.name_of(ino);
        if attr == ACL_ACCESS {
            let old = match self.builder.live().node(ino) {
                Some(node) => node.mode(),
                None => return,
            };
            match acl_mode(&value) {
                Some(bits) => {
                    let mode = (old & !0o777) | bits;
                    self.builder.set_mode(
                        format!("[{pid}] {} {name} ACL: mode {mode:o}", call.name),
                        ino,
                        mode,
                    );
                }
                None => self.unsupported(call, format!("an access ACL of {name} that was not understood")),
            }
            return;
        }
        let warning = format!(
            "extended attribute {attr} is set on files in the directory; crash states do not carry \
             extended attributes"
        );
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    /// mknod, mknodat: a regular file is made as `open(O_CREAT)` makes one; a FIFO, socket or
    /// device is not something a crash state can hold.
    pub(super) fn on_mknod(&mut self, call: &Call) {
        let pid = call.pid;
        let (dirfd, path, mode) = if call.name == "mknod" {
            (AT_FDCWD, call.path(0), call.octal(1))
        } else {
            (call.int(0).unwrap_or(AT_FDCWD), call.path(1), call.octal(2))
        };
        let (Some(path), Some(mode)) = (path, mode) else {
            return;
        };
        let (_, Some(image)) = self.resolve(pid, dirfd, &path) else {
            return;
        };
        let kind = mode & S_IFMT;
        if kind == 0 || kind == S_IFREG {
            let text = format!("[{pid}] {} {}", call.name, image.display());
            self.builder
                .open(text, &image, true, false, mode & 0o7777 & !self.umask);
        } else {
            self.unsupported(
                call,
                format!(
                    "{} is made as a FIFO, socket or device: crash states hold files, directories and symlinks",
                    image.display()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_acl_gives_the_mode_it_sets() {
        let entry = |tag: u16, perm: u16| [tag.to_le_bytes(), perm.to_le_bytes()].concat();
        let acl = |entries: &[(u16, u16)]| {
            let mut v = 2u32.to_le_bytes().to_vec();
            for (t, p) in entries {
                v.extend(entry(*t, *p));
                v.extend(u32::MAX.to_le_bytes());
            }
            v
        };
        assert_eq!(acl_mode(&acl(&[(1, 6), (4, 4), (0x20, 4)])), Some(0o644));
        // With a named user, the mask is the group bits.
        assert_eq!(
            acl_mode(&acl(&[(1, 7), (2, 7), (4, 5), (0x10, 1), (0x20, 0)])),
            Some(0o710)
        );
        assert_eq!(acl_mode(&acl(&[(1, 6), (0x20, 4)])), None, "no group entry");
        assert_eq!(acl_mode(b"\x01\0\0\0"), None, "another version");
        assert_eq!(acl_mode(&[2, 0, 0, 0, 1, 0]), None, "a cut entry");
    }

    #[test]
    fn a_pipe_gives_back_what_went_in_and_refuses_what_it_never_saw() {
        let mut live = FsImage::new();
        let ino = live.next_ino();
        live.insert(
            ino,
            Node::File {
                data: Arc::new(b"0123456789".to_vec().into()),
                mode: 0o644,
            },
        );
        let mut pipe = PipeBytes::default();
        pipe.put(b"abc");
        pipe.put_file(ino, 2, 4);
        pipe.put(b"def");
        assert_eq!(pipe.peek(2, &live), Ok(b"ab".to_vec()));
        assert_eq!(pipe.take(4, &live), Ok(b"abc2".to_vec()));
        // The file's pages, not a copy: a write before they are read shows.
        if let Some(Node::File { data, .. }) = live.node_mut(ino) {
            Arc::make_mut(data).write_at(3, b"X");
        }
        assert_eq!(pipe.take(5, &live), Ok(b"X45de".to_vec()));
        assert!(pipe.take(3, &live).is_err(), "only one byte is left");
        pipe.lose("a socket".into());
        pipe.put(b"x");
        assert_eq!(pipe.take(1, &live), Err("a socket".to_string()));
    }

    #[test]
    fn structures_and_offsets_read_as_strace_prints_them() {
        assert_eq!(field("{flags=0x241, mode=0644, resolve=0}", "mode"), Some("0644"));
        assert_eq!(field("{flags=0x241}", "mode"), None);
        let call = |args: &[&str]| Call {
            pid: 1,
            name: "sendfile".into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            ret: "4".into(),
            line: 1,
        };
        let c = call(&["4", "3", "[2] => [6]", "4"]);
        assert_eq!(offset_arg(&c, 2), Ok(Some(2)));
        assert_eq!(offset_arg(&call(&["4", "3", "NULL", "4"]), 2), Ok(None));
        assert_eq!(offset_arg(&call(&["4", "3", "0x7ffd1234", "4"]), 2), Err(()));
    }
}
