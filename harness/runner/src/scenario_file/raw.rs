//! The scenario file as TOML gives it, before any check: every table and key, with the spans
//! that errors point at.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The raw file, as TOML gives it: the common tables and keys (listed in `COMMON_KEYS`; a
/// family's own section is the family's to read, and any other key is refused there).
#[derive(Debug, Deserialize)]
pub(super) struct RawScenario {
    pub(super) description: Option<String>,
    pub(super) family: Spanned<String>,
    pub(super) seed: Option<u64>,
    pub(super) variants: Vec<Spanned<String>>,
    pub(super) roles: RawRoles,
    pub(super) workload: Option<RawWorkload>,
    pub(super) faults: Option<RawFaults>,
    pub(super) oracle: Option<RawOracle>,
    pub(super) commands: Option<Spanned<BTreeMap<String, Spanned<RawCommand>>>>,
    pub(super) explore: Option<Spanned<RawExplore>>,
    pub(super) live: Option<Spanned<RawLive>>,
    #[serde(default)]
    pub(super) run: RawRun,
    #[serde(default)]
    pub(super) expect: BTreeMap<String, Spanned<RawExpectation>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoles {
    pub(super) writers: Spanned<u32>,
    #[serde(default)]
    pub(super) readers: Option<Spanned<u32>>,
    pub(super) threads: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkload {
    pub(super) document_bytes: Option<Spanned<usize>>,
    pub(super) reads_per_reader: Option<u32>,
    pub(super) writes_per_writer: Option<u32>,
    pub(super) read_pause_us: Option<Spanned<u64>>,
    pub(super) write_pause_us: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFaults {
    pub(super) kill: Option<RawKill>,
    #[serde(default)]
    pub(super) crash_points: Vec<Spanned<RawCrashPoint>>,
    pub(super) pause: Option<RawPause>,
    #[serde(default)]
    pub(super) window: Vec<Spanned<RawWindowStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWindowStep {
    pub(super) worker: u32,
    pub(super) point: Spanned<String>,
    #[serde(default = "one")]
    pub(super) hit: u64,
    #[serde(default)]
    pub(super) kill: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKill {
    pub(super) offset_ms: Spanned<[u64; 2]>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCrashPoint {
    pub(super) point: Spanned<String>,
    #[serde(default = "one")]
    pub(super) hit: u64,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPause {
    pub(super) after_ms: Spanned<[u64; 2]>,
    pub(super) for_ms: Spanned<u64>,
}

/// A `[commands.NAME]` table: each role's command, by role (the roles are the families').
pub(super) type RawCommand = BTreeMap<Spanned<String>, Spanned<Vec<String>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExplore {
    pub(super) model: Spanned<String>,
    pub(super) block_size: Option<Spanned<u64>>,
    pub(super) versions: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLive {
    pub(super) versions: Option<Spanned<u32>>,
    pub(super) keep: Option<Spanned<String>>,
    pub(super) block_size: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOracle {
    pub(super) checks: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRun {
    pub(super) trials: Option<Spanned<u64>>,
    pub(super) duration_s: Option<Spanned<f64>>,
    pub(super) watchdog_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpectation {
    pub(super) trials: Option<u64>,
    pub(super) must_fail: Option<Vec<Spanned<String>>>,
    pub(super) max_failures: Option<u64>,
    pub(super) max_failure_rate: Option<f64>,
}
