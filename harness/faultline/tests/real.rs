//! The real-process mode: the workload killed with SIGKILL at each crash point it passes, on
//! the real file system, in a child run of the same test.

use std::io::Write;
use std::path::Path;

use faultline::{Check, oracle};

/// Writes in place: killed between the truncate and the write, the file is empty.
fn save_in_place(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut file = faultline::fs::File::create(path)?;
    faultline::crash_point!("truncated");
    file.write_all(data)?;
    file.sync_all()?;
    faultline::crash_point!("written");
    Ok(())
}

/// Through a temp file and a rename; killed before the rename, the temp is left over.
fn save_durable(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = faultline::fs::File::create(&tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    faultline::crash_point!("before_rename");
    faultline::fs::rename(&tmp, path)?;
    faultline::crash_point!("after_rename");
    faultline::fs::sync_dir(".")
}

fn check(save: fn(&Path, &[u8]) -> std::io::Result<()>) -> Result<faultline::Summary, faultline::Failures> {
    Check::new()
        .setup(|| faultline::fs::write("doc", "old"))
        .recover(|| match faultline::fs::remove_file("doc.tmp") {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .run_real(
            || {
                save(Path::new("doc"), b"new")?;
                faultline::ack("new");
                faultline::crash_point!("acknowledged");
                Ok(())
            },
            |state| {
                oracle::old_or_new(state, "doc", &[b"old", b"new"])?;
                oracle::acknowledged_durable(state, "doc", &[("new", b"new")])?;
                oracle::no_leaked_temps(state, "/", &["doc"])
            },
        )
}

#[test]
fn killed_at_each_crash_point_the_durable_save_leaves_old_or_new() {
    let summary = check(save_durable).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(
        summary.states, 3,
        "three points passed, each killed once: {summary:?}"
    );
}

#[test]
fn killed_after_the_truncate_the_save_in_place_leaves_an_empty_file() {
    let failures = check(save_in_place).expect_err("killed between truncate and write");
    let text = failures.to_string();
    assert!(
        text.contains("killed at crash point truncated (pass 1)"),
        "{text}"
    );
    assert!(text.contains("doc holds 0 bytes"), "{text}");
    assert_eq!(
        failures.failed, 1,
        "only the point between truncate and write fails: {text}"
    );
    assert!(
        text.contains("FAULTLINE_REPLAY=real:truncated:1 cargo test -- --exact"),
        "{text}"
    );
}
