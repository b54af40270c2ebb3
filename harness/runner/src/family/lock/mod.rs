//! Family `lock`: holders that take the lock exclusively (writers) or shared (readers) and log
//! every entry and exit of their critical sections; the trial is judged from those logs, the
//! counter, the owner record, a planted symlink's target, and the lock-order graph.

pub mod checks;
pub mod holder;
pub mod lockdep;
pub mod roles;
