//! Reading strace's output: one finished system call per line, from `strace -f -qq -z -xx -X raw`.
//!
//! With `-xx` every string is hex escapes only, and with `-X raw` every flag a number, so a
//! line splits on commas and brackets without a grammar for each call. With `-f`, a call that
//! another process interrupts is printed in two halves (`<unfinished ...>`, then
//! `<... name resumed>`); [`Joiner`] puts them back together.

use std::collections::HashMap;

/// One finished system call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The process (thread) that made it.
    pub pid: i32,
    /// The call's name: `openat`.
    pub name: String,
    /// Its arguments at the top level, as printed.
    pub args: Vec<String>,
    /// What it returned, as printed (a number, or an address in hex).
    pub ret: String,
    /// 1-based line of strace's output where it finished.
    pub line: usize,
}

impl Call {
    /// Argument `i` as a signed number (decimal or `0x` hex); `AT_FDCWD` is printed as -100.
    pub fn int(&self, i: usize) -> Option<i64> {
        parse_int(self.args.get(i)?)
    }

    /// Argument `i` as a mode, which strace prints in octal (`0644`).
    pub fn octal(&self, i: usize) -> Option<u32> {
        u32::from_str_radix(self.args.get(i)?.trim(), 8).ok()
    }

    /// Argument `i` as the bytes of a string.
    pub fn bytes(&self, i: usize) -> Option<Vec<u8>> {
        decode_string(self.args.get(i)?)
    }

    /// Argument `i` as a path.
    pub fn path(&self, i: usize) -> Option<String> {
        self.bytes(i).map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// The return value as a number.
    pub fn ret_int(&self) -> Option<i64> {
        parse_int(&self.ret)
    }

    /// Whether strace cut a string argument short (longer than `-s`).
    pub fn truncated(&self) -> bool {
        self.args.iter().any(|a| a.contains("\"..."))
    }
}

/// A number as strace prints it: decimal, or hex with `0x`.
pub fn parse_int(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok().map(|v| v as i64);
    }
    t.parse().ok()
}

/// The bytes of a `"\x41\x42"` string (possibly followed by `...`).
pub fn decode_string(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    let t = t.strip_suffix("...").unwrap_or(t);
    let inner = t.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = Vec::with_capacity(inner.len() / 4);
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            let hex = std::str::from_utf8(bytes.get(i + 2..i + 4)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The `iov_base` strings of an iovec array, joined.
pub fn decode_iovec(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("iov_base=") {
        rest = &rest[at + "iov_base=".len()..];
        let end = rest.find(", iov_len").unwrap_or(rest.len());
        if let Some(bytes) = decode_string(&rest[..end]) {
            out.extend_from_slice(&bytes);
        }
        rest = &rest[end..];
    }
    out
}

/// Splits `text` at top-level commas (outside quotes, brackets and braces).
fn split_args(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'[' | b'{' | b'(' if !quoted => depth += 1,
            b']' | b'}' | b')' if !quoted => depth -= 1,
            b',' if !quoted && depth == 0 => {
                args.push(text[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = text[start..].trim();
    if !last.is_empty() {
        args.push(last.to_string());
    }
    args
}

/// Puts interrupted calls back together and parses finished ones.
#[derive(Default)]
pub struct Joiner {
    unfinished: HashMap<i32, String>,
}

impl Joiner {
    /// The call that line `number` (1-based) finishes, if any. Signals, exits and the first
    /// half of an interrupted call give `None`.
    pub fn line(&mut self, number: usize, line: &str) -> Option<Call> {
        let (pid, rest) = line.split_once(' ')?;
        let pid: i32 = pid.parse().ok()?;
        let rest = rest.trim_start();
        if rest.starts_with("---") || rest.starts_with("+++") {
            return None;
        }
        if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            self.unfinished.insert(pid, head.to_string());
            return None;
        }
        let text = if let Some(resumed) = rest.strip_prefix("<... ") {
            let (_, tail) = resumed.split_once(" resumed>")?;
            let head = self.unfinished.remove(&pid)?;
            format!("{head}{tail}")
        } else {
            rest.to_string()
        };
        parse_call(pid, number, &text)
    }

    /// A clone, fork or vfork whose first half was seen and whose second was not: its
    /// process and the text so far.
    pub fn unfinished_clone(&self) -> Option<(i32, String)> {
        self.unfinished
            .iter()
            .find(|(_, head)| ["clone", "fork", "vfork"].iter().any(|c| head.starts_with(c)))
            .map(|(pid, head)| (*pid, head.clone()))
    }
}

fn parse_call(pid: i32, line: usize, text: &str) -> Option<Call> {
    let open = text.find('(')?;
    let name = text[..open].trim().to_string();
    // strace pads short calls to a column: `fsync(3)          = 0`.
    let equals = text.rfind(" = ")?;
    let close = text[..equals].rfind(')')?;
    if close < open || !text[close + 1..equals].trim().is_empty() {
        return None;
    }
    let args = split_args(&text[open + 1..close]);
    let ret = text[equals + 3..].split_whitespace().next()?.to_string();
    if ret.starts_with('-') || ret == "?" {
        return None;
    }
    Some(Call {
        pid,
        name,
        args,
        ret,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_and_interrupted_calls_join() {
        let mut j = Joiner::default();
        let c = j
            .line(1, r#"23 openat(-100, "\x61\x2e\x74\x6d\x70", 0x80241, 0666) = 3"#)
            .expect("a finished call");
        assert_eq!(c.name, "openat");
        assert_eq!(c.int(0), Some(-100));
        assert_eq!(c.path(1).as_deref(), Some("a.tmp"));
        assert_eq!(c.int(2), Some(0x80241));
        assert_eq!(c.ret_int(), Some(3));
        let fsync = j
            .line(2, "23 fsync(3)                          = 0")
            .expect("a padded call");
        assert_eq!(
            (fsync.name.as_str(), fsync.int(0), fsync.ret_int()),
            ("fsync", Some(3), Some(0))
        );
        assert!(
            j.line(2, r#"23 rename("\x61", "\x62" <unfinished ...>"#)
                .is_none()
        );
        assert!(j.line(3, "24 --- SIGCHLD {si_signo=17} ---").is_none());
        let r = j
            .line(4, "23 <... rename resumed>) = 0")
            .expect("the joined call");
        assert_eq!(
            (r.name.as_str(), r.path(0).as_deref(), r.path(1).as_deref()),
            ("rename", Some("a"), Some("b"))
        );
        assert_eq!(r.line, 4);
        let w = j
            .line(
                5,
                r#"9 writev(4, [{iov_base="\x61\x62", iov_len=2}, {iov_base="\x63", iov_len=1}], 2) = 3"#,
            )
            .expect("writev");
        assert_eq!(decode_iovec(&w.args[1]), b"abc");
        assert!(
            j.line(6, r#"9 unlink("\x61") = -1 ENOENT (No such file or directory)"#)
                .is_none()
        );
        let clone = j
            .line(
                7,
                "9 clone3({flags=0x3d0f00, child_tid=0x7f} => {parent_tid=[10]}, 88) = 10",
            )
            .expect("clone3");
        assert_eq!(clone.args.len(), 2);
        assert_eq!(clone.ret_int(), Some(10));
    }
}
