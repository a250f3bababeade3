//! Dependencies between services: explicit `depends_on` entries and the
//! implicit ones that references add. Checks that every name exists and
//! that services form no cycle, and returns each service's sorted list.

use super::Checker;
use super::references::Names;
use crate::diagnostic::constructors as diag;
use crate::span::Span;
use std::collections::{BTreeMap, BTreeSet};

/// One dependency, with where it comes from.
pub(crate) struct Edge {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) span: Span,
    /// Written in `depends_on` (as opposed to implied by a reference).
    pub(crate) explicit: bool,
}

/// Validates the edges and returns, per service, what it depends on.
pub(crate) fn check_dependencies(
    ck: &mut Checker<'_>,
    names: &Names<'_>,
    edges: &[Edge],
) -> BTreeMap<String, Vec<String>> {
    let mut valid: Vec<&Edge> = Vec::new();
    for edge in edges {
        let known = names.services.contains_key(edge.to.as_str())
            || names.databases.contains_key(edge.to.as_str())
            || names.unchecked.contains(edge.to.as_str());
        if edge.explicit && (!known || edge.to == edge.from) {
            let candidates = names.components().filter(|n| *n != edge.from);
            let suggestion = ck.closest_name(&edge.to, candidates);
            ck.report(diag::unknown_dependency(
                &edge.to, &edge.from, edge.span, suggestion,
            ));
            continue;
        }
        valid.push(edge);
    }

    // Adjacency between services only (databases depend on nothing), sorted
    // so that the cycle reported is the same on every run; the first edge
    // between two services (in source order) is the one pointed at.
    let mut graph: BTreeMap<&str, BTreeMap<&str, &Edge>> = BTreeMap::new();
    let mut depends_on: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for edge in &valid {
        depends_on
            .entry(edge.from.clone())
            .or_default()
            .insert(edge.to.clone());
        if names.services.contains_key(edge.to.as_str()) {
            graph
                .entry(edge.from.as_str())
                .or_default()
                .entry(edge.to.as_str())
                .or_insert(edge);
        }
    }
    report_cycles(ck, &graph);
    depends_on
        .into_iter()
        .map(|(service, targets)| (service, targets.into_iter().collect()))
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Mark {
    Unvisited,
    OnStack,
    Done,
}

/// Depth-first search; each back edge closes a cycle, reported once.
fn report_cycles(ck: &mut Checker<'_>, graph: &BTreeMap<&str, BTreeMap<&str, &Edge>>) {
    let mut marks: BTreeMap<&str, Mark> = graph.keys().map(|n| (*n, Mark::Unvisited)).collect();
    let starts: Vec<&str> = graph.keys().copied().collect();
    for start in starts {
        if marks.get(start) != Some(&Mark::Unvisited) {
            continue;
        }
        // Explicit stack of (node, remaining neighbours) to bound recursion.
        let mut path: Vec<&str> = vec![start];
        let mut stack: Vec<Vec<&str>> = vec![neighbours(graph, start)];
        marks.insert(start, Mark::OnStack);
        while let Some(pending) = stack.last_mut() {
            let Some(next) = pending.pop() else {
                stack.pop();
                if let Some(done) = path.pop() {
                    marks.insert(done, Mark::Done);
                }
                continue;
            };
            match marks.get(next).copied().unwrap_or(Mark::Done) {
                Mark::Unvisited => {
                    marks.insert(next, Mark::OnStack);
                    path.push(next);
                    stack.push(neighbours(graph, next));
                }
                Mark::OnStack => {
                    let begin = path.iter().position(|n| *n == next).unwrap_or(0);
                    let cycle: Vec<&str> = path[begin..].to_vec();
                    report_cycle(ck, graph, &cycle);
                }
                Mark::Done => {}
            }
        }
    }
}

fn neighbours<'g>(graph: &BTreeMap<&'g str, BTreeMap<&'g str, &Edge>>, node: &str) -> Vec<&'g str> {
    // Reversed so that popping visits them in sorted order.
    graph
        .get(node)
        .map(|targets| targets.keys().rev().copied().collect())
        .unwrap_or_default()
}

fn report_cycle(
    ck: &mut Checker<'_>,
    graph: &BTreeMap<&str, BTreeMap<&str, &Edge>>,
    cycle: &[&str],
) {
    let edge = |from: &str, to: &str| graph.get(from).and_then(|targets| targets.get(to)).copied();
    let mut names: Vec<String> = cycle.iter().map(|n| n.to_string()).collect();
    names.push(cycle[0].to_string());
    let (Some(last), Some(first)) = (cycle.last(), cycle.first()) else {
        return;
    };
    let Some(closing) = edge(last, first) else {
        return;
    };
    let others: Vec<(Span, String)> = cycle
        .windows(2)
        .filter_map(|pair| edge(pair[0], pair[1]))
        .map(|e| {
            let how = if e.explicit {
                "depends on"
            } else {
                "refers to"
            };
            (e.span, format!("`{}` {how} `{}`", e.from, e.to))
        })
        .collect();
    ck.report(diag::dependency_cycle(&names, closing.span, &others));
}
