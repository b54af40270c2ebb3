//! The enumerator: distinct states, stable ids that reproduce, the bound and its sample.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::Path;

use faultline_core::crash_state::{enumerate, reproduce};
use faultline_core::fs::write_all;
use faultline_core::{
    BlockSize, CrashStateId, EnumerationConfig, FdGuard, Fs, OpenOptions, PersistenceModel, SimFs,
};

/// Several unsynced files with multi-block writes: more choices than a small bound.
fn busy_trace() -> (faultline_core::FsImage, Vec<faultline_core::trace::TraceEntry>) {
    let fs = SimFs::default();
    fs.mkdir(Path::new("/d"), 0o755).expect("mkdir");
    let base = fs.checkpoint();
    for i in 0..3 {
        let f = FdGuard::open(
            &fs,
            Path::new(&format!("/d/f{i}")),
            &OpenOptions::write_only().create_new(),
        )
        .expect("open");
        write_all(&fs, f.fd(), &vec![b'a' + i; 2000]).expect("write");
    }
    (base, fs.trace())
}

fn config(max: u64, seed: u64) -> EnumerationConfig {
    EnumerationConfig {
        model: PersistenceModel::PowerLoss,
        block_size: BlockSize::new(512).expect("valid"),
        max_choices_per_moment: max,
        seed,
    }
}

fn ids(max: u64, seed: u64) -> (Vec<CrashStateId>, faultline_core::EnumerationStats) {
    let (base, trace) = busy_trace();
    let mut out = Vec::new();
    let stats = enumerate(
        &base,
        &trace,
        &config(max, seed),
        |_| 0,
        |s| {
            out.push(s.id);
            ControlFlow::Continue(())
        },
    );
    (out, stats)
}

#[test]
fn every_visited_state_is_distinct_and_reproducible_from_its_id() {
    let (base, trace) = busy_trace();
    let cfg = config(4096, 7);
    let mut digests = HashSet::new();
    let mut visited = 0;
    enumerate(
        &base,
        &trace,
        &cfg,
        |_| 0,
        |s| {
            assert!(digests.insert(s.image.digest()), "state {} visited twice", s.id);
            let text = s.id.to_string();
            let parsed: CrashStateId = text.parse().expect("ids round-trip");
            assert_eq!(parsed, s.id);
            let (image, _) = reproduce(&base, &trace, &cfg, &parsed).expect("id fits its trace");
            assert_eq!(image, s.image, "state {text} does not reproduce");
            visited += 1;
            ControlFlow::Continue(())
        },
    );
    assert!(visited > 100, "the busy trace has many states, saw {visited}");
}

#[test]
fn beyond_the_bound_a_seeded_sample_is_taken_and_replays_exactly() {
    let (a, stats) = ids(64, 1);
    assert!(
        stats.sampled_moments > 0,
        "the bound of 64 must force sampling: {stats:?}"
    );
    let (again, _) = ids(64, 1);
    assert_eq!(a, again, "the same seed must give the same sample");
    let (other, _) = ids(64, 2);
    assert_ne!(a, other, "another seed must give another sample");
}

#[test]
fn within_the_bound_enumeration_is_exhaustive_and_seed_independent() {
    let (a, stats) = ids(1 << 20, 1);
    assert_eq!(stats.sampled_moments, 0);
    let (b, _) = ids(1 << 20, 99);
    assert_eq!(a, b);
}

#[test]
fn an_id_that_does_not_fit_the_trace_is_refused() {
    let (base, trace) = busy_trace();
    let cfg = config(4096, 0);
    for bad in ["999:-", "3:ff.ff.ff.ff.ff", "1:-"] {
        let id: CrashStateId = bad.parse().expect("well-formed");
        assert!(reproduce(&base, &trace, &cfg, &id).is_err(), "{bad} must not fit");
    }
    for malformed in ["", "x:1", "3", "3:zz"] {
        assert!(
            malformed.parse::<CrashStateId>().is_err(),
            "{malformed:?} must not parse"
        );
    }
}

#[test]
fn the_class_separates_equal_images_at_different_moments() {
    let (base, trace) = busy_trace();
    let cfg = config(4096, 0);
    let count = |class: &dyn Fn(usize) -> u64| {
        enumerate(&base, &trace, &cfg, class, |_| ControlFlow::Continue(())).distinct_states
    };
    assert!(count(&|m| m as u64) > count(&|_| 0));
}
