use faultline_core::{BlockSize, FailureKind, PersistenceModel};
use faultline_runner::explore::{Expectation, ExploreRequest, detectors_for, explain_state, explore};
use faultline_runner::family::document::workload::Workload;
use faultline_targets::atomic_write::Variant;
use proptest::prelude::*;

fn run(
    variant: Variant,
    model: PersistenceModel,
    block: u64,
    seed: u64,
) -> faultline_runner::explore::ExploreResult {
    let mut request = ExploreRequest::new(variant, model);
    request.config.block_size = BlockSize::new(block).expect("valid");
    request.config.seed = seed;
    explore(&request).expect("the workload runs").0
}

/// The meta-test of issue 2: if any AW variant stops being caught under the model the
/// catalogue names, or the reference starts failing, this fails.
#[test]
fn every_variant_meets_its_catalogue_expectation_under_every_model_and_block_size() {
    let mut caught = Vec::new();
    for variant in Variant::ALL {
        for model in PersistenceModel::ALL {
            for block in [4096, 512] {
                let r = run(variant, model, block, 0x5eed);
                let name = format!("{} under {model} at {block}", r.variant);
                assert!(r.enumeration.distinct_states > 0, "{name}: nothing explored");
                match &r.expectation {
                    Expectation::ReferencePassed => {
                        assert_eq!(r.failed_states.failures, 0, "{name}");
                    }
                    Expectation::Caught { kinds } => caught.push((variant, model, kinds.clone())),
                    Expectation::NoExpectation => {}
                    other => panic!("{name}: {other:?}; failures {:?}", r.failures_by_kind),
                }
            }
        }
    }
    // AW1-AW4 under power loss, AW1 and AW6 under process crash, AW7 under both.
    let expected = [
        (
            Variant::TruncateInPlace,
            PersistenceModel::PowerLoss,
            FailureKind::TornFile,
        ),
        (
            Variant::TruncateInPlace,
            PersistenceModel::ProcessCrash,
            FailureKind::TornFile,
        ),
        (
            Variant::NoFileFsync,
            PersistenceModel::PowerLoss,
            FailureKind::TornFile,
        ),
        (
            Variant::NoDirFsync,
            PersistenceModel::PowerLoss,
            FailureKind::LostAcknowledgedWrite,
        ),
        (
            Variant::FsyncAfterRename,
            PersistenceModel::PowerLoss,
            FailureKind::TornFile,
        ),
        (
            Variant::LeaksTempFiles,
            PersistenceModel::ProcessCrash,
            FailureKind::LeakedTemp,
        ),
        (
            Variant::ModeNotPreserved,
            PersistenceModel::ProcessCrash,
            FailureKind::MetadataChanged,
        ),
        (
            Variant::ModeNotPreserved,
            PersistenceModel::PowerLoss,
            FailureKind::MetadataChanged,
        ),
    ];
    for (variant, model, kind) in expected {
        assert!(
            caught
                .iter()
                .any(|(v, m, kinds)| *v == variant && *m == model && kinds.contains(&kind)),
            "{variant:?} must be caught as {kind} under {model}"
        );
    }
}

#[test]
fn every_broken_variant_names_a_detector_that_explore_or_interleave_covers() {
    for variant in Variant::ALL.into_iter().skip(1) {
        let info = variant.info();
        assert!(!info.expectations.is_empty(), "{} has no expectation", info.name);
        assert!(
            info.catalogue_id.is_some_and(|id| id.starts_with("AW")),
            "{}",
            info.name
        );
    }
    // Detectors P, K and X map onto the models; R is covered by the interleaving check.
    assert!(detectors_for(PersistenceModel::PowerLoss).len() == 2);
}

#[test]
fn the_same_request_gives_the_same_result() {
    for variant in Variant::ALL {
        let a = serde_json::to_string(&run(variant, PersistenceModel::PowerLoss, 512, 3)).expect("json");
        let b = serde_json::to_string(&run(variant, PersistenceModel::PowerLoss, 512, 3)).expect("json");
        assert_eq!(a, b, "{variant:?} is not deterministic");
    }
}

#[test]
fn every_first_failure_replays_from_its_state_id() {
    for variant in Variant::ALL.into_iter().skip(1) {
        for model in PersistenceModel::ALL {
            let mut request = ExploreRequest::new(variant, model);
            request.config.block_size = BlockSize::new(512).expect("valid");
            let (r, _) = explore(&request).expect("runs");
            for (kind, first) in &r.first_by_kind {
                let id = first.state.parse().expect("printed ids parse");
                let replay = explain_state(&request, &id).expect("printed ids fit");
                assert!(
                    !replay.passed,
                    "{variant:?} {model}: state {} no longer fails",
                    first.state
                );
                assert!(
                    replay.state.failures.iter().any(|f| f.kind == *kind),
                    "{variant:?} {model} {kind}"
                );
                assert!(first.reproduce.contains(&format!("--state {}", first.state)));
            }
        }
    }
}

#[test]
fn zero_failures_report_the_interval_zero_implies() {
    let r = run(Variant::Durable, PersistenceModel::PowerLoss, 512, 0);
    assert_eq!(r.failed_states.failures, 0);
    let bound = r.failed_states.zero_failure_upper_bound().expect("zero failures");
    assert!(bound > 0.0 && bound < 3.5 / r.enumeration.distinct_states as f64);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The reference survives every crash state of any documents, at either block size.
    #[test]
    fn durable_survives_every_crash_of_any_documents(
        sizes in proptest::collection::vec(64usize..9000, 2..5),
        small_blocks in any::<bool>(),
        power in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let model = if power { PersistenceModel::PowerLoss } else { PersistenceModel::ProcessCrash };
        let mut request = ExploreRequest::new(Variant::Durable, model);
        request.workload = Workload::json_documents(&sizes);
        request.config.block_size = BlockSize::new(if small_blocks { 512 } else { 4096 }).expect("valid");
        request.config.seed = seed;
        let (r, _) = explore(&request).expect("runs");
        prop_assert_eq!(r.failed_states.failures, 0, "{:?}", r.first_by_kind);
    }
}
