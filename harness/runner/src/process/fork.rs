//! Worker processes: forked from the runner, in one process group per trial, dying with it.
//!
//! Forking (not re-executing the binary) keeps a kill-and-check cycle close to the cost of a
//! bare fork. It is sound because the child only runs worker code and then `_exit`s: it never
//! returns into the parent's stack, and glibc makes `malloc` safe after fork. The runner's
//! main thread is its only thread (the command line starts no others), so no lock can be held
//! by a thread that does not exist in the child. The fork and the child's `_exit` are the
//! crate's only `unsafe` calls.

use std::os::fd::OwnedFd;
use std::panic::AssertUnwindSafe;

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid, getppid, setpgid};

/// How a worker ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it.
    Killed(i32),
}

/// A running (or finished, not yet reaped) worker.
pub struct Worker {
    /// Its pid.
    pub pid: Pid,
    /// Readable once it exits.
    pub pidfd: OwnedFd,
    /// How it ended, once reaped.
    pub ended: Option<Ended>,
}

/// Errors starting or watching workers.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// fork(2) failed.
    #[error("failed to fork a worker")]
    Fork(#[source] nix::Error),
    /// pidfd_open(2) failed.
    #[error("failed to watch worker {0}")]
    Pidfd(i32, #[source] rustix::io::Errno),
}

/// Forks a worker that runs `body` and exits with its code. It joins process group `group`
/// (or leads a new one when `None`), and dies if the runner dies.
pub fn spawn(group: Option<Pid>, body: impl FnOnce() -> i32) -> Result<Worker, SpawnError> {
    let parent = getpid();
    #[expect(
        unsafe_code,
        reason = "fork from the runner's only thread; the child runs worker code and _exits"
    )]
    // SAFETY: the runner is single-threaded when it forks (see the module docs), and the
    // child never returns from this function: it runs `body` and calls `_exit`.
    let forked = unsafe { fork() }.map_err(SpawnError::Fork)?;
    match forked {
        ForkResult::Child => {
            let _ = setpgid(Pid::from_raw(0), group.unwrap_or(Pid::from_raw(0)));
            // Die with the runner, even if it is SIGKILLed; if it already died, stop now.
            let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
            if getppid() != parent {
                exit_now(70);
            }
            let code = std::panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(101);
            exit_now(code)
        }
        ForkResult::Parent { child } => {
            // Set the group from this side too, so the kill that may follow at once cannot
            // miss a child that has not run yet.
            let _ = setpgid(child, group.unwrap_or(child));
            let raw = rustix::process::Pid::from_raw(child.as_raw()).expect("fork returns a positive pid");
            let pidfd = rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty())
                .map_err(|e| SpawnError::Pidfd(child.as_raw(), e))?;
            Ok(Worker {
                pid: child,
                pidfd,
                ended: None,
            })
        }
    }
}

/// Ends a forked child at once: no exit handlers, no flushing of stdio buffers copied from the
/// parent (which would print the parent's pending output twice).
fn exit_now(code: i32) -> ! {
    #[expect(
        unsafe_code,
        reason = "_exit(2) is the only correct way out of a forked child"
    )]
    // SAFETY: _exit takes any status and never returns; it touches no Rust state.
    unsafe {
        libc::_exit(code)
    }
}

impl Worker {
    /// Reaps the worker if it has ended; returns how it ended.
    pub fn reap(&mut self) -> Option<Ended> {
        if self.ended.is_none() {
            self.ended = match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => Some(Ended::Exited(code)),
                Ok(WaitStatus::Signaled(_, signal, _)) => Some(Ended::Killed(signal as i32)),
                // Already reaped elsewhere: count it as gone.
                Err(nix::Error::ECHILD) => Some(Ended::Exited(-1)),
                _ => None,
            };
        }
        self.ended
    }

    /// Sends `signal` to this worker alone.
    pub fn signal(&self, signal: Signal) {
        if self.ended.is_none() {
            let _ = kill(self.pid, signal);
        }
    }

    /// Waits for the worker to end.
    pub fn wait(&mut self) -> Ended {
        loop {
            if let Some(ended) = self.reap() {
                return ended;
            }
            match waitpid(self.pid, None) {
                Ok(WaitStatus::Exited(_, code)) => self.ended = Some(Ended::Exited(code)),
                Ok(WaitStatus::Signaled(_, signal, _)) => self.ended = Some(Ended::Killed(signal as i32)),
                Err(nix::Error::ECHILD) => self.ended = Some(Ended::Exited(-1)),
                _ => {}
            }
        }
    }
}

/// SIGKILLs a whole process group and reaps `workers`. Used on every way out of a trial:
/// normal end, watchdog, Ctrl-C and panic (through [`Group`]'s `Drop`).
pub fn kill_group(group: Pid, workers: &mut [Worker]) {
    let _ = killpg(group, Signal::SIGKILL);
    for w in workers.iter_mut() {
        w.wait();
    }
}

/// The workers of one trial; dropping it kills and reaps any still running.
#[derive(Default)]
pub struct Group {
    /// The group's id: its first worker's pid.
    pub id: Option<Pid>,
    /// Every worker started.
    pub workers: Vec<Worker>,
}

impl Group {
    /// Starts a worker in this group.
    pub fn spawn(&mut self, body: impl FnOnce() -> i32) -> Result<usize, SpawnError> {
        let worker = spawn(self.id, body)?;
        self.id.get_or_insert(worker.pid);
        self.workers.push(worker);
        Ok(self.workers.len() - 1)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(id) = self.id
            && self.workers.iter().any(|w| w.ended.is_none())
        {
            kill_group(id, &mut self.workers);
        }
    }
}
