//! The runner's modules form layers: no top-level module of `src/` (a file, or a folder with
//! everything in it) uses one that uses it back, directly or through others. Results, the
//! report envelope and the trace format sit below what reads and writes them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Top-level module -> the top-level modules its code names through `crate::`.
fn uses_of(src: &Path) -> Graph {
    let mut graph = Graph::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let Ok(relative) = path.strip_prefix(src) else {
                continue;
            };
            let first = relative
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned());
            let Some(module) = first.map(|f| f.trim_end_matches(".rs").to_string()) else {
                continue;
            };
            if module == "lib" || path.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            let used = graph.entry(module.clone()).or_default();
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (at, _) in line.match_indices("crate::") {
                    let name: String = line[at + 7..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module {
                        used.insert(name);
                    }
                }
            }
        }
    }
    graph
}

/// A cycle of `graph`, if it has one.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_runners_modules_form_layers_with_no_cycle() {
    // The check finds a cycle where there is one.
    let mut planted = Graph::new();
    planted.entry("report".into()).or_default().insert("gate".into());
    planted.entry("gate".into()).or_default().insert("render".into());
    planted
        .entry("render".into())
        .or_default()
        .insert("report".into());
    assert_eq!(
        cycle(&planted),
        Some(vec![
            "gate".into(),
            "render".into(),
            "report".into(),
            "gate".into()
        ])
    );

    let graph = uses_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for module in [
        "results", "envelope", "crash", "family", "process", "scenario", "external",
    ] {
        assert!(graph.contains_key(module), "{module} missing from {graph:?}");
    }
    assert!(graph["run"].contains("family"), "{graph:?}");
    assert_eq!(
        cycle(&graph),
        None,
        "a module uses one that uses it back: {graph:?}"
    );
    // The bottom layer names nothing above it.
    assert!(graph["results"].is_empty(), "{:?}", graph["results"]);
}
