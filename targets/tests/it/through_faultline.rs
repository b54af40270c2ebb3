//! The bundled atomic-write family tested through faultline's public API, as a user tests
//! their own code: `faultline::Check` with the ready-made oracles. The reference passes every
//! crash state under both models; each single-writer broken variant fails the oracle of its
//! catalogue bug. (AW5, a fixed temp name, needs two writers at once: the process and model
//! detectors catch it, not a crash of one writer.)

use std::path::Path;

use faultline::{Check, CheckFs, Failures, Model, State, oracle};
use faultline_targets::atomic_write::{AtomicWrite, Variant};

const OLD: &[u8] = b"{\"version\": 0}";
const NEW: &[u8] = b"{\"version\": 1, \"padding\": \"................................\"}";

type Oracle = fn(&State) -> Result<(), String>;

fn old_or_new(state: &State) -> Result<(), String> {
    oracle::old_or_new(state, "doc", &[OLD, NEW])
}

fn acknowledged_durable(state: &State) -> Result<(), String> {
    oracle::acknowledged_durable(state, "doc", &[("new", NEW)])
}

fn no_leaked_temps(state: &State) -> Result<(), String> {
    oracle::no_leaked_temps(state, "/", &["doc"])
}

fn metadata_preserved(state: &State) -> Result<(), String> {
    oracle::metadata_preserved(state, "doc", 0o640)
}

const ALL: [Oracle; 4] = [
    old_or_new,
    acknowledged_durable,
    no_leaked_temps,
    metadata_preserved,
];

fn judge(variant: Variant, model: Model, oracles: &[Oracle]) -> Result<faultline::Summary, Failures> {
    Check::new()
        .models(&[model])
        .block_size(512)
        .setup(|| {
            let mut options = faultline::fs::OpenOptions::new();
            let mut file = options.write(true).create(true).mode(0o640).open("doc")?;
            std::io::Write::write_all(&mut file, OLD)?;
            file.sync_all()?;
            faultline::fs::sync_dir("/")
        })
        .recover(move || {
            variant
                .recover(&CheckFs, Path::new("/doc"))
                .map_err(std::io::Error::other)
        })
        .run(
            || {
                variant
                    .replace(&CheckFs, Path::new("/doc"), NEW)
                    .map_err(std::io::Error::other)?;
                faultline::ack("new");
                Ok(())
            },
            |state| oracles.iter().try_for_each(|oracle| oracle(state)),
        )
}

#[test]
fn the_reference_passes_every_crash_state_under_both_models() {
    for model in [Model::ProcessCrash, Model::PowerLoss] {
        let summary = judge(Variant::Durable, model, &ALL).unwrap_or_else(|f| panic!("{f}"));
        assert!(summary.exhaustive, "{summary:?}");
        assert!(summary.states >= 5, "{model:?}: {summary:?}");
    }
}

#[test]
fn each_single_writer_variant_fails_the_oracle_of_its_bug() {
    // Each bug by the one oracle that names it, so the first failure shown is that bug's.
    let cases: [(Variant, Model, Oracle, &str); 6] = [
        (
            Variant::TruncateInPlace,
            Model::ProcessCrash,
            old_or_new,
            "none of the 2 versions written",
        ),
        (
            Variant::NoFileFsync,
            Model::PowerLoss,
            old_or_new,
            "none of the 2 versions written",
        ),
        (
            Variant::NoDirFsync,
            Model::PowerLoss,
            acknowledged_durable,
            "\"new\" was acknowledged",
        ),
        (
            Variant::FsyncAfterRename,
            Model::PowerLoss,
            old_or_new,
            "none of the 2 versions written",
        ),
        (
            Variant::LeaksTempFiles,
            Model::ProcessCrash,
            no_leaked_temps,
            "besides [\"doc\"]",
        ),
        (
            Variant::ModeNotPreserved,
            Model::ProcessCrash,
            metadata_preserved,
            "has mode 600, not 640",
        ),
    ];
    for (variant, model, oracle, why) in cases {
        let failures =
            judge(variant, model, &[oracle]).expect_err(&format!("{variant:?} under {model:?} must fail"));
        let text = failures.to_string();
        assert!(
            text.contains(why),
            "{variant:?} under {model:?}: expected '{why}' in\n{text}"
        );
    }
    judge(Variant::FixedTmpName, Model::PowerLoss, &ALL)
        .expect("one writer at a time is safe with a fixed name");
}
