//! Persistent checkers: one long-lived process judges many crash states, so an interpreter
//! starts once per worker instead of once per state.
//!
//! The protocol, one line each way per state:
//! - faultline writes `DIR<TAB>STDOUT<TAB>FINISHED<TAB>MOMENT<TAB>STATE<NEWLINE>`: the state's
//!   directory, the file holding what the program printed before the crash, `1` if the crash
//!   came after the program's last call (else `0`), how many trace entries ran, and the
//!   state's id. The fields are those of the one-shot checker's placeholders.
//! - the checker answers `ok`, or `fail` and a reason, on one line, and waits for the next.
//!
//! A checker that exits, is killed or runs past `--checker-timeout` on a state fails that
//! state, and the next state gets a new process. Any other answer is a protocol error (exit 2).

use std::io::Write as _;
use std::os::fd::AsFd as _;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often a wait for an answer looks at the cancel flag.
const CANCEL_CHECK: Duration = Duration::from_millis(100);

/// The request line for one state.
pub fn request_line(dir: &Path, stdout: &Path, finished: bool, moment: usize, state: &str) -> String {
    format!(
        "{}\t{}\t{}\t{moment}\t{state}\n",
        dir.display(),
        stdout.display(),
        u8::from(finished)
    )
}

/// What a persistent checker said about a state.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// `ok`.
    Pass,
    /// `fail REASON`.
    Fail(String),
    /// Neither: the line it gave.
    Garbled(String),
    /// It ended (exit or signal) before answering.
    Ended(ExitStatus),
    /// No answer before the deadline; it was killed.
    TimedOut,
    /// Ctrl-C or a stopped exploration; it was killed.
    Cancelled,
}

/// A running persistent checker, in a process group of its own; dropping it kills the group.
pub struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    buffered: Vec<u8>,
}

impl Server {
    /// Starts `words` in `cwd`, its stderr into `stderr`.
    pub fn start(words: &[String], cwd: &Path, stderr: std::fs::File) -> std::io::Result<Server> {
        let mut command = Command::new(&words[0]);
        command
            .args(&words[1..])
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        crate::child::own_group(&mut command);
        let mut child = command.spawn()?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        Ok(Server {
            child,
            stdin,
            stdout,
            buffered: Vec::new(),
        })
    }

    /// Sends `line` and waits for the answer until `deadline` or `cancel()`.
    pub fn ask(
        &mut self,
        line: &str,
        deadline: Instant,
        cancel: &dyn Fn() -> bool,
    ) -> std::io::Result<Answer> {
        if let Err(e) = self
            .stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
        {
            return match e.kind() {
                std::io::ErrorKind::BrokenPipe => Ok(Answer::Ended(self.end()?)),
                _ => Err(e),
            };
        }
        loop {
            if let Some(at) = self.buffered.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffered.drain(..=at).collect();
                return Ok(parse(String::from_utf8_lossy(&line).trim_end()));
            }
            if cancel() {
                crate::child::kill_group(&mut self.child);
                return Ok(Answer::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                crate::child::kill_group(&mut self.child);
                return Ok(Answer::TimedOut);
            }
            let slice = (deadline - now).min(CANCEL_CHECK);
            let fd = self.stdout.as_fd();
            let mut fds = [rustix::event::PollFd::new(&fd, rustix::event::PollFlags::IN)];
            let timeout = rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: i64::from(slice.subsec_nanos()),
            };
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(0) | Err(rustix::io::Errno::INTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
            let mut chunk = [0u8; 4096];
            let n = rustix::io::read(&self.stdout, &mut chunk)?;
            if n == 0 {
                return Ok(Answer::Ended(self.end()?));
            }
            self.buffered.extend_from_slice(&chunk[..n]);
        }
    }

    /// How the process ended (it closed its output or its input).
    fn end(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        crate::child::kill_group(&mut self.child);
    }
}

/// An answer line.
fn parse(line: &str) -> Answer {
    let trimmed = line.trim();
    if trimmed == "ok" {
        return Answer::Pass;
    }
    match trimmed.strip_prefix("fail") {
        Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
            Answer::Fail(crate::text::shortened(rest.trim(), 600))
        }
        _ => Answer::Garbled(crate::text::shortened(trimmed, 200)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(script: &str) -> Server {
        let dir = std::env::temp_dir();
        let stderr = tempfile::tempfile().expect("temp");
        Server::start(&["sh".into(), "-c".into(), script.into()], &dir, stderr).expect("sh starts")
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(600)
    }

    #[test]
    fn answers_are_read_per_line_and_a_dead_checker_is_an_end() {
        let mut s = server(
            "while IFS=\"$(printf '\\t')\" read -r dir out fin moment state; do \
               if [ \"$moment\" = 2 ]; then echo \"fail torn $state\"; \
               elif [ \"$moment\" = 3 ]; then echo 'maybe'; \
               elif [ \"$moment\" = 4 ]; then exit 7; else echo ok; fi; done",
        );
        let never = || false;
        let ask = |s: &mut Server, moment: usize| {
            let line = request_line(Path::new("/d"), Path::new("/o"), false, moment, "5:1");
            s.ask(&line, later(), &never).expect("asks")
        };
        assert_eq!(ask(&mut s, 1), Answer::Pass);
        assert_eq!(ask(&mut s, 2), Answer::Fail("torn 5:1".into()));
        assert_eq!(ask(&mut s, 3), Answer::Garbled("maybe".into()));
        match ask(&mut s, 4) {
            Answer::Ended(status) => assert_eq!(status.code(), Some(7)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_silent_checker_times_out_and_a_cancel_stops_it_at_once() {
        let mut s = server("read -r line; sleep 600");
        let line = request_line(Path::new("/d"), Path::new("/o"), true, 1, "1:-");
        let answer = s.ask(&line, Instant::now() + Duration::from_millis(50), &|| false);
        assert_eq!(answer.expect("asks"), Answer::TimedOut);
        let mut s = server("read -r line; sleep 600");
        assert_eq!(s.ask(&line, later(), &|| true).expect("asks"), Answer::Cancelled);
    }
}
