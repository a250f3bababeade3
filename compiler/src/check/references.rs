//! `${...}` references in `env` values: finding them (with `$${` as a
//! literal), pointing at each one inside its string, and resolving it to a
//! plain value or a typed secret.

use super::Checker;
use crate::diagnostic::constructors as diag;
use crate::ir::{DatabaseKind, EnvPart, EnvValue, SecretRef};
use crate::parse::Node;
use crate::span::Span;
use crate::suggest::closest;
use std::collections::{BTreeMap, BTreeSet};

/// Everything a reference can name.
pub(crate) struct Names<'a> {
    pub(crate) app: &'a str,
    /// Services and the port `${svc.PORT}` resolves to.
    pub(crate) services: BTreeMap<&'a str, Option<u16>>,
    pub(crate) databases: BTreeMap<&'a str, DatabaseKind>,
    pub(crate) secrets: BTreeSet<&'a str>,
    /// Services and databases that are declared but whose definition has an
    /// error: references to them are left unjudged.
    pub(crate) unchecked: BTreeSet<&'a str>,
}

impl<'a> Names<'a> {
    /// Every service and database name, for "did you mean".
    pub(crate) fn components(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.services
            .keys()
            .chain(self.databases.keys())
            .chain(self.unchecked.iter())
            .copied()
    }
}

const DATABASE_FIELDS: &[&str] = &["HOST", "PORT", "USER", "NAME", "PASSWORD", "URL"];
const SERVICE_FIELDS: &[&str] = &["HOST", "PORT", "URL"];
const APP_FIELDS: &[&str] = &["name"];

/// A piece of an env string before resolution.
enum Piece<'s> {
    Text(String),
    /// The reference's inner text (between `${` and `}`) and its byte range
    /// in the value, `${` and `}` included.
    Reference(&'s str, std::ops::Range<usize>),
}

/// Resolves one env value. Returns the value and the services or databases
/// it refers to (with the span of each reference), or `None` after
/// reporting what is wrong.
pub(crate) fn resolve_env(
    ck: &mut Checker<'_>,
    names: &Names<'_>,
    service: &str,
    node: &Node,
    used_secrets: &mut BTreeSet<String>,
) -> Option<(EnvValue, Vec<(String, Span)>)> {
    let text = ck.text(node, "an `env` value")?;
    let locator = Locator::new(ck.text, node, &text);
    let mut parts = Vec::new();
    let mut references = Vec::new();
    let mut ok = true;
    for piece in split(&text) {
        let piece = match piece {
            Ok(piece) => piece,
            Err((reason, range)) => {
                ck.report(diag::malformed_reference(
                    reason,
                    locator.span(&text, range),
                ));
                ok = false;
                continue;
            }
        };
        match piece {
            Piece::Text(literal) => push_text(&mut parts, &literal),
            Piece::Reference(inner, range) => {
                let span = locator.span(&text, range);
                match resolve(ck, names, service, inner, span) {
                    Some((part, target)) => {
                        if let EnvPart::Secret(SecretRef::User { name }) = &part {
                            used_secrets.insert(name.clone());
                        }
                        if let Some(target) = target {
                            references.push((target, span));
                        }
                        match part {
                            EnvPart::Text(literal) => push_text(&mut parts, &literal),
                            other => parts.push(other),
                        }
                    }
                    None => ok = false,
                }
            }
        }
    }
    ok.then_some((EnvValue { parts }, references))
}

fn push_text(parts: &mut Vec<EnvPart>, literal: &str) {
    if literal.is_empty() {
        return;
    }
    if let Some(EnvPart::Text(previous)) = parts.last_mut() {
        previous.push_str(literal);
    } else {
        parts.push(EnvPart::Text(literal.to_string()));
    }
}

/// Splits a value into literal text and references. `$${` is a literal `${`.
fn split(text: &str) -> Vec<Result<Piece<'_>, (&'static str, std::ops::Range<usize>)>> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = 0;
    while let Some(found) = text[rest..].find('$') {
        let at = rest + found;
        literal.push_str(&text[rest..at]);
        let after = &text[at..];
        if after.starts_with("$${") {
            literal.push_str("${");
            rest = at + 3;
        } else if after.starts_with("${") {
            if !literal.is_empty() {
                pieces.push(Ok(Piece::Text(std::mem::take(&mut literal))));
            }
            match after.find('}') {
                Some(close) => {
                    pieces.push(Ok(Piece::Reference(
                        &text[at + 2..at + close],
                        at..at + close + 1,
                    )));
                    rest = at + close + 1;
                }
                None => {
                    pieces.push(Err(("`${` is never closed with `}`", at..text.len())));
                    rest = text.len();
                }
            }
        } else {
            literal.push('$');
            rest = at + 1;
        }
    }
    literal.push_str(&text[rest..]);
    if !literal.is_empty() {
        pieces.push(Ok(Piece::Text(literal)));
    }
    pieces
}

/// Resolves `root.field`. Returns the part and, for a service or database,
/// its name (an implicit dependency).
fn resolve(
    ck: &mut Checker<'_>,
    names: &Names<'_>,
    service: &str,
    inner: &str,
    span: Span,
) -> Option<(EnvPart, Option<String>)> {
    let Some((root, field)) = inner.split_once('.') else {
        let reason = if inner.trim().is_empty() {
            "the reference is empty"
        } else {
            "expected `root.field`, e.g. `postgres.URL`"
        };
        ck.report(diag::malformed_reference(reason, span));
        return None;
    };
    let plain = |value: String| EnvPart::Plain {
        reference: inner.to_string(),
        value,
    };
    if root == "secret" {
        if !names.secrets.contains(field) {
            let suggestion = ck.closest_name(field, names.secrets.iter().copied());
            ck.report(diag::undeclared_secret(field, span, suggestion));
            return None;
        }
        return Some((
            EnvPart::Secret(SecretRef::User {
                name: field.to_string(),
            }),
            None,
        ));
    }
    if root == "app" {
        if field != "name" {
            ck.report(diag::unknown_reference_field(
                "`app`",
                field,
                APP_FIELDS,
                span,
                closest(field, APP_FIELDS.iter().copied()),
            ));
            return None;
        }
        return Some((plain(names.app.to_string()), None));
    }
    if names.unchecked.contains(root) {
        return None;
    }
    if let Some(kind) = names.databases.get(root) {
        let value = match field {
            "HOST" => plain(root.to_string()),
            "PORT" => plain(kind.port().to_string()),
            "USER" | "NAME" => plain(names.app.to_string()),
            "PASSWORD" => EnvPart::Secret(SecretRef::DatabasePassword {
                database: root.to_string(),
            }),
            "URL" => EnvPart::Secret(SecretRef::DatabaseUrl {
                database: root.to_string(),
            }),
            _ => {
                let target = format!("database `{root}`");
                ck.report(diag::unknown_reference_field(
                    &target,
                    field,
                    DATABASE_FIELDS,
                    span,
                    closest(field, DATABASE_FIELDS.iter().copied()),
                ));
                return None;
            }
        };
        return Some((value, Some(root.to_string())));
    }
    if let Some(port) = names.services.get(root) {
        let value = match (field, port) {
            ("HOST", _) => plain(root.to_string()),
            ("PORT", Some(port)) => plain(port.to_string()),
            ("URL", Some(port)) => plain(format!("http://{root}:{port}")),
            ("PORT" | "URL", None) => {
                ck.report(diag::reference_to_portless_service(root, field, span));
                return None;
            }
            _ => {
                let target = format!("service `{root}`");
                ck.report(diag::unknown_reference_field(
                    &target,
                    field,
                    SERVICE_FIELDS,
                    span,
                    closest(field, SERVICE_FIELDS.iter().copied()),
                ));
                return None;
            }
        };
        // A service may name its own host or port without depending on itself.
        let target = (root != service).then(|| root.to_string());
        return Some((value, target));
    }
    let candidates = names.components().chain(["secret", "app"]);
    let suggestion = ck.closest_name(root, candidates);
    ck.report(diag::unknown_reference(root, span, suggestion));
    None
}

/// Maps byte ranges of a scalar's value back to the source. When the value
/// is written verbatim (plain, or quoted without escapes) the mapping is
/// exact; otherwise each reference is found by its text in the source, and
/// as a last resort the whole scalar is used.
struct Locator<'t> {
    source: &'t str,
    node_span: Span,
    /// Offset of the value's first byte in the source, when verbatim.
    verbatim_start: Option<usize>,
}

impl<'t> Locator<'t> {
    fn new(source: &'t str, node: &Node, value: &str) -> Self {
        let raw = node.span.slice(source);
        let quoted = raw.len() >= 2
            && (raw.starts_with('"') && raw.ends_with('"')
                || raw.starts_with('\'') && raw.ends_with('\''));
        let (inner, offset) = if quoted {
            (&raw[1..raw.len() - 1], 1)
        } else {
            (raw, 0)
        };
        Self {
            source,
            node_span: node.span,
            verbatim_start: (inner == value).then_some(node.span.start + offset),
        }
    }

    fn span(&self, value: &str, range: std::ops::Range<usize>) -> Span {
        if let Some(start) = self.verbatim_start {
            return Span::new(start + range.start, start + range.end);
        }
        let needle = &value[range.clone()];
        let occurrence = value[..range.start].matches(needle).count();
        let raw = self.node_span.slice(self.source);
        raw.match_indices(needle)
            .nth(occurrence)
            .map_or(self.node_span, |(at, _)| {
                Span::new(
                    self.node_span.start + at,
                    self.node_span.start + at + needle.len(),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<String> {
        split(text)
            .into_iter()
            .map(|piece| match piece {
                Ok(Piece::Text(t)) => format!("text:{t}"),
                Ok(Piece::Reference(r, range)) => format!("ref:{r}@{}..{}", range.start, range.end),
                Err((_, range)) => format!("err@{}..{}", range.start, range.end),
            })
            .collect()
    }

    #[test]
    fn splits_references_and_literals() {
        assert_eq!(
            pieces("a ${db.URL} b"),
            ["text:a ", "ref:db.URL@2..11", "text: b"]
        );
        assert_eq!(pieces("$${db.URL}"), ["text:${db.URL}"]);
        assert_eq!(pieces("cost $5 ${x.y"), ["text:cost $5 ", "err@8..13"]);
        assert_eq!(pieces("${a.b}${c.d}"), ["ref:a.b@0..6", "ref:c.d@6..12"]);
    }
}
