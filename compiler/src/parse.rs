//! Parsing: Heliosfile text to a tree of YAML nodes, each with its byte span.
//!
//! The tree is untyped on purpose. Deserializing straight into Rust structs
//! would stop at the first wrong key or type; walking a spanned tree lets the
//! checker report every problem in one run, each at its exact place. The
//! YAML itself is read by `serde-saphyr`, with bounds on input size, alias
//! expansion and nesting so that no input can hang or exhaust memory.

use crate::diagnostic::{Diagnostic, constructors as diag};
use crate::span::{Span, byte_offset_of_char};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::collections::HashMap;
use std::fmt;

/// The largest Heliosfile accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 4 * 1024 * 1024;

/// A YAML node with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub value: Value,
    /// Where it is in the source. For an alias, the alias (`*name`) itself.
    pub span: Span,
}

/// The value of a YAML node.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number (also integers beyond `i64`).
    Float(f64),
    /// A string (quoted, or plain text that is not another type).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order. Keys are unique: duplicates were
    /// reported and dropped by [`parse`].
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key as written (a non-string scalar key keeps its source text).
    pub key: String,
    /// The key's span.
    pub key_span: Span,
    /// The value.
    pub value: Node,
}

impl Value {
    /// The YAML type's name, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The node as text if it is a scalar: a string as is, any other scalar as
    /// written in the source (so `NODE_ENV: no` is `"no"`, not `false`, and
    /// `VERSION: 1.10` keeps its trailing zero).
    pub fn scalar_text<'a>(&'a self, source: &'a str) -> Option<&'a str> {
        match &self.value {
            Value::Str(text) => Some(text),
            Value::Null => Some(""),
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => Some(self.span.slice(source)),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }
}

/// Parses `text` into a node tree, or returns the diagnostics that stopped it.
///
/// Duplicate keys are reported (every one of them) and the later occurrence
/// is dropped, so the checker still sees a usable tree; the caller must treat
/// any returned diagnostic as an error.
pub fn parse(text: &str) -> (Option<Node>, Vec<Diagnostic>) {
    if text.len() > MAX_INPUT_BYTES {
        return (None, vec![diag::input_too_large(text, MAX_INPUT_BYTES)]);
    }
    let options = serde_saphyr::options! {
        // Duplicates are detected below, with both places in the diagnostic.
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        budget: serde_saphyr::budget! {
            max_nodes: 400_000,
            max_depth: 64,
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_documents: 1,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 200_000,
            max_replay_stack_depth: 32,
        },
    };
    let raw = match serde_saphyr::from_str_with_options::<Spanned<RawNode>>(text, options) {
        Ok(raw) => raw,
        Err(error) => return (None, vec![yaml_error(text, &error)]),
    };
    let mut diagnostics = Vec::new();
    let root = convert(text, raw, &mut diagnostics);
    if matches!(root.value, Value::Null) {
        // The parser places an empty document at its end; point at what
        // there is instead (comments, `~`), or at the start of an empty file.
        let content = text.trim_end().len();
        diagnostics.push(diag::empty_document(Span::new(0, content)));
        return (None, diagnostics);
    }
    (Some(root), diagnostics)
}

/// The app name a Heliosfile declares (its top-level `name:` string), if
/// the YAML parses at all, even when the file does not check: a broken app
/// is still recognised as the app it was.
pub fn declared_name(text: &str) -> Option<String> {
    let (root, _) = parse(text);
    let Value::Map(entries) = root?.value else {
        return None;
    };
    entries
        .into_iter()
        .find_map(|entry| match entry.value.value {
            Value::Str(name) if entry.key == "name" => Some(name),
            _ => None,
        })
}

/// Turns a `serde-saphyr` error into a diagnostic at the place it names.
fn yaml_error(text: &str, error: &serde_saphyr::Error) -> Diagnostic {
    let span = error
        .location()
        .map(|location| location_span(text, &location))
        .unwrap_or_default();
    let message = plain_message(error);
    let lowered = message.to_ascii_lowercase();
    if lowered.contains("documents") {
        // A second `---` trips the one-document budget: not a resource
        // problem, so say what it is.
        return diag::yaml_second_document(span);
    }
    if lowered.contains("budget")
        || lowered.contains("alias") && lowered.contains("limit")
        || lowered.contains("depth")
    {
        return diag::yaml_resource_limit(span, &message);
    }
    if lowered.contains("tab") {
        // Point at the tab itself when the parser's position is near it.
        let tab_span = tab_near(text, span.start).unwrap_or(span);
        return diag::tab_indentation(tab_span);
    }
    diag::yaml_syntax(span, &message)
}

fn location_span(text: &str, location: &serde_saphyr::Location) -> Span {
    let span = location.span();
    if let (Some(start), Some(len)) = (span.byte_offset(), span.byte_len()) {
        let start = start as usize;
        return Span::new(
            start.min(text.len()),
            (start + len as usize).min(text.len()),
        );
    }
    // Scanner errors carry character offsets only.
    let start = byte_offset_of_char(text, span.offset() as usize);
    let end = byte_offset_of_char(text, (span.offset() + span.len()) as usize);
    Span::new(start, end.max(start))
}

/// The error's own words, without the snippet and "line X column Y" that
/// serde-saphyr adds: our renderer shows the place itself.
fn plain_message(error: &serde_saphyr::Error) -> String {
    let full = error.without_snippet().to_string();
    let first = full.lines().next().unwrap_or_default();
    let mut message = first.strip_prefix("error: ").unwrap_or(first);
    if let Some(rest) = message.strip_prefix("line ")
        && let Some((_, after)) = rest.split_once(": ")
    {
        message = after;
    }
    // Our renderer shows the place; drop the parser's own "at line N, column M".
    let message = match message.find(" at line ") {
        Some(at) => &message[..at],
        None => message,
    };
    message.trim().to_string()
}

/// The tab the parser is complaining about: one in the indentation of the
/// line of `offset`, of the next line (a block scalar's content is reported
/// at its `|`) or of the line before; else any tab on those lines.
fn tab_near(text: &str, offset: usize) -> Option<Span> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let previous_start = text[..line_start.saturating_sub(1)]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let next_start = text[offset..]
        .find('\n')
        .map_or(text.len(), |i| offset + i + 1);
    let line = |start: usize| {
        let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        (start, &text[start..end])
    };
    let lines = [line(line_start), line(next_start), line(previous_start)];
    let in_indentation = lines.iter().find_map(|(start, line)| {
        let indentation = line.len() - line.trim_start_matches([' ', '\t']).len();
        line[..indentation].find('\t').map(|i| start + i)
    });
    let anywhere = || {
        lines
            .iter()
            .find_map(|(start, line)| line.find('\t').map(|i| start + i))
    };
    in_indentation
        .or_else(anywhere)
        .map(|at| Span::new(at, at + 1))
}

fn raw_span(text: &str, location: &serde_saphyr::Location) -> Span {
    location_span(text, location)
}

/// Mappings with more keys than this find duplicates through a hash map.
const LINEAR_KEY_SCAN: usize = 16;

fn convert(text: &str, raw: Spanned<RawNode>, diagnostics: &mut Vec<Diagnostic>) -> Node {
    let span = raw_span(text, &raw.referenced);
    let value = match raw.value {
        RawNode::Null => Value::Null,
        RawNode::Bool(b) => Value::Bool(b),
        RawNode::Int(i) => Value::Int(i),
        RawNode::Float(f) => Value::Float(f),
        RawNode::Str(s) => Value::Str(s),
        RawNode::Seq(items) => Value::Seq(
            items
                .into_iter()
                .map(|item| convert(text, item, diagnostics))
                .collect(),
        ),
        RawNode::Map(pairs) => {
            let mut entries: Vec<Entry> = Vec::with_capacity(pairs.len());
            // The span of each key kept so far, for large mappings: a linear
            // scan per key would make a mapping of many keys quadratic.
            let mut first_spans: Option<HashMap<String, Span>> =
                (pairs.len() > LINEAR_KEY_SCAN).then(HashMap::new);
            for (raw_key, raw_value) in pairs {
                let key_node = convert(text, raw_key, diagnostics);
                let key = key_node
                    .scalar_text(text)
                    .unwrap_or_else(|| key_node.span.slice(text))
                    .to_string();
                let value = convert(text, raw_value, diagnostics);
                let first = match &first_spans {
                    Some(spans) => spans.get(&key).copied(),
                    None => entries
                        .iter()
                        .find(|entry| entry.key == key)
                        .map(|entry| entry.key_span),
                };
                if let Some(first) = first {
                    diagnostics.push(diag::duplicate_key(&key, key_node.span, first));
                    continue;
                }
                if let Some(spans) = &mut first_spans {
                    spans.insert(key.clone(), key_node.span);
                }
                entries.push(Entry {
                    key,
                    key_span: key_node.span,
                    value,
                });
            }
            Value::Map(entries)
        }
    };
    // Block mappings and sequences report an empty span at their first
    // token; that is the most useful place to point at, so it is kept.
    Node { value, span }
}

/// What serde-saphyr hands us: any YAML value, each nested node spanned.
enum RawNode {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<RawNode>, Spanned<RawNode>)>),
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawNode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawNode, D::Error> {
        RawNode::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<RawNode, E> {
        Ok(RawNode::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<RawNode, E> {
        Ok(RawNode::Int(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<RawNode, E> {
        Ok(i64::try_from(value).map_or(RawNode::Float(value as f64), RawNode::Int))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<RawNode, E> {
        Ok(i64::try_from(value).map_or(RawNode::Float(value as f64), RawNode::Int))
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<RawNode, E> {
        Ok(i64::try_from(value).map_or(RawNode::Float(value as f64), RawNode::Int))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<RawNode, E> {
        Ok(RawNode::Float(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<RawNode, E> {
        Ok(RawNode::Str(value.to_string()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<RawNode, E> {
        Ok(RawNode::Str(value))
    }

    fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<RawNode, E> {
        Ok(RawNode::Str(String::from_utf8_lossy(value).into_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RawNode::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
        let mut pairs = Vec::new();
        while let Some(pair) = map.next_entry()? {
            pairs.push(pair);
        }
        Ok(RawNode::Map(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        let (node, diagnostics) = parse(text);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        node.expect("a document")
    }

    #[test]
    fn keys_and_values_keep_exact_spans() {
        let text = "name: shop\nservices:\n  web:\n    ports: [9090, \"80\"]\n";
        let node = root(text);
        let Value::Map(entries) = &node.value else {
            panic!("not a map")
        };
        assert_eq!(entries[0].key_span.slice(text), "name");
        assert_eq!(entries[0].value.span.slice(text), "shop");
        let Value::Map(services) = &entries[1].value.value else {
            panic!()
        };
        let Value::Map(web) = &services[0].value.value else {
            panic!()
        };
        let Value::Seq(ports) = &web[0].value.value else {
            panic!()
        };
        assert_eq!(ports[0].span.slice(text), "9090");
        assert_eq!(ports[1].span.slice(text), "\"80\"");
        assert_eq!(ports[1].value, Value::Str("80".into()));
    }

    #[test]
    fn plain_scalars_keep_their_source_text() {
        let text = "a: no\nb: 1.10\nn: x\n";
        let node = root(text);
        let Value::Map(entries) = &node.value else {
            panic!()
        };
        assert_eq!(entries[0].value.scalar_text(text), Some("no"));
        assert_eq!(entries[1].value.scalar_text(text), Some("1.10"));
        // `n` is a YAML 1.1 boolean, but as a key it is the text `n`.
        assert_eq!(entries[2].key, "n");
    }

    #[test]
    fn duplicate_keys_point_at_both() {
        let text = "a: 1\nb: 2\na: 3\n";
        let (node, diagnostics) = parse(text);
        assert!(node.is_some());
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].code.as_str(), "H0103");
        assert_eq!(diagnostics[0].labels[0].span, Span::new(10, 11));
        assert_eq!(diagnostics[0].labels[1].span, Span::new(0, 1));
    }

    #[test]
    fn duplicate_keys_in_a_large_mapping_point_at_the_first() {
        let mut text: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
        text.push_str("k7: again\nk7: and again\n");
        let (node, diagnostics) = parse(&text);
        let Some(Node {
            value: Value::Map(entries),
            ..
        }) = node
        else {
            panic!("not a map")
        };
        assert_eq!(entries.len(), 40);
        assert_eq!(diagnostics.len(), 2);
        let first = text.find("k7").unwrap_or_default();
        for (diagnostic, again) in diagnostics.iter().zip(text.match_indices("k7: a")) {
            assert_eq!(diagnostic.code.as_str(), "H0103");
            assert_eq!(diagnostic.labels[0].span, Span::new(again.0, again.0 + 2));
            assert_eq!(diagnostic.labels[1].span, Span::new(first, first + 2));
        }
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let text = "a: b\n".repeat(MAX_INPUT_BYTES / 5 + 1);
        let (node, diagnostics) = parse(&text);
        assert!(node.is_none());
        assert_eq!(diagnostics[0].code.as_str(), "H0104");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let (node, diagnostics) = parse(&text);
        assert!(node.is_none());
        assert!(
            matches!(diagnostics[0].code.as_str(), "H0105" | "H0101"),
            "{diagnostics:?}"
        );
    }

    #[test]
    fn a_second_document_is_a_syntax_error() {
        let text = "name: a\n---\nname: b\n";
        let (node, diagnostics) = parse(text);
        assert!(node.is_none());
        assert_eq!(diagnostics[0].code.as_str(), "H0101");
        assert_eq!(diagnostics[0].primary_span().slice(text), "---");
    }

    #[test]
    fn a_tab_in_a_block_scalar_is_pointed_at() {
        // The parser reports this at the `|`; the tab is on the next line.
        let text = "env:\n  A: |\n\t  x\n";
        let (_, diagnostics) = parse(text);
        assert_eq!(diagnostics[0].code.as_str(), "H0102");
        assert_eq!(diagnostics[0].primary_span(), Span::new(12, 13));
    }

    #[test]
    fn a_comments_only_file_points_at_its_comments() {
        let text = "# one\n# two\n\n";
        let (node, diagnostics) = parse(text);
        assert!(node.is_none());
        assert_eq!(diagnostics[0].code.as_str(), "H0106");
        assert_eq!(diagnostics[0].primary_span().slice(text), "# one\n# two");
    }

    #[test]
    fn tab_indentation_points_at_the_tab() {
        let text = "name: a\nservices:\n\tweb: {}\n";
        let (_, diagnostics) = parse(text);
        assert_eq!(diagnostics[0].code.as_str(), "H0102");
        assert_eq!(diagnostics[0].primary_span(), Span::new(18, 19));
    }
}
