//! `faultline-model`: runs the model checks of the in-process families under shuttle and
//! prints one JSON line per variant and scheduler; `faultline model` runs it and turns the
//! lines into a report. It must be built with `--cfg shuttle` (in its own target directory,
//! since the cfg changes every crate):
//!
//! ```sh
//! RUSTFLAGS="--cfg shuttle" cargo build --release -p faultline-targets --bin faultline-model --target-dir target/shuttle
//! ```
//!
//! Usage: `faultline-model [--iterations N] [--seed S]`, or
//! `faultline-model --replay FAMILY:VARIANT --schedule ENCODED`.

/// The build command, for the error an ordinary build prints.
pub const BUILD: &str = "RUSTFLAGS=\"--cfg shuttle\" cargo build --release -p faultline-targets --bin faultline-model --target-dir target/shuttle";

#[cfg(not(shuttle))]
fn main() {
    eprintln!("error: this faultline-model was built without --cfg shuttle; build it with:\n  {BUILD}");
    std::process::exit(2);
}

#[cfg(shuttle)]
fn main() {
    std::process::exit(with_shuttle::main());
}

#[cfg(shuttle)]
mod with_shuttle {
    use faultline_targets::model::search::{self, Strategy};
    use faultline_targets::model::{Workload, original_panic};

    fn usage(message: &str) -> i32 {
        eprintln!(
            "error: {message}\nusage: faultline-model [--iterations N] [--seed S]\n       faultline-model --replay FAMILY:VARIANT --schedule ENCODED"
        );
        2
    }

    fn workload(name: &str) -> Result<Workload, String> {
        Workload::by_name(name).ok_or_else(|| {
            let valid: Vec<String> = Workload::all().into_iter().map(Workload::name).collect();
            format!("unknown workload '{name}'; valid: {}", valid.join(", "))
        })
    }

    pub fn main() -> i32 {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut iterations = 2000usize;
        let mut seed = 0x5eed_0006u64;
        let mut replay = None;
        let mut schedule = None;
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let Some(value) = it.next() else {
                return usage(&format!("{flag} needs a value"));
            };
            match flag.as_str() {
                "--iterations" => match value.parse() {
                    Ok(n) if n > 0 => iterations = n,
                    _ => return usage(&format!("--iterations takes a positive number, got {value:?}")),
                },
                "--seed" => {
                    let parsed = match value.strip_prefix("0x") {
                        Some(hex) => u64::from_str_radix(hex, 16),
                        None => value.parse(),
                    };
                    match parsed {
                        Ok(s) => seed = s,
                        Err(_) => return usage(&format!("--seed takes a number, got {value:?}")),
                    }
                }
                "--replay" => replay = Some(value.clone()),
                "--schedule" => schedule = Some(value.clone()),
                other => return usage(&format!("unknown argument {other:?}")),
            }
        }
        // Each failing execution prints its panic; the JSON lines on stdout carry what matters.
        std::panic::set_hook(Box::new(|_| {}));
        match (replay, schedule) {
            (Some(name), Some(schedule)) => match workload(&name) {
                Ok(w) => replay_one(w, &schedule),
                Err(e) => usage(&e),
            },
            (None, None) => {
                search_all(iterations, seed);
                0
            }
            _ => usage("--replay and --schedule go together"),
        }
    }

    /// Records shuttle's scheduling decisions (its `trace!` of the task it runs next at each
    /// step) while a schedule is replayed.
    mod interleaving {
        use std::fmt::Write as _;
        use std::sync::Mutex;
        use std::sync::atomic::{AtomicU64, Ordering};

        use tracing::field::{Field, Visit};
        use tracing::span::{Attributes, Id, Record};
        use tracing::{Event, Metadata, Subscriber};

        /// The task that ran at each step, in order.
        pub static STEPS: Mutex<Vec<String>> = Mutex::new(Vec::new());

        pub struct Recorder {
            next_id: AtomicU64,
        }

        impl Recorder {
            pub fn new() -> Self {
                Recorder {
                    next_id: AtomicU64::new(1),
                }
            }
        }

        struct NextTask(String);

        impl Visit for NextTask {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "next_task" {
                    let _ = write!(self.0, "{value:?}");
                }
            }
        }

        impl Subscriber for Recorder {
            fn enabled(&self, metadata: &Metadata<'_>) -> bool {
                metadata.target().starts_with("shuttle")
            }
            fn new_span(&self, _: &Attributes<'_>) -> Id {
                Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed))
            }
            fn record(&self, _: &Id, _: &Record<'_>) {}
            fn record_follows_from(&self, _: &Id, _: &Id) {}
            fn event(&self, event: &Event<'_>) {
                let mut next = NextTask(String::new());
                event.record(&mut next);
                // `Some(TaskId(2))` -> "2"; a stop ends the schedule.
                let digits: String = next.0.chars().filter(char::is_ascii_digit).collect();
                if !next.0.is_empty()
                    && let Ok(mut steps) = STEPS.lock()
                {
                    steps.push(if digits.is_empty() { "stop".into() } else { digits });
                }
            }
            fn enter(&self, _: &Id) {}
            fn exit(&self, _: &Id) {}
        }

        /// Runs of the same task as lines: `steps 4-10: task 1`.
        pub fn lines() -> Vec<String> {
            let steps = STEPS.lock().map(|s| s.clone()).unwrap_or_default();
            let mut out = Vec::new();
            let mut start = 0;
            while start < steps.len() {
                let end = steps[start..]
                    .iter()
                    .position(|t| *t != steps[start])
                    .map_or(steps.len(), |n| start + n);
                let who = match steps[start].as_str() {
                    "stop" => "the schedule ends".to_string(),
                    "0" => "task 0 (the test's main thread) runs".to_string(),
                    t => format!("task {t} (the {} thread spawned) runs", ordinal(t)),
                };
                out.push(if end - start == 1 {
                    format!("step {start}: {who}")
                } else {
                    format!("steps {start}-{}: {who}", end - 1)
                });
                start = end;
            }
            out
        }

        fn ordinal(t: &str) -> String {
            match t {
                "1" => "first".into(),
                "2" => "second".into(),
                "3" => "third".into(),
                n => format!("{n}th"),
            }
        }
    }

    fn replay_one(w: Workload, schedule: &str) -> i32 {
        let failed =
            tracing::subscriber::with_default(interleaving::Recorder::new(), || search::replay(w, schedule));
        let line = serde_json::json!({
            "workload": w.name(),
            "interleaving": interleaving::lines(),
            "reproduced": failed.is_some(),
            "kind": failed.as_ref().and_then(|f| f.kind).map(|k| k.to_string()),
            "detail": failed.as_ref().map(|f| original_panic(&f.message).to_string()),
        });
        println!("{line}");
        i32::from(failed.is_none())
    }

    fn search_all(iterations: usize, seed: u64) {
        for strategy in [Strategy::Random, Strategy::Pct(3)] {
            for w in Workload::all() {
                let searched = search::run(w, strategy, seed, iterations);
                let info = w.info();
                let failure = searched.failure.as_ref();
                let line = serde_json::json!({
                    "workload": w.name(),
                    "family": w.family(),
                    "variant": info.name,
                    "catalogue_id": info.catalogue_id,
                    "strategy": strategy.name(),
                    "seed": seed,
                    "iterations": iterations,
                    "executions": searched.executions,
                    "seconds": searched.seconds,
                    "found": failure.and_then(|f| f.kind).map(|k| k.to_string()),
                    "detail": failure.map(|f| original_panic(&f.message).to_string()),
                    "schedule": failure.and_then(|f| f.schedule.clone()),
                });
                println!("{line}");
                eprintln!(
                    "{} {}: {}",
                    strategy.name(),
                    w.name(),
                    match failure {
                        Some(f) => format!(
                            "found {} after {} executions",
                            f.kind.map_or("an unknown failure".to_string(), |k| k.to_string()),
                            searched.executions
                        ),
                        None => format!("clean over {} executions", searched.executions),
                    }
                );
            }
        }
    }
}
