//! The fuzz targets' checks in a plain `cargo test`: every committed corpus input and every
//! minimised crash (fuzz/corpus/TARGET, fuzz/regressions/TARGET) replays clean on the
//! references, and the same checks catch the canary variants.

use std::path::{Path, PathBuf};

use faultline_runner::fuzzing::{Cut, atomic_write_ops, parse, queue_ops, queue_recover};
use faultline_targets::{atomic_write, queue};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) {
            files.extend(entries.filter_map(Result::ok).map(|e| e.path()));
        }
    }
    files.sort();
    files
}

type Check = fn(&[u8]) -> Result<(), String>;

#[test]
fn every_corpus_input_and_regression_replays_clean_on_the_references() {
    let targets: [(&str, Check); 6] = [
        ("atomic_write_ops", |d| {
            atomic_write_ops::check(atomic_write::Variant::Durable, d)
        }),
        ("queue_ops", |d| queue_ops::check(queue::Variant::Segmented, d)),
        ("queue_recover", queue_recover::check),
        ("scenario_parse", parse::scenario),
        ("report_parse", parse::report),
        ("trace_parse", parse::trace),
    ];
    for (target, check) in targets {
        let files = inputs(target);
        assert!(
            files.len() >= 20,
            "{target}: only {} corpus inputs committed",
            files.len()
        );
        for file in files {
            let data = std::fs::read(&file).expect("read");
            if let Err(bug) = check(&data) {
                panic!("{}: {bug}", file.display());
            }
        }
    }
}

/// Two enqueues and then a power cut at every moment, keeping nothing, everything, or
/// every other unit.
fn queue_cuts() -> impl Iterator<Item = queue_ops::Input> {
    (0..80u16).flat_map(|at| {
        [0, u64::MAX, 0x5555_5555_5555_5555].map(|keep| queue_ops::Input {
            small_blocks: true,
            ops: vec![
                queue_ops::Op::Enqueue { len: 600 },
                queue_ops::Op::Enqueue { len: 900 },
                queue_ops::Op::Cut(Cut { at, keep }),
            ],
        })
    })
}

#[test]
fn the_checks_catch_the_canary_variants_and_pass_the_references() {
    // AW3 acknowledges a replace whose directory entry is not durable: a cut after it that
    // keeps nothing pending loses the acknowledged version.
    let cuts = || {
        (0..64u16).map(|at| atomic_write_ops::Input {
            small_blocks: false,
            ops: vec![
                atomic_write_ops::Op::Replace { len: 100 },
                atomic_write_ops::Op::Cut(Cut { at, keep: 0 }),
            ],
        })
    };
    let aw3: Vec<String> = cuts()
        .filter_map(|input| atomic_write_ops::run(atomic_write::Variant::NoDirFsync, &input).err())
        .collect();
    assert!(
        aw3.iter()
            .any(|e| e.contains("the newest acknowledged version is v1")),
        "AW3 not caught: {aw3:?}"
    );
    for input in cuts() {
        if let Err(bug) = atomic_write_ops::run(atomic_write::Variant::Durable, &input) {
            panic!("the reference failed {input:?}: {bug}");
        }
    }

    // Q4 swallows the record appended after a torn tail: some cut inside the second
    // enqueue tears it, and the item enqueued after recovery is lost.
    let q4: Vec<String> = queue_cuts()
        .filter_map(|input| queue_ops::run(queue::Variant::TornTailSwallow, &input).err())
        .collect();
    assert!(
        q4.iter()
            .any(|e| e.starts_with("LostItem") && e.contains("enqueued after recovery")),
        "Q4 not caught: {q4:?}"
    );
    for input in queue_cuts() {
        if let Err(bug) = queue_ops::run(queue::Variant::Segmented, &input) {
            panic!("the reference failed {input:?}: {bug}");
        }
    }
}
