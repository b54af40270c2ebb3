//! Family `tasks`: a task registry whose logic is in-process, model-checked by `faultline
//! model` (loom and shuttle); it has no process workload and no crash states.

use faultline_targets::registry::FamilyInfo;

use super::Family;

/// The task registry.
pub struct TasksFamily;

impl Family for TasksFamily {
    fn info(&self) -> &'static FamilyInfo {
        &faultline_targets::tasks::INFO
    }
}
