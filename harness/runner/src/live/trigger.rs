//! Cut triggers: `OP:GLOB:N` cuts the power right after the `N`th call of `OP` on a path the
//! glob matches (paths relative to the mount, `db/a.wal`); `point:NAME:N` after the `N`th time
//! a program reports crash point `NAME` through the control socket.

use std::fmt;

/// An operation a trigger counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `write`, `pwrite`, ... (one call per request the kernel sends).
    Write,
    /// `fsync` of a file.
    Fsync,
    /// `fdatasync` of a file.
    Fdatasync,
    /// `fsync` of a directory.
    Fsyncdir,
    /// A new file.
    Create,
    /// A new directory.
    Mkdir,
    /// A rename (the trigger's glob may match either name).
    Rename,
    /// A hard link.
    Link,
    /// `unlink`.
    Unlink,
    /// `rmdir`.
    Rmdir,
    /// A length change.
    Truncate,
    /// A mode change.
    Chmod,
    /// `symlink`.
    Symlink,
    /// A crash point a program reported.
    Point,
}

impl Op {
    /// Every operation, in the order the usage text lists them.
    pub const ALL: [Op; 14] = [
        Op::Write,
        Op::Fsync,
        Op::Fdatasync,
        Op::Fsyncdir,
        Op::Create,
        Op::Mkdir,
        Op::Rename,
        Op::Link,
        Op::Unlink,
        Op::Rmdir,
        Op::Truncate,
        Op::Chmod,
        Op::Symlink,
        Op::Point,
    ];

    /// The name in a trigger.
    pub fn name(self) -> &'static str {
        match self {
            Op::Write => "write",
            Op::Fsync => "fsync",
            Op::Fdatasync => "fdatasync",
            Op::Fsyncdir => "fsyncdir",
            Op::Create => "create",
            Op::Mkdir => "mkdir",
            Op::Rename => "rename",
            Op::Link => "link",
            Op::Unlink => "unlink",
            Op::Rmdir => "rmdir",
            Op::Truncate => "truncate",
            Op::Chmod => "chmod",
            Op::Symlink => "symlink",
            Op::Point => "point",
        }
    }
}

/// A trigger: cut after the `nth` call of `op` on a path matching `glob`.
#[derive(Clone, Debug)]
pub struct Trigger {
    /// The operation counted.
    pub op: Op,
    /// The paths counted.
    pub glob: glob::Pattern,
    /// Which matching call cuts, from 1.
    pub nth: u64,
}

impl Trigger {
    /// Whether `path` (relative to the mount) is one the trigger counts.
    pub fn matches(&self, path: &str) -> bool {
        self.glob.matches(path)
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.op.name(), self.glob.as_str(), self.nth)
    }
}

impl std::str::FromStr for Trigger {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || {
            format!(
                "bad trigger '{s}'; expected OP:GLOB:N, e.g. 'fsync:*.wal:3' (OP is one of {})",
                Op::ALL.map(Op::name).join(", ")
            )
        };
        let mut parts = s.splitn(3, ':');
        let (Some(op), Some(glob), Some(nth)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(usage());
        };
        let op = Op::ALL.into_iter().find(|o| o.name() == op).ok_or_else(usage)?;
        let glob = glob::Pattern::new(glob).map_err(|e| format!("{}: {e}", usage()))?;
        let nth = nth.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(usage)?;
        Ok(Trigger { op, glob, nth })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_parse_and_match_and_bad_ones_say_what_to_write() {
        let t: Trigger = "fsync:*.wal:3".parse().expect("parses");
        assert_eq!((t.op, t.nth), (Op::Fsync, 3));
        assert!(t.matches("a.wal") && t.matches("db/a.wal") && !t.matches("a.db"));
        assert_eq!(t.to_string(), "fsync:*.wal:3");
        for bad in ["fsync:*.wal", "fsink:*:1", "write:*:0", "write:[:1", "write:*:x"] {
            let e = bad.parse::<Trigger>().expect_err(bad);
            assert!(e.contains("expected OP:GLOB:N"), "{e}");
        }
    }
}
