//! Property tests over `heliosc::check`: no input makes it panic, every span
//! it reports lies inside the text on character boundaries, its output is
//! deterministic, an app comes back exactly when there is no error, and the
//! rendered diagnostics never panic either.
//!
//! Inputs are arbitrary text, arbitrary bytes (made UTF-8 lossily), YAML
//! punctuation soup, and Heliosfile-shaped documents built from valid keys
//! and values mixed with mutations: wrong types, unknown keys, `${...}`
//! references with any root and field, tabs, duplicate keys, anchors and
//! aliases, and random edits of the text.
//!
//! The case counts keep a debug run short; `PROPTEST_CASES=N` overrides all
//! of them for a longer session (best with `--release`). Failures are not
//! persisted to files.
//!
//! Also here: the generated 1,000-service file that the benchmark measures
//! checks cleanly, and hostile inputs (50 MB, a "billion laughs") are
//! refused with their codes.

use heliosc::Checked;
use proptest::prelude::*;
use proptest::test_runner::{Config, contextualize_config};

#[path = "../benches/common/mod.rs"]
#[allow(dead_code)] // Only the generators are used here, not the benchmarks' result readers.
mod common;

/// A configuration with `cases` cases unless `PROPTEST_CASES` says
/// otherwise, and no failure files.
fn config(cases: u32) -> Config {
    contextualize_config(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Checks `text` twice and asserts every property on the result.
fn check_soundly(text: &str) -> Result<Checked, TestCaseError> {
    let checked = heliosc::check("Heliosfile", text);
    for diagnostic in &checked.diagnostics {
        prop_assert!(!diagnostic.labels.is_empty(), "no label: {diagnostic:?}");
        for label in &diagnostic.labels {
            let span = label.span;
            prop_assert!(
                span.start <= span.end && span.end <= text.len(),
                "span {span:?} outside the text ({} bytes): {diagnostic:?}",
                text.len()
            );
            prop_assert!(
                text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
                "span {span:?} not on character boundaries: {diagnostic:?}"
            );
        }
    }
    prop_assert_eq!(
        checked.has_errors(),
        checked.app.is_none(),
        "has_errors() must hold exactly when there is no app: {:?}",
        checked.diagnostics
    );
    let again = heliosc::check("Heliosfile", text);
    prop_assert_eq!(
        &again.diagnostics,
        &checked.diagnostics,
        "diagnostics differ"
    );
    prop_assert_eq!(
        format!("{:?}", again.app),
        format!("{:?}", checked.app),
        "apps differ"
    );
    let rendered = checked.render(text);
    prop_assert_eq!(rendered.is_empty(), checked.diagnostics.is_empty());
    for diagnostic in &checked.diagnostics {
        prop_assert!(
            rendered.contains(diagnostic.code.as_str()),
            "{} missing from the rendering",
            diagnostic.code.as_str()
        );
    }
    prop_assert_eq!(again.render(text), rendered, "renderings differ");
    Ok(checked)
}

// ---------------------------------------------------------------------------
// Unstructured input.

/// Text made of what YAML gives meaning to, plus letters, digits and a few
/// multi-byte characters, so that the parser's error paths are reached.
fn yaml_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(vec![
                " ", "  ", "\n", "\n  ", "\t", ":", ": ", "- ", "-", "{", "}", "[", "]", ",",
                "&a ", "*a", "&b", "*b", "!", "!!str ", "|", ">", "'", "\"", "#", "%", "@",
                "`", "?", "---", "...", "~", "${", "}", "$${", ".", "\\", "\r\n", "\u{feff}",
                "é", "日本", "\u{1F600}", "\0", "\u{85}", "\u{2028}",
            ])
            .prop_map(str::to_string),
            2 => "[a-z_]{1,8}",
            1 => "-?[0-9]{1,6}(\\.[0-9]{0,3})?",
            1 => prop::sample::select(vec![
                "name", "version", "services", "databases", "secrets", "image", "env",
                "http_port", "ports", "healthcheck", "depends_on", "type", "true", "null",
                "1", "0x1F", "1e9", ".inf", "postgresql",
            ])
            .prop_map(str::to_string),
        ],
        0..120,
    )
    .prop_map(|pieces| pieces.concat())
}

// ---------------------------------------------------------------------------
// Heliosfile-shaped documents.

/// A YAML value before it is written out.
#[derive(Clone, Debug)]
enum Yaml {
    /// A scalar, already written as YAML (quoted when it needs to be).
    Scalar(String),
    Seq(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
    /// `&name value`.
    Anchor(String, Box<Yaml>),
    /// `*name`.
    Alias(String),
}

fn scalar(text: impl Into<String>) -> Yaml {
    Yaml::Scalar(text.into())
}

/// A double-quoted YAML string.
fn quoted(text: &str) -> Yaml {
    Yaml::Scalar(format!(
        "\"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// How to write a document out.
#[derive(Clone, Copy, Debug)]
struct Style {
    /// Write mappings inside services in flow style (`{a: b}`).
    flow_services: bool,
    /// Indentation step (YAML allows any consistent width).
    indent: usize,
}

fn emit_document(entries: &[(String, Yaml)], style: Style) -> String {
    let mut out = String::new();
    for (key, value) in entries {
        out.push_str(key);
        out.push(':');
        emit_block(value, 0, style, &mut out);
    }
    out
}

/// Writes `value` after `key:` at `indent`, in block style for mappings
/// (flow style inside services when the style says so).
fn emit_block(value: &Yaml, indent: usize, style: Style, out: &mut String) {
    match value {
        Yaml::Map(entries)
            if !(entries.is_empty() || style.flow_services && indent >= 2 * style.indent) =>
        {
            out.push('\n');
            for (key, value) in entries {
                out.push_str(&" ".repeat(indent + style.indent));
                out.push_str(key);
                out.push(':');
                emit_block(value, indent + style.indent, style, out);
            }
        }
        Yaml::Seq(items) if !items.is_empty() && indent < 2 * style.indent => {
            out.push('\n');
            for item in items {
                out.push_str(&" ".repeat(indent + style.indent));
                out.push_str("- ");
                emit_flow(item, out);
                out.push('\n');
            }
        }
        Yaml::Anchor(name, inner) if matches!(**inner, Yaml::Map(_)) => {
            out.push_str(" &");
            out.push_str(name);
            emit_block(inner, indent, style, out);
        }
        other => {
            out.push(' ');
            emit_flow(other, out);
            out.push('\n');
        }
    }
}

fn emit_flow(value: &Yaml, out: &mut String) {
    match value {
        Yaml::Scalar(text) => out.push_str(text),
        Yaml::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                emit_flow(item, out);
            }
            out.push(']');
        }
        Yaml::Map(entries) => {
            out.push('{');
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(key);
                out.push_str(": ");
                emit_flow(value, out);
            }
            out.push('}');
        }
        Yaml::Anchor(name, inner) => {
            out.push('&');
            out.push_str(name);
            out.push(' ');
            emit_flow(inner, out);
        }
        Yaml::Alias(name) => {
            out.push('*');
            out.push_str(name);
        }
    }
}

const SERVICE_NAMES: &[&str] = &[
    "web", "api", "worker", "cache", "Web", "a_b", "x", "app", "secret",
];
const DATABASE_NAMES: &[&str] = &["postgres", "db", "cache", "mongo", "redis1", "Db"];
const SECRET_NAMES: &[&str] = &["STRIPE_KEY", "TOKEN", "stripe-key", "1BAD"];

fn name_from(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(pool).prop_map(str::to_string),
        1 => "[a-z][a-z0-9-]{0,12}",
        1 => "[A-Za-z0-9_.-]{0,70}",
    ]
}

/// A value that is wrong for almost any key.
fn wrong_value() -> impl Strategy<Value = Yaml> {
    prop_oneof![
        Just(scalar("~")),
        Just(scalar("true")),
        Just(scalar("-1")),
        Just(scalar("99999999999999999999")),
        Just(scalar("1.5e300")),
        Just(scalar(".nan")),
        Just(scalar("[]")),
        Just(scalar("{}")),
        Just(scalar("''")),
        "[a-z ]{0,10}".prop_map(|s| quoted(&s)),
        Just(Yaml::Seq(vec![scalar("1"), quoted("two")])),
        Just(Yaml::Map(vec![("a".into(), scalar("b"))])),
    ]
}

/// A right value for `right` most of the time, else a wrong one.
fn mostly(right: impl Strategy<Value = Yaml> + 'static) -> BoxedStrategy<Yaml> {
    prop_oneof![6 => right, 1 => wrong_value()].boxed()
}

fn port() -> impl Strategy<Value = Yaml> {
    prop_oneof![
        8 => (1u32..=65535).prop_map(|p| scalar(p.to_string())),
        1 => Just(scalar("0")),
        1 => Just(scalar("70000")),
        1 => Just(quoted("80")),
    ]
}

fn duration() -> impl Strategy<Value = Yaml> {
    prop_oneof![
        Just(scalar("10s")),
        Just(scalar("1m30s")),
        Just(scalar("2h")),
        Just(scalar("0s")),
        Just(scalar("5")),
        Just(scalar("1x")),
        "[0-9]{1,3}[smhd]{1,2}".prop_map(scalar),
    ]
}

fn size() -> impl Strategy<Value = Yaml> {
    prop_oneof![
        (0u32..5000).prop_map(|n| scalar(n.to_string())),
        Just(quoted("512Mi")),
        Just(quoted("1Gi")),
        Just(quoted("1G")),
        Just(quoted("512MB")),
        Just(quoted("-1Gi")),
        Just(scalar("0.5")),
        "[0-9]{1,4}(Ki|Mi|Gi|Ti|k|M|G|T|B|)".prop_map(|s| quoted(&s)),
    ]
}

fn image() -> impl Strategy<Value = Yaml> {
    prop_oneof![
        Just(scalar("nginx:1.27")),
        Just(scalar("nginx")),
        Just(scalar("nginx:latest")),
        Just(scalar("registry.example.com/shop:1.4.2")),
        Just(scalar(
            "ghcr.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        )),
        Just(quoted("has space:1")),
        Just(quoted("")),
        "[a-z./:@0-9-]{1,30}".prop_map(|s| quoted(&s)),
    ]
}

/// An env value: literals and `${root.field}` references in any mix.
fn env_value() -> impl Strategy<Value = Yaml> {
    let root = prop_oneof![
        4 => prop::sample::select(SERVICE_NAMES).prop_map(str::to_string),
        4 => prop::sample::select(DATABASE_NAMES).prop_map(str::to_string),
        2 => Just("secret".to_string()),
        1 => Just("app".to_string()),
        1 => "[a-zA-Z0-9_. -]{0,8}",
    ];
    let field = prop_oneof![
        4 => prop::sample::select(vec!["HOST", "PORT", "URL", "USER", "NAME", "PASSWORD", "name"])
            .prop_map(str::to_string),
        2 => prop::sample::select(SECRET_NAMES).prop_map(str::to_string),
        1 => "[a-zA-Z_.$]{0,8}",
    ];
    let reference = (root, field, 0..6u8).prop_map(|(root, field, shape)| match shape {
        0 => format!("${{{root}}}"),
        1 => format!("${{{root}.{field}"),
        2 => format!("$${{{root}.{field}}}"),
        _ => format!("${{{root}.{field}}}"),
    });
    let piece = prop_oneof![
        3 => reference,
        2 => "[a-z:/@ ]{0,6}",
        1 => prop::sample::select(vec!["$", "$$", "}", "{", "é", "\\n", "\""]).prop_map(str::to_string),
    ];
    (prop::collection::vec(piece, 0..4), 0..4u8).prop_map(|(pieces, quoting)| {
        let text = pieces.concat();
        match quoting {
            // Plain, when YAML reads it back as the same text.
            0 if !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "${}._:/@".contains(c))
                && !text.starts_with(['{', '}', '@']) =>
            {
                scalar(text)
            }
            1 => Yaml::Scalar(format!("'{}'", text.replace('\'', "''"))),
            _ => quoted(&text),
        }
    })
}

fn command() -> impl Strategy<Value = Yaml> {
    prop_oneof![
        Just(quoted("npm start")),
        Just(quoted("sh -c 'echo hi'")),
        Just(quoted("unterminated 'quote")),
        Just(quoted("")),
        Just(Yaml::Seq(vec![
            quoted("npm"),
            quoted("run"),
            quoted("worker")
        ])),
        Just(Yaml::Seq(vec![])),
        Just(Yaml::Seq(vec![scalar("1"), scalar("true")])),
    ]
}

fn healthcheck() -> impl Strategy<Value = Yaml> {
    let entry = prop_oneof![
        3 => prop_oneof![Just(scalar("/healthz")), Just(scalar("healthz")), Just(quoted("/"))]
            .prop_map(|v| ("path".to_string(), v)),
        1 => command().prop_map(|v| ("command".to_string(), v)),
        1 => port().prop_map(|v| ("tcp".to_string(), v)),
        2 => port().prop_map(|v| ("port".to_string(), v)),
        1 => duration().prop_map(|v| ("interval".to_string(), v)),
        1 => duration().prop_map(|v| ("timeout".to_string(), v)),
        1 => prop_oneof![Just(scalar("3")), Just(scalar("0")), Just(scalar("5000"))]
            .prop_map(|v| ("retries".to_string(), v)),
        1 => duration().prop_map(|v| ("start_period".to_string(), v)),
        1 => ("[a-z_]{1,10}", wrong_value()),
    ];
    mostly(prop::collection::vec(entry, 0..5).prop_map(Yaml::Map))
}

fn service_entry() -> impl Strategy<Value = (String, Yaml)> {
    let key = |k: &str| k.to_string();
    prop_oneof![
        3 => mostly(image()).prop_map(move |v| (key("image"), v)),
        1 => mostly(command()).prop_map(move |v| (key("command"), v)),
        3 => mostly(port()).prop_map(move |v| (key("http_port"), v)),
        2 => mostly(prop::collection::vec(port(), 0..4).prop_map(Yaml::Seq)).prop_map(move |v| (key("ports"), v)),
        1 => mostly(prop_oneof![Just(scalar("0")), Just(scalar("2")), Just(scalar("10001"))]).prop_map(move |v| (key("replicas"), v)),
        1 => mostly(prop_oneof![Just(scalar("0.5")), Just(quoted("500m")), Just(scalar("0")), Just(quoted("1.5m")), Just(scalar("2"))]).prop_map(move |v| (key("cpu"), v)),
        1 => mostly(size()).prop_map(move |v| (key("memory"), v)),
        2 => healthcheck().prop_map(move |v| (key("healthcheck"), v)),
        4 => mostly(prop::collection::vec(("[A-Z_]{1,6}|[a-z0-9.-]{1,4}", env_value()), 0..5).prop_map(Yaml::Map)).prop_map(move |v| (key("env"), v)),
        1 => mostly(prop::collection::vec(
                prop_oneof![Just(quoted("shop.example.com")), Just(quoted("www.shop.example.com")), Just(quoted("-bad-.com")), "[a-z.]{1,20}".prop_map(|s| quoted(&s))],
                0..3,
            ).prop_map(Yaml::Seq)).prop_map(move |v| (key("domains"), v)),
        1 => mostly(prop_oneof![Just(scalar("true")), Just(scalar("false")), Just(scalar("yes"))]).prop_map(move |v| (key("tls"), v)),
        1 => mostly(prop_oneof![Just(scalar("rolling")), Just(scalar("recreate")), Just(scalar("rollin"))]).prop_map(move |v| (key("strategy"), v)),
        2 => mostly(prop::collection::vec(
                prop_oneof![
                    name_from(SERVICE_NAMES).prop_map(scalar),
                    name_from(DATABASE_NAMES).prop_map(scalar),
                ],
                0..3,
            ).prop_map(Yaml::Seq)).prop_map(move |v| (key("depends_on"), v)),
        1 => ("[a-z_]{1,10}", wrong_value()),
    ]
}

fn database() -> impl Strategy<Value = Yaml> {
    let entry = prop_oneof![
        4 => prop::sample::select(vec!["postgresql", "mysql", "redis", "mongodb", "postgres", "sqlite"])
            .prop_map(|t| ("type".to_string(), scalar(t))),
        2 => prop::sample::select(vec!["\"16\"", "8.4", "7", "\"7.0\"", "\"\"", "latest"])
            .prop_map(|v| ("version".to_string(), scalar(v))),
        2 => size().prop_map(|v| ("storage".to_string(), v)),
        1 => image().prop_map(|v| ("image".to_string(), v)),
        1 => ("[a-z_]{1,10}", wrong_value()),
    ];
    mostly(prop::collection::vec(entry, 0..4).prop_map(Yaml::Map))
}

fn build() -> impl Strategy<Value = Yaml> {
    let entry = prop_oneof![
        2 => Just(("builder".to_string(), scalar("paketo-buildpacks/builder:base"))),
        2 => prop::sample::select(vec!["./Dockerfile", "../Dockerfile", "/abs/Dockerfile", "a/../../b", ""])
            .prop_map(|p| ("dockerfile".to_string(), quoted(p))),
        1 => prop::sample::select(vec![".", "./app", "..", "/"])
            .prop_map(|p| ("context".to_string(), quoted(p))),
        1 => Just(("args".to_string(), Yaml::Map(vec![("NODE_ENV".into(), scalar("production")), ("1X".into(), scalar("1"))]))),
        1 => ("[a-z_]{1,10}", wrong_value()),
    ];
    mostly(prop::collection::vec(entry, 0..3).prop_map(Yaml::Map))
}

/// The top-level entries of a Heliosfile, mostly right.
fn document_entries() -> impl Strategy<Value = Vec<(String, Yaml)>> {
    let name = mostly(prop_oneof![
        4 => Just(scalar("shop")),
        1 => Just(scalar("Shop")),
        1 => "[a-z0-9-]{0,45}".prop_map(|s| quoted(&s)),
    ]);
    let version = prop_oneof![
        6 => Just(scalar("1")),
        1 => Just(scalar("2")),
        1 => Just(quoted("1")),
        1 => Just(scalar("1.0")),
    ];
    let services = prop::collection::vec(
        (
            name_from(SERVICE_NAMES),
            prop::collection::vec(service_entry(), 0..7).prop_map(Yaml::Map),
        ),
        0..4,
    )
    .prop_map(Yaml::Map);
    let databases =
        prop::collection::vec((name_from(DATABASE_NAMES), database()), 0..3).prop_map(Yaml::Map);
    let secrets =
        prop::collection::vec(name_from(SECRET_NAMES).prop_map(scalar), 0..3).prop_map(Yaml::Seq);
    let optional = prop_oneof![
        1 => Just(None),
        2 => prop_oneof![
            prop::sample::select(vec!["compose", "kubernetes", "swarm"]).prop_map(|t| ("target".to_string(), scalar(t))),
            prop::sample::select(vec!["shop.example.com", "localhost", "-x-", "a..b"]).prop_map(|d| ("domain".to_string(), scalar(d))),
            image().prop_map(|v| ("image".to_string(), v)),
            build().prop_map(|v| ("build".to_string(), v)),
            ("[a-z_]{1,10}", wrong_value()),
        ].prop_map(Some),
    ];
    (
        prop::option::weighted(0.95, name),
        prop::option::weighted(0.95, version),
        prop::option::weighted(0.95, mostly(services)),
        prop::option::weighted(0.6, mostly(databases)),
        prop::option::weighted(0.4, mostly(secrets)),
        prop::collection::vec(optional, 0..3),
    )
        .prop_map(|(name, version, services, databases, secrets, optional)| {
            let mut entries = Vec::new();
            let mut push = |key: &str, value: Option<Yaml>| {
                if let Some(value) = value {
                    entries.push((key.to_string(), value));
                }
            };
            push("name", name);
            push("version", version);
            push("services", services);
            push("databases", databases);
            push("secrets", secrets);
            entries.extend(optional.into_iter().flatten());
            entries
        })
}

/// A change to a document: YAML-level (duplicates, anchors) or to its text.
#[derive(Clone, Debug)]
enum Mutation {
    None,
    /// Repeat a top-level entry.
    DuplicateTopKey(prop::sample::Index),
    /// Repeat a key inside the first service.
    DuplicateServiceKey(prop::sample::Index),
    /// Anchor the first service and alias it as another (`other: *anchor`),
    /// or alias an anchor that is never defined.
    Alias {
        defined: bool,
    },
    /// Replace one space of indentation with a tab.
    Tab(prop::sample::Index),
    /// Insert text at a position.
    Insert(prop::sample::Index, String),
    /// Delete a range of characters.
    Delete(prop::sample::Index, usize),
    /// Swap two lines.
    SwapLines(prop::sample::Index, prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => Just(Mutation::None),
        1 => any::<prop::sample::Index>().prop_map(Mutation::DuplicateTopKey),
        1 => any::<prop::sample::Index>().prop_map(Mutation::DuplicateServiceKey),
        1 => any::<bool>().prop_map(|defined| Mutation::Alias { defined }),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Tab),
        1 => (any::<prop::sample::Index>(), prop_oneof![
            "[ :{}\\[\\],&*!|>'\"#\n\t$-]{1,3}",
            Just("\u{feff}".to_string()),
            Just("é".to_string()),
            Just("\n---\n".to_string()),
        ]).prop_map(|(at, text)| Mutation::Insert(at, text)),
        1 => (any::<prop::sample::Index>(), 1usize..20).prop_map(|(at, n)| Mutation::Delete(at, n)),
        1 => (any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

fn mutate_tree(entries: &mut Vec<(String, Yaml)>, mutation: &Mutation) {
    match mutation {
        Mutation::DuplicateTopKey(index) if !entries.is_empty() => {
            let entry = entries[index.index(entries.len())].clone();
            entries.push(entry);
        }
        Mutation::DuplicateServiceKey(index) => {
            if let Some((_, Yaml::Map(services))) =
                entries.iter_mut().find(|(k, _)| k == "services")
                && let Some((_, Yaml::Map(fields))) = services.first_mut()
                && !fields.is_empty()
            {
                let field = fields[index.index(fields.len())].clone();
                fields.push(field);
            }
        }
        Mutation::Alias { defined } => {
            if let Some((_, Yaml::Map(services))) =
                entries.iter_mut().find(|(k, _)| k == "services")
                && let Some((_, first)) = services.first_mut()
            {
                if *defined {
                    *first = Yaml::Anchor("base".into(), Box::new(first.clone()));
                }
                services.push(("copy".into(), Yaml::Alias("base".into())));
            }
        }
        _ => {}
    }
}

fn char_boundary_at(text: &str, index: &prop::sample::Index) -> usize {
    let mut at = index.index(text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn mutate_text(text: &mut String, mutation: &Mutation) {
    match mutation {
        Mutation::Tab(index) => {
            let indented: Vec<usize> = text.match_indices("\n ").map(|(at, _)| at + 1).collect();
            if !indented.is_empty() {
                let at = indented[index.index(indented.len())];
                text.replace_range(at..at + 1, "\t");
            }
        }
        Mutation::Insert(index, insert) => {
            let at = char_boundary_at(text, index);
            text.insert_str(at, insert);
        }
        Mutation::Delete(index, count) => {
            let at = char_boundary_at(text, index);
            let end = text[at..]
                .char_indices()
                .nth(*count)
                .map_or(text.len(), |(i, _)| at + i);
            text.replace_range(at..end, "");
        }
        Mutation::SwapLines(a, b) => {
            let mut lines: Vec<&str> = text.split('\n').collect();
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
            *text = lines.join("\n");
        }
        _ => {}
    }
}

fn heliosfile() -> impl Strategy<Value = String> {
    (
        document_entries(),
        mutation(),
        any::<bool>(),
        prop::sample::select(vec![2usize, 2, 4, 3]),
    )
        .prop_map(|(mut entries, mutation, flow_services, indent)| {
            mutate_tree(&mut entries, &mutation);
            let mut text = emit_document(
                &entries,
                Style {
                    flow_services,
                    indent,
                },
            );
            mutate_text(&mut text, &mutation);
            text
        })
}

// ---------------------------------------------------------------------------
// Valid documents by construction: every name referred to is declared,
// references and `depends_on` only point at earlier services (no cycle),
// ports, healthchecks and domains agree.

const VALID_SERVICES: &[&str] = &["web", "api", "worker", "jobs"];
const VALID_DATABASES: &[(&str, &str, &str)] = &[
    ("postgres", "postgresql", "\"16\""),
    ("catalog", "mysql", "\"8.4\""),
    ("cache", "redis", "\"7\""),
    ("events", "mongodb", "\"7.0\""),
];
const VALID_SECRETS: &[&str] = &["STRIPE_KEY", "TOKEN"];

/// What a valid service may refer to.
#[derive(Clone, Debug)]
struct Context {
    /// Per service: whether it has a port.
    has_port: Vec<bool>,
    databases: Vec<&'static str>,
    secrets: Vec<&'static str>,
}

/// One `env` value of service `i`, built from `(kind, pick, field)` choices.
fn valid_env_value(context: &Context, i: usize, choices: &[(u8, prop::sample::Index, u8)]) -> Yaml {
    let mut text = String::new();
    for (kind, pick, field) in choices {
        match kind % 6 {
            0 if !context.databases.is_empty() => {
                let db = context.databases[pick.index(context.databases.len())];
                let field =
                    ["HOST", "PORT", "USER", "NAME", "PASSWORD", "URL"][usize::from(*field) % 6];
                text.push_str(&format!("${{{db}.{field}}}"));
            }
            1 if i > 0 => {
                let j = pick.index(i);
                let field = if context.has_port[j] {
                    ["HOST", "PORT", "URL"][usize::from(*field) % 3]
                } else {
                    "HOST"
                };
                text.push_str(&format!("${{{}.{field}}}", VALID_SERVICES[j]));
            }
            2 if !context.secrets.is_empty() => {
                let secret = context.secrets[pick.index(context.secrets.len())];
                text.push_str(&format!("${{secret.{secret}}}"));
            }
            3 => text.push_str("${app.name}"),
            4 => text.push_str("$${NOT_A_REFERENCE}"),
            _ => {
                text.push_str(["postgres://", "x", ":", "/v1", " and ", "$5", "100"][pick.index(7)])
            }
        }
    }
    if text.is_empty() {
        text.push_str("plain");
    }
    quoted(&text)
}

fn valid_service(i: usize, context: Context) -> BoxedStrategy<(String, Yaml)> {
    let name = VALID_SERVICES[i];
    let has_port = context.has_port[i];
    let ports = (
        prop::option::of(3000u16..3100),
        prop::collection::btree_set(9000u16..9050, 0..3),
    );
    let resources = (
        prop::option::of(prop::sample::select(vec![
            "nginx:1.27",
            "registry.example.com/shop:1.4.2",
            "ghcr.io/acme/api:2.0.0",
        ])),
        prop::option::of(prop::sample::select(vec![
            "\"npm start\"",
            "[\"npm\", \"run\", \"worker\"]",
            "\"node dist/main.js --port 3000\"",
        ])),
        prop::option::of(0u32..=5),
        prop::option::of(prop::sample::select(vec!["0.5", "\"500m\"", "1", "2"])),
        prop::option::of(prop::sample::select(vec![
            "512",
            "\"1Gi\"",
            "\"256Mi\"",
            "\"1G\"",
        ])),
    );
    let healthcheck = (
        0u8..4,
        prop::option::of(prop::sample::select(vec!["10s", "1m30s", "500ms", "2h"])),
        prop::option::of(1u32..=10),
        prop::option::of(prop::sample::select(vec!["30s", "1m"])),
    );
    let env = prop::collection::btree_map(
        "[A-Z][A-Z0-9_]{0,5}",
        prop::collection::vec(
            (any::<u8>(), any::<prop::sample::Index>(), any::<u8>()),
            0..4,
        ),
        0..5,
    );
    let others = (
        prop::sample::subsequence((0..i).collect::<Vec<_>>(), 0..=i),
        any::<bool>(),
        prop::option::of(any::<bool>()),
        prop::option::of(prop::sample::select(vec!["rolling", "recreate"])),
    );
    (ports, resources, healthcheck, env, others)
        .prop_map(move |(ports, resources, healthcheck, env, others)| {
            let (mut http_port, mut internal) = ports;
            if !has_port {
                http_port = None;
                internal.clear();
            } else if http_port.is_none() && internal.is_empty() {
                internal.insert(9000);
            }
            let (image, command, replicas, cpu, memory) = resources;
            let (probe, interval, retries, start_period) = healthcheck;
            let (depends_on, domains, tls, strategy) = others;
            let mut fields: Vec<(String, Yaml)> = Vec::new();
            let mut field = |key: &str, value: Yaml| fields.push((key.to_string(), value));
            if let Some(image) = image {
                field("image", scalar(image));
            }
            if let Some(command) = command {
                field("command", scalar(command));
            }
            if let Some(port) = http_port {
                field("http_port", scalar(port.to_string()));
            }
            if !internal.is_empty() {
                field(
                    "ports",
                    Yaml::Seq(internal.iter().map(|p| scalar(p.to_string())).collect()),
                );
            }
            if let Some(replicas) = replicas {
                field("replicas", scalar(replicas.to_string()));
            }
            if let Some(cpu) = cpu {
                field("cpu", scalar(cpu));
            }
            if let Some(memory) = memory {
                field("memory", scalar(memory));
            }
            let first_internal = internal.iter().next().copied();
            let probe: Option<(&str, Yaml)> = match (probe, http_port, first_internal) {
                (0, _, _) => None,
                (1, Some(_), _) => Some(("path", scalar("/healthz"))),
                (1, None, Some(port)) | (2, _, Some(port)) => {
                    Some(("tcp", scalar(port.to_string())))
                }
                _ => Some((
                    "command",
                    Yaml::Seq(vec![
                        quoted("curl"),
                        quoted("-f"),
                        quoted("http://localhost/"),
                    ]),
                )),
            };
            if let Some((kind, value)) = probe {
                let mut check = vec![(kind.to_string(), value)];
                if let Some(interval) = interval {
                    check.push(("interval".into(), scalar(interval)));
                }
                if let Some(retries) = retries {
                    check.push(("retries".into(), scalar(retries.to_string())));
                }
                if let Some(start_period) = start_period {
                    check.push(("start_period".into(), scalar(start_period)));
                }
                field("healthcheck", Yaml::Map(check));
            }
            if !env.is_empty() {
                field(
                    "env",
                    Yaml::Map(
                        env.iter()
                            .map(|(key, choices)| {
                                (key.clone(), valid_env_value(&context, i, choices))
                            })
                            .collect(),
                    ),
                );
            }
            if !depends_on.is_empty() {
                field(
                    "depends_on",
                    Yaml::Seq(
                        depends_on
                            .iter()
                            .map(|&j| scalar(VALID_SERVICES[j]))
                            .collect(),
                    ),
                );
            }
            if domains && http_port.is_some() {
                field(
                    "domains",
                    Yaml::Seq(vec![scalar(format!("{name}.shop.example.com"))]),
                );
            }
            if let Some(tls) = tls {
                field("tls", scalar(tls.to_string()));
            }
            if let Some(strategy) = strategy {
                field("strategy", scalar(strategy));
            }
            (name.to_string(), Yaml::Map(fields))
        })
        .boxed()
}

fn valid_document() -> impl Strategy<Value = Vec<(String, Yaml)>> {
    (
        prop::collection::vec(any::<bool>(), 1..=VALID_SERVICES.len()),
        prop::sample::subsequence(
            (0..VALID_DATABASES.len()).collect::<Vec<_>>(),
            0..=VALID_DATABASES.len(),
        ),
        0..=VALID_SECRETS.len(),
    )
        .prop_flat_map(|(has_port, databases, secrets)| {
            let context = Context {
                has_port: has_port.clone(),
                databases: databases.iter().map(|&d| VALID_DATABASES[d].0).collect(),
                secrets: VALID_SECRETS[..secrets].to_vec(),
            };
            let services: Vec<BoxedStrategy<(String, Yaml)>> = (0..has_port.len())
                .map(|i| valid_service(i, context.clone()))
                .collect();
            let database_entries = databases
                .iter()
                .map(|&d| {
                    let (name, kind, version) = VALID_DATABASES[d];
                    (
                        any::<bool>(),
                        prop::option::of(prop::sample::select(vec!["10", "\"20Gi\"", "1"])),
                    )
                        .prop_map(move |(with_version, storage)| {
                            let mut fields = vec![("type".to_string(), scalar(kind))];
                            if with_version {
                                fields.push(("version".into(), scalar(version)));
                            }
                            if let Some(storage) = storage {
                                fields.push(("storage".into(), scalar(storage)));
                            }
                            (name.to_string(), Yaml::Map(fields))
                        })
                })
                .collect::<Vec<_>>();
            let top = (
                prop::sample::select(vec!["shop", "a", "my-app-2"]),
                prop::option::of(prop::sample::select(vec!["compose", "kubernetes"])),
                prop::option::of(prop::sample::select(vec!["shop.example.com", "localhost"])),
                prop::option::of(prop_oneof![
                    Just(Yaml::Map(vec![(
                        "builder".into(),
                        scalar("paketo-buildpacks/builder:base")
                    )])),
                    Just(Yaml::Map(vec![
                        ("dockerfile".into(), scalar("./Dockerfile")),
                        ("context".into(), scalar(".")),
                        (
                            "args".into(),
                            Yaml::Map(vec![("NODE_ENV".into(), scalar("production"))])
                        ),
                    ])),
                ]),
            );
            (top, services, database_entries, Just(context.secrets))
        })
        .prop_map(
            |((name, target, domain, build), services, databases, secrets)| {
                let mut entries = vec![
                    ("name".to_string(), scalar(name)),
                    ("version".to_string(), scalar("1")),
                    ("image".to_string(), scalar("registry.example.com/shop")),
                ];
                if let Some(target) = target {
                    entries.push(("target".into(), scalar(target)));
                }
                if let Some(domain) = domain {
                    entries.push(("domain".into(), scalar(domain)));
                }
                if let Some(build) = build {
                    entries.push(("build".into(), build));
                }
                entries.push(("services".into(), Yaml::Map(services)));
                if !databases.is_empty() {
                    entries.push(("databases".into(), Yaml::Map(databases)));
                }
                if !secrets.is_empty() {
                    entries.push((
                        "secrets".into(),
                        Yaml::Seq(secrets.into_iter().map(scalar).collect()),
                    ));
                }
                entries
            },
        )
}

/// A change anywhere in a document's tree.
#[derive(Clone, Debug)]
enum TreeMutation {
    /// Replace the n-th node with a wrong value.
    Replace(prop::sample::Index, Yaml),
    /// Add a key to the n-th mapping.
    AddKey(prop::sample::Index, String, Yaml),
    /// Repeat one entry of the n-th mapping.
    DuplicateKey(prop::sample::Index, prop::sample::Index),
    /// Anchor the n-th node and replace the m-th with an alias of it.
    Alias(prop::sample::Index, prop::sample::Index),
}

fn tree_mutation() -> impl Strategy<Value = TreeMutation> {
    prop_oneof![
        3 => (any::<prop::sample::Index>(), wrong_value()).prop_map(|(at, value)| TreeMutation::Replace(at, value)),
        2 => (
            any::<prop::sample::Index>(),
            prop_oneof![
                prop::sample::select(vec!["replica", "imagee", "http-port", "envs", "Type", "healthchek", "dependson", "secret"]).prop_map(str::to_string),
                "[a-z_]{1,10}",
            ],
            prop_oneof![wrong_value(), env_value()],
        ).prop_map(|(at, key, value)| TreeMutation::AddKey(at, key, value)),
        2 => (any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(|(a, b)| TreeMutation::DuplicateKey(a, b)),
        1 => (any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(|(a, b)| TreeMutation::Alias(a, b)),
    ]
}

/// Calls `f` on the node numbered `target` (pre-order, mappings only when
/// `maps_only`), counting from `*seen`. Returns whether it was found.
fn at_node(
    node: &mut Yaml,
    target: usize,
    maps_only: bool,
    seen: &mut usize,
    f: &mut dyn FnMut(&mut Yaml),
) -> bool {
    if !maps_only || matches!(node, Yaml::Map(_)) {
        if *seen == target {
            f(node);
            return true;
        }
        *seen += 1;
    }
    match node {
        Yaml::Seq(items) => items
            .iter_mut()
            .any(|item| at_node(item, target, maps_only, seen, f)),
        Yaml::Map(entries) => entries
            .iter_mut()
            .any(|(_, value)| at_node(value, target, maps_only, seen, f)),
        Yaml::Anchor(_, inner) => at_node(inner, target, maps_only, seen, f),
        Yaml::Scalar(_) | Yaml::Alias(_) => false,
    }
}

fn count_nodes(node: &mut Yaml, maps_only: bool) -> usize {
    let mut seen = 0;
    at_node(node, usize::MAX, maps_only, &mut seen, &mut |_| {});
    seen
}

fn mutate_anywhere(entries: Vec<(String, Yaml)>, mutation: &TreeMutation) -> Vec<(String, Yaml)> {
    let mut root = Yaml::Map(entries);
    // Node 0, the root, stays a mapping: replacing it is a test of its own
    // (`heliosfile_shaped_documents_are_checked_soundly` and the soups).
    let mut apply = |index: &prop::sample::Index, maps_only: bool, f: &mut dyn FnMut(&mut Yaml)| {
        let count = count_nodes(&mut root, maps_only);
        let target = if maps_only {
            index.index(count.max(1))
        } else {
            1 + index.index(count.max(2) - 1)
        };
        at_node(&mut root, target, maps_only, &mut 0, f);
    };
    match mutation {
        TreeMutation::Replace(at, value) => apply(at, false, &mut |node| *node = value.clone()),
        TreeMutation::AddKey(at, key, value) => apply(at, true, &mut |node| {
            if let Yaml::Map(entries) = node {
                entries.push((key.clone(), value.clone()));
            }
        }),
        TreeMutation::DuplicateKey(at, which) => apply(at, true, &mut |node| {
            if let Yaml::Map(entries) = node
                && !entries.is_empty()
            {
                let entry = entries[which.index(entries.len())].clone();
                entries.push(entry);
            }
        }),
        TreeMutation::Alias(anchor, alias) => {
            apply(anchor, false, &mut |node| {
                *node = Yaml::Anchor("shared".into(), Box::new(node.clone()))
            });
            apply(alias, false, &mut |node| {
                if !matches!(node, Yaml::Anchor(..)) {
                    *node = Yaml::Alias("shared".into());
                }
            });
        }
    }
    match root {
        Yaml::Map(entries) => entries,
        _ => Vec::new(),
    }
}

fn mutated_valid_heliosfile() -> impl Strategy<Value = String> {
    (
        valid_document(),
        prop::collection::vec(tree_mutation(), 1..3),
        mutation(),
        any::<bool>(),
        prop::sample::select(vec![2usize, 4, 3]),
    )
        .prop_map(
            |(mut entries, tree_mutations, text_mutation, flow_services, indent)| {
                for mutation in &tree_mutations {
                    entries = mutate_anywhere(entries, mutation);
                }
                let mut text = emit_document(
                    &entries,
                    Style {
                        flow_services,
                        indent,
                    },
                );
                mutate_text(&mut text, &text_mutation);
                text
            },
        )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        check_soundly(&text)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check_soundly(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn yaml_punctuation_never_panics(text in yaml_soup()) {
        check_soundly(&text)?;
    }

    #[test]
    fn heliosfile_shaped_documents_are_checked_soundly(text in heliosfile()) {
        check_soundly(&text)?;
    }

    #[test]
    fn valid_documents_check_cleanly(
        entries in valid_document(),
        flow_services in any::<bool>(),
        indent in 2usize..=4,
    ) {
        let text = emit_document(&entries, Style { flow_services, indent });
        let checked = check_soundly(&text)?;
        let errors: Vec<_> = checked.diagnostics.iter().filter(|d| d.is_error()).collect();
        prop_assert!(errors.is_empty(), "{}\n{}", text, checked.render(&text));
        let services = entries.iter().find_map(|(key, value)| match value {
            Yaml::Map(services) if key == "services" => Some(services.len()),
            _ => None,
        });
        prop_assert_eq!(checked.app.map(|app| app.services.len()), services);
    }

    #[test]
    fn mutated_valid_documents_are_checked_soundly(text in mutated_valid_heliosfile()) {
        check_soundly(&text)?;
    }
}

// ---------------------------------------------------------------------------
// Large and hostile inputs (their timing is in `benches/check.rs`).

#[test]
fn the_benchmarked_thousand_service_file_checks_cleanly() {
    let text = common::large_heliosfile(1_000, 100);
    let checked = heliosc::check("Heliosfile", &text);
    assert!(!checked.has_errors(), "{}", checked.render(&text));
    assert!(checked.diagnostics.is_empty(), "{}", checked.render(&text));
    let app = checked.app.expect("an app");
    assert_eq!(app.services.len(), 1_000);
    assert_eq!(app.databases.len(), 100);
    // The references and `depends_on` were resolved, not skipped.
    let last = &app.services["svc999"];
    assert!(last.depends_on.iter().any(|d| d.starts_with("db")));
    assert!(last.depends_on.contains(&"svc998".to_string()));
    assert!(last.env.len() >= 10);
}

#[test]
fn fifty_megabytes_are_refused_with_h0104() {
    let text = common::fifty_megabytes();
    assert!(text.len() > 50 * 1024 * 1024);
    let checked = check_soundly(&text).expect("sound");
    let codes: Vec<&str> = checked
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(codes, ["H0104"]);
}

#[test]
fn a_billion_laughs_is_refused_with_h0105() {
    let text = common::billion_laughs();
    let checked = check_soundly(&text).expect("sound");
    let codes: Vec<&str> = checked
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(codes, ["H0105"]);
}
