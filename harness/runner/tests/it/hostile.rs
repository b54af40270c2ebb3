//! Crafted traces (the committed files in `traces/`): each is refused as a whole, with what is
//! wrong, before anything is materialised; the good one they were made from reads and its
//! states stay inside their directory.

use std::path::Path;

use faultline_runner::external::trace_file::TraceFile;

fn corpus(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/traces")
        .join(name)
}

#[test]
fn every_crafted_trace_is_refused_with_what_is_wrong() {
    let cases = [
        (
            "escaping-base-name.json",
            "'../../escaped_base' is not a file name",
        ),
        ("slash-in-base-name.json", "'lnk/pwned' is not a file name"),
        ("directory-cycle.json", "contains itself"),
        ("second-name-for-a-directory.json", "more than one name"),
        ("duplicate-inode.json", "inode 2 is given twice"),
        (
            "dangling-name.json",
            "'ghost' leads to inode 77, which the image does not hold",
        ),
        (
            "write-to-a-directory.json",
            "inode 3 is a directory, and is written to",
        ),
        ("write-to-an-unknown-inode.json", "inode 55 does not exist"),
        (
            "directory-moved-into-itself.json",
            "directory inode 3 is moved into itself",
        ),
        ("escaping-link-name.json", "'..' is not a file name"),
    ];
    let listed: std::collections::BTreeSet<String> = std::fs::read_dir(corpus(""))
        .expect("the corpus")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "good.json")
        .collect();
    let tested: std::collections::BTreeSet<String> = cases.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(listed, tested, "every committed crafted trace has its case");
    for (name, needle) in cases {
        let error = TraceFile::read(&corpus(name)).expect_err(name).to_string();
        assert!(error.contains(needle), "{name}: {error}");
        assert!(error.contains(name), "the error names the file: {error}");
    }
}

#[test]
fn the_good_trace_reads_and_its_states_stay_inside_their_directory() {
    let trace = TraceFile::read(&corpus("good.json")).expect("the good trace reads");
    let work = tempfile::tempdir().expect("temp");
    let state = work.path().join("a/b/state");
    faultline_runner::crash::materialise(&trace.base, &state).expect("materialise");
    let mut everything: Vec<String> = walkdir(work.path());
    everything.sort();
    assert_eq!(
        everything,
        ["a", "a/b", "a/b/state", "a/b/state/a.txt", "a/b/state/sub"]
    );
    // A name already there is never written through.
    let again = faultline_runner::crash::materialise(&trace.base, &state);
    assert!(again.is_err(), "materialising over an existing state is refused");
}

fn walkdir(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable").flatten() {
            let path = entry.path();
            out.push(path.strip_prefix(root).expect("inside").display().to_string());
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
        }
    }
    out
}
