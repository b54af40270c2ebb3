//! The enumerator: distinct states, stable ids that reproduce, fewest lost changes first,
//! and the one budget with its sample.

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
        max_choices: max,
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

/// What each pending change keeps, whole or not, for a choice.
fn lost_in(id: &CrashStateId, units: &[u32]) -> u32 {
    let full = |u: u32| if u >= 64 { u64::MAX } else { (1u64 << u) - 1 };
    id.masks
        .iter()
        .zip(units)
        .filter(|(m, u)| **m != full(**u))
        .count() as u32
}

#[test]
fn with_room_in_the_budget_every_state_the_model_allows_is_visited_fewest_lost_first() {
    let (base, trace) = busy_trace();
    let cfg = config(1 << 20, 1);
    // Brute force: every mask of every pending change at every moment.
    let mut expected = HashSet::new();
    let mut durability = faultline_core::Durability::new(base.clone(), cfg.model, cfg.block_size);
    let mut space = 0u128;
    for moment in 0..=trace.len() {
        if moment > 0 {
            durability.record(moment - 1, &trace[moment - 1].effects);
            // A moment after a call that changed nothing repeats the one before.
            if !trace[moment - 1].has_effects() {
                continue;
            }
        }
        let units = durability.units();
        let bits: u32 = units.iter().sum();
        space += 1u128 << bits;
        for all in 0..(1u64 << bits) {
            let mut masks = Vec::new();
            let mut at = 0;
            for u in &units {
                masks.push((all >> at) & ((1u64 << u) - 1));
                at += u;
            }
            expected.insert(durability.materialize(&masks).digest());
        }
    }
    let mut seen = HashSet::new();
    let mut last_level = 0;
    let stats = enumerate(
        &base,
        &trace,
        &cfg,
        |_| 0,
        |s| {
            let units: Vec<u32> = s.pending.iter().map(|p| p.mutation.units(512)).collect();
            assert_eq!(
                s.lost,
                lost_in(&s.id, &units),
                "state {} counts its lost changes",
                s.id
            );
            assert!(
                s.lost >= last_level,
                "state {} (level {}) came after level {last_level}",
                s.id,
                s.lost
            );
            last_level = s.lost;
            seen.insert(s.image.digest());
            ControlFlow::Continue(())
        },
    );
    assert_eq!(
        seen, expected,
        "the visited states are exactly the brute-force ones"
    );
    assert!(stats.exhaustive(), "{stats:?}");
    assert_eq!(stats.space, space);
    // Six changes can be lost at once, but a file whose name is lost hides its write: no new
    // state needs more than one lost (or torn) change per file.
    assert_eq!(last_level, 3, "the last new state loses three changes");
    let (a, _) = ids(1 << 20, 1);
    let (b, _) = ids(1 << 20, 99);
    assert_eq!(a, b, "within the budget the seed plays no part");
}

#[test]
fn the_budget_cuts_one_level_by_a_seeded_sample_without_replacement() {
    let (a, stats) = ids(300, 1);
    assert_eq!(stats.choices, 300, "the budget is spent exactly: {stats:?}");
    let cut = stats.cut_level.expect("300 choices cannot cover the busy trace");
    assert_eq!(
        stats.complete_below, cut,
        "every level below the cut is whole: {stats:?}"
    );
    assert!(
        stats.cut_sampled > 0 && stats.cut_sampled < 300,
        "the cut level got what the whole levels left: {stats:?}"
    );
    assert!(!stats.exhaustive());
    assert!(
        stats.coverage().contains("300 of")
            && stats.coverage().contains("a seeded sample of those that lose"),
        "{}",
        stats.coverage()
    );
    let distinct: HashSet<&CrashStateId> = a.iter().collect();
    assert_eq!(distinct.len(), a.len(), "no state is visited twice");
    let (again, _) = ids(300, 1);
    assert_eq!(a, again, "the same seed must give the same sample");
    let (other, _) = ids(300, 2);
    assert_ne!(a, other, "another seed must give another sample");
    // The sample spreads over the moments rather than filling the first ones.
    let (all, _) = ids(1 << 20, 1);
    let last_moment = all.iter().map(|id| id.moment).max().expect("states");
    let (base, trace) = busy_trace();
    let mut sampled_moments = HashSet::new();
    enumerate(
        &base,
        &trace,
        &config(300, 1),
        |_| 0,
        |s| {
            if s.lost == cut {
                sampled_moments.insert(s.id.moment);
            }
            ControlFlow::Continue(())
        },
    );
    assert!(
        sampled_moments.contains(&last_moment) && sampled_moments.len() > 2,
        "the cut level's sample reaches the last moment: {sampled_moments:?}"
    );
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
