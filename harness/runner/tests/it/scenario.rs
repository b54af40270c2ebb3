use std::path::Path;

use faultline_runner::scenario::Check;
use faultline_runner::scenario_file;

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
    let e = scenario_file::parse(Path::new("s.toml"), text).expect_err("must be refused");
    assert!(
        e.to_string()
            .starts_with(&format!("s.toml:{}:{}: ", e.line, e.column)),
        "{e}"
    );
    (e.line, e.column, e.message)
}

#[test]
fn a_good_file_parses_with_defaults() {
    let s = scenario_file::parse(Path::new("config-race.toml"), GOOD).expect("parses");
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
            "[roles] writers must be from 1 to 256",
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
        // Extreme values are refused where they stand, before any duration is built.
        (
            &GOOD.replace("trials = 3", "watchdog_ms = 0"),
            (9, 15),
            "watchdog_ms must be from 10 to 3600000",
        ),
        (
            &GOOD.replace("trials = 3", "duration_s = 1e300"),
            (9, 14),
            "duration_s must be a number of seconds from 0.001 to 2592000",
        ),
        (
            &GOOD.replace("trials = 3", "duration_s = 1e-12"),
            (9, 14),
            "duration_s must be a number of seconds from 0.001",
        ),
        // Every worker is a process: a typo must not fork millions.
        (
            &GOOD.replace("writers = 1", "writers = 4294967295"),
            (6, 11),
            "[roles] writers must be from 1 to 256 (each is a process), got 4294967295",
        ),
        (
            &GOOD.replace("readers = 2", "readers = 100000"),
            (7, 11),
            "[roles] readers must be from 0 to 256",
        ),
        (
            &GOOD.replace("readers = 2", "readers = 2\nthreads = 0"),
            (8, 11),
            "[roles] threads must be from 1 to 256",
        ),
        (
            &GOOD.replace("[run]", "[workload]\nread_pause_us = 18446744073709551615\n[run]"),
            (9, 17),
            "read_pause_us must be from 0 to 1000000 (a second)",
        ),
        (
            &GOOD.replace(
                "[run]",
                "[faults]\nkill = { offset_ms = [0, 18446744073709551615] }\n[run]",
            ),
            (9, 22),
            "offset_ms must be [min, max] with min <= max <= 3600000",
        ),
        (
            &GOOD.replace(
                "[run]",
                "[faults]\npause = { after_ms = [0, 1], for_ms = 3600001 }\n[run]",
            ),
            (9, 39),
            "for_ms must be from 0 to 3600000",
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
fn lock_times_are_bounded_where_they_stand() {
    let lock = |table: &str| {
        format!(
            "family = \"lock\"\nvariants = [\"flock\"]\n[roles]\nwriters = 2\n[lock]\n{table}\n[expect.flock]\nmax_failures = 0\n"
        )
    };
    for (table, column, needle) in [
        (
            "timeout_ms = 18446744073709551615",
            14,
            "timeout_ms must be from 0 to 3600000",
        ),
        ("hold_us = 10000001", 11, "hold_us must be from 0 to 10000000"),
    ] {
        let (l, c, message) = error(&lock(table));
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        assert_eq!((l, c), (6, column), "{message}");
    }
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let e = scenario_file::load(Path::new("/nonexistent/x.toml")).expect_err("missing");
    assert!(
        e.to_string()
            .starts_with("/nonexistent/x.toml:1:1: cannot read the file"),
        "{e}"
    );
}

#[test]
fn every_shipped_scenario_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let files = scenario_file::files_in(&dir);
    assert!(files.len() >= 5, "{files:?}");
    for f in files {
        scenario_file::load(&f).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A lock scenario whose variant is a lock program (line 6 is its table, 7 the holder).
const LOCK_PROGRAM: &str = r#"
family = "lock"
variants = ["held"]
[roles]
writers = 2
[commands.held]
holder = ["flock", "{lock}", "{critical}"]
"#;

/// A queue scenario whose variant is queue programs (lines 7 and 8).
const QUEUE_PROGRAMS: &str = r#"
family = "queue"
variants = ["q"]
[roles]
writers = 1
[commands.q]
producer = ["enqueue", "{path}", "{item}"]
consumer = ["dequeue", "{path}", "{count}"]
[explore]
model = "power-loss"
"#;

#[test]
fn command_programs_are_one_kind_each_with_what_that_kind_needs() {
    let lock = scenario_file::parse(Path::new("s.toml"), LOCK_PROGRAM).expect("lock programs parse");
    // Programs are judged by their family's own checks.
    let bundled = scenario_file::parse(
        Path::new("s.toml"),
        &LOCK_PROGRAM.replace("variants = [\"held\"]", "variants = [\"flock\"]"),
    )
    .expect("a bundled lock parses");
    assert_eq!(lock.checks, bundled.checks);
    assert!(lock.checks.contains(&Check::TwoHolders), "{:?}", lock.checks);
    let queue = scenario_file::parse(Path::new("s.toml"), QUEUE_PROGRAMS).expect("queue programs parse");
    assert_eq!(queue.checks, vec![Check::ExactlyOnce]);
    // The family scenarios once had for programs still reads, as the family they implement.
    let legacy = scenario_file::parse(
        Path::new("s.toml"),
        &LOCK_PROGRAM.replace("\"lock\"", "\"command\""),
    )
    .expect("family command still parses");
    assert_eq!(legacy.family, "lock");
    assert_eq!(legacy.checks, lock.checks);

    let cases: &[(String, usize, &str)] = &[
        (
            LOCK_PROGRAM.replace(", \"{critical}\"", ""),
            7,
            "a holder must run the critical section",
        ),
        (
            LOCK_PROGRAM.replace("\"{critical}\"", "\"--run={critical}\""),
            7,
            "give \"{critical}\" as one word of its own",
        ),
        (
            format!("{LOCK_PROGRAM}writer = [\"w\", \"{{path}}\"]\n"),
            6,
            "a variant is one kind of program, but this table has writer and holder",
        ),
        (
            format!("{LOCK_PROGRAM}[explore]\nmodel = \"power-loss\"\n"),
            2,
            "lock programs run as processes",
        ),
        (
            LOCK_PROGRAM.replace("writers = 2", "writers = 2\nreaders = 1"),
            2,
            "lock programs hold exclusively",
        ),
        (
            QUEUE_PROGRAMS.replace("[explore]\nmodel = \"power-loss\"\n", ""),
            2,
            "queue programs are judged by their crash states",
        ),
        (
            QUEUE_PROGRAMS.replace("consumer = [\"dequeue\", \"{path}\", \"{count}\"]\n", ""),
            6,
            "a queue needs both producer",
        ),
        (
            QUEUE_PROGRAMS.replace("\"{item}\"]", "\"{item}\", \"{critical}\"]"),
            7,
            "{critical} is for holders only, not a producer",
        ),
        (
            QUEUE_PROGRAMS.replace("variants = [\"q\"]", "variants = [\"q\", \"held\"]")
                + "[commands.held]\nholder = [\"flock\", \"{lock}\", \"{critical}\"]\n",
            11,
            "[commands.held] is a lock program, but family queue takes producer",
        ),
        (
            LOCK_PROGRAM.replace("[commands.held]", "[commands.flock]"),
            6,
            "[commands.flock] takes the name of a bundled lock variant",
        ),
        (
            LOCK_PROGRAM.replace("\"lock\"", "\"store\""),
            6,
            "programs cannot implement family store",
        ),
        (
            QUEUE_PROGRAMS.replace("[commands.q]\n", "[commands.q]\nchecker = [\"c\"]\n"),
            7,
            "`checker` does not go with a queue's programs",
        ),
        // Under [explore] no processes run: what only processes use is refused where it stands.
        (
            QUEUE_PROGRAMS.replace("writers = 1", "writers = 1\nreaders = 2"),
            6,
            "readers does nothing with [explore]",
        ),
        (
            format!("{QUEUE_PROGRAMS}[run]\nwatchdog_ms = 500\n"),
            12,
            "watchdog_ms does nothing with [explore]",
        ),
        (
            format!("{QUEUE_PROGRAMS}[faults]\nkill = {{ offset_ms = [1, 2] }}\n"),
            12,
            "kill does nothing with [explore]",
        ),
        (
            QUEUE_PROGRAMS.replace("writers = 1", "writers = 2"),
            5,
            "[explore] records one writer's run",
        ),
        (
            format!("{QUEUE_PROGRAMS}[oracle]\nchecks = [\"exactly-once\"]\n"),
            12,
            "[oracle] checks do nothing with [explore]",
        ),
        (
            "\nfamily = \"atomic-write\"\nvariants = [\"w\"]\n[roles]\nwriters = 1\nreaders = 1\n\
             [workload]\nreads_per_reader = 5\n[commands.w]\nwriter = [\"true\"]\n"
                .to_string(),
            8,
            "reads_per_reader does nothing when every variant is programs",
        ),
        (
            "\nfamily = \"atomic-write\"\nvariants = [\"w\"]\n[roles]\nwriters = 1\nreaders = 1\n\
             [commands.w]\nwriter = [\"true\"]\n[oracle]\nchecks = [\"reads-are-versions\"]\n"
                .to_string(),
            10,
            "reads-are-versions judges what reader programs print",
        ),
    ];
    for (text, line, needle) in cases {
        let (l, _, message) = error(text);
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        assert_eq!(l, *line, "{message}");
    }
}
