//! Programs faultline starts and must never leave behind: checkers and recorded programs.
//!
//! Each runs in a process group of its own, so the terminal's Ctrl-C reaches faultline alone
//! and faultline ends the whole group (the program and whatever it started) at once, and with
//! a parent-death signal, so a faultline killed outright takes its direct child with it. A
//! recorded program is strace's child, not ours; a [`Lifeline`] ends its group when faultline
//! dies however it dies.

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

/// How often a wait looks at the cancel flag: how long Ctrl-C may take to stop a child.
const CANCEL_CHECK: Duration = Duration::from_millis(100);

/// Makes `command` start in a process group of its own and get SIGKILL when this process's
/// thread that started it dies.
pub fn own_group(command: &mut Command) {
    command.process_group(0);
    die_with_parent(command);
}

/// Makes `command` get SIGKILL when the thread that started it dies; it fails to start when
/// that thread is already gone.
pub fn die_with_parent(command: &mut Command) {
    let parent = rustix::process::getpid();
    #[expect(unsafe_code, reason = "pre_exec runs between fork and exec in the child")]
    // SAFETY: the closure makes two system calls (prctl, getppid), both async-signal-safe; it
    // allocates nothing and touches no lock.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            if rustix::process::getppid() != Some(parent) {
                return Err(std::io::Error::other("the process that started it died first"));
            }
            Ok(())
        });
    }
}

/// Sends SIGKILL to the process group `child` is in and reaps `child`.
pub fn kill_group(child: &mut Child) {
    if let Some(pid) = Pid::from_raw(child.id() as i32)
        && let Ok(group) = rustix::process::getpgid(Some(pid))
    {
        let _ = rustix::process::kill_process_group(group, Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// How a wait for a child ended.
#[derive(Debug)]
pub enum Waited {
    /// It exited, or a signal killed it.
    Exited(ExitStatus),
    /// It ran past its deadline; its group was killed.
    TimedOut,
    /// The cancel flag was set (Ctrl-C, SIGTERM); its group was killed.
    Cancelled,
}

/// Waits for `child` (the leader of its own group) until it ends, `deadline` passes or
/// `cancel()` says to stop (Ctrl-C); in the last two cases its whole group is killed at once.
pub fn wait(
    child: &mut Child,
    deadline: Option<Instant>,
    cancel: &dyn Fn() -> bool,
) -> std::io::Result<Waited> {
    let pid = Pid::from_raw(child.id() as i32).expect("a child has a positive pid");
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok();
    loop {
        if cancel() {
            kill_group(child);
            return Ok(Waited::Cancelled);
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            kill_group(child);
            return Ok(Waited::TimedOut);
        }
        let slice = deadline.map_or(CANCEL_CHECK, |d| (d - now).min(CANCEL_CHECK));
        match &pidfd {
            Some(fd) => {
                let mut fds = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
                let timeout = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: i64::from(slice.subsec_nanos()),
                };
                match rustix::event::poll(&mut fds, Some(&timeout)) {
                    Ok(0) | Err(rustix::io::Errno::INTR) => continue,
                    Ok(_) => return child.wait().map(Waited::Exited),
                    Err(e) => return Err(e.into()),
                }
            }
            // No pidfd (an old kernel): look, then sleep a slice.
            None => match child.try_wait()? {
                Some(status) => return Ok(Waited::Exited(status)),
                None => std::thread::sleep(slice),
            },
        }
    }
}

/// Ends a process group when this process dies, however it dies (SIGKILL included): a small
/// shell, in a group of its own, waits for the end of a pipe only this process holds open,
/// and kills the group when it closes. Dropping the lifeline ends the shell first.
pub struct Lifeline {
    guard: Child,
    pipe: Option<std::os::fd::OwnedFd>,
}

impl Lifeline {
    /// Starts the guard for the group `child` leads.
    pub fn guard(child: &Child) -> std::io::Result<Lifeline> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let guard = Command::new("sh")
            .args([
                "-c",
                "read _ignored; kill -s KILL -- -\"$1\" 2>/dev/null",
                "faultline-lifeline",
            ])
            .arg(child.id().to_string())
            .stdin(Stdio::from(read))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        Ok(Lifeline {
            guard,
            pipe: Some(write),
        })
    }

    /// Closes this process's end of the pipe, as dying would: the guard kills the group.
    pub fn cut(&mut self) {
        self.pipe = None;
    }
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        let _ = self.guard.kill();
        let _ = self.guard.wait();
    }
}

/// A process group that dies with this process, for programs started one after another (a
/// worker's checkers): its leader is a small shell that kills the whole group when a pipe only
/// this process holds closes, so a faultline killed outright takes every program in the group
/// with it, grandchildren included. Programs join it with [`Group::join`], which needs no code
/// between fork and exec, so they start by the fast path (posix_spawn). Killing the group (a
/// timeout, Ctrl-C) kills the leader too; [`Group::join`] starts a new one.
#[derive(Default)]
pub struct Group {
    leader: Option<(Child, std::os::fd::OwnedFd)>,
}

impl Group {
    /// Makes `command` start in this group, starting the group first if it has no leader.
    pub fn join(&mut self, command: &mut Command) -> std::io::Result<()> {
        if let Some((leader, _)) = &mut self.leader
            && leader.try_wait()?.is_some()
        {
            self.leader = None;
        }
        if self.leader.is_none() {
            let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
            let leader = Command::new("sh")
                .args(["-c", "read _ignored; kill -s KILL 0", "faultline-group"])
                .stdin(Stdio::from(read))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()?;
            self.leader = Some((leader, write));
        }
        let (leader, _) = self.leader.as_ref().expect("started above");
        command.process_group(leader.id() as i32);
        Ok(())
    }
}

impl Drop for Group {
    /// Whatever is left in the group dies with it.
    fn drop(&mut self) {
        if let Some((mut leader, _)) = self.leader.take() {
            kill_group(&mut leader);
        }
    }
}

/// Whether process `pid` runs; a zombie (ended, not yet reaped) does not.
pub fn runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|rest| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grandchild_of(mut command: Command) -> (Child, u32) {
        let dir = tempfile::tempdir().expect("temp");
        let pidfile = dir.path().join("pid");
        command
            .arg(format!("sleep 600 & echo $! > {}; wait", pidfile.display()))
            .stdout(Stdio::null());
        own_group(&mut command);
        let child = command.spawn().expect("sh starts");
        let grandchild = loop {
            if let Ok(text) = std::fs::read_to_string(&pidfile)
                && let Ok(pid) = text.trim().parse::<u32>()
            {
                break pid;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        (child, grandchild)
    }

    fn sh() -> Command {
        let mut c = Command::new("sh");
        c.arg("-c");
        c
    }

    #[test]
    fn cancelling_a_wait_kills_the_whole_group_at_once() {
        let (mut child, grandchild) = grandchild_of(sh());
        let started = Instant::now();
        let waited = wait(&mut child, None, &|| true).expect("waits");
        assert!(matches!(waited, Waited::Cancelled), "{waited:?}");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no wait for the child's end"
        );
        let gone = (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            !runs(grandchild)
        });
        assert!(gone, "the program the child started was killed with it");
    }

    #[test]
    fn a_deadline_kills_the_group_and_an_exit_is_reported() {
        let (mut child, grandchild) = grandchild_of(sh());
        let never = || false;
        let waited = wait(&mut child, Some(Instant::now()), &never).expect("waits");
        assert!(matches!(waited, Waited::TimedOut), "{waited:?}");
        let gone = (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            !runs(grandchild)
        });
        assert!(gone, "the group was killed");
        let mut quick = sh();
        quick.arg("exit 3");
        own_group(&mut quick);
        let mut child = quick.spawn().expect("starts");
        match wait(&mut child, None, &never).expect("waits") {
            Waited::Exited(status) => assert_eq!(status.code(), Some(3)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_lifeline_kills_the_group_when_its_holder_lets_go() {
        // Closing the pipe is what the kernel does for a holder killed outright.
        let (mut child, grandchild) = grandchild_of(sh());
        let mut lifeline = Lifeline::guard(&child).expect("guard");
        lifeline.cut();
        let gone = (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            !runs(grandchild)
        });
        kill_group(&mut child);
        assert!(gone, "the guard killed the group when the pipe closed");
    }
}
