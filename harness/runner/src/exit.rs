//! The exit codes of the `faultline` command, in one place. The gate computes them from its
//! findings; every command returns one of these.

/// Every expectation held (and `replay`: the failure reproduced).
pub const OK: u8 = 0;
/// A reference (fixed) variant failed (and `replay`: the failure did not reproduce).
pub const REFERENCE_FAILED: u8 = 1;
/// Usage, scenario or setup error: nothing was judged.
pub const USAGE: u8 = 2;
/// A broken variant was not caught: the detector lost its power.
pub const NOT_CAUGHT: u8 = 3;
/// A rate got worse than the baseline (`faultline gate`).
pub const RATE_WORSE: u8 = 4;
/// `explore --trace`: nothing failed, but the recording holds a call faultline cannot model,
/// and the crash states after it were not judged.
pub const UNSUPPORTED: u8 = 5;
/// Interrupted by Ctrl-C or SIGTERM; workers stopped, trial directories removed.
pub const INTERRUPTED: u8 = 130;

/// The table `faultline --help` prints.
pub const HELP: &str = "Exit codes:\n  0  every expectation held\n  1  a reference (fixed) variant failed\n  2  usage, scenario or setup error\n  3  a broken variant was not caught (the detector lost its power)\n  4  a rate got worse than the baseline\n  5  explore --trace: no state failed, but states after a call faultline cannot model were not judged\n  130 interrupted (Ctrl-C or SIGTERM); workers stopped, trial directories removed";
