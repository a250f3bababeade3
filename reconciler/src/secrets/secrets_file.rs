//! The `NAME=value` format of `--secrets-file` (the user secrets of the
//! apps) and of the state directory's store of generated database
//! passwords.
//!
//! The format is the one of an env file, kept deliberately small: blank
//! lines and lines starting with `#` are skipped; a value runs to the end of
//! its line, without surrounding whitespace, and one pair of surrounding
//! quotes (`"` or `'`) is removed (to keep spaces at its ends).
//! Errors name the file and the line number, never the line: a malformed
//! line may well be a value. [`render`] writes what [`parse`] reads back
//! unchanged.

use super::Secret;
use std::collections::BTreeMap;
use std::path::Path;

/// Reads the secrets of `path`. Warns (but goes on) when the file may be
/// read by other users than its owner.
pub fn read(path: &Path) -> Result<BTreeMap<String, Secret>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the secrets file `{}`: {e}", path.display()))?;
    warn_if_shared(path);
    parse(&text).map_err(|e| format!("secrets file `{}`: {e}", path.display()))
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(metadata) = std::fs::metadata(path) {
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                "the secrets file `{}` can be read by other users (mode {mode:03o}); `chmod 600` it",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}

/// Parses the text of a secrets file.
pub fn parse(text: &str) -> Result<BTreeMap<String, Secret>, String> {
    let mut secrets = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim_end_matches('\r');
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((name, value)) = trimmed.split_once('=') else {
            return Err(format!("line {number}: expected NAME=value"));
        };
        let name = name.trim();
        if !valid_name(name) {
            return Err(format!(
                "line {number}: a secret name is letters, digits and `_`, not starting with a digit"
            ));
        }
        if secrets
            .insert(name.to_string(), Secret::new(unquote(value.trim())))
            .is_some()
        {
            return Err(format!("line {number}: `{name}` is given twice"));
        }
    }
    Ok(secrets)
}

/// Writes `values` in this format, each value single-quoted so that it
/// reads back exactly (quotes are removed as one pair, inner quotes stay).
/// A value with a line break cannot be written; its name is the error.
pub fn render(values: &BTreeMap<String, Secret>) -> Result<String, String> {
    let mut text = String::new();
    for (name, value) in values {
        if let Some(why) = value.uncarriable() {
            return Err(format!("the value of `{name}` {why}"));
        }
        text.push_str(&format!("{name}='{}'\n", value.expose()));
    }
    Ok(text)
}

/// As the compiler checks a Heliosfile's `secrets:` names.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_comments_and_quotes() {
        let secrets = parse(
            "# payment\nSTRIPE_KEY=sk_live_1=2\n\n  SMTP_PASSWORD = \"a b#c\"\nEMPTY=\nQ='x'\r\n",
        )
        .expect("valid");
        let values: Vec<(&str, &str)> = secrets
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        assert_eq!(
            values,
            [
                ("EMPTY", ""),
                ("Q", "x"),
                ("SMTP_PASSWORD", "a b#c"),
                ("STRIPE_KEY", "sk_live_1=2"),
            ]
        );
    }

    #[test]
    fn rendered_values_read_back_unchanged() {
        let values: BTreeMap<String, Secret> = [
            ("A", " spaced "),
            ("B", "'quoted'"),
            ("C", "a=b#c \"d\" $X ${Y} `z` \\"),
            ("D", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Secret::new(v)))
        .collect();
        let text = render(&values).expect("carriable");
        assert_eq!(parse(&text).expect("parses"), values);
        let bad = BTreeMap::from([("X".to_string(), Secret::new("a\nb"))]);
        assert_eq!(
            render(&bad).expect_err("a newline"),
            "the value of `X` contains a newline"
        );
    }

    #[test]
    fn errors_name_the_line_but_never_its_text() {
        let error = parse("A=1\nhunter2\n").expect_err("no `=`");
        assert_eq!(error, "line 2: expected NAME=value");
        let error = parse("9LIVES=hunter2\n").expect_err("a bad name");
        assert!(error.starts_with("line 1:"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let error = parse("A=hunter2\nA=hunter3\n").expect_err("twice");
        assert!(error.contains("given twice"), "{error}");
        assert!(!error.contains("hunter"), "{error}");
    }
}
