//! The `[lock]` section of a lock scenario: how the holders behave. Parsed here, by the
//! family, from the scenario's text (so errors point into the file).

use serde::Deserialize;
use toml::Spanned;

use crate::scenario::{At, Plan, Scenario, ScenarioError};

/// What lock holders do in each critical section (family `lock`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockWorkload {
    /// Enter, log, hold, check the owner record, log, leave.
    CriticalSection,
    /// Increment a counter file under the lock.
    Counter,
    /// Readers take the lock shared and upgrade it to exclusive every other section.
    Upgrade,
    /// Take two locks, naming them in one order in one section and in the other order in
    /// the next (holders start on alternate orders), in the variant's acquisition order,
    /// holding the first for `hold_us` before taking the second.
    Nested,
}

impl LockWorkload {
    const ALL: [(LockWorkload, &'static str); 4] = [
        (LockWorkload::CriticalSection, "critical-section"),
        (LockWorkload::Counter, "counter"),
        (LockWorkload::Upgrade, "upgrade"),
        (LockWorkload::Nested, "nested"),
    ];
}

/// The `[lock]` table: how lock holders behave (family `lock`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LockPlan {
    /// What a critical section does.
    pub workload: LockWorkload,
    /// Time inside each critical section.
    pub hold_us: u64,
    /// An acquirer that waits longer reports `StuckLock`; 0 waits forever.
    pub timeout_ms: u64,
    /// Holders start a helper program (`sleep`) inside the critical section that outlives them.
    pub spawn_helper: bool,
    /// A symlink to a victim file is planted at the lock path before the holders start.
    pub plant_symlink: bool,
    /// Record every acquisition for the lock-order graph.
    pub lockdep: bool,
}

impl Default for LockPlan {
    fn default() -> Self {
        LockPlan {
            workload: LockWorkload::CriticalSection,
            hold_us: 100,
            timeout_ms: 5000,
            spawn_helper: false,
            plant_symlink: false,
            lockdep: false,
        }
    }
}

impl Plan for LockPlan {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl LockPlan {
    /// `scenario`'s plan, or the defaults.
    pub fn of(scenario: &Scenario) -> LockPlan {
        scenario.plan::<LockPlan>().copied().unwrap_or_default()
    }
}

/// The parts of a scenario file this family reads.
#[derive(Debug, Deserialize)]
struct File {
    lock: Option<RawLock>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    workload: Option<Spanned<String>>,
    hold_us: Option<Spanned<u64>>,
    timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    spawn_helper: bool,
    #[serde(default)]
    plant_symlink: bool,
    #[serde(default)]
    lockdep: bool,
}

/// The `[lock]` section of scenario `text`.
pub(super) fn parse(text: &str, at: At<'_>) -> Result<LockPlan, ScenarioError> {
    let file: File = toml::from_str(text).map_err(|e| crate::scenario::toml_error(&e, at))?;
    lock(file.lock, at)
}

/// The `[lock]` table.
fn lock(raw: Option<RawLock>, at: At<'_>) -> Result<LockPlan, ScenarioError> {
    let lock = match raw {
        None => LockPlan::default(),
        Some(l) => {
            let workload = match &l.workload {
                None => LockWorkload::CriticalSection,
                Some(w) => LockWorkload::ALL
                    .iter()
                    .find(|(_, name)| *name == w.get_ref())
                    .map(|(k, _)| *k)
                    .ok_or_else(|| {
                        let valid: Vec<&str> = LockWorkload::ALL.iter().map(|(_, n)| *n).collect();
                        at(
                            w.span(),
                            format!(
                                "unknown lock workload '{}'; valid workloads: {}",
                                w.get_ref(),
                                valid.join(", ")
                            ),
                        )
                    })?,
            };
            let defaults = LockPlan::default();
            LockPlan {
                workload,
                hold_us: match &l.hold_us {
                    Some(h) => {
                        crate::scenario::within(h, "hold_us", 0..=10_000_000, "ten seconds in a section", at)?
                    }
                    None => defaults.hold_us,
                },
                timeout_ms: match &l.timeout_ms {
                    Some(t) => crate::scenario::within(
                        t,
                        "timeout_ms",
                        0..=3_600_000,
                        "an hour; 0 waits forever",
                        at,
                    )?,
                    None => defaults.timeout_ms,
                },
                spawn_helper: l.spawn_helper,
                plant_symlink: l.plant_symlink,
                lockdep: l.lockdep,
            }
        }
    };
    Ok(lock)
}
