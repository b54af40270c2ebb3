//! The lock-order graph (lockdep for file locks). Processes running the lock family with
//! lockdep enabled append one JSON line per acquisition (see
//! `faultline_targets::lock::lockdep`). This builds the graph "held -> acquired" over every
//! process and finds its cycles: each is a set of acquisition orders that can deadlock when
//! the processes meet, whether or not they met in this run.

use std::path::Path;

use faultline_core::lock_order::OrderGraph;

/// One lock a process held when it took another.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct HeldLock {
    /// The lock's class (its file name).
    pub class: String,
    /// `shared` or `exclusive`.
    pub mode: String,
    /// Where it was taken.
    pub site: String,
}

/// One recorded acquisition.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Acquisition {
    /// The process.
    pub pid: u32,
    /// The lock taken.
    pub class: String,
    /// `shared` or `exclusive`.
    pub mode: String,
    /// Where it was taken.
    pub site: String,
    /// What the process already held.
    pub held: Vec<HeldLock>,
}

/// An edge of the graph, with the first acquisition that made it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Edge {
    /// The lock held.
    pub held: String,
    /// Where it had been taken.
    pub held_site: String,
    /// The lock taken while holding it.
    pub acquired: String,
    /// Where.
    pub site: String,
    /// The process that did it.
    pub pid: u32,
    /// Whether both locks were taken shared (such an edge alone cannot block).
    pub shared_only: bool,
}

/// Reads every `lockdep.*.jsonl` file in `dir`; lines that do not parse (a process killed
/// mid-line) are skipped.
pub fn load(dir: &Path) -> Vec<Acquisition> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut names: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("lockdep.") && n.ends_with(".jsonl"))
        })
        .collect();
    names.sort();
    for path in names {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        out.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
    }
    out
}

/// The graph, one edge per (held, acquired) pair, keeping the first acquisition seen.
pub fn graph(acquisitions: &[Acquisition]) -> OrderGraph<String, Edge> {
    let mut graph = OrderGraph::new();
    for a in acquisitions {
        for h in a.held.iter().filter(|h| h.class != a.class) {
            graph.insert(
                h.class.clone(),
                a.class.clone(),
                Edge {
                    held: h.class.clone(),
                    held_site: h.site.clone(),
                    acquired: a.class.clone(),
                    site: a.site.clone(),
                    pid: a.pid,
                    shared_only: h.mode == "shared" && a.mode == "shared",
                },
            );
        }
    }
    graph
}

/// Every elementary cycle of the graph (each once, starting at its smallest class), as the
/// edges along it. Cycles made only of shared-shared edges are left out: readers do not block
/// readers. At most `limit` cycles.
pub fn cycles(graph: &OrderGraph<String, Edge>, limit: usize) -> Vec<Vec<Edge>> {
    graph
        .cycles(limit, |cycle| !cycle.iter().all(|e| e.shared_only))
        .into_iter()
        .map(|cycle| cycle.into_iter().cloned().collect())
        .collect()
}

/// A cycle in words: the order of classes, then each acquisition chain with its call sites.
pub fn describe(cycle: &[Edge]) -> String {
    let mut order: Vec<&str> = cycle.iter().map(|e| e.held.as_str()).collect();
    if let Some(first) = cycle.first() {
        order.push(&first.held);
    }
    let chains: Vec<String> = cycle
        .iter()
        .map(|e| {
            format!(
                "pid {} took {} at {} while holding {} (taken at {})",
                e.pid, e.acquired, e.site, e.held, e.held_site
            )
        })
        .collect();
    format!("lock-order cycle {}: {}", order.join(" -> "), chains.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acq(pid: u32, class: &str, site: &str, held: &[(&str, &str)]) -> Acquisition {
        Acquisition {
            pid,
            class: class.into(),
            mode: "exclusive".into(),
            site: site.into(),
            held: held
                .iter()
                .map(|(c, s)| HeldLock {
                    class: (*c).into(),
                    mode: "exclusive".into(),
                    site: (*s).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn an_inversion_is_one_cycle_with_both_chains() {
        let a = [
            acq(1, "a", "w.rs:1", &[]),
            acq(1, "b", "w.rs:2", &[("a", "w.rs:1")]),
            acq(2, "b", "w.rs:3", &[]),
            acq(2, "a", "w.rs:4", &[("b", "w.rs:3")]),
        ];
        let found = cycles(&graph(&a), 10);
        assert_eq!(found.len(), 1);
        let text = describe(&found[0]);
        assert!(text.contains("a -> b -> a"), "{text}");
        assert!(
            text.contains("pid 1 took b at w.rs:2 while holding a (taken at w.rs:1)"),
            "{text}"
        );
        assert!(
            text.contains("pid 2 took a at w.rs:4 while holding b (taken at w.rs:3)"),
            "{text}"
        );
    }

    #[test]
    fn one_consistent_order_has_no_cycle() {
        let a = [
            acq(1, "a", "w.rs:1", &[]),
            acq(1, "b", "w.rs:2", &[("a", "w.rs:1")]),
            acq(2, "a", "w.rs:1", &[]),
            acq(2, "b", "w.rs:2", &[("a", "w.rs:1")]),
            acq(2, "c", "w.rs:5", &[("a", "w.rs:1"), ("b", "w.rs:2")]),
        ];
        assert!(cycles(&graph(&a), 10).is_empty());
    }

    #[test]
    fn a_three_lock_cycle_is_found_once() {
        let a = [
            acq(1, "b", "s:2", &[("a", "s:1")]),
            acq(2, "c", "s:4", &[("b", "s:3")]),
            acq(3, "a", "s:6", &[("c", "s:5")]),
        ];
        let found = cycles(&graph(&a), 10);
        assert_eq!(found.len(), 1);
        assert!(describe(&found[0]).contains("a -> b -> c -> a"));
    }

    #[test]
    fn readers_only_cycles_are_not_reported() {
        let mut a = vec![
            acq(1, "b", "s:2", &[("a", "s:1")]),
            acq(2, "a", "s:4", &[("b", "s:3")]),
        ];
        for x in &mut a {
            x.mode = "shared".into();
            for h in &mut x.held {
                h.mode = "shared".into();
            }
        }
        assert!(cycles(&graph(&a), 10).is_empty());
    }
}
