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
        (
            "truncate-past-the-limit.json",
            "inode 4 is truncated to 2199023255552 bytes, past 1 TiB",
        ),
        (
            "write-past-the-end-of-numbers.json",
            "a write to inode 4 at 18446744073709551614 ends past 1 TiB",
        ),
        (
            "overlapping-extents.json",
            "inode 2: the extent at 2 is empty, overlaps the one before",
        ),
        (
            "file-with-data-and-length.json",
            "inode 2 must have data (a file), len and extents (a sparse file) or entries",
        ),
    ];
    let listed: std::collections::BTreeSet<String> = std::fs::read_dir(corpus(""))
        .expect("the corpus")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "good.json" && n != "sparse.json")
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

/// A 1 GiB sparse file in the base image and a 4 GiB `ftruncate` by the program cost what was
/// written: memory holds the extents, and the states on disk keep their holes.
#[test]
fn a_sparse_trace_costs_what_was_written_and_its_states_keep_their_holes() {
    use std::os::unix::fs::MetadataExt as _;
    let trace = TraceFile::read(&corpus("sparse.json")).expect("the sparse trace reads");
    let file = |image: &faultline_core::FsImage, path: &str| {
        image
            .read(Path::new(path))
            .map(|d| (d.len(), d.allocated()))
            .expect("a file")
    };
    assert_eq!(file(&trace.base, "/a.txt"), (1 << 30, 6));
    let last = trace.final_image();
    assert_eq!(file(&last, "/sub/c.txt"), (4 << 30, 4));
    // The trace writes back as it read.
    let again = TraceFile::from_text(Path::new("again.json"), &trace.to_json()).expect("reads back");
    assert_eq!(again.base.digest(), trace.base.digest());
    assert_eq!(again.base, trace.base);
    let work = tempfile::tempdir().expect("temp");
    let state = work.path().join("state");
    faultline_runner::crash::materialise(&last, &state).expect("materialise");
    for (name, len) in [("a.txt", 1u64 << 30), ("sub/c.txt", 4 << 30)] {
        let meta = std::fs::metadata(state.join(name)).expect("written");
        assert_eq!(meta.len(), len, "{name}");
        assert!(
            meta.blocks() * 512 < 1 << 20,
            "{name} keeps its holes: {} blocks",
            meta.blocks()
        );
    }
    let mut tail = [0u8; 4];
    use std::os::unix::fs::FileExt as _;
    std::fs::File::open(state.join("a.txt"))
        .expect("open")
        .read_exact_at(&mut tail, (1 << 30) - 4)
        .expect("read");
    assert_eq!(&tail, b"\0hi\n");
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
