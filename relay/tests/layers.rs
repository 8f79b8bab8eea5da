//! The layering ARCHITECTURE.md promises, checked on the source: the
//! top-level modules of `relay/src` and `protocol/src` import each other
//! without cycles, and the room logic imports no axum, store or sealer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `crate::<module>` references of each top-level module, tests and comments left out.
fn imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("source folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src");
            let top = rel
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .map(|s| s.trim_end_matches(".rs").to_string())
                .expect("a file name");
            if top == "lib" || top == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable source");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let deps = graph.entry(top.clone()).or_default();
            for line in code.lines() {
                let line = line.split("//").next().unwrap_or_default();
                for (i, _) in line.match_indices("crate::") {
                    let name: String = line[i + 7..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if name != top && !name.is_empty() {
                        deps.insert(name);
                    }
                }
            }
        }
    }
    graph
}

fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
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
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn relay_and_protocol_modules_import_each_other_without_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for crate_src in ["relay/src", "protocol/src"] {
        let graph = imports(&root.join(crate_src));
        assert!(graph.len() > 5, "{crate_src}: found {graph:?}");
        assert_eq!(cycle(&graph), None, "{crate_src} has an import cycle");
    }
}

#[test]
fn room_logic_imports_no_transport_store_or_sealer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = imports(&root);
    let room = &graph["room"];
    for banned in ["store", "seal", "http", "ws", "service", "error", "hub"] {
        assert!(!room.contains(banned), "room/ imports crate::{banned}");
    }
    let mut stack = vec![root.join("room")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("room/").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let text = std::fs::read_to_string(&path).expect("readable");
                assert!(
                    !text.contains("use axum") && !text.contains("axum::"),
                    "{} uses axum",
                    path.display()
                );
            }
        }
    }
}
