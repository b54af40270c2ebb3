//! Meta-tests: they guard the harness itself. Every reference passes with zero failures,
//! every broken variant is caught with its catalogue kind, and results replay exactly.

mod explore;
mod fuzz_corpus;
mod hostile;
mod interleave;
mod layers;
mod live;
mod locks;
mod process;
mod record;
mod scenario;
mod waits;
