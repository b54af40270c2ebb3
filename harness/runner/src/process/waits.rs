//! Who waits for whom, read from the kernel: the facts a trial that stopped moving is judged
//! by, in place of a timer.
//!
//! For every process of a trial's process group this reads
//! - the file locks it holds: the `lock:` lines of `/proc/PID/fdinfo/FD` (flock, OFD and
//!   POSIX locks, with the device and inode of the locked file);
//! - the lock it is blocked on: `/proc/PID/syscall` shows a process asleep in `flock` without
//!   `LOCK_NB`, or in `fcntl` with `F_SETLKW` or `F_OFD_SETLKW`, and on which descriptor;
//! - how often it has been scheduled (`voluntary_ctxt_switches` and
//!   `nonvoluntary_ctxt_switches` of `/proc/PID/status`), which moves while it makes progress
//!   and stands still while it is blocked.
//!
//! A process waiting for a lock on a file that another process holds waits for that process
//! (a process's own POSIX locks, and its own lock on the same descriptor, never block it). A
//! cycle in that wait-for graph whose processes did not run between two looks is a deadlock:
//! an observed fact, on a fast machine or a slow one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

/// The locked file: device (major, minor) and inode, as the kernel prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileKey {
    major: u32,
    minor: u32,
    ino: u64,
}

/// The kind of lock, from `/proc`'s lock lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    /// `flock(2)`: owned by the open file description.
    Flock,
    /// Open-file-description `fcntl` locks: owned by the open file description.
    Ofd,
    /// Classic POSIX `fcntl` locks: owned by the process.
    Posix,
}

/// One lock a process holds, through descriptor `fd`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The descriptor it shows on.
    pub fd: u32,
    /// The locked file.
    pub file: FileKey,
    /// Its kind.
    pub kind: LockKind,
    /// Exclusive (a write lock) or shared.
    pub exclusive: bool,
    /// The file's path, as the descriptor names it.
    pub path: PathBuf,
}

/// The lock a process is asleep waiting for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// The descriptor it waits through.
    pub fd: u32,
    /// The file.
    pub file: FileKey,
    /// Whether it asks for an exclusive lock (`fcntl` waits count as exclusive: a blocked
    /// shared request means an exclusive holder, which conflicts either way).
    pub exclusive: bool,
    /// The call: `flock` or `fcntl`.
    pub call: &'static str,
    /// The file's path, as the descriptor names it.
    pub path: PathBuf,
}

/// One process as the kernel showed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    /// Its pid.
    pub pid: u32,
    /// Its command name.
    pub name: String,
    /// The locks it holds.
    pub held: Vec<Held>,
    /// The lock it waits for, if it is asleep in a lock call.
    pub waiting: Option<Waiting>,
    /// Times it has been scheduled off the CPU so far.
    pub switches: u64,
    /// Whether it is asleep in a timed sleep (`nanosleep`, `clock_nanosleep`): it will wake.
    pub sleeping: bool,
}

/// Every process of one process group, at one look.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Look {
    /// By pid.
    pub processes: BTreeMap<u32, Process>,
}

impl Look {
    /// Looks at every live process of process group `group`.
    pub fn group(group: u32) -> Look {
        let mut processes = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Look::default();
        };
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(p) = read_process(pid, group) {
                processes.insert(pid, p);
            }
        }
        Look { processes }
    }

    /// Whether any process that is in both looks was scheduled in between, or the set of
    /// processes changed: the group is making progress.
    pub fn moved_since(&self, before: &Look) -> bool {
        if self.processes.keys().ne(before.processes.keys()) {
            return true;
        }
        self.processes
            .iter()
            .any(|(pid, p)| before.processes.get(pid).is_none_or(|b| b.switches != p.switches))
    }

    /// Whether some process is in a timed sleep, and so will run again.
    pub fn someone_sleeping(&self) -> bool {
        self.processes.values().any(|p| p.sleeping)
    }

    /// The wait-for edges: `(waiter, holder, the holder's lock)`.
    pub fn edges(&self) -> Vec<(u32, u32, &Held)> {
        let mut edges = Vec::new();
        for (pid, p) in &self.processes {
            let Some(w) = &p.waiting else { continue };
            for (hpid, h) in &self.processes {
                for held in &h.held {
                    let conflicts = held.file == w.file && (held.exclusive || w.exclusive);
                    // A process's own POSIX locks never block it, nor does its own lock on
                    // the descriptor it waits through (an upgrade in place).
                    let own = hpid == pid && (held.kind == LockKind::Posix || held.fd == w.fd);
                    if conflicts && !own && !edges.iter().any(|(a, b, _)| a == pid && b == hpid) {
                        edges.push((*pid, *hpid, held));
                    }
                }
            }
        }
        edges
    }

    /// A cycle of processes each waiting for a lock the next holds, if there is one: its
    /// pids in order (the last waits for the first).
    pub fn cycle(&self) -> Option<Vec<u32>> {
        let edges = self.edges();
        let next = |pid: u32| -> Vec<u32> {
            edges
                .iter()
                .filter(|(a, _, _)| *a == pid)
                .map(|(_, b, _)| *b)
                .collect()
        };
        // Depth-first from every process, with the path so far; graphs here are a handful of
        // processes, so simple is fine.
        let mut done = BTreeSet::new();
        for start in self.processes.keys().copied() {
            if done.contains(&start) {
                continue;
            }
            let mut path = vec![start];
            let mut stack = vec![next(start)];
            while let Some(options) = stack.last_mut() {
                match options.pop() {
                    Some(n) => {
                        if let Some(at) = path.iter().position(|p| *p == n) {
                            return Some(path[at..].to_vec());
                        }
                        if !done.contains(&n) {
                            path.push(n);
                            stack.push(next(n));
                        }
                    }
                    None => {
                        stack.pop();
                        if let Some(p) = path.pop() {
                            done.insert(p);
                        }
                    }
                }
            }
        }
        None
    }

    /// The cycle `cycle` in words: who holds what and waits for what.
    pub fn describe(&self, cycle: &[u32], name: &dyn Fn(u32) -> String) -> String {
        let edges = self.edges();
        let mut out = String::from("wait-for cycle read from the kernel: ");
        for (i, pid) in cycle.iter().enumerate() {
            let next = cycle[(i + 1) % cycle.len()];
            let Some(p) = self.processes.get(pid) else {
                continue;
            };
            let Some(w) = &p.waiting else { continue };
            let held = edges
                .iter()
                .find(|(a, b, _)| a == pid && *b == next)
                .map(|(_, _, h)| h);
            if i > 0 {
                out.push_str("; ");
            }
            let _ = write!(
                out,
                "{} waits in {} for {} {}",
                name(*pid),
                w.call,
                if w.exclusive {
                    "an exclusive lock on"
                } else {
                    "a shared lock on"
                },
                file_name(&w.path)
            );
            if let Some(h) = held {
                let _ = write!(
                    out,
                    ", held {} by {}",
                    if h.exclusive { "exclusively" } else { "shared" },
                    name(next)
                );
            }
        }
        out
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Process `pid`, if it is alive and in process group `group`.
fn read_process(pid: u32, group: u32) -> Option<Process> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (name, rest) = parse_stat(&stat)?;
    // After the name: state, ppid, pgrp.
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    let pgrp: u32 = fields.nth(1)?.parse().ok()?;
    if pgrp != group || state == "Z" || state == "X" {
        return None;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let switches = status
        .lines()
        .filter(|l| l.starts_with("voluntary_ctxt_switches:") || l.starts_with("nonvoluntary_ctxt_switches:"))
        .filter_map(|l| l.split_ascii_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    let syscall = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    Some(Process {
        pid,
        name,
        held: held_locks(pid),
        waiting: waiting_for(pid, &syscall),
        switches,
        sleeping: in_timed_sleep(&syscall),
    })
}

/// The command name and what follows it in a `/proc/PID/stat` line (the name is in
/// parentheses and may hold spaces and parentheses itself).
fn parse_stat(stat: &str) -> Option<(String, &str)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    Some((name, stat.get(close + 1..)?))
}

/// The locks `pid` holds, from the `lock:` lines of its descriptors' fdinfo.
fn held_locks(pid: u32) -> Vec<Held> {
    let mut held = Vec::new();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return held;
    };
    for entry in fds.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(info) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for line in info.lines().filter_map(|l| l.strip_prefix("lock:")) {
            if let Some((kind, exclusive, file)) = parse_lock_line(line) {
                let path = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap_or_default();
                held.push(Held {
                    fd,
                    file,
                    kind,
                    exclusive,
                    path,
                });
            }
        }
    }
    held
}

/// One lock line, as `/proc/locks` and fdinfo print it:
/// `1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`. Blocked requests (`->`) are not held
/// locks and give `None`, as do leases and lines that do not parse.
pub fn parse_lock_line(line: &str) -> Option<(LockKind, bool, FileKey)> {
    let mut words = line.split_ascii_whitespace();
    words.next()?; // "1:"
    let kind = match words.next()? {
        "FLOCK" => LockKind::Flock,
        "OFDLCK" => LockKind::Ofd,
        "POSIX" => LockKind::Posix,
        _ => return None,
    };
    words.next()?; // ADVISORY or MANDATORY
    let exclusive = match words.next()? {
        "WRITE" => true,
        "READ" => false,
        _ => return None,
    };
    words.next()?; // pid (-1 for OFD locks)
    let mut dev = words.next()?.split(':');
    let major = u32::from_str_radix(dev.next()?, 16).ok()?;
    let minor = u32::from_str_radix(dev.next()?, 16).ok()?;
    let ino = dev.next()?.parse().ok()?;
    Some((kind, exclusive, FileKey { major, minor, ino }))
}

/// Whether a `/proc/PID/syscall` line shows a timed sleep.
fn in_timed_sleep(line: &str) -> bool {
    line.split_ascii_whitespace()
        .next()
        .and_then(|nr| nr.parse::<i64>().ok())
        .is_some_and(|nr| nr == libc::SYS_nanosleep || nr == libc::SYS_clock_nanosleep)
}

/// The lock `pid` is asleep waiting for, from its `/proc/PID/syscall` line.
fn waiting_for(pid: u32, line: &str) -> Option<Waiting> {
    let (call, fd, exclusive) = parse_syscall(line)?;
    let fd_path = format!("/proc/{pid}/fd/{fd}");
    let meta = std::fs::metadata(&fd_path).ok()?;
    use std::os::unix::fs::MetadataExt;
    let dev = meta.dev();
    Some(Waiting {
        fd,
        file: FileKey {
            major: libc::major(dev),
            minor: libc::minor(dev),
            ino: meta.ino(),
        },
        exclusive,
        call,
        path: std::fs::read_link(&fd_path).unwrap_or_default(),
    })
}

/// A `/proc/PID/syscall` line of a process asleep in a blocking lock call: the call, the
/// descriptor and whether it asks for an exclusive lock. Any other line gives `None`.
pub fn parse_syscall(line: &str) -> Option<(&'static str, u32, bool)> {
    let mut words = line.split_ascii_whitespace();
    let nr: i64 = words.next()?.parse().ok()?;
    let mut arg = || u64::from_str_radix(words.next()?.strip_prefix("0x")?, 16).ok();
    let fd = u32::try_from(arg()?).ok()?;
    let op = arg()?;
    if nr == libc::SYS_flock {
        let op = op as libc::c_int;
        if op & libc::LOCK_NB != 0 || op & (libc::LOCK_SH | libc::LOCK_EX) == 0 {
            return None;
        }
        return Some(("flock", fd, op & libc::LOCK_EX != 0));
    }
    if nr == libc::SYS_fcntl {
        let cmd = op as libc::c_int;
        if cmd == libc::F_SETLKW || cmd == libc::F_OFD_SETLKW {
            return Some(("fcntl", fd, true));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_lines_parse_and_blocked_requests_do_not() {
        let (kind, exclusive, file) =
            parse_lock_line("\t1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF").expect("a flock line");
        assert_eq!((kind, exclusive), (LockKind::Flock, true));
        assert_eq!(
            file,
            FileKey {
                major: 8,
                minor: 1,
                ino: 5678
            }
        );
        let (kind, exclusive, _) =
            parse_lock_line("2: OFDLCK ADVISORY  READ -1 00:2a:99 0 EOF").expect("an OFD line");
        assert_eq!((kind, exclusive), (LockKind::Ofd, false));
        assert_eq!(
            parse_lock_line("1: -> FLOCK  ADVISORY  WRITE 1235 08:01:5678 0 EOF"),
            None
        );
        assert_eq!(parse_lock_line("3: LEASE  ACTIVE    READ 1 08:01:1 0 EOF"), None);
        assert_eq!(parse_lock_line("garbage"), None);
    }

    #[test]
    fn only_blocking_lock_calls_are_waits() {
        let flock = |op: i32| format!("{} 0x3 0x{op:x} 0x0 0x0 0x0 0x0 0x7ffc 0x7f00", libc::SYS_flock);
        assert_eq!(parse_syscall(&flock(libc::LOCK_EX)), Some(("flock", 3, true)));
        assert_eq!(parse_syscall(&flock(libc::LOCK_SH)), Some(("flock", 3, false)));
        assert_eq!(parse_syscall(&flock(libc::LOCK_EX | libc::LOCK_NB)), None);
        let fcntl = |cmd: i32| {
            format!(
                "{} 0x4 0x{cmd:x} 0x7ffc0000 0x0 0x0 0x0 0x7ffc 0x7f00",
                libc::SYS_fcntl
            )
        };
        assert_eq!(
            parse_syscall(&fcntl(libc::F_OFD_SETLKW)),
            Some(("fcntl", 4, true))
        );
        assert_eq!(parse_syscall(&fcntl(libc::F_SETLK)), None);
        assert_eq!(parse_syscall("running"), None);
        assert_eq!(parse_syscall("-1 0x7ffc 0x7f00"), None);
        assert_eq!(parse_syscall(&format!("{} 0x0 0x0", libc::SYS_nanosleep)), None);
        assert!(in_timed_sleep(&format!("{} 0x0 0x0", libc::SYS_clock_nanosleep)));
        assert!(!in_timed_sleep("running"));
    }

    fn held(fd: u32, ino: u64, exclusive: bool, kind: LockKind) -> Held {
        Held {
            fd,
            file: FileKey {
                major: 0,
                minor: 1,
                ino,
            },
            kind,
            exclusive,
            path: PathBuf::from(format!("/t/lock{ino}")),
        }
    }

    fn waits(fd: u32, ino: u64, exclusive: bool) -> Option<Waiting> {
        Some(Waiting {
            fd,
            file: FileKey {
                major: 0,
                minor: 1,
                ino,
            },
            exclusive,
            call: "flock",
            path: PathBuf::from(format!("/t/lock{ino}")),
        })
    }

    fn process(pid: u32, held: Vec<Held>, waiting: Option<Waiting>) -> (u32, Process) {
        (
            pid,
            Process {
                pid,
                name: "w".into(),
                held,
                waiting,
                switches: 7,
                sleeping: false,
            },
        )
    }

    #[test]
    fn ab_ba_is_a_cycle_and_a_chain_is_not() {
        let ab_ba = Look {
            processes: [
                process(10, vec![held(3, 1, true, LockKind::Flock)], waits(4, 2, true)),
                process(11, vec![held(4, 2, true, LockKind::Flock)], waits(3, 1, true)),
            ]
            .into_iter()
            .collect(),
        };
        assert_eq!(ab_ba.cycle(), Some(vec![10, 11]));
        let text = ab_ba.describe(&[10, 11], &|p| format!("holder {p}"));
        assert!(
            text.contains(
                "holder 10 waits in flock for an exclusive lock on lock2, held exclusively by holder 11"
            ),
            "{text}"
        );

        // 11 holds B and waits for nothing: 10 just waits.
        let chain = Look {
            processes: [
                process(10, vec![held(3, 1, true, LockKind::Flock)], waits(4, 2, true)),
                process(11, vec![held(4, 2, true, LockKind::Flock)], None),
            ]
            .into_iter()
            .collect(),
        };
        assert_eq!(chain.cycle(), None);
    }

    #[test]
    fn upgrades_in_place_of_two_shared_holders_are_a_cycle_but_one_is_not() {
        let shared = |pid| process(pid, vec![held(3, 1, false, LockKind::Ofd)], waits(3, 1, true));
        let both = Look {
            processes: [shared(20), shared(21)].into_iter().collect(),
        };
        assert_eq!(both.cycle().map(|c| c.len()), Some(2));
        // Alone, its own shared lock on the same descriptor does not block it.
        let one = Look {
            processes: [shared(20)].into_iter().collect(),
        };
        assert_eq!(one.cycle(), None);
        // Two shared holders waiting for shared locks do not wait for each other.
        let readers = Look {
            processes: [
                process(20, vec![held(3, 1, false, LockKind::Flock)], waits(5, 1, false)),
                process(21, vec![held(3, 1, false, LockKind::Flock)], waits(5, 1, false)),
            ]
            .into_iter()
            .collect(),
        };
        assert_eq!(readers.cycle(), None);
    }

    #[test]
    fn a_process_waiting_on_its_own_lock_through_another_descriptor_deadlocks_itself() {
        let itself = Look {
            processes: [process(
                30,
                vec![held(3, 1, true, LockKind::Flock)],
                waits(4, 1, true),
            )]
            .into_iter()
            .collect(),
        };
        assert_eq!(itself.cycle(), Some(vec![30]));
        // Its own POSIX locks never block it.
        let posix = Look {
            processes: [process(
                30,
                vec![held(3, 1, true, LockKind::Posix)],
                waits(4, 1, true),
            )]
            .into_iter()
            .collect(),
        };
        assert_eq!(posix.cycle(), None);
    }

    #[test]
    fn progress_is_any_scheduling_or_a_process_coming_or_going() {
        let a = Look {
            processes: [process(1, vec![], None), process(2, vec![], None)]
                .into_iter()
                .collect(),
        };
        assert!(!a.moved_since(&a.clone()));
        let mut b = a.clone();
        if let Some(p) = b.processes.get_mut(&2) {
            p.switches += 1;
        }
        assert!(b.moved_since(&a));
        let mut c = a.clone();
        c.processes.remove(&1);
        assert!(c.moved_since(&a));
    }
}
