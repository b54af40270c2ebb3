//! Real processes on a real file system: the `process` detector.
//!
//! A trial forks writers and readers (see [`fork`]) that work on one file in a fresh
//! directory, releases them together, injects the scenario's faults (random SIGKILL of a
//! writer, an exact kill at a crash point, a SIGSTOP pause), and judges what readers saw and
//! what the file holds afterwards. Lock scenarios run lock holders instead ([`holder`]), and
//! queue scenarios producers and consumers ([`queue_roles`]).

pub mod fork;
pub mod outcome;
pub mod roles;
pub mod trial;
pub mod worker;
