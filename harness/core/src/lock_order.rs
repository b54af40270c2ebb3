//! The lock-order graph: an edge `held -> acquired` for each lock taken while another was
//! held, with what the caller keeps about the first acquisition that made it. A cycle is a set
//! of acquisition orders that can deadlock when their holders meet, whether or not they met.
//!
//! One graph serves both lock-order checkers: the in-process one in the targets' sync shim
//! (locks by address, checked at each acquisition) and the runner's lockdep over file locks
//! (locks by file name, from every process's recorded acquisitions).

use std::collections::{BTreeMap, BTreeSet};

/// A directed graph of lock classes `N`, one edge per ordered pair, each carrying an `E`.
#[derive(Clone, Debug)]
pub struct OrderGraph<N, E> {
    edges: BTreeMap<(N, N), E>,
}

impl<N, E> Default for OrderGraph<N, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N, E> OrderGraph<N, E> {
    /// An empty graph (usable in a `static`).
    pub const fn new() -> Self {
        OrderGraph {
            edges: BTreeMap::new(),
        }
    }

    /// Forgets every edge.
    pub fn clear(&mut self) {
        self.edges.clear();
    }

    /// The edges, in order of (held, acquired).
    pub fn edges(&self) -> impl Iterator<Item = (&(N, N), &E)> {
        self.edges.iter()
    }
}

impl<N: Ord + Clone, E> OrderGraph<N, E> {
    /// Adds `held -> acquired` unless it is there (the first acquisition's `E` is kept);
    /// returns whether it was new.
    pub fn insert(&mut self, held: N, acquired: N, edge: E) -> bool {
        match self.edges.entry((held, acquired)) {
            std::collections::btree_map::Entry::Occupied(_) => false,
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(edge);
                true
            }
        }
    }

    /// The edge `held -> acquired`, if there is one.
    pub fn get(&self, held: &N, acquired: &N) -> Option<&E> {
        self.edges.get(&(held.clone(), acquired.clone()))
    }

    fn out_of<'a>(&'a self, at: &'a N) -> impl Iterator<Item = (&'a N, &'a E)> + 'a {
        self.edges
            .iter()
            .skip_while(move |((a, _), _)| a < at)
            .take_while(move |((a, _), _)| a == at)
            .map(|((_, b), e)| (b, e))
    }

    /// A path of edges from `from` to `to`, if there is one: adding `to -> from` would close
    /// a cycle along it.
    pub fn path(&self, from: &N, to: &N) -> Option<Vec<(N, N)>> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![(from.clone(), Vec::new())];
        while let Some((at, path)) = stack.pop() {
            if &at == to {
                return Some(path);
            }
            if !seen.insert(at.clone()) {
                continue;
            }
            for (b, _) in self.out_of(&at) {
                let mut next = path.clone();
                next.push((at.clone(), b.clone()));
                stack.push((b.clone(), next));
            }
        }
        None
    }

    /// Every elementary cycle, each once (starting at its smallest class), as its edges in
    /// order; only cycles that `keep` accepts, and at most `limit` of them.
    pub fn cycles(&self, limit: usize, keep: impl Fn(&[&E]) -> bool) -> Vec<Vec<&E>> {
        let nodes: BTreeSet<&N> = self.edges.keys().flat_map(|(a, b)| [a, b]).collect();
        let mut out = Vec::new();
        for start in nodes {
            let mut path = Vec::new();
            self.walk(start, start, &mut path, &mut out, limit, &keep);
            if out.len() >= limit {
                break;
            }
        }
        out
    }

    fn walk<'a>(
        &'a self,
        start: &N,
        at: &'a N,
        path: &mut Vec<(&'a N, &'a E)>,
        out: &mut Vec<Vec<&'a E>>,
        limit: usize,
        keep: &impl Fn(&[&E]) -> bool,
    ) {
        for (next, e) in self.out_of(at) {
            if out.len() >= limit {
                return;
            }
            if next == start {
                let cycle: Vec<&E> = path.iter().map(|(_, e)| *e).chain([e]).collect();
                if keep(&cycle) {
                    out.push(cycle);
                }
                continue;
            }
            // Only classes after the start, and none twice: each cycle is found once.
            if next < start || next == at || path.iter().any(|(n, _)| *n == next) {
                continue;
            }
            path.push((next, e));
            self.walk(start, next, path, out, limit, keep);
            path.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(u32, u32)]) -> OrderGraph<u32, (u32, u32)> {
        let mut g = OrderGraph::new();
        for &(a, b) in edges {
            g.insert(a, b, (a, b));
        }
        g
    }

    #[test]
    fn an_inversion_is_one_cycle_found_once() {
        let g = graph(&[(1, 2), (2, 1)]);
        assert_eq!(g.cycles(8, |_| true), vec![vec![&(1, 2), &(2, 1)]]);
        assert_eq!(g.path(&2, &1), Some(vec![(2, 1)]));
    }

    #[test]
    fn three_classes_in_a_ring_are_one_cycle_and_a_chain_is_none() {
        let g = graph(&[(1, 2), (2, 3), (3, 1)]);
        assert_eq!(g.cycles(8, |_| true), vec![vec![&(1, 2), &(2, 3), &(3, 1)]]);
        let chain = graph(&[(1, 2), (2, 3), (1, 3)]);
        assert!(chain.cycles(8, |_| true).is_empty());
        assert_eq!(chain.path(&3, &1), None);
    }

    #[test]
    fn keep_and_limit_filter_the_cycles() {
        let g = graph(&[(1, 2), (2, 1), (3, 4), (4, 3)]);
        assert_eq!(g.cycles(1, |_| true).len(), 1);
        assert_eq!(
            g.cycles(8, |c| c.iter().all(|e| e.0 != 1)),
            vec![vec![&(3, 4), &(4, 3)]]
        );
    }

    #[test]
    fn the_first_acquisition_of_an_edge_is_kept() {
        let mut g = OrderGraph::new();
        assert!(g.insert("a", "b", 1));
        assert!(!g.insert("a", "b", 2));
        assert_eq!(g.get(&"a", &"b"), Some(&1));
    }
}
