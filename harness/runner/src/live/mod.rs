//! Live mode: a FUSE file system that cuts the power under a running program.
//!
//! `faultline mount BACKING MOUNTPOINT` serves the backing directory's files from memory and
//! keeps, with the same [`faultline_core::persistence::Durability`] rules the explorer uses,
//! what is durable and what is still in doubt: file data until an fsync or fdatasync of the
//! file, creates, renames, links and unlinks until an fsync of their directory. Reads see
//! everything written, as through a page cache. A cut (a trigger, `faultline cut`, or a crash
//! point named on the control socket) stops the processes using the mount, drops what a power
//! loss may drop (everything in doubt, or a seeded subset with writes torn at the block size)
//! and leaves the backing directory in that state, with a log of what was lost.
//! Unlike a file system that passes renames through, a rename that no directory fsync
//! covered is lost too.
//!
//! `faultline live` repeats mount, run, cut, unmount, check, restore (see [`trial`]).
//!
//! Not modelled: `sync` and `syncfs` (the kernel does not send them to a FUSE file system, so
//! a program that relies on them alone is judged as if it never synced), shared writable
//! memory maps beyond what the kernel writes back before an fsync, extended attributes and
//! timestamps (every file shows the mount's start time).

pub mod core;
pub mod fs;
pub mod mount;
pub mod trial;
pub mod trigger;

pub use self::core::{Cut, Keep};
pub use mount::{Ending, LiveError, MountOptions, Mounted};
pub use trigger::Trigger;
