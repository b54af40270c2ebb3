//! `faultline live` and `faultline mount` as a user runs them. FUSE needs /dev/fuse and
//! fusermount3; without them these tests say so and pass, unless FAULTLINE_REQUIRE_FUSE is
//! set (`.ci/run` sets it where the device exists).

use crate::faultline;

/// Whether FUSE mounts work here; panics when FAULTLINE_REQUIRE_FUSE says they must.
pub fn fuse_works() -> bool {
    let dir = tempfile::tempdir().expect("temp");
    let (b, m) = (dir.path().join("b"), dir.path().join("m"));
    std::fs::create_dir(&b).expect("mkdir");
    std::fs::create_dir(&m).expect("mkdir");
    let o = faultline(&[
        "live",
        "--start",
        b.to_str().expect("utf-8"),
        "--trials",
        "1",
        "--out",
        dir.path().join("out").to_str().expect("utf-8"),
        "--check",
        "true",
        "--",
        "true",
    ]);
    if o.status.success() {
        return true;
    }
    let why = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        std::env::var_os("FAULTLINE_REQUIRE_FUSE").is_none(),
        "FAULTLINE_REQUIRE_FUSE is set and a FUSE mount failed: {why}"
    );
    eprintln!("skipped: no FUSE here ({why}); install fuse3 and give the machine /dev/fuse");
    false
}

/// faultline's reference atomic replace, run as a program under hundreds of cuts at random
/// moments keeping random subsets: no cut leaves a torn document or loses an acknowledged
/// one. The report gives the trials and the interval zero failures imply.
#[test]
fn the_reference_atomic_replace_passes_hundreds_of_live_cuts() {
    if !fuse_works() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp");
    let start = dir.path().join("start");
    std::fs::create_dir(&start).expect("mkdir");
    std::fs::write(start.join("doc"), "{\"v\":1}").expect("write");
    let out = dir.path().join("out");
    let o = faultline(&[
        "live",
        "--start",
        start.to_str().expect("utf-8"),
        "--trials",
        "300",
        "--keep-pending",
        "random",
        "--block-size",
        "512",
        "--seed",
        "11",
        "--out",
        out.to_str().expect("utf-8"),
        "--check",
        CHECK_V2,
        "--",
        "sh",
        "-c",
        r#"{faultline} adapter faultline-durable doc '{"v":2}' && echo done"#,
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("failing cuts: 0 of 300 (95% upper bound"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("live.json")).expect("report")).expect("json");
    assert_eq!(json["trials"].as_array().map(Vec::len), Some(300));
    assert!(json["changes"].as_u64().is_some_and(|c| c >= 5), "{json}");
    // The same checker catches a replace that never fsyncs (the tempfile crate's persist).
    let o = faultline(&[
        "live",
        "--start",
        start.to_str().expect("utf-8"),
        "--trials",
        "60",
        "--keep-pending",
        "random",
        "--out",
        out.to_str().expect("utf-8"),
        "--check",
        CHECK_V2,
        "--",
        "sh",
        "-c",
        r#"{faultline} adapter tempfile-persist doc '{"v":2}' && echo done"#,
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("lost: rename .tmp"), "{text}");
}

/// Accepts the old document before the program said done and only the new one after.
const CHECK_V2: &str = r#"sh -c 'c=$(cat {dir}/doc); if grep -q done {stdout}; then [ "$c" = "{\"v\":2}" ]; else [ "$c" = "{\"v\":1}" ] || [ "$c" = "{\"v\":2}" ]; fi'"#;

/// The broken replace (no fsync before the rename, no directory fsync) fails under the same
/// cuts, exit 1, and each failure's reproduce line runs that one cut again with the same
/// verdict.
#[test]
fn a_broken_replace_fails_and_its_reproduce_line_fails_again() {
    if !fuse_works() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp");
    let start = dir.path().join("start");
    std::fs::create_dir(&start).expect("mkdir");
    std::fs::write(start.join("doc"), "one").expect("write");
    let out = dir.path().join("out");
    let check = r#"sh -c 'c=$(cat {dir}/doc); if grep -q done {stdout}; then [ "$c" = two ]; else [ "$c" = one ] || [ "$c" = two ]; fi'"#;
    let o = faultline(&[
        "live",
        "--start",
        start.to_str().expect("utf-8"),
        "--trials",
        "40",
        "--out",
        out.to_str().expect("utf-8"),
        "--check",
        check,
        "--",
        "sh",
        "-c",
        "printf two > doc.tmp && mv doc.tmp doc && echo done",
    ]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(1), "{text}");
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("reproduce: "))
        .expect("a reproduce line");
    let mut words = shell_words::split(line).expect("words");
    assert_eq!(words[..2], ["faultline", "live"]);
    let at = words.iter().position(|w| w == "--").expect("--");
    words.splice(
        at..at,
        [
            "--out".to_string(),
            dir.path().join("again").display().to_string(),
        ],
    );
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    let again = faultline(&args);
    let again_text = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(1), "{again_text}");
    assert!(again_text.contains("failing cuts: 1 of 1"), "{again_text}");
    // The reproduce line keeps the failing trial's directory; remove it.
    for kept in again_text.lines().filter_map(|l| l.trim().strip_prefix("kept: ")) {
        std::fs::remove_dir_all(kept).expect("kept directory");
    }
}

/// Bad input gets one line saying what to give instead, exit 2, and no mount.
#[test]
fn bad_live_and_mount_arguments_say_what_to_give() {
    let dir = tempfile::tempdir().expect("temp");
    let d = dir.path().to_str().expect("utf-8");
    let o = faultline(&["mount", d, d, "--cut-after", "fsink:*:1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("expected OP:GLOB:N"),
        "{o:?}"
    );
    let o = faultline(&["mount", d, d]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("must not contain one another"),
        "{o:?}"
    );
    let o = faultline(&["live", "--check", "true {nope}", "--", "true"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown placeholder {nope}"),
        "{o:?}"
    );
    let o = faultline(&["mount", "--cleanup", d]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("nothing to clean"),
        "{o:?}"
    );
    let o = faultline(&["cut", d]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is `faultline mount` running"),
        "{o:?}"
    );
}
