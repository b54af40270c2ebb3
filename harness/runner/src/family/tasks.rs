//! Family `tasks`: a task registry whose logic is in-process, model-checked by `faultline
//! model` (loom and shuttle); it has no process workload and no crash states.

use faultline_targets::registry::FamilyInfo;

use super::Family;
use crate::scenario::Check;

/// The task registry.
pub struct TasksFamily;

impl Family for TasksFamily {
    fn info(&self) -> &'static FamilyInfo {
        &faultline_targets::tasks::INFO
    }

    /// None in process runs: its checks are the model checker's.
    fn checks(&self) -> &'static [Check] {
        &[]
    }
}
