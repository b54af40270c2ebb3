use faultline_core::FailureKind;
use faultline_runner::family::document::workload::{Workload, interleave};
use faultline_targets::atomic_write::Variant;

fn kinds(variant: Variant) -> Vec<FailureKind> {
    let cases = interleave::check(variant, &Workload::default(), 0).expect("runs");
    // Every variant passes each point, except that writing in place has no rename.
    let expected_reached = if variant == Variant::TruncateInPlace {
        2
    } else {
        cases.len()
    };
    assert_eq!(
        cases.iter().filter(|c| c.reached).count(),
        expected_reached,
        "{variant:?}"
    );
    cases
        .iter()
        .flat_map(|c| c.verdict.failures().iter().map(|f| f.kind))
        .collect()
}

#[test]
fn the_reference_survives_a_second_writer_at_every_crash_point() {
    assert_eq!(kinds(Variant::Durable), []);
}

#[test]
fn a_shared_temp_name_is_caught_when_a_second_writer_runs_inside_the_first() {
    let seen = kinds(Variant::FixedTmpName);
    assert!(
        seen.contains(&FailureKind::UnexpectedError),
        "AW5 must fail with rename ENOENT: {seen:?}"
    );
    assert!(
        seen.contains(&FailureKind::TornFile),
        "AW5 must commit a torn file: {seen:?}"
    );
}

#[test]
fn writing_in_place_is_caught_by_a_second_writer() {
    assert!(kinds(Variant::TruncateInPlace).contains(&FailureKind::TornFile));
}

#[test]
fn variants_whose_bug_needs_a_crash_pass_the_interleaving() {
    for variant in [
        Variant::NoFileFsync,
        Variant::NoDirFsync,
        Variant::FsyncAfterRename,
        Variant::LeaksTempFiles,
    ] {
        assert_eq!(kinds(variant), [], "{variant:?}");
    }
}
