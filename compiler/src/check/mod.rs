//! Checking: the spanned YAML tree to the typed [`App`](crate::ir::App).
//!
//! Every rule of the design's Document and References sections is enforced
//! here, and every problem is reported, not only the first: a walker that
//! meets a bad value records a diagnostic and carries on with the rest.
//! Submodules: [`document`] walks the keys, [`values`] reads units and names,
//! [`references`] resolves `${...}`, [`dependencies`] orders services,
//! [`bidi`] warns about bidirectional control characters in the source.

mod bidi;
mod dependencies;
mod document;
mod references;
mod values;

use crate::diagnostic::{Diagnostic, constructors as diag};
use crate::parse::{Entry, Node, Value};
use crate::span::Span;
use crate::suggest::closest;

pub(crate) use bidi::check_bidi_controls;
pub(crate) use document::check_document;
pub(crate) use values::is_domain;

/// Options for checking that depend on where the file is, which the pure
/// library cannot find out by itself.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// How many folders the Heliosfile's folder is below the repository
    /// root (0: the Heliosfile is at the root). Build paths may climb with
    /// `..` at most this far. The default, 0, is the strictest.
    pub folder_depth_in_repo: usize,
}

/// Problems after which "did you mean" among the document's names stops.
const SUGGESTION_BUDGET: usize = 100;

/// Walks a tree and collects diagnostics.
pub(crate) struct Checker<'t> {
    pub(crate) text: &'t str,
    pub(crate) options: &'t CheckOptions,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

/// The entries of a mapping whose unknown keys were already reported.
pub(crate) struct Fields<'n> {
    entries: &'n [Entry],
    /// Where to point when a required key is missing.
    pub(crate) span: Span,
}

impl<'n> Fields<'n> {
    pub(crate) fn get(&self, key: &str) -> Option<&'n Entry> {
        self.entries.iter().find(|entry| entry.key == key)
    }
}

impl<'t> Checker<'t> {
    pub(crate) fn new(text: &'t str, options: &'t CheckOptions) -> Self {
        Self {
            text,
            options,
            diagnostics: Vec::new(),
        }
    }

    /// The closest of the document's own names (services, databases,
    /// secrets), for "did you mean". There can be thousands of names, so the
    /// search stops once a file has shown [`SUGGESTION_BUDGET`] problems:
    /// past that, suggestions would cost time without helping anyone.
    pub(crate) fn closest_name<'c>(
        &self,
        input: &str,
        candidates: impl IntoIterator<Item = &'c str>,
    ) -> Option<&'c str> {
        if self.diagnostics.len() >= SUGGESTION_BUDGET {
            return None;
        }
        closest(input, candidates)
    }

    pub(crate) fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn wrong_type(&mut self, what: &str, expected: &str, node: &Node) {
        self.report(diag::wrong_type(
            what,
            expected,
            node.value.type_name(),
            node.span,
        ));
    }

    /// The node as a mapping, or a wrong-type diagnostic.
    pub(crate) fn mapping<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Entry]> {
        match &node.value {
            Value::Map(entries) => Some(entries),
            _ => {
                self.wrong_type(what, "a mapping", node);
                None
            }
        }
    }

    /// The node as a mapping whose keys are all in `known`; unknown keys are
    /// reported with the closest known key.
    pub(crate) fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        known: &[&str],
        missing_span: Span,
    ) -> Option<Fields<'n>> {
        let entries = self.mapping(node, what)?;
        for entry in entries {
            if !known.contains(&entry.key.as_str()) {
                let suggestion = closest(&entry.key, known.iter().copied());
                self.report(diag::unknown_key(
                    &entry.key,
                    what,
                    entry.key_span,
                    suggestion,
                    known,
                ));
            }
        }
        Some(Fields {
            entries,
            span: missing_span,
        })
    }

    /// A required key, or a missing-key diagnostic.
    pub(crate) fn require<'n>(
        &mut self,
        fields: &Fields<'n>,
        key: &str,
        what: &str,
        example: &str,
    ) -> Option<&'n Entry> {
        let entry = fields.get(key);
        if entry.is_none() {
            self.report(diag::missing_key(key, what, fields.span, example));
        }
        entry
    }

    /// A string value (quoted or plain text; not a number or boolean).
    pub(crate) fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(text) => Some(text.clone()),
            _ => {
                self.wrong_type(what, "a string", node);
                None
            }
        }
    }

    /// Any scalar as text, as written (`16` → `"16"`, `no` → `"no"`).
    pub(crate) fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        match (&node.value, node.scalar_text(self.text)) {
            (Value::Null, _) | (_, None) => {
                self.wrong_type(what, "a string", node);
                None
            }
            (_, Some(text)) => Some(text.to_string()),
        }
    }

    pub(crate) fn integer(&mut self, node: &Node, what: &str) -> Option<i64> {
        match node.value {
            Value::Int(value) => Some(value),
            _ => {
                self.wrong_type(what, "an integer", node);
                None
            }
        }
    }

    pub(crate) fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.value {
            Value::Bool(value) => Some(value),
            _ => {
                self.wrong_type(what, "`true` or `false`", node);
                None
            }
        }
    }

    pub(crate) fn list<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.wrong_type(what, "a list", node);
                None
            }
        }
    }

    /// A list of strings, each with its span.
    pub(crate) fn string_list(&mut self, node: &Node, what: &str) -> Vec<(String, Span)> {
        let Some(items) = self.list(node, what) else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| {
                self.string(item, &format!("each entry of {what}"))
                    .map(|s| (s, item.span))
            })
            .collect()
    }

    /// A port number 1..=65535.
    pub(crate) fn port(&mut self, node: &Node, key: &str) -> Option<u16> {
        let value = self.integer(node, &format!("`{key}`"))?;
        match u16::try_from(value) {
            Ok(port) if port > 0 => Some(port),
            _ => {
                self.report(diag::port_out_of_range(key, &value.to_string(), node.span));
                None
            }
        }
    }

    /// One of a fixed set of words, with a suggestion when it is not.
    pub(crate) fn one_of<T: Copy>(
        &mut self,
        node: &Node,
        what: &str,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let word = self.string(node, &format!("`{what}`"))?;
        if let Some((_, value)) = choices.iter().find(|(name, _)| *name == word) {
            return Some(*value);
        }
        let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
        let suggestion = closest(&word, names.iter().copied());
        self.report(diag::unknown_value(
            what, &word, &names, node.span, suggestion,
        ));
        None
    }
}

/// The keys each mapping accepts, for the schema's consistency test.
#[cfg(test)]
pub(crate) mod document_keys {
    pub(crate) use super::document::{
        BUILD_KEYS as BUILD, DATABASE_KEYS as DATABASE, HEALTHCHECK_KEYS as HEALTHCHECK,
        SERVICE_KEYS as SERVICE, TOP_KEYS as TOP,
    };
}
