//! The env file handed to the Compose tool (`--env-file`): the one writer
//! of secret values for Compose, and a model of how each Compose tool reads
//! such a file back, so that tests can prove the round trip.
//!
//! The two Compose tools read env files by different rules, and no single
//! quoting is read the same way by both:
//!
//! - **Compose v1** (`docker-compose` 1.x, Python) reads it with
//!   python-dotenv: in single quotes `\\` and `\'` are escapes, and then
//!   every value, quoted or not, has `${NAME}` and `${NAME:-default}`
//!   interpolated (a bare `$` stays; `$$` stays `$$`, which is how a value
//!   with both `'` and `$` used to arrive with `$$` in it). There is no
//!   escape for `${`, so it is written as `$` followed by `${:-{}`, an
//!   interpolation of the empty name (never set) whose default is `{`.
//! - **Compose v2** (`docker compose`, Go) reads it with compose-go's
//!   dotenv: single quotes are literal (no escapes, no interpolation);
//!   in double quotes `\\`, `\"` are escapes and `$$` is a literal `$`.
//!
//! A value with a newline, a carriage return or a NUL is refused (one
//! variable per line; C strings end at NUL), with the variable's name.

use super::Secret;
use std::collections::BTreeMap;
use std::fmt;

/// Whose rules the env file is written by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvDialect {
    /// Compose v1 (`docker-compose` 1.x): python-dotenv.
    ComposeV1,
    /// Compose v2 (`docker compose`, or a standalone `docker-compose` 2.x):
    /// compose-go's dotenv.
    ComposeV2,
}

/// A value the env file cannot carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uncarriable {
    /// The variable (`HELIOS_SECRET_STRIPE_KEY`).
    pub variable: String,
    /// Why (`contains a newline`).
    pub why: &'static str,
}

impl fmt::Display for Uncarriable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the value of `{}` {}, which Compose cannot carry in an env file; it was not written",
            self.variable, self.why
        )
    }
}

impl std::error::Error for Uncarriable {}

/// The env file text for `values` (variable name to value), one
/// `NAME=value` line each, in name order.
pub fn render(
    dialect: EnvDialect,
    values: &BTreeMap<String, Secret>,
) -> Result<String, Uncarriable> {
    let mut text = String::new();
    for (variable, value) in values {
        let quoted = quote(dialect, value.expose()).map_err(|why| Uncarriable {
            variable: variable.clone(),
            why,
        })?;
        text.push_str(variable);
        text.push('=');
        text.push_str(&quoted);
        text.push('\n');
    }
    Ok(text)
}

/// One value as it is written after `NAME=`.
pub fn quote(dialect: EnvDialect, value: &str) -> Result<String, &'static str> {
    if let Some(why) = super::uncarriable(value) {
        return Err(why);
    }
    Ok(match dialect {
        EnvDialect::ComposeV1 => quote_v1(value),
        EnvDialect::ComposeV2 => quote_v2(value)?,
    })
}

fn quote_v1(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // The last character before the closing quote must not be a
            // backslash: python-dotenv's pattern would take `\'` as an
            // escaped quote and read on. A trailing `\` is the default of
            // an empty-named interpolation instead.
            '\\' if chars.peek().is_none() => out.push_str("${:-\\\\}"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '$' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push_str("$${:-{}");
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn quote_v2(value: &str) -> Result<String, &'static str> {
    if !value.contains('\'') && !value.ends_with('\\') {
        return Ok(format!("'{value}'"));
    }
    if value.ends_with('\\') {
        // compose-go ends a quoted value at the first quote not preceded
        // by a backslash, so no quoted form can end with one.
        let plain =
            !value.contains(['#', '$', '\'', '"']) && value.trim() == value && !value.is_empty();
        if plain {
            return Ok(value.to_string());
        }
        return Err("ends with a backslash and holds quotes, `#`, `$` or outer spaces");
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// Reads an env file as the Compose tool of `dialect` does, with no
/// variable set in its environment: a model of python-dotenv 0.21 (Compose
/// v1) and of compose-go's dotenv (Compose v2), for the tests of the
/// writer. Lines it cannot read are skipped, as both tools do with a
/// warning.
pub fn parse(dialect: EnvDialect, text: &str) -> BTreeMap<String, String> {
    match dialect {
        EnvDialect::ComposeV1 => parse_v1(text),
        EnvDialect::ComposeV2 => parse_v2(text),
    }
}

/// python-dotenv 0.21's `parse_stream` and `resolve_variables`, for lines
/// of the form `KEY=value`.
fn parse_v1(text: &str) -> BTreeMap<String, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let mut at = 0;
    while at < chars.len() {
        // `\s*` (newlines included) before a binding.
        while at < chars.len() && chars[at].is_whitespace() {
            at += 1;
        }
        if at >= chars.len() {
            break;
        }
        let line_end = |from: usize| {
            (from..chars.len())
                .find(|&i| chars[i] == '\n' || chars[i] == '\r')
                .unwrap_or(chars.len())
        };
        if chars[at] == '#' {
            at = line_end(at);
            continue;
        }
        let key_start = at;
        while at < chars.len() && !matches!(chars[at], '=' | '#') && !chars[at].is_whitespace() {
            at += 1;
        }
        let key: String = chars[key_start..at].iter().collect();
        if key.is_empty() || chars.get(at) != Some(&'=') {
            at = line_end(at);
            continue;
        }
        at += 1;
        while at < chars.len() && matches!(chars[at], ' ' | '\t') {
            at += 1;
        }
        let raw = match chars.get(at) {
            Some('\'') => match quoted_v1(&chars, at, '\'') {
                Some((content, end)) => {
                    at = end;
                    Some(decode_v1(&content, &['\\', '\'']))
                }
                None => None,
            },
            Some('"') => match quoted_v1(&chars, at, '"') {
                Some((content, end)) => {
                    at = end;
                    Some(decode_v1(&content, &['\\', '\'', '"']))
                }
                None => None,
            },
            _ => {
                let end = line_end(at);
                let part: String = chars[at..end].iter().collect();
                at = end;
                // `re.sub(r"\s+#.*", "", part).rstrip()`
                let cut = part
                    .char_indices()
                    .find(|&(i, c)| {
                        c == '#' && i > 0 && part[..i].ends_with(|p: char| p.is_whitespace())
                    })
                    .map_or(part.len(), |(i, _)| i);
                Some(part[..cut].trim_end().to_string())
            }
        };
        // The rest of the line: spaces, an optional comment, the line end.
        let end = line_end(at);
        let rest: String = chars[at..end].iter().collect();
        let rest_ok = rest.trim_start_matches([' ', '\t']).is_empty()
            || rest.trim_start_matches([' ', '\t']).starts_with('#');
        at = end;
        if let (Some(raw), true) = (raw, rest_ok) {
            let resolved = interpolate_v1(&raw, &values);
            values.insert(key, resolved);
        }
    }
    values
}

/// The content of `'((?:\\'|[^'])*)'` (or with `"`) at `start`, with
/// Python's backtracking: the longest content followed by the quote.
fn quoted_v1(chars: &[char], start: usize, quote: char) -> Option<(String, usize)> {
    // Greedy tokens: `\<quote>` as one, any other non-quote as one.
    let mut tokens: Vec<(usize, usize)> = Vec::new();
    let mut i = start + 1;
    loop {
        if i + 1 < chars.len() && chars[i] == '\\' && chars[i + 1] == quote {
            tokens.push((i, 2));
            i += 2;
        } else if i < chars.len() && chars[i] != quote {
            tokens.push((i, 1));
            i += 1;
        } else {
            break;
        }
    }
    if chars.get(i) == Some(&quote) {
        return Some((chars[start + 1..i].iter().collect(), i + 1));
    }
    // Backtrack: the last `\<quote>` taken as `\` alone closes at its quote.
    while let Some((at, len)) = tokens.pop() {
        if len == 2 {
            let close = at + 1;
            return Some((chars[start + 1..close].iter().collect(), close + 1));
        }
    }
    None
}

/// `codecs.decode(match, 'unicode-escape')` of each `\x` with `x` in
/// `escapes`, plus the control escapes of double quotes.
fn decode_v1(content: &str, escapes: &[char]) -> String {
    let double = escapes.contains(&'"');
    let mut out = String::with_capacity(content.len());
    let mut chars = content.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek().copied() {
                Some(next) if escapes.contains(&next) => {
                    chars.next();
                    out.push(next);
                    continue;
                }
                Some(next) if double && "abfnrtv".contains(next) => {
                    chars.next();
                    out.push(match next {
                        'a' => '\x07',
                        'b' => '\x08',
                        'f' => '\x0c',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        _ => '\x0b',
                    });
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// python-dotenv's `${NAME}` / `${NAME:-default}` interpolation, looking
/// names up among the values read so far (the environment is empty).
fn interpolate_v1(raw: &str, known: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        // `(?P<name>[^\}:]*)(?::-(?P<default>[^\}]*))?\}`
        let name_len = after.find(['}', ':']).unwrap_or(after.len());
        let name = &after[..name_len];
        let tail = &after[name_len..];
        let (default, consumed) = if let Some(d) = tail.strip_prefix(":-") {
            match d.find('}') {
                Some(end) => (Some(&d[..end]), name_len + 2 + end + 1),
                None => (None, usize::MAX),
            }
        } else if tail.starts_with('}') {
            (None, name_len + 1)
        } else {
            (None, usize::MAX)
        };
        if consumed == usize::MAX {
            // No match here: `$` is literal; search on after it.
            out.push_str(&rest[..start + 1]);
            rest = &rest[start + 1..];
            continue;
        }
        out.push_str(&rest[..start]);
        let value = known
            .get(name)
            .map(String::as_str)
            .or(default)
            .unwrap_or("");
        out.push_str(value);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

/// compose-go's dotenv parser, for lines of the form `KEY=value`.
fn parse_v2(text: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for line in text.split('\n') {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim_start_matches([' ', '\t']);
        let parsed = match value.chars().next() {
            Some(quote @ ('\'' | '"')) => {
                // The first quote not preceded by a backslash ends it.
                let chars: Vec<char> = value.chars().collect();
                let end = (1..chars.len()).find(|&i| chars[i] == quote && chars[i - 1] != '\\');
                let Some(end) = end else { continue };
                let inner: String = chars[1..end].iter().collect();
                if quote == '\'' {
                    inner
                } else {
                    substitute_v2(&unescape_v2(&inner))
                }
            }
            _ => {
                let cut = value.split('#').next().unwrap_or("");
                substitute_v2(cut.trim_end())
            }
        };
        values.insert(key.trim().to_string(), parsed);
    }
    values
}

/// `\n`, `\r` to line breaks, then `\x` to `x` except before `$`.
fn unescape_v2(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next) = chars.peek()
            && next != '$'
        {
            chars.next();
            out.push(match next {
                'n' => '\n',
                'r' => '\r',
                other => other,
            });
            continue;
        }
        out.push(c);
    }
    out
}

/// compose-go's template substitution with nothing set: `$$` is `$`, and
/// `$NAME`, `${NAME...}` are empty.
fn substitute_v2(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let chars: Vec<char> = value.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let close = (i + 2..chars.len()).find(|&j| chars[j] == '}');
                i = close.map_or(chars.len(), |c| c + 1);
            }
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TRICKY: &[&str] = &[
        "plain",
        "it's $HOME",
        "a'b$c",
        "${X}",
        "$${X}",
        "${X:-y}",
        "${}",
        "$$",
        "`whoami`",
        "back\\slash",
        "ends with \\",
        "\\",
        "\\\\'",
        "#not a comment",
        "a #b",
        "k=v=w",
        "  inner  spaces  ",
        "\"double\" 'single'",
        "unicode: é ü 日本 🚀",
        "",
        "'",
        "\"",
        "$",
        "{}",
        "\\'",
    ];

    fn round_trip(dialect: EnvDialect, value: &str) -> Option<String> {
        let values = BTreeMap::from([
            ("A".to_string(), Secret::new("first")),
            ("HELIOS_SECRET_X".to_string(), Secret::new(value)),
            ("Z".to_string(), Secret::new("last")),
        ]);
        let text = render(dialect, &values).ok()?;
        let back = parse(dialect, &text);
        assert_eq!(back.get("A").map(String::as_str), Some("first"), "{text}");
        assert_eq!(back.get("Z").map(String::as_str), Some("last"), "{text}");
        back.get("HELIOS_SECRET_X").cloned()
    }

    #[test]
    fn tricky_values_read_back_unchanged_by_compose_v1() {
        for value in TRICKY {
            assert_eq!(
                round_trip(EnvDialect::ComposeV1, value).as_deref(),
                Some(*value),
                "{value:?}"
            );
        }
    }

    #[test]
    fn tricky_values_read_back_unchanged_by_compose_v2() {
        for value in TRICKY {
            match round_trip(EnvDialect::ComposeV2, value) {
                Some(back) => assert_eq!(back, *value, "{value:?}"),
                // Refused, never altered: only a trailing backslash with
                // characters no unquoted value can hold.
                None => assert!(value.ends_with('\\'), "{value:?} refused"),
            }
        }
    }

    #[test]
    fn the_old_bug_a_quote_and_a_dollar() {
        let text = render(
            EnvDialect::ComposeV1,
            &BTreeMap::from([("K".to_string(), Secret::new("it's $5"))]),
        )
        .expect("carriable");
        assert_eq!(text, "K='it\\'s $5'\n");
        assert_eq!(parse(EnvDialect::ComposeV1, &text)["K"], "it's $5");
    }

    #[test]
    fn line_breaks_are_refused_naming_the_variable() {
        for dialect in [EnvDialect::ComposeV1, EnvDialect::ComposeV2] {
            let error = render(
                dialect,
                &BTreeMap::from([("HELIOS_SECRET_K".to_string(), Secret::new("a\nb"))]),
            )
            .expect_err("a newline");
            assert_eq!(error.variable, "HELIOS_SECRET_K");
            assert!(error.to_string().contains("newline"), "{error}");
            assert!(!error.to_string().contains("a\nb"));
        }
    }

    #[test]
    fn the_model_reads_python_dotenv_examples_as_it_does() {
        // Cases from python-dotenv's own test suite (tests/test_parser.py).
        let cases = [
            ("a=b", "b"),
            ("a='b'", "b"),
            ("a=\"b\"", "b"),
            ("a=b # comment", "b"),
            ("a=b#c", "b#c"),
            ("a='b\\'c'", "b'c"),
            ("a=\"b\\\"c\"", "b\"c"),
            ("a='b\\nc'", "b\\nc"),
            ("a=\"b\\nc\"", "b\nc"),
            ("a=${b:-c}", "c"),
            ("a='${b:-c}'", "c"),
            ("a=$b", "$b"),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_v1(line)["a"], expected, "{line}");
        }
    }

    fn printable() -> impl Strategy<Value = String> {
        // Printable text weighted towards what quoting gets wrong.
        let special = prop::sample::select(vec![
            "'", "\"", "$", "${", "}", "{", "$$", "`", "\\", "#", "=", " ", ":-", "\\'", "é", "日",
            "🚀",
        ]);
        let piece = prop_oneof![
            special.prop_map(str::to_string),
            "[ -~]{1,4}",
            "\\PC{1,2}".prop_filter("no line breaks", |s| super::super::uncarriable(s).is_none()),
        ];
        prop::collection::vec(piece, 0..12).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn every_printable_value_reads_back_unchanged_by_compose_v1(value in printable()) {
            prop_assert_eq!(round_trip(EnvDialect::ComposeV1, &value), Some(value));
        }

        #[test]
        fn every_printable_value_reads_back_unchanged_or_is_refused_by_compose_v2(value in printable()) {
            match round_trip(EnvDialect::ComposeV2, &value) {
                Some(back) => prop_assert_eq!(back, value),
                None => prop_assert!(value.ends_with('\\')),
            }
        }
    }
}
