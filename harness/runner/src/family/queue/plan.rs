//! The `[queue]` section of a queue scenario: the queue's shape and how its trials run.
//! Parsed here, by the family, from the scenario's text (so errors point into the file).

use serde::Deserialize;
use toml::Spanned;

use crate::scenario::{At, Plan, Scenario, ScenarioError};

/// The `[queue]` table: the queue's shape and how its trials run (family `queue`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct QueuePlan {
    /// Segment size: a segment is closed once a record would take it past this.
    pub segment_bytes: u64,
    /// Items the harness enqueues before the workers start.
    pub preload: u32,
    /// Tear the last preloaded record before the workers start (as a crash mid-append
    /// would), so producers append after a torn tail.
    pub torn_tail: bool,
    /// Instead of processes, enumerate the crash states of a workload on the simulated file
    /// system under this model; each state is one trial.
    pub model: Option<faultline_core::PersistenceModel>,
    /// Where simulated writes tear.
    pub block_size: u64,
}

impl Default for QueuePlan {
    fn default() -> Self {
        QueuePlan {
            segment_bytes: 64 << 10,
            preload: 0,
            torn_tail: false,
            model: None,
            block_size: 512,
        }
    }
}

impl Plan for QueuePlan {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl QueuePlan {
    /// `scenario`'s plan, or the defaults.
    pub fn of(scenario: &Scenario) -> QueuePlan {
        scenario.plan::<QueuePlan>().copied().unwrap_or_default()
    }
}

/// The parts of a scenario file this family reads.
#[derive(Debug, Deserialize)]
struct File {
    queue: Option<Spanned<RawQueue>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    segment_bytes: Option<Spanned<u64>>,
    #[serde(default)]
    torn_tail: bool,
    preload: Option<u32>,
    model: Option<Spanned<String>>,
    block_size: Option<Spanned<u64>>,
}

/// The `[queue]` section of scenario `text`.
pub(super) fn parse(text: &str, at: At<'_>) -> Result<QueuePlan, ScenarioError> {
    let file: File = toml::from_str(text).map_err(|e| crate::scenario::toml_error(&e, at))?;
    queue(file.queue, at)
}

/// The `[queue]` table.
fn queue(raw: Option<Spanned<RawQueue>>, at: At<'_>) -> Result<QueuePlan, ScenarioError> {
    let queue = match raw {
        None => QueuePlan::default(),
        Some(spanned) => {
            let table = spanned.span();
            let q = spanned.into_inner();
            let defaults = QueuePlan::default();
            let segment_bytes = match &q.segment_bytes {
                Some(b) if *b.get_ref() < 256 => {
                    return Err(at(b.span(), "segment_bytes must be at least 256".into()));
                }
                Some(b) => *b.get_ref(),
                None => defaults.segment_bytes,
            };
            let model =
                match &q.model {
                    None => None,
                    Some(m) => Some(m.get_ref().parse::<faultline_core::PersistenceModel>().map_err(
                        |_| {
                            at(
                                m.span(),
                                format!(
                                    "unknown model '{}'; valid models: process-crash, power-loss",
                                    m.get_ref()
                                ),
                            )
                        },
                    )?),
                };
            let block_size = match &q.block_size {
                Some(b) if faultline_core::BlockSize::new(*b.get_ref()).is_err() => {
                    return Err(at(
                        b.span(),
                        format!("block_size must be a power of two from 512, got {}", b.get_ref()),
                    ));
                }
                Some(b) => *b.get_ref(),
                None => defaults.block_size,
            };
            let preload = q.preload.unwrap_or(u32::from(q.torn_tail) * 4);
            if q.torn_tail && preload == 0 {
                return Err(at(
                    table,
                    "[queue] torn_tail needs preload of at least 1 (the record to tear)".into(),
                ));
            }
            QueuePlan {
                segment_bytes,
                preload,
                torn_tail: q.torn_tail,
                model,
                block_size,
            }
        }
    };
    Ok(queue)
}
