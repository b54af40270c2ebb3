//! A `command` scenario of queue programs with `[explore]`: record the producer and consumer
//! running the same enqueue/dequeue steps as the built-in queues' crash-state exploration,
//! then recover every crash state as the next run would (the producer enqueues one more item,
//! the consumer drains the queue) and judge it by the same exactly-once accounting.
//!
//! The recorded run is one `sh -c` script. Around each enqueue it prints
//! `faultline-begin NAME` and, once the producer exited 0, `faultline-acked NAME`; consumers
//! print `delivered PAYLOAD` and `acked`. The trace's standard output thus says, at every
//! moment, what had been attempted, acknowledged, processed and acknowledged as processed.

use std::path::Path;

use faultline_core::crash_state::EnumerationConfig;
use faultline_core::{BlockSize, FsImage};

use crate::crash::Sweep;
use crate::crash::materialise;
use crate::external::record::record_in_fresh_dir;
use crate::family::queue::explore::{Event, Plan, SENTINEL, Step, judge_states};
use crate::family::queue::{Item, Ledger, Processed, parse_payload, payload};
use crate::family::target::Program;
use crate::program::{self, ACKED, DELIVERED, EXIT_CORRUPT, Vars};
use crate::scenario::CommandExplore;

/// The queue's path in the recorded directory and in every crash state (`{path}`).
pub const QUEUE_NAME: &str = "queue";
/// Printed before an enqueue.
const BEGIN: &str = "faultline-begin ";
/// Printed once the producer exited 0.
const ENQUEUED: &str = "faultline-acked ";
/// Printed after the last step.
const DONE: &str = "faultline-done";

/// The queue programs of `target`.
fn programs<'s>(target: Program<'s>) -> Result<(&'s [String], &'s [String]), String> {
    let programs = &target.roles.programs;
    match (programs.command("producer"), programs.command("consumer")) {
        (Some(producer), Some(consumer)) => Ok((producer, consumer)),
        _ => Err(format!("{} programs are not a queue", programs.kind())),
    }
}

/// Records the workload and judges the crash states `select` picks (by number).
pub fn explore(
    target: Program<'_>,
    plan: CommandExplore,
    payload_bytes: usize,
    select: &dyn Fn(u64) -> bool,
) -> Result<Sweep, String> {
    let (producer, consumer) = programs(target)?;
    let block_size = BlockSize::new(plan.block_size).map_err(|e| e.to_string())?;
    // The segment size is the built-in queues' knob; programs choose their own layout.
    let steps = Plan::new(plan.model, block_size, payload_bytes, 0).steps;
    let trace = record_in_fresh_dir(|dir| {
        Ok(script(
            target,
            (producer, consumer),
            &dir.join(QUEUE_NAME),
            &steps,
            payload_bytes,
        ))
    })?;
    let len = trace.entries.len();
    let (events, done) = events(&trace.output);
    let consumed: u32 = steps
        .iter()
        .map(|s| match s {
            Step::Consume(n) => *n,
            Step::Enqueue(_) => 0,
        })
        .sum();
    let delivered = events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Processed(_)))
        .count();
    let workload_failed = (!done || delivered != consumed as usize).then(|| {
        let printed = String::from_utf8_lossy(&trace.output_before(len)).into_owned();
        let tail: String = printed
            .chars()
            .rev()
            .take(200)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!(
            "the workload failed with no crash: {delivered} of {consumed} deliveries, {}; it printed ...{tail:?}",
            if done { "finished" } else { "did not finish" }
        )
    });
    let scratch =
        crate::scratch::private_dir("faultline-states-", None).map_err(|e| format!("temp dir: {e}"))?;
    let slot = scratch.path().join("state");
    let config = EnumerationConfig {
        block_size,
        ..EnumerationConfig::new(plan.model)
    };
    let mut sweep = judge_states(
        (&trace.base, &trace.entries, &events),
        &config,
        select,
        |image, ledger| {
            recover(target, (producer, consumer), &image, &slot, payload_bytes, ledger)
                .map_err(|e| format!("writing a crash state to {}: {e}", slot.display()))
        },
        |id| {
            let call = trace.entries[..id.moment]
                .last()
                .map_or_else(|| "the start".to_string(), ToString::to_string);
            format!(
                "crash state {id} (power cut after call {} of {len}: {call})",
                id.moment
            )
        },
    )?;
    if let Some(detail) = workload_failed {
        sweep.workload_failed(detail);
    }
    Ok(sweep)
}

/// `cd DIR && echo faultline-begin p1-0 && PRODUCER && echo faultline-acked p1-0 && ...
/// && CONSUMER && ... && echo faultline-done`.
fn script(
    target: Program<'_>,
    (producer, consumer): (&[String], &[String]),
    path: &Path,
    steps: &[Step],
    payload_bytes: usize,
) -> String {
    let dir = faultline_core::fs::parent_dir(path);
    let line = |words: Vec<String>| shell_words::join(words);
    let mut parts = vec![format!("cd {}", shell_words::quote(&dir.display().to_string()))];
    let mut seq = 0;
    for step in steps {
        match *step {
            Step::Enqueue(n) => {
                for _ in 0..n {
                    let item = Item { producer: 1, seq };
                    seq += 1;
                    let bytes = payload(item, payload_bytes);
                    let vars = Vars {
                        writer: 1,
                        item: std::str::from_utf8(&bytes).expect("payloads are ASCII"),
                        ..Vars::new(path, payload_bytes)
                    };
                    parts.push(format!("echo {BEGIN}{item}"));
                    parts.push(line(target.roles.expand(producer, &vars)));
                    parts.push(format!("echo {ENQUEUED}{item}"));
                }
            }
            Step::Consume(n) => {
                let vars = Vars {
                    count: u64::from(n),
                    ..Vars::new(path, payload_bytes)
                };
                parts.push(line(target.roles.expand(consumer, &vars)));
            }
        }
    }
    parts.push(format!("echo {DONE}"));
    parts.join(" && ")
}

/// The item a name such as `p1-3` names.
fn item_named(name: &str) -> Option<Item> {
    let (p, s) = name.trim().strip_prefix('p')?.split_once('-')?;
    Some(Item {
        producer: p.parse().ok()?,
        seq: s.parse().ok()?,
    })
}

/// The workload's events from what it printed (`output[m]` is printed by entry `m`, so it is
/// known at every moment after `m`), and whether it printed that it was done.
fn events(output: &[Vec<u8>]) -> (Vec<(usize, Event)>, bool) {
    let mut events = Vec::new();
    let mut done = false;
    let mut line = Vec::new();
    for (m, printed) in output.iter().enumerate() {
        for &b in printed {
            if b != b'\n' {
                line.push(b);
                continue;
            }
            let text = String::from_utf8_lossy(&line);
            let event = if let Some(name) = text.strip_prefix(BEGIN) {
                item_named(name).map(Event::Began)
            } else if let Some(name) = text.strip_prefix(ENQUEUED) {
                item_named(name).map(Event::Acknowledged)
            } else if let Some(p) = line.strip_prefix(DELIVERED.as_bytes()) {
                Some(Event::Processed(parse_payload(p)))
            } else if text == ACKED {
                Some(Event::AckReturned)
            } else {
                done |= text == DONE;
                None
            };
            events.extend(event.map(|e| (m + 1, e)));
            line.clear();
        }
    }
    (events, done)
}

/// Boots a crash state as the next run would: writes it to `slot`, runs the producer to
/// enqueue [`SENTINEL`], then the consumer to drain, and adds what they did to `ledger`.
/// Errs only when the state cannot be written.
fn recover(
    target: Program<'_>,
    (producer, consumer): (&[String], &[String]),
    image: &FsImage,
    slot: &Path,
    payload_bytes: usize,
    ledger: &mut Ledger,
) -> std::io::Result<()> {
    if slot.exists() {
        std::fs::remove_dir_all(slot)?;
    }
    materialise(image, slot)?;
    let path = slot.join(QUEUE_NAME);
    let bytes = payload(SENTINEL, payload_bytes);
    let vars = Vars {
        item: std::str::from_utf8(&bytes).expect("payloads are ASCII"),
        ..Vars::new(&path, payload_bytes)
    };
    ledger.attempted.insert(SENTINEL);
    let words = target.roles.expand(producer, &vars);
    match program::run(&words, slot) {
        Ok(out) if out.status.success() => {
            ledger.acknowledged.insert(SENTINEL);
        }
        Ok(out) => note(ledger, "enqueue after the crash", &words, &out),
        Err(e) => ledger.errors.push(format!("cannot run `{}`: {e}", words[0])),
    }
    let vars = Vars {
        count: (ledger.attempted.len() * 2 + 4) as u64,
        ..Vars::new(&path, payload_bytes)
    };
    let words = target.roles.expand(consumer, &vars);
    match program::run(&words, slot) {
        Ok(out) => {
            let (drained, _) = events(std::slice::from_ref(&out.stdout));
            for (_, event) in drained {
                match event {
                    Event::Processed(item) => ledger.processed.push(Processed {
                        item,
                        consumer: 0,
                        acked: false,
                        at_ns: u64::MAX,
                    }),
                    Event::AckReturned => {
                        if let Some(last) = ledger.processed.last_mut() {
                            last.acked = true;
                        }
                    }
                    _ => {}
                }
            }
            if !out.status.success() {
                note(ledger, "draining after the crash", &words, &out);
            }
        }
        Err(e) => ledger.errors.push(format!("cannot run `{}`: {e}", words[0])),
    }
    Ok(())
}

/// Files a program's failure: a corrupt record if it exited [`EXIT_CORRUPT`].
fn note(ledger: &mut Ledger, what: &str, words: &[String], out: &std::process::Output) {
    let detail = format!("{what}: {}", program::failure_detail(words, out));
    if out.status.code() == Some(EXIT_CORRUPT) {
        ledger.corrupt.push(detail);
    } else {
        ledger.errors.push(detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_lines_become_events_at_the_moment_after_their_entry() {
        let p = payload(Item { producer: 1, seq: 0 }, 40);
        let mut delivered = DELIVERED.as_bytes().to_vec();
        delivered.extend_from_slice(&p);
        delivered.push(b'\n');
        let output = vec![
            b"faultline-begin p1-0\n".to_vec(),
            Vec::new(),
            b"faultline-ac".to_vec(),
            b"ked p1-0\nnoise\n".to_vec(),
            delivered,
            b"acked\nfaultline-done\n".to_vec(),
        ];
        let (events, done) = events(&output);
        let item = Item { producer: 1, seq: 0 };
        assert_eq!(
            events,
            vec![
                (1, Event::Began(item)),
                (4, Event::Acknowledged(item)),
                (5, Event::Processed(Ok(item))),
                (6, Event::AckReturned),
            ]
        );
        assert!(done);
        assert_eq!(item_named("p12-7"), Some(Item { producer: 12, seq: 7 }));
        assert_eq!(item_named("q1-0"), None);
    }
}
