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

/// A scenario's `[live]` table makes live cuts a detector the gate runs: the unfsynced
/// savers are caught with the kinds they must show, the durable one holds with zero
/// failures, and a case replays from its reproduce line.
#[test]
fn the_gate_runs_a_live_scenario_and_its_cases_replay() {
    if !fuse_works() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp");
    let out = dir.path().join("out");
    let scenario =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/examples/python-live.toml");
    let o = faultline(&[
        "gate",
        scenario.to_str().expect("utf-8"),
        "--no-baseline",
        "--trials",
        "40",
        "--variant",
        "replace_no_fsync",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("gate: passed"), "{text}");
    let o = faultline(&["replay", out.to_str().expect("utf-8"), "--case", "1"]);
    let replayed = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{replayed}");
    assert!(replayed.contains("reproduced"), "{replayed}");
    assert!(replayed.contains("live cut:"), "{replayed}");
    let o = faultline(&[
        "run",
        scenario.to_str().expect("utf-8"),
        "--trials",
        "60",
        "--variant",
        "replace_durable",
        "--out",
        dir.path().join("durable").to_str().expect("utf-8"),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("0 of 60 trials (95% upper bound"), "{text}");
}

/// `[live]` beside `[explore]`, or for a bundled variant, is refused where it stands.
#[test]
fn a_live_table_that_cannot_run_is_refused_with_its_place() {
    let dir = tempfile::tempdir().expect("temp");
    let both = dir.path().join("both.toml");
    std::fs::write(
        &both,
        "family = \"atomic-write\"\nvariants = [\"p\"]\n[roles]\nwriters = 1\n[explore]\nmodel = \"power-loss\"\n[live]\nversions = 2\n[commands.p]\nwriter = [\"true\"]\n",
    )
    .expect("write");
    let o = faultline(&["run", both.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("both.toml:7") && e.contains("keep one of them"), "{e}");
    let bundled = dir.path().join("bundled.toml");
    std::fs::write(
        &bundled,
        "family = \"atomic-write\"\nvariants = [\"durable\"]\n[roles]\nwriters = 1\n[live]\nkeep = \"some\"\n",
    )
    .expect("write");
    let o = faultline(&["run", bundled.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("'durable' is a bundled variant"), "{e}");
    let readers = dir.path().join("readers.toml");
    std::fs::write(
        &readers,
        "family = \"atomic-write\"\nvariants = [\"p\"]\n[roles]\nwriters = 1\nreaders = 2\n[live]\nkeep = \"nothing\"\n[commands.p]\nwriter = [\"true\"]\n",
    )
    .expect("write");
    let o = faultline(&["run", readers.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("readers.toml:5") && e.contains("does nothing with [live]"),
        "{e}"
    );
}

/// `faultline mount` serves until `faultline cut`, then prints and logs what the cut lost,
/// leaves the backing directory in the crash state and unmounts.
#[test]
fn faultline_cut_ends_a_mount_with_its_log() {
    if !fuse_works() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp");
    let (b, m, log) = (
        dir.path().join("b"),
        dir.path().join("m"),
        dir.path().join("cut.log"),
    );
    std::fs::create_dir(&b).expect("mkdir");
    std::fs::create_dir(&m).expect("mkdir");
    std::fs::write(b.join("kept"), "from before").expect("write");
    let control = dir.path().join("control.sock");
    let mount = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["mount", "b", "m", "--log", "cut.log", "--control", "control.sock"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mount runs");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !control.exists() || std::fs::read_dir(&m).map_or(true, |mut d| d.next().is_none()) {
        assert!(std::time::Instant::now() < until, "the mount never came up");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::write(m.join("new"), "never synced").expect("write through the mount");
    let o = faultline(&[
        "cut",
        m.to_str().expect("utf-8"),
        "--control",
        control.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "cut: 2 changes in doubt, 2 lost or torn\n"
    );
    let out = mount.wait_with_output().expect("ends");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(printed.contains("lost: create new (call 1)"), "{printed}");
    assert_eq!(std::fs::read_to_string(&log).expect("log"), printed);
    assert_eq!(
        std::fs::read_to_string(b.join("kept")).expect("kept"),
        "from before"
    );
    assert!(!b.join("new").exists(), "the unsynced file is gone");
}
