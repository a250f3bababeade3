//! Direct assertions on where diagnostics point: the primary span (and
//! secondary labels) must cover exactly the offending key, value, list item,
//! `${...}` reference or character, not the whole line or the mapping.

use heliosc::{Code, Diagnostic, check};

/// The only diagnostic with `code`, failing with everything reported if
/// there is not exactly one.
fn one(text: &str, code: &str) -> Diagnostic {
    let checked = check("Heliosfile", text);
    let found: Vec<&Diagnostic> = checked
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::parse(code).expect("a known code"))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {code}, got:\n{}",
        checked.render(text)
    );
    found[0].clone()
}

/// The codes reported, in order.
fn codes(text: &str) -> Vec<&'static str> {
    check("Heliosfile", text)
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect()
}

/// Byte offset of the `nth` (0-based) occurrence of `needle`.
fn nth(text: &str, needle: &str, nth: usize) -> usize {
    text.match_indices(needle)
        .nth(nth)
        .map(|(at, _)| at)
        .expect("needle occurs")
}

const HEAD: &str = "name: shop\nversion: 1\n";

#[test]
fn unresolved_reference_inside_a_longer_string() {
    let text = format!(
        "{HEAD}services:\n  web:\n    image: nginx:1.27\n    env:\n      DATABASE_URL: \"x ${{postgress.URL}} y\"\ndatabases:\n  postgres: {{ type: postgresql }}\n"
    );
    let d = one(&text, "H0701");
    assert_eq!(d.primary_span().slice(&text), "${postgress.URL}");
    assert_eq!(d.help.as_deref(), Some("did you mean `postgres`?"));
}

#[test]
fn reference_spans_survive_escapes_and_multibyte_text() {
    // An escape in a double-quoted string makes the value differ from the
    // source; the reference is then found by its text.
    let text = format!(
        "{HEAD}services:\n  web:\n    image: nginx:1.27\n    env:\n      A: \"é\\t${{postgres.URI}} ${{postgres.URL}}\"\ndatabases:\n  postgres: {{ type: postgresql }}\n"
    );
    let d = one(&text, "H0702");
    assert_eq!(d.primary_span().slice(&text), "${postgres.URI}");
    assert_eq!(d.primary_span().start, nth(&text, "${postgres.URI}", 0));
}

#[test]
fn duplicate_key_points_at_the_second_and_labels_the_first() {
    let text = format!(
        "{HEAD}services:\n  web: {{ image: nginx:1.27 }}\n  api: {{ image: caddy:2.8.4 }}\n  web: {{ image: caddy:2.8.4 }}\n"
    );
    let d = one(&text, "H0103");
    assert_eq!(d.primary_span().slice(&text), "web");
    assert_eq!(d.primary_span().start, nth(&text, "web:", 1));
    let secondary: Vec<_> = d.labels.iter().filter(|l| !l.primary).collect();
    assert_eq!(secondary.len(), 1);
    assert_eq!(secondary[0].span.start, nth(&text, "web:", 0));
    assert_eq!(secondary[0].span.slice(&text), "web");
}

#[test]
fn out_of_range_port_points_at_the_list_item() {
    let text =
        format!("{HEAD}services:\n  web:\n    image: nginx:1.27\n    ports: [9090, 70000, 8080]\n");
    let d = one(&text, "H0401");
    assert_eq!(d.primary_span().slice(&text), "70000");
}

#[test]
fn duplicate_port_points_at_the_second_item() {
    let text =
        format!("{HEAD}services:\n  web:\n    image: nginx:1.27\n    ports: [9090, 8080, 9090]\n");
    let d = one(&text, "H0402");
    assert_eq!(d.primary_span().start, nth(&text, "9090", 1));
    assert_eq!(d.labels[1].span.start, nth(&text, "9090", 0));
    assert_eq!(d.help.as_deref(), Some("list each port once in `ports`"));
}

#[test]
fn unknown_key_points_at_the_key_with_a_suggestion() {
    let text = format!("{HEAD}services:\n  web:\n    image: nginx:1.27\n    memroy: 512\n");
    let d = one(&text, "H0201");
    assert_eq!(d.primary_span().slice(&text), "memroy");
    assert_eq!(d.help.as_deref(), Some("did you mean `memory`?"));
}

#[test]
fn tab_points_at_the_tab_character() {
    let text = format!("{HEAD}services:\n  web:\n  \timage: nginx:1.27\n");
    let d = one(&text, "H0102");
    assert_eq!(d.primary_span().slice(&text), "\t");
    assert_eq!(d.primary_span().start, text.find('\t').expect("a tab"));
}

#[test]
fn misspelled_database_type_points_at_the_value() {
    let text = format!(
        "{HEAD}services:\n  web: {{ image: nginx:1.27 }}\ndatabases:\n  db:\n    type: postgres\n"
    );
    let d = one(&text, "H0205");
    assert_eq!(d.primary_span().slice(&text), "postgres");
    assert_eq!(d.primary_span().start, nth(&text, "postgres", 0));
    assert!(
        d.help
            .as_deref()
            .is_some_and(|h| h.starts_with("did you mean `postgresql`?")),
        "{:?}",
        d.help
    );
}

#[test]
fn bad_memory_unit_points_at_the_value() {
    let text = format!("{HEAD}services:\n  web:\n    image: nginx:1.27\n    memory: \"512MB\"\n");
    let d = one(&text, "H0501");
    assert_eq!(d.primary_span().slice(&text), "\"512MB\"");
    assert_eq!(d.message, "invalid memory `512MB`");
}

#[test]
fn dependency_cycle_points_at_the_closing_edge() {
    let text = format!(
        "{HEAD}services:\n  web: {{ image: nginx:1.27, depends_on: [api] }}\n  api: {{ image: nginx:1.27, depends_on: [web] }}\n"
    );
    let d = one(&text, "H0801");
    // The search starts at `api` (names are visited sorted), so `web`'s
    // `depends_on: [api]` is the edge that closes the cycle.
    let slices: Vec<&str> = d.labels.iter().map(|l| l.span.slice(&text)).collect();
    assert_eq!(slices, ["api", "web"]);
    assert_eq!(d.primary_span().start, nth(&text, "[api]", 0) + 1);
    assert_eq!(d.labels[1].span.start, nth(&text, "[web]", 0) + 1);
}

#[test]
fn missing_key_points_at_the_first_key() {
    let text = "version: 1\nservices: { web: { image: nginx:1.27 } }\n";
    let d = one(text, "H0203");
    assert_eq!(d.primary_span().slice(text), "version");
}

#[test]
fn an_invalid_port_is_reported_once_not_again_by_what_uses_it() {
    // `http_port` is wrong; the domains, the healthcheck and the reference
    // that rely on it must not each report their own error about it.
    let text = format!(
        "{HEAD}services:\n  web:\n    image: nginx:1.27\n    http_port: \"80\"\n    domains: [shop.example.com]\n    healthcheck: {{ path: /healthz }}\n  api:\n    image: nginx:1.27\n    env: {{ WEB: \"${{web.URL}}\" }}\n"
    );
    assert_eq!(codes(&text), ["H0202"]);
}

#[test]
fn a_broken_database_is_not_also_an_unknown_reference() {
    let text = format!(
        "{HEAD}services:\n  web:\n    image: nginx:1.27\n    env: {{ DB: \"${{postgres.URL}}\" }}\n    depends_on: [postgres]\ndatabases:\n  postgres: {{ type: postgres }}\n"
    );
    assert_eq!(codes(&text), ["H0205"]);
}

#[test]
fn a_wrong_probe_does_not_hide_a_wrong_duration() {
    let text = format!(
        "{HEAD}services:\n  web:\n    image: nginx:1.27\n    http_port: 80\n    healthcheck: {{ path: healthz, interval: 10 }}\n"
    );
    assert_eq!(codes(&text), ["H0202", "H0502"]);
    let d = one(&text, "H0502");
    assert_eq!(d.primary_span().slice(&text), "10");
}

#[test]
fn version_one_as_a_string_is_a_type_error() {
    let text = "name: shop\nversion: \"1\"\nservices: { web: { image: nginx:1.27 } }\n";
    let d = one(text, "H0202");
    assert_eq!(d.primary_span().slice(text), "\"1\"");
    assert!(!codes(text).contains(&"H0204"));
}

#[test]
fn bidi_override_in_a_value_points_at_the_character() {
    let text = format!(
        "{HEAD}services:\n  web:\n    image: nginx:1.27\n    env:\n      GREETING: \"hello \u{202E}dlrow\"\n"
    );
    let d = one(&text, "H0108");
    let start = text.find('\u{202E}').expect("the override");
    assert_eq!(d.primary_span(), heliosc::span::Span::new(start, start + 3));
    assert_eq!(d.primary_span().slice(&text), "\u{202E}");
    assert_eq!(d.severity, heliosc::Severity::Warning);
    assert!(
        d.message.contains("U+202E RIGHT-TO-LEFT OVERRIDE"),
        "{}",
        d.message
    );
    assert!(
        d.help
            .as_deref()
            .is_some_and(|h| h.contains("CVE-2021-42574") && h.contains("diff")),
        "{:?}",
        d.help
    );
    // Only a warning: the app still checks.
    let checked = check("Heliosfile", &text);
    assert!(!checked.has_errors(), "{}", checked.render(&text));
    assert!(checked.app.is_some());
}

#[test]
fn bidi_isolate_in_a_key_points_at_the_character() {
    let text =
        format!("{HEAD}services:\n  web:\n    image: nginx:1.27\n    env:\n      A\u{2066}B: x\n");
    let d = one(&text, "H0108");
    let start = text.find('\u{2066}').expect("the isolate");
    assert_eq!(d.primary_span(), heliosc::span::Span::new(start, start + 3));
    assert!(
        d.message.contains("U+2066 LEFT-TO-RIGHT ISOLATE"),
        "{}",
        d.message
    );
    assert!(d.message.contains("key"), "{}", d.message);
}

#[test]
fn bidi_runs_are_reported_each_at_their_bytes_in_every_scalar_style() {
    let values = [
        "plain \u{202D}\u{2069} text",
        "'single \u{202B}\u{202B} quoted'",
        "|\n        block \u{2067}\n        scalar",
        ">-\n        folded \u{2068}",
        "[a, \"b \u{202A}\"]",
    ];
    for value in values {
        let text =
            format!("{HEAD}services:\n  web:\n    image: nginx:1.27\n    env:\n      A: {value}\n");
        let found: Vec<Diagnostic> = check("Heliosfile", &text)
            .diagnostics
            .into_iter()
            .filter(|d| d.code.as_str() == "H0108")
            .collect();
        let controls: Vec<(usize, char)> = text
            .char_indices()
            .filter(|(_, c)| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
            .collect();
        assert_eq!(found.len(), 1, "{value:?}: {found:?}");
        let (first, last) = (controls[0].0, controls[controls.len() - 1].0 + 3);
        assert_eq!(
            found[0].primary_span(),
            heliosc::span::Span::new(first, last),
            "{value:?}"
        );
    }
    // An escape displays as what it is: nothing to warn about.
    let text =
        format!("{HEAD}services:\n  web:\n    image: nginx:1.27\n    env:\n      A: \"\\u202E\"\n");
    assert!(!codes(&text).contains(&"H0108"));
}
