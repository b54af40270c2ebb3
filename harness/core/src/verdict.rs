//! Verdicts: what an oracle concluded about one crash state or one run.
//!
//! A violated property is a [`Verdict`], never an `Err`: errors mean the harness itself could
//! not run, and are reported as such, never as a pass.

use std::fmt;

/// The ways persisted state goes wrong. Names are stable: reports and tests use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum FailureKind {
    /// After a crash the file holds no complete version: empty, truncated, or mixed.
    TornFile,
    /// After a crash the file is gone although it existed before.
    MissingFile,
    /// A reader saw a file that no writer completed.
    TornRead,
    /// The contents do not parse.
    ParseError,
    /// A write that was acknowledged did not survive.
    LostAcknowledgedWrite,
    /// An older version came back after a newer one was seen.
    StaleRegression,
    /// A read-modify-write lost another writer's update.
    LostUpdate,
    /// An item was delivered twice.
    DuplicateDelivery,
    /// An acknowledged item was never delivered.
    LostItem,
    /// An item was delivered that nobody enqueued.
    PhantomItem,
    /// Two processes held an exclusive lock at once.
    TwoHolders,
    /// Progress stopped.
    Deadlock,
    /// Temporary files were left behind after recovery.
    LeakedTemp,
    /// A lock stayed held after its owner released it or died.
    StuckLock,
    /// Permissions or file type changed.
    MetadataChanged,
    /// An operation failed although nothing was wrong with the file system.
    UnexpectedError,
    /// The target's own recovery after a crash failed.
    RecoveryFailed,
    /// A lock holder's owner record was erased or overwritten while it held the lock.
    OwnerRecordErased,
    /// Locking followed a planted symlink and changed the file it points to.
    FollowedSymlink,
    /// Locks were taken in orders that form a cycle (a deadlock waiting to happen).
    LockOrderInversion,
    /// A queue record could not be read back intact: the queue reported it corrupt, or
    /// delivered a payload that no producer wrote.
    CorruptRecord,
    /// A session had two active tasks at once.
    DuplicateTask,
    /// A task was left without its session.
    OrphanedTask,
    /// A registry entry that was added and never removed is gone.
    LostEntry,
    /// A scenario's checker command rejected the file after a trial.
    CheckerFailed,
}

impl FailureKind {
    /// Every kind, in declaration order.
    pub const ALL: [FailureKind; 25] = [
        FailureKind::TornFile,
        FailureKind::MissingFile,
        FailureKind::TornRead,
        FailureKind::ParseError,
        FailureKind::LostAcknowledgedWrite,
        FailureKind::StaleRegression,
        FailureKind::LostUpdate,
        FailureKind::DuplicateDelivery,
        FailureKind::LostItem,
        FailureKind::PhantomItem,
        FailureKind::TwoHolders,
        FailureKind::Deadlock,
        FailureKind::LeakedTemp,
        FailureKind::StuckLock,
        FailureKind::MetadataChanged,
        FailureKind::UnexpectedError,
        FailureKind::RecoveryFailed,
        FailureKind::OwnerRecordErased,
        FailureKind::FollowedSymlink,
        FailureKind::LockOrderInversion,
        FailureKind::CorruptRecord,
        FailureKind::DuplicateTask,
        FailureKind::OrphanedTask,
        FailureKind::LostEntry,
        FailureKind::CheckerFailed,
    ];
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One violated property and what was seen.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// Which property.
    pub kind: FailureKind,
    /// What was seen, in a sentence fragment: "file holds 0 bytes; versions are 212 and 4630".
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

/// What the oracles concluded about one state: every property held, or these did not.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Verdict {
    /// Every property held.
    Pass,
    /// At least one property was violated; one entry per violated property.
    Fail(Vec<Failure>),
}

impl Verdict {
    /// A verdict from the failures found (none means pass).
    pub fn from_failures(failures: Vec<Failure>) -> Self {
        if failures.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail(failures)
        }
    }

    /// Whether every property held.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Pass)
    }

    /// The failures (empty for a pass).
    pub fn failures(&self) -> &[Failure] {
        match self {
            Verdict::Pass => &[],
            Verdict::Fail(f) => f,
        }
    }
}
