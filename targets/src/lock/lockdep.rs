//! Lock-order recording (lockdep for file locks). When enabled, every acquisition through
//! this family appends, before it waits for the lock, one JSON line to `<dir>/lockdep.<pid>.jsonl`: the process, the lock
//! class (the lock file's name), the mode, the call site, and the locks the process already
//! held with their call sites. The runner builds the held -> acquired graph from every
//! process's lines and reports each cycle, whether or not any run deadlocked.
//!
//! Enable it with [`enable`], or for a whole program by setting `FAULTLINE_LOCKDEP` to a
//! directory. Disabled, an acquisition costs one atomic load.

use std::fs::File;
use std::io::Write;
use std::panic::Location;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, Once};

use super::Mode;

static ENABLED: AtomicBool = AtomicBool::new(false);
static FROM_ENV: Once = Once::new();
static NEXT: AtomicU64 = AtomicU64::new(1);

struct State {
    sink: Option<File>,
    held: Vec<(u64, String, Mode, &'static Location<'static>)>,
}

static STATE: Mutex<State> = Mutex::new(State {
    sink: None,
    held: Vec::new(),
});

/// Records this process's acquisitions into `dir` from now on. An explicit call wins over
/// `FAULTLINE_LOCKDEP`.
pub fn enable(dir: &Path) -> std::io::Result<()> {
    FROM_ENV.call_once(|| {});
    record_into(dir)
}

/// Opens this process's log in `dir` (its own, 0600, never through a planted symlink) and
/// turns recording on. Called from inside `FROM_ENV.call_once` too, so it must not touch
/// `FROM_ENV`: a `Once` waited on from inside its own call never completes.
fn record_into(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join(format!("lockdep.{}.jsonl", std::process::id())))?;
    let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
    state.sink = Some(file);
    state.held.clear();
    ENABLED.store(true, Ordering::Release);
    Ok(())
}

fn enabled() -> bool {
    FROM_ENV.call_once(|| {
        if let Some(dir) = std::env::var_os("FAULTLINE_LOCKDEP")
            && !dir.is_empty()
        {
            let _ = record_into(Path::new(&dir));
        }
    });
    ENABLED.load(Ordering::Acquire)
}

/// Records an attempt to take `class` (with what is held now), before waiting for it.
pub(crate) fn acquiring(class: &str, mode: Mode, site: &'static Location<'static>) {
    if !enabled() {
        return;
    }
    let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
    let held: Vec<String> = state
        .held
        .iter()
        .map(|(_, class, mode, site)| {
            format!(
                r#"{{"class":{},"mode":"{}","site":"{}:{}"}}"#,
                json_string(class),
                mode.name(),
                site.file(),
                site.line()
            )
        })
        .collect();
    let line = format!(
        r#"{{"pid":{},"class":{},"mode":"{}","site":"{}:{}","held":[{}]}}"#,
        std::process::id(),
        json_string(class),
        mode.name(),
        site.file(),
        site.line(),
        held.join(",")
    ) + "\n";
    if let Some(sink) = state.sink.as_mut() {
        let _ = sink.write_all(line.as_bytes());
    }
}

/// Notes that `class` is now held; returns the token to release it with.
pub(crate) fn acquired(class: &str, mode: Mode, site: &'static Location<'static>) -> Option<u64> {
    if !ENABLED.load(Ordering::Acquire) {
        return None;
    }
    let token = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
    state.held.push((token, class.to_string(), mode, site));
    Some(token)
}

/// Notes a release.
pub(crate) fn released(token: u64) {
    let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
    state.held.retain(|(t, ..)| *t != token);
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
