use std::path::Path;

use faultline_runner::scenario::{self, Check};

const GOOD: &str = r#"
family = "atomic-write"
variants = ["truncate_in_place", "durable"]
seed = 7
[roles]
writers = 1
readers = 2
[run]
trials = 3
[expect.durable]
max_failures = 0
"#;

/// A queue scenario ending in an open `[queue]` table (its line 9 is the table's first key).
const QUEUE: &str = r#"
family = "queue"
variants = ["segmented"]
[roles]
writers = 1
[expect.segmented]
max_failures = 0
[queue]
"#;

fn error(text: &str) -> (usize, usize, String) {
    let e = scenario::parse(Path::new("s.toml"), text).expect_err("must be refused");
    assert!(
        e.to_string()
            .starts_with(&format!("s.toml:{}:{}: ", e.line, e.column)),
        "{e}"
    );
    (e.line, e.column, e.message)
}

#[test]
fn a_good_file_parses_with_defaults() {
    let s = scenario::parse(Path::new("config-race.toml"), GOOD).expect("parses");
    assert_eq!(s.name, "config-race");
    assert_eq!(s.variants, ["truncate_in_place", "durable"]);
    assert_eq!((s.writers, s.readers, s.trials, s.seed), (1, 2, 3, 7));
    // Without [oracle]: every check of the family's workload (the file checks here).
    assert_eq!(
        s.checks,
        [
            Check::TornRead,
            Check::StaleRegression,
            Check::OldOrNew,
            Check::NoLeakedTemps,
            Check::NoWriterErrors
        ]
    );
    assert_eq!(s.expect["durable"].max_failures, Some(0));
}

#[test]
fn every_problem_is_reported_at_its_line_and_column() {
    let cases: &[(&str, (usize, usize), &str)] = &[
        (
            "family = \"atomic-write\"\nvariants = [\n",
            (2, 13),
            "unclosed array",
        ),
        (
            &GOOD.replace("readers = 2", "readers = 2\nreaders_count = 3"),
            (8, 1),
            "unknown field `readers_count`",
        ),
        (
            &GOOD.replace("\"durable\"]", "\"durabel\"]"),
            (3, 34),
            "unknown variant 'durabel' of family atomic-write; valid variants: durable,",
        ),
        (
            &GOOD.replace("\"atomic-write\"", "\"atomic\""),
            (2, 10),
            "unknown family 'atomic'; valid families: atomic-write, lock, queue, store",
        ),
        (
            &GOOD.replace("writers = 1", "writers = 0"),
            (6, 11),
            "writers must be at least 1",
        ),
        (
            &GOOD.replace("trials = 3", "trials = \"three\""),
            (9, 10),
            "invalid type",
        ),
        (
            &format!("{GOOD}[faults]\ncrash_points = [{{ point = \"nowhere\" }}]\n"),
            (13, 27),
            "unknown crash point 'nowhere'; valid points: atomic_write.after_create",
        ),
        (
            &format!("{GOOD}[faults]\nkill = {{ offset_ms = [9, 1] }}\n"),
            (13, 22),
            "min <= max",
        ),
        (
            &format!("{GOOD}[expect.fixed_tmp_name]\nmax_failures = 0\n"),
            (12, 1),
            "does not run",
        ),
        (
            &GOOD.replace("max_failures = 0", "must_fail = [\"Torn\"]"),
            (11, 14),
            "unknown failure kind 'Torn'",
        ),
        (
            &format!("{GOOD}[queue]\nsegment_bytes = 4096\n"),
            (12, 1),
            "[queue] applies to family queue only",
        ),
        (
            &format!("{QUEUE}model = \"meteor\"\n"),
            (9, 9),
            "unknown model 'meteor'; valid models: process-crash, power-loss",
        ),
        (
            &format!("{QUEUE}block_size = 1000\n"),
            (9, 14),
            "block_size must be a power of two",
        ),
        (
            &format!("{QUEUE}segment_bytes = 10\n"),
            (9, 17),
            "segment_bytes must be at least 256",
        ),
        (
            &format!("{QUEUE}torn_tail = true\npreload = 0\n"),
            (8, 1),
            "torn_tail needs preload of at least 1",
        ),
        (
            &format!("{GOOD}[oracle]\nchecks = [\"vibes\"]\n"),
            (13, 11),
            "unknown check 'vibes'; valid checks: torn-read",
        ),
    ];
    // Positions checked by hand against GOOD's layout (its line 1 is empty).
    for (text, (line, column), needle) in cases {
        let (l, c, message) = error(text);
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        assert_eq!((l, c), (*line, *column), "{message}");
    }
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let e = scenario::load(Path::new("/nonexistent/x.toml")).expect_err("missing");
    assert!(
        e.to_string()
            .starts_with("/nonexistent/x.toml:1:1: cannot read the file"),
        "{e}"
    );
}

#[test]
fn every_shipped_scenario_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let files = scenario::files_in(&dir);
    assert!(files.len() >= 5, "{files:?}");
    for f in files {
        scenario::load(&f).unwrap_or_else(|e| panic!("{e}"));
    }
}
