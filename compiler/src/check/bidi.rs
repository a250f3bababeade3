//! Unicode bidirectional control characters in keys and values: the text
//! Helios reads is not the text a reviewer sees (Trojan Source,
//! CVE-2021-42574), so each run of them is a warning at its exact bytes.

use crate::diagnostic::{Diagnostic, constructors as diag};
use crate::parse::{Node, Value};
use crate::span::Span;
use std::collections::HashSet;

/// The bidirectional controls that reorder how text is displayed: the
/// embeddings and overrides U+202A..=U+202E and the isolates
/// U+2066..=U+2069, with their Unicode names.
const CONTROLS: [(char, &str); 9] = [
    ('\u{202A}', "LEFT-TO-RIGHT EMBEDDING"),
    ('\u{202B}', "RIGHT-TO-LEFT EMBEDDING"),
    ('\u{202C}', "POP DIRECTIONAL FORMATTING"),
    ('\u{202D}', "LEFT-TO-RIGHT OVERRIDE"),
    ('\u{202E}', "RIGHT-TO-LEFT OVERRIDE"),
    ('\u{2066}', "LEFT-TO-RIGHT ISOLATE"),
    ('\u{2067}', "RIGHT-TO-LEFT ISOLATE"),
    ('\u{2068}', "FIRST STRONG ISOLATE"),
    ('\u{2069}', "POP DIRECTIONAL ISOLATE"),
];

/// The Unicode name of `c` if it is a bidirectional control.
pub(crate) fn control_name(c: char) -> Option<&'static str> {
    CONTROLS
        .iter()
        .find(|(control, _)| *control == c)
        .map(|(_, name)| *name)
}

/// Reports every run of bidirectional controls written in the source of a
/// key or a scalar value of `root`. Only characters present in the source
/// count: an escape (`"\u202E"`) displays as what it is.
pub(crate) fn check_bidi_controls(text: &str, root: &Node) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    // Merge keys and aliases can hand the same source node over twice.
    let mut seen = HashSet::new();
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        match &node.value {
            Value::Map(entries) => {
                for entry in entries.iter().rev() {
                    stack.push(&entry.value);
                }
                for entry in entries {
                    scan(text, entry.key_span, true, &mut seen, &mut diagnostics);
                }
            }
            Value::Seq(items) => stack.extend(items.iter().rev()),
            Value::Str(_) => scan(text, node.span, false, &mut seen, &mut diagnostics),
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => {}
        }
    }
    diagnostics
}

fn scan(
    text: &str,
    span: Span,
    key: bool,
    seen: &mut HashSet<Span>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    if !seen.insert(span) {
        return;
    }
    let source = span.slice(text);
    let mut run: Option<(usize, Vec<char>)> = None;
    for (offset, c) in source
        .char_indices()
        .chain(std::iter::once((source.len(), '\0')))
    {
        let is_control = control_name(c).is_some();
        match (&mut run, is_control) {
            (Some((_, chars)), true) => chars.push(c),
            (None, true) => run = Some((offset, vec![c])),
            (Some((start, chars)), false) => {
                let start = span.start + *start;
                // Each distinct character once, in order, with its count.
                let mut counts: Vec<(char, usize)> = Vec::new();
                for &c in chars.iter() {
                    match counts.iter_mut().find(|(seen, _)| *seen == c) {
                        Some((_, count)) => *count += 1,
                        None => counts.push((c, 1)),
                    }
                }
                let names: Vec<String> = counts
                    .iter()
                    .map(|&(c, count)| {
                        let name = control_name(c).unwrap_or_default();
                        let times = if count > 1 {
                            format!(" (×{count})")
                        } else {
                            String::new()
                        };
                        format!("U+{:04X} {name}{times}", u32::from(c))
                    })
                    .collect();
                diagnostics.push(diag::bidi_control_character(
                    &names,
                    key,
                    Span::new(start, span.start + offset),
                ));
                run = None;
            }
            (None, false) => {}
        }
    }
}
