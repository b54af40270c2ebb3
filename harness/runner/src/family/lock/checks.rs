//! What a lock trial is judged on after its holders are gone: the critical-section logs
//! (no exclusive holder overlaps another holder), the counter (no acknowledged increment is
//! missing), the planted symlink's victim (untouched), and the lock-order graph (no cycle).

use std::collections::BTreeMap;
use std::path::Path;

use faultline_core::{Failure, FailureKind};

use super::holder::{COUNTER_FILE, VICTIM_FILE, VICTIM_TEXT};
use super::lockdep;
use super::plan::{LockPlan, LockWorkload};
use crate::process::outcome::TrialOutcome;
use crate::process::worker::FirstFailure;
use crate::scenario::{Check, Scenario};

/// One stretch of time a holder held the lock in one mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    /// The holder.
    pub holder: u32,
    /// Its section number.
    pub section: u32,
    /// Exclusive (or shared).
    pub exclusive: bool,
    /// From (monotonic ns).
    pub from: u64,
    /// To.
    pub to: u64,
}

/// What the runner knows of how each holder ended.
pub struct Ends {
    /// Holders the runner SIGKILLed, with the time it sent the signal.
    pub killed_at: BTreeMap<u32, u64>,
    /// When the trial's processes were all gone (or killed).
    pub end: u64,
    /// When the holders were released (timelines count from here).
    pub release: u64,
}

/// The holds around an overlap, as timeline entries: every hold that overlaps the first
/// one's span, each as its entry and its exit (at most 16 holds).
fn holds_timeline(all: &[Interval], a: &Interval, ends: &Ends) -> Vec<crate::results::TimelineEntry> {
    let ms = |t: u64| t.saturating_sub(ends.release) as f64 / 1e6;
    let mut out = Vec::new();
    for i in all.iter().filter(|i| i.from < a.to && i.to > a.from).take(16) {
        let mode = if i.exclusive { "exclusively" } else { "shared" };
        out.push(crate::results::TimelineEntry {
            at_ms: ms(i.from),
            event: format!(
                "holder {} entered the critical section {mode} (section {})",
                i.holder, i.section
            ),
        });
        let left = if ends.killed_at.get(&i.holder) == Some(&i.to) {
            "was killed inside the critical section"
        } else {
            "left the critical section"
        };
        out.push(crate::results::TimelineEntry {
            at_ms: ms(i.to),
            event: format!("holder {} {left} (section {})", i.holder, i.section),
        });
    }
    out
}

/// Reads the holders' logs in `dir` into intervals. A holder killed inside (no `X`) held the
/// lock until the runner's SIGKILL, or until its own crash point (`D`), or else until the end.
pub fn intervals(dir: &Path, ends: &Ends) -> Vec<Interval> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with("cs.") && name.ends_with(".log")) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let mut open: Option<Interval> = None;
        let mut holder = None;
        for line in text.lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            let [event, id, section, t] = parts.as_slice() else {
                continue;
            };
            let (Ok(id), Ok(section), Ok(t)) = (id.parse::<u32>(), section.parse::<u32>(), t.parse::<u64>())
            else {
                continue;
            };
            holder = Some(id);
            match *event {
                "E" | "S" => {
                    // An entry with no exit before the next (a lock program's section killed
                    // on its own) held at most until that next entry.
                    if let Some(mut i) = open.take() {
                        i.to = t;
                        out.push(i);
                    }
                    open = Some(Interval {
                        holder: id,
                        section,
                        exclusive: *event == "E",
                        from: t,
                        to: t,
                    });
                }
                "U" => {
                    if let Some(mut shared) = open.take() {
                        shared.to = t;
                        out.push(shared);
                    }
                    open = Some(Interval {
                        holder: id,
                        section,
                        exclusive: true,
                        from: t,
                        to: t,
                    });
                }
                "X" | "D" => {
                    if let Some(mut i) = open.take() {
                        i.to = t;
                        out.push(i);
                    }
                }
                _ => {}
            }
        }
        if let Some(mut i) = open {
            i.to = holder
                .and_then(|h| ends.killed_at.get(&h).copied())
                .unwrap_or(ends.end);
            out.push(i);
        }
    }
    // A killed holder held nothing after the kill. A built-in holder logs nothing after it,
    // but a lock program's section is a process of its own and dies a moment after the
    // program that held the lock: what it logged once the kill was sent is not a hold.
    out.retain_mut(|i| match ends.killed_at.get(&i.holder) {
        Some(&k) if i.from > k => false,
        Some(&k) => {
            i.to = i.to.min(k);
            true
        }
        None => true,
    });
    out.sort_by_key(|i| (i.from, i.holder));
    out
}

/// Overlapping pairs where at least one side is exclusive, and the most shared holders
/// inside at once.
pub fn overlaps(intervals: &[Interval]) -> (Vec<(Interval, Interval)>, u64) {
    let mut pairs = Vec::new();
    for (i, a) in intervals.iter().enumerate() {
        for b in &intervals[i + 1..] {
            if b.from >= a.to {
                break;
            }
            if b.holder != a.holder && (a.exclusive || b.exclusive) {
                pairs.push((*a, *b));
            }
        }
    }
    // Most shared holders at once: sweep the starts and ends.
    let mut points: Vec<(u64, i64)> = intervals
        .iter()
        .filter(|i| !i.exclusive)
        .flat_map(|i| [(i.from, 1), (i.to, -1)])
        .collect();
    points.sort_by_key(|(t, d)| (*t, *d));
    let (mut now, mut most) = (0i64, 0i64);
    for (_, d) in points {
        now += d;
        most = most.max(now);
    }
    (pairs, most as u64)
}

/// Judges a finished lock trial in `dir`; `acknowledged` is the sum of the holders'
/// acknowledged increments and `killed` how many holders were killed.
pub fn judge(
    outcome: &mut TrialOutcome,
    dir: &Path,
    s: &Scenario,
    ends: &Ends,
    acknowledged: u64,
    killed: u64,
    at_s: f64,
) {
    let fail = |outcome: &mut TrialOutcome, kind: FailureKind, detail: String| {
        outcome.trial_failures.push(Failure {
            kind,
            detail: detail.clone(),
        });
        outcome.note(FirstFailure { kind, detail, at_s });
    };
    if s.checks.contains(&Check::TwoHolders) {
        let all = intervals(dir, ends);
        let (pairs, most_shared) = overlaps(&all);
        outcome.max_shared_holders = outcome.max_shared_holders.max(most_shared);
        if let Some((a, b)) = pairs.first() {
            let mode = |i: &Interval| if i.exclusive { "exclusively" } else { "shared" };
            let detail = format!(
                "{} overlapping holds; first: holder {} (section {}) held the lock {} for {:.3} ms, and {:.3} ms after it entered, holder {} (section {}) entered {}",
                pairs.len(),
                a.holder,
                a.section,
                mode(a),
                (a.to - a.from) as f64 / 1e6,
                (b.from - a.from) as f64 / 1e6,
                b.holder,
                b.section,
                mode(b),
            );
            let holds = holds_timeline(&all, a, ends);
            outcome.timeline.extend(holds);
            fail(outcome, FailureKind::TwoHolders, detail);
        }
    }
    if s.checks.contains(&Check::LostUpdate) && LockPlan::of(s).workload == LockWorkload::Counter {
        let text = std::fs::read_to_string(dir.join(COUNTER_FILE)).unwrap_or_default();
        let value: u64 = text.trim().parse().unwrap_or(0);
        if value < acknowledged {
            fail(
                outcome,
                FailureKind::LostUpdate,
                format!(
                    "the counter holds {value} after {acknowledged} acknowledged increments: {} lost",
                    acknowledged - value
                ),
            );
        } else if value > acknowledged + killed {
            fail(
                outcome,
                FailureKind::UnexpectedError,
                format!(
                    "the counter holds {value}, more than the {acknowledged} acknowledged increments plus one per killed holder ({killed})"
                ),
            );
        }
    }
    if s.checks.contains(&Check::SymlinkVictim) && LockPlan::of(s).plant_symlink {
        let held = std::fs::read(dir.join(VICTIM_FILE));
        let detail = match held {
            Ok(bytes) if bytes == VICTIM_TEXT.as_bytes() => None,
            Ok(bytes) => Some(format!(
                "the symlink's target now holds {} bytes ({:?}) instead of the user's {}",
                bytes.len(),
                String::from_utf8_lossy(&bytes[..bytes.len().min(40)]),
                VICTIM_TEXT.len()
            )),
            Err(e) => Some(format!("the symlink's target is gone: {e}")),
        };
        if let Some(detail) = detail {
            fail(outcome, FailureKind::FollowedSymlink, detail);
        }
    }
    if s.checks.contains(&Check::LockOrder) && LockPlan::of(s).lockdep {
        let graph = lockdep::graph(&lockdep::load(dir));
        let cycles = lockdep::cycles(&graph, 8);
        if let Some(first) = cycles.first() {
            let detail = if cycles.len() > 1 {
                format!(
                    "{} (and {} more cycles)",
                    lockdep::describe(first),
                    cycles.len() - 1
                )
            } else {
                lockdep::describe(first)
            };
            fail(outcome, FailureKind::LockOrderInversion, detail);
        }
    }
}

/// Tries the trial's lock once every holder is gone: one attempt, no waiting. Every holder
/// has exited, and a process's locks are released before it can be reaped, so a refusal is
/// a fact: something that is no holder (a program a holder started, say) still holds it,
/// `StuckLock`.
pub fn lock_is_free(
    outcome: &mut TrialOutcome,
    variant: faultline_targets::lock::Variant,
    dir: &Path,
    at_s: f64,
) {
    use faultline_targets::lock::{LockError, Mode};
    let path = dir.join(super::holder::LOCK_FILE);
    let result = variant.open(&path).and_then(|lock| {
        lock.lock(Mode::Exclusive, Some(std::time::Duration::ZERO))
            .map(drop)
    });
    let (kind, detail) = match result {
        Ok(()) => return,
        Err(LockError::Timeout { path, .. }) => (
            FailureKind::StuckLock,
            format!(
                "every holder has ended, yet {} is still locked: the one attempt to take it was refused",
                path.display()
            ),
        ),
        Err(e) => (
            FailureKind::UnexpectedError,
            format!("taking the lock after the trial: {e}"),
        ),
    };
    outcome.trial_failures.push(Failure {
        kind,
        detail: detail.clone(),
    });
    outcome.note(FirstFailure { kind, detail, at_s });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(holder: u32, exclusive: bool, from: u64, to: u64) -> Interval {
        Interval {
            holder,
            section: 1,
            exclusive,
            from,
            to,
        }
    }

    #[test]
    fn back_to_back_holds_do_not_overlap() {
        let (pairs, _) = overlaps(&[i(1, true, 0, 10), i(2, true, 10, 20), i(1, true, 21, 30)]);
        assert!(pairs.is_empty());
    }

    #[test]
    fn an_exclusive_hold_inside_another_is_caught() {
        let (pairs, _) = overlaps(&[i(1, true, 0, 100), i(2, true, 50, 60)]);
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].1.holder, 2);
    }

    #[test]
    fn readers_overlap_each_other_but_not_a_writer() {
        let (pairs, most) = overlaps(&[i(1, false, 0, 100), i(2, false, 10, 90), i(3, false, 20, 30)]);
        assert!(pairs.is_empty());
        assert_eq!(most, 3);
        let (pairs, _) = overlaps(&[i(1, false, 0, 100), i(2, true, 10, 20)]);
        assert_eq!(pairs.len(), 1);
    }

    #[test]
    fn a_killed_holder_holds_nothing_after_its_kill() {
        let dir = tempfile::tempdir().expect("temp");
        // Holder 1 was killed at 50: its section 1 left no X, section 2's process logged
        // after the kill. Holder 2 entered at 60, once the lock had passed on.
        std::fs::write(
            dir.path().join("cs.1.log"),
            "E 1 1 10\nX 1 1 20\nE 1 2 40\nE 1 3 55\nX 1 3 70\n",
        )
        .expect("log 1");
        std::fs::write(dir.path().join("cs.2.log"), "E 2 1 60\nX 2 1 80\n").expect("log 2");
        let ends = Ends {
            killed_at: BTreeMap::from([(1, 50)]),
            end: 100,
            release: 0,
        };
        let all = intervals(dir.path(), &ends);
        let spans: Vec<(u32, u64, u64)> = all.iter().map(|i| (i.holder, i.from, i.to)).collect();
        assert_eq!(spans, [(1, 10, 20), (1, 40, 50), (2, 60, 80)]);
        assert!(overlaps(&all).0.is_empty());
        // Not killed, the same logs overlap.
        let alive = Ends {
            killed_at: BTreeMap::new(),
            end: 100,
            release: 0,
        };
        assert_eq!(overlaps(&intervals(dir.path(), &alive)).0.len(), 1);
    }
}
