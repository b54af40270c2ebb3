//! Two writers interleaved at an exact place, on the simulated file system.
//!
//! Writer A replaces the file; when A reaches crash point P, writer B runs a whole replace;
//! then A goes on. There is no crash, so both replaces must succeed, the file must hold one
//! whole version, and the directory must hold nothing else. The file may hold either version:
//! B ran wholly inside A, so both orders are linearizable. This is the
//! deterministic core of the concurrent-writers detector (R): it catches a shared temp name
//! (AW5) at the exact interleaving, where real processes catch it only by chance.
//! It does not model readers; the process runner does.

use std::path::Path;
use std::sync::{Arc, Mutex};

use faultline_core::{Failure, FailureKind, FsError, SimFs, SimOptions, Verdict};
use faultline_targets::atomic_write::{AtomicWrite, CRASH_POINTS, Variant};

use super::oracle::Judge;
use super::{TARGET, Workload};

/// One interleaving and what came of it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InterleaveCase {
    /// Where in writer A writer B ran.
    pub point: &'static str,
    /// Whether writer A reached that point at all.
    pub reached: bool,
    /// What the oracles said.
    pub verdict: Verdict,
}

/// Runs writer B at each of the family's crash points inside writer A.
pub fn check(variant: Variant, workload: &Workload, seed: u64) -> Result<Vec<InterleaveCase>, FsError> {
    CRASH_POINTS
        .iter()
        .map(|point| check_at(variant, workload, point, seed))
        .collect()
}

fn check_at(
    variant: Variant,
    workload: &Workload,
    point: &'static str,
    seed: u64,
) -> Result<InterleaveCase, FsError> {
    let fs = SimFs::new(SimOptions {
        seed,
        ..SimOptions::default()
    });
    super::setup(&fs, workload)?;
    let b_version = 2.min(workload.versions.len() - 1);
    let b_data = workload.versions[b_version].clone();
    let b_result: Arc<Mutex<Option<Result<(), FsError>>>> = Arc::default();
    let slot = Arc::clone(&b_result);
    fs.set_crash_hook(Box::new(move |fs, reached| {
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        if reached == point && slot.is_none() {
            *slot = Some(variant.replace(fs, Path::new(TARGET), &b_data));
        }
    }));
    let a_result = variant.replace(&fs, Path::new(TARGET), &workload.versions[1]);
    let b_result = b_result.lock().unwrap_or_else(|p| p.into_inner()).take();
    let reached = b_result.is_some();

    let judge = Judge::new(variant, workload);
    let seen = judge.observe(&fs.image());
    let mut failures = Vec::new();
    let unexpected = |who: &str, e: &FsError| Failure {
        kind: FailureKind::UnexpectedError,
        detail: format!(
            "writer {who}'s replace failed with no fault injected: {e}: {}",
            e.errno
        ),
    };
    if let Err(e) = &a_result {
        failures.push(unexpected("A", e));
    }
    if let Some(Err(e)) = &b_result {
        failures.push(unexpected("B", e));
    }
    match (seen.len, seen.version) {
        (None, _) => failures.push(Failure {
            kind: FailureKind::MissingFile,
            detail: "the file is gone".into(),
        }),
        (Some(len), None) => failures.push(Failure {
            kind: FailureKind::TornFile,
            detail: format!("the file holds {len} bytes that match no version"),
        }),
        // B ran wholly inside A, so either order is linearizable (A may take effect at its
        // rename, before B began): the file may hold either version, but no other bytes.
        (Some(_), Some(_)) => {}
    }
    if !seen.extra_entries.is_empty() {
        failures.push(Failure {
            kind: FailureKind::LeakedTemp,
            detail: format!("left behind with no crash: {}", seen.extra_entries.join(", ")),
        });
    }
    Ok(InterleaveCase {
        point,
        reached,
        verdict: Verdict::from_failures(failures),
    })
}
