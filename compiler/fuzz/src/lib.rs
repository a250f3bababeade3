//! Invariants shared by the fuzz targets of `heliosc` (and by the replay
//! test of `regressions/`). Every check panics with a message naming what
//! broke, so that libFuzzer records the input as a crash.
//!
//! What is checked, after compiler/tests/fuzz.rs (which covers `check`
//! only) and compiler/tests/{compose,kubernetes}.rs (which cover fixtures):
//!
//! - `check_with` never panics; every span of every diagnostic lies in the
//!   text on character boundaries; an app comes back exactly when there is
//!   no error; checking twice gives the same diagnostics and app; rendering
//!   never panics and names every code.
//! - Lowering (Compose and Kubernetes) never panics, gives files exactly
//!   when there is no error, and the same bytes twice.
//! - Every output file is YAML (`.env.example`: `NAME=` lines, no value);
//!   the Kubernetes stream document by document; no object is a `Secret`.
//! - No Heliosfile reference (`${secret.X}`, `${db.URL}`, `${app.name}`,
//!   ...) is left unrendered. Compose: every `$` of `compose.yaml` is either
//!   `$$` or `${HELIOS_...}` naming a variable that `.env.example` lists.
//!   Kubernetes: in every `env` list, each `$(HELIOS_...)` names a
//!   variable declared earlier in the same list.
//! - Env values read back: every plain value of the checked app is what
//!   Compose (`$$`, `${X}`, `$X`) and Kubernetes (`$$`, `$(X)`) make of
//!   the written value, exactly; a secret-bearing value keeps its literal
//!   text.

pub mod model;

use heliosc::ir::Target;
use heliosc::{Built, Checked, LowerOptions, OutputFile};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

/// Runs of a target, and how many of them reached lowering (checked clean)
/// and lowered without error to both targets.
pub struct Counters {
    name: &'static str,
    runs: AtomicU64,
    checked_clean: AtomicU64,
    lowered: AtomicU64,
}

impl Counters {
    /// Counters named after the target (for the printed line).
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            runs: AtomicU64::new(0),
            checked_clean: AtomicU64::new(0),
            lowered: AtomicU64::new(0),
        }
    }

    /// Records one run; prints the shares to stderr at 1k, 10k, and every
    /// 100k runs.
    pub fn record(&self, checked_clean: bool, lowered: bool) {
        if checked_clean {
            self.checked_clean.fetch_add(1, Ordering::Relaxed);
        }
        if lowered {
            self.lowered.fetch_add(1, Ordering::Relaxed);
        }
        let runs = self.runs.fetch_add(1, Ordering::Relaxed) + 1;
        if runs == 1_000 || runs == 10_000 || runs % 100_000 == 0 {
            let clean = self.checked_clean.load(Ordering::Relaxed);
            let lowered = self.lowered.load(Ordering::Relaxed);
            let share = |n: u64| 100.0 * n as f64 / runs as f64;
            eprintln!(
                "[{}] runs {runs}: checked clean (reached lowering) {clean} ({:.1}%), lowered to both targets {lowered} ({:.1}%)",
                self.name,
                share(clean),
                share(lowered)
            );
        }
    }
}

/// Checks `text` twice and asserts the properties of compiler/tests/fuzz.rs.
pub fn check_soundly(text: &str) -> Checked {
    let options = heliosc::CheckOptions::default();
    let checked = heliosc::check_with("Heliosfile", text, &options);
    for diagnostic in &checked.diagnostics {
        assert!(!diagnostic.labels.is_empty(), "no label: {diagnostic:?}");
        for label in &diagnostic.labels {
            let span = label.span;
            assert!(
                span.start <= span.end && span.end <= text.len(),
                "span {span:?} outside the text ({} bytes): {diagnostic:?}",
                text.len()
            );
            assert!(
                text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
                "span {span:?} not on character boundaries: {diagnostic:?}"
            );
        }
    }
    assert_eq!(
        checked.has_errors(),
        checked.app.is_none(),
        "has_errors() must hold exactly when there is no app: {:?}",
        checked.diagnostics
    );
    let again = heliosc::check_with("Heliosfile", text, &options);
    assert_eq!(again.diagnostics, checked.diagnostics, "diagnostics differ");
    assert_eq!(
        format!("{:?}", again.app),
        format!("{:?}", checked.app),
        "apps differ"
    );
    let rendered = checked.render(text);
    assert_eq!(rendered.is_empty(), checked.diagnostics.is_empty());
    for diagnostic in &checked.diagnostics {
        assert!(
            rendered.contains(diagnostic.code.as_str()),
            "{} missing from the rendering",
            diagnostic.code.as_str()
        );
    }
    checked
}

/// Lowers a clean `checked` to `target` twice, asserts the output
/// invariants, and returns the build (files empty when lowering reported
/// an error, e.g. a service without an image).
pub fn lower_soundly(checked: &Checked, target: Target, options: &LowerOptions) -> Built {
    let built = heliosc::lower_checked(checked.clone(), Some(target), options);
    let again = heliosc::lower_checked(checked.clone(), Some(target), options);
    assert_eq!(
        built.files, again.files,
        "{target:?}: lowering twice differs"
    );
    assert_eq!(
        built.diagnostics, again.diagnostics,
        "{target:?}: lowering diagnostics differ"
    );
    assert_eq!(
        built.has_errors(),
        built.files.is_empty(),
        "{target:?}: files must come exactly when there is no error: {:?}",
        built.diagnostics
    );
    // Rendering the lowering's diagnostics does not panic either.
    let _ = built.render("");
    if built.has_errors() {
        return built;
    }
    let app = built.app.as_ref().expect("a clean build has an app");
    let roots = reference_roots(app);
    for file in &built.files {
        assert!(
            file.contents.ends_with('\n'),
            "{target:?}: {} does not end with a newline",
            file.path
        );
        assert_no_unrendered_reference(file, &roots);
    }
    match target {
        Target::Compose => {
            compose_invariants(&built.files);
            compose_env_semantics(app, &built.files);
        }
        Target::Kubernetes => {
            kubernetes_invariants(&built.files);
            kubernetes_env_semantics(app, &built.files);
        }
    }
    built
}

/// `${<root>.` for every root a Heliosfile reference may have in `app`.
fn reference_roots(app: &heliosc::ir::App) -> Vec<String> {
    let mut roots = vec!["${secret.".to_string(), "${app.".to_string()];
    for name in app.services.keys().chain(app.databases.keys()) {
        roots.push(format!("${{{name}."));
    }
    roots
}

/// No `${root.` in `file` unless it is escaped (`$${`, read pairwise).
fn assert_no_unrendered_reference(file: &OutputFile, roots: &[String]) {
    let text = &file.contents;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            if bytes.get(i + 1) == Some(&b'$') {
                i += 2;
                continue;
            }
            if let Some(root) = roots.iter().find(|r| text[i..].starts_with(r.as_str())) {
                panic!(
                    "{}: unrendered reference `{root}` at byte {i}:\n{text}",
                    file.path
                );
            }
        }
        i += 1;
    }
}

/// Parses YAML text into JSON values, panicking with the text when it is not.
fn yaml(path: &str, text: &str) -> Value {
    serde_saphyr::from_str::<Value>(text)
        .unwrap_or_else(|e| panic!("{path} is not YAML: {e}\n{text}"))
}

fn compose_invariants(files: &[OutputFile]) {
    let compose = files
        .iter()
        .find(|f| f.path == "compose.yaml")
        .expect("compose.yaml");
    let example = files
        .iter()
        .find(|f| f.path == ".env.example")
        .expect(".env.example");
    let value = yaml(&compose.path, &compose.contents);
    assert!(
        value.get("services").is_some_and(Value::is_object),
        "compose.yaml has no services mapping:\n{}",
        compose.contents
    );
    let mut listed = BTreeSet::new();
    for line in example.contents.lines() {
        if line.starts_with('#') {
            continue;
        }
        let name = line
            .strip_suffix('=')
            .unwrap_or_else(|| panic!(".env.example: a line with a value: {line:?}"));
        assert!(helios_variable(name), ".env.example: odd name {name:?}");
        listed.insert(name.to_string());
    }
    // Every `$` is interpolated by Compose: it must be `$$` or `${HELIOS_X}`.
    let text = &compose.contents;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'$') => i += 2,
            Some(b'{') => {
                let end = text[i..]
                    .find('}')
                    .map(|e| i + e)
                    .unwrap_or_else(|| panic!("compose.yaml: unterminated `${{` at {i}:\n{text}"));
                let name = &text[i + 2..end];
                assert!(
                    helios_variable(name),
                    "compose.yaml: interpolation of `{name}` at {i}:\n{text}"
                );
                assert!(
                    listed.contains(name),
                    "compose.yaml uses `{name}`, which .env.example does not list:\n{text}\n{}",
                    example.contents
                );
                i = end + 1;
            }
            _ => panic!(
                "compose.yaml: a bare `$` at byte {i} that Compose would interpolate:\n{text}"
            ),
        }
    }
}

fn helios_variable(name: &str) -> bool {
    name.strip_prefix("HELIOS_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    })
}

/// The YAML documents of a Kubernetes stream (`---` separated).
pub fn documents(contents: &str) -> Vec<&str> {
    contents
        .split("\n---\n")
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
        })
        .collect()
}

fn kubernetes_invariants(files: &[OutputFile]) {
    for file in files {
        if file.path == heliosc::lower::kubernetes::SECRETS_FILE {
            let value = yaml(&file.path, &file.contents);
            assert!(
                value.is_array() || value.is_null(),
                "{}: not a list:\n{}",
                file.path,
                file.contents
            );
            continue;
        }
        for document in documents(&file.contents) {
            let value = yaml(&file.path, document);
            let kind = value["kind"].as_str().unwrap_or_default();
            assert!(
                !kind.is_empty() && kind != "Secret",
                "{}: an object of kind {kind:?}:\n{document}",
                file.path
            );
            assert!(
                value["metadata"]["name"].is_string(),
                "{}: an object without a name:\n{document}",
                file.path
            );
            env_lists(&value, &mut |env| check_env_list(env, document));
        }
    }
}

/// Calls `f` on every `env` list in `value`.
fn env_lists(value: &Value, f: &mut dyn FnMut(&[Value])) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match inner {
                    Value::Array(items) if key == "env" => f(items),
                    _ => env_lists(inner, f),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| env_lists(v, f)),
        _ => {}
    }
}

/// Kubernetes expands `$(VAR)` in an env value from the variables defined
/// before it in the same list; `$$` is a literal `$`.
fn check_env_list(env: &[Value], document: &str) {
    let mut defined: BTreeSet<&str> = BTreeSet::new();
    for item in env {
        let name = item["name"]
            .as_str()
            .unwrap_or_else(|| panic!("an env entry without a name:\n{document}"));
        if let Some(value) = item["value"].as_str() {
            // A helper variable (`HELIOS_...`) must be defined before it
            // is used, or Kubernetes leaves `$(HELIOS_...)` as written.
            let bytes = value.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] != b'$' {
                    i += 1;
                    continue;
                }
                match bytes.get(i + 1) {
                    Some(b'$') => i += 2,
                    Some(b'(') if value[i + 2..].starts_with("HELIOS_") => {
                        let variable = value[i..].find(')').map(|end| &value[i + 2..i + end]);
                        assert!(
                            variable.is_some_and(|v| defined.contains(v)),
                            "env `{name}`: `$(HELIOS_` at {i} that is not a variable defined before: {value:?}\n{document}"
                        );
                        i += 2;
                    }
                    _ => i += 1,
                }
            }
        } else {
            assert!(
                item.get("valueFrom").is_some(),
                "env `{name}` has neither value nor valueFrom:\n{document}"
            );
        }
        defined.insert(name);
    }
}

/// The literal pieces of a secret-bearing value (they must survive).
fn text_parts(value: &heliosc::ir::EnvValue) -> Vec<&str> {
    value
        .parts
        .iter()
        .filter_map(|part| match part {
            heliosc::ir::EnvPart::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// An env value as a string, as Compose and Kubernetes read YAML scalars.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What Compose makes of a value: `$$` is `$`, `${NAME}` (and `$NAME`) an
/// interpolation, shown as `<NAME>`. Returns the value and whether it
/// interpolated anything.
fn compose_expand(value: &str) -> (String, bool) {
    let mut out = String::new();
    let mut interpolated = false;
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail.find('}').unwrap_or(tail.len());
            out.push_str(&format!("<{}>", &tail[..end]));
            interpolated = true;
            rest = tail.get(end + 1..).unwrap_or("");
        } else if after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            out.push_str(&format!("<{}>", &after[..end]));
            interpolated = true;
            rest = &after[end..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    (out, interpolated)
}

/// Compose reads back every plain env value exactly, and keeps the literal
/// text of every secret-bearing one.
fn compose_env_semantics(app: &heliosc::ir::App, files: &[OutputFile]) {
    let compose = files
        .iter()
        .find(|f| f.path == "compose.yaml")
        .expect("compose.yaml");
    let value = yaml(&compose.path, &compose.contents);
    for (name, service) in &app.services {
        let environment = &value["services"][name.as_str()]["environment"];
        for (key, expected) in &service.env {
            let written = scalar_text(&environment[key.as_str()]).unwrap_or_else(|| {
                panic!(
                    "compose.yaml: service `{name}` has no string `{key}`:\n{}",
                    compose.contents
                )
            });
            let (read, interpolated) = compose_expand(&written);
            match expected.plain_text() {
                Some(plain) => assert!(
                    read == plain && !interpolated,
                    "compose.yaml: `{name}.{key}` reads as {read:?} (interpolated: {interpolated}), not {plain:?}:\n{}",
                    compose.contents
                ),
                None => {
                    for text in text_parts(expected) {
                        assert!(
                            read.contains(text),
                            "compose.yaml: `{name}.{key}` = {read:?} lost the text {text:?}"
                        );
                    }
                }
            }
        }
    }
}

/// Kubernetes reads back every plain env value exactly (`$$` is `$`,
/// `$(VAR)` expands a variable defined before), and keeps the literal text
/// of every secret-bearing one.
fn kubernetes_env_semantics(app: &heliosc::ir::App, files: &[OutputFile]) {
    let mut containers: Vec<(String, Value)> = Vec::new();
    for file in files {
        if file.path == heliosc::lower::kubernetes::SECRETS_FILE {
            continue;
        }
        for document in documents(&file.contents) {
            let value = yaml(&file.path, document);
            if value["kind"] == "Deployment"
                && let Some(list) = value["spec"]["template"]["spec"]["containers"].as_array()
            {
                for container in list {
                    let name = container["name"].as_str().unwrap_or_default().to_string();
                    containers.push((name, container.clone()));
                }
            }
        }
    }
    for (name, service) in &app.services {
        let Some((_, container)) = containers.iter().find(|(n, _)| n == name) else {
            panic!("no Deployment container named `{name}`");
        };
        let env = container["env"].as_array().cloned().unwrap_or_default();
        let mut defined: Vec<(String, String)> = Vec::new();
        let mut read: Vec<(String, Option<String>)> = Vec::new();
        for item in &env {
            let variable = item["name"].as_str().unwrap_or_default().to_string();
            let value = match item["value"].as_str() {
                Some(raw) => {
                    let expanded = kubernetes_expand(raw, &defined);
                    read.push((variable.clone(), Some(expanded.clone())));
                    expanded
                }
                None => {
                    read.push((variable.clone(), None));
                    format!("<{variable}>")
                }
            };
            defined.push((variable, value));
        }
        for (key, expected) in &service.env {
            let Some((_, got)) = read.iter().find(|(n, _)| n == key) else {
                panic!("container `{name}` has no env `{key}`: {env:?}");
            };
            match (expected.plain_text(), got) {
                (Some(plain), Some(got)) => assert_eq!(
                    got, &plain,
                    "container `{name}`: env `{key}` reads as {got:?}, not {plain:?}: {env:?}"
                ),
                (Some(plain), None) => {
                    panic!("container `{name}`: plain env `{key}` ({plain:?}) comes from a secret")
                }
                (None, Some(got)) => {
                    for text in text_parts(expected) {
                        assert!(
                            got.contains(text),
                            "container `{name}`: env `{key}` = {got:?} lost the text {text:?}"
                        );
                    }
                }
                (None, None) => {}
            }
        }
    }
}

/// Kubernetes' expansion of an env value: `$$` is `$`, `$(VAR)` the value
/// of a variable defined before (else left as written).
fn kubernetes_expand(value: &str, defined: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('(')
            && let Some(end) = tail.find(')')
        {
            let variable = &tail[..end];
            match defined.iter().rev().find(|(n, _)| n == variable) {
                Some((_, v)) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(variable);
                    out.push(')');
                }
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The same objects, in the same order, from a stream and from split files.
pub fn assert_split_matches_stream(stream: &[OutputFile], split: &[OutputFile]) {
    let objects = |files: &[OutputFile]| -> Vec<Value> {
        files
            .iter()
            .filter(|f| f.path != heliosc::lower::kubernetes::SECRETS_FILE)
            .flat_map(|f| documents(&f.contents).into_iter().map(|d| yaml(&f.path, d)))
            .collect()
    };
    assert_eq!(objects(stream), objects(split), "split differs from stream");
    assert_eq!(
        stream.last(),
        split.last(),
        "secrets.required.yaml differs between stream and split"
    );
}

/// What `parse_check` does with one input: check; when clean, lower to
/// both targets with a tag for the built image. Returns (checked clean,
/// lowered to both).
pub fn parse_check(text: &str) -> (bool, bool) {
    let checked = check_soundly(text);
    if checked.app.is_none() {
        return (false, false);
    }
    let options = LowerOptions {
        tag: Some("fuzz".to_string()),
        ..LowerOptions::default()
    };
    let compose = lower_soundly(&checked, Target::Compose, &options);
    let kubernetes = lower_soundly(&checked, Target::Kubernetes, &options);
    (true, !compose.has_errors() && !kubernetes.has_errors())
}

/// What `lower` does with one model: render, check; when clean, lower to
/// Compose and Kubernetes with the model's options (and the stream too
/// when the model splits, compared object by object). Returns (checked
/// clean, lowered to both). With `HELIOS_FUZZ_SHOW_UNCLEAN` set, prints
/// the text and diagnostics of every run that did not lower.
pub fn lower(model: &model::Model) -> (bool, bool) {
    let (text, options) = model::render(model);
    let show = std::env::var_os("HELIOS_FUZZ_SHOW_UNCLEAN").is_some();
    let checked = check_soundly(&text);
    if checked.app.is_none() {
        if show {
            eprintln!("--- not clean:\n{text}\n{}", checked.render(&text));
        }
        return (false, false);
    }
    let compose = lower_soundly(&checked, Target::Compose, &options);
    let kubernetes = lower_soundly(&checked, Target::Kubernetes, &options);
    if options.kubernetes.split && !kubernetes.has_errors() {
        let mut stream_options = options.clone();
        stream_options.kubernetes.split = false;
        let stream = lower_soundly(&checked, Target::Kubernetes, &stream_options);
        assert_split_matches_stream(&stream.files, &kubernetes.files);
    }
    let lowered = !compose.has_errors() && !kubernetes.has_errors();
    if !lowered && show {
        eprintln!(
            "--- not lowered:\n{text}\n{}\n{}",
            compose.render(&text),
            kubernetes.render(&text)
        );
    }
    (true, lowered)
}

/// Replays one input file of `target` (`parse_check` or `lower`) as
/// libFuzzer would (typed inputs through `arbitrary_take_rest`).
pub fn replay(target: &str, data: &[u8]) -> (bool, bool) {
    match target {
        "parse_check" => parse_check(&String::from_utf8_lossy(data)),
        "lower" => {
            use arbitrary::Arbitrary as _;
            let u = arbitrary::Unstructured::new(data);
            match model::Model::arbitrary_take_rest(u) {
                Ok(model) => lower(&model),
                Err(_) => (false, false),
            }
        }
        other => panic!("no fuzz target `{other}`"),
    }
}
