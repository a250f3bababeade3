//! Every valid fixture lowered to Docker Compose: the output is snapshotted
//! under `snapshots/compose`, is the same bytes on every build, passes the
//! official compose-spec JSON schema (`check-jsonschema`) and is accepted by
//! the real Compose tool (`docker-compose config`), with every variable of
//! `.env.example` wired through to where it is used.
//!
//! A missing external tool skips its test with a message, except when `CI`
//! is set: then it is a failure.

#![allow(clippy::panic)] // Test helpers fail loudly by design.

mod common;

use common::{fixtures, name_of, read, repo_root, tool_available};

use std::path::{Path, PathBuf};
use std::process::Command;

/// The file name without its extension, e.g. `shop` for `shop.yml`.
fn stem_of(path: &Path) -> String {
    path.file_stem()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

/// The compiled files of one fixture: `compose.yaml` and `.env.example`.
struct Compiled {
    name: String,
    stem: String,
    compose: String,
    env_example: String,
}

impl Compiled {
    /// The variables `.env.example` lists, in its order.
    fn variables(&self) -> Vec<String> {
        self.env_example
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (name, value) = line
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{}: `{line}` is not NAME=", self.name));
                assert!(
                    value.is_empty(),
                    "{}: .env.example gives {name} a value",
                    self.name
                );
                name.to_string()
            })
            .collect()
    }

    /// An env file giving every variable a recognizable dummy value.
    fn dummy_env(&self) -> String {
        self.variables()
            .iter()
            .map(|v| format!("{v}={}\n", dummy_value(v)))
            .collect()
    }
}

fn dummy_value(variable: &str) -> String {
    format!("dummy-secret-{variable}-7f3a")
}

/// Builds one fixture for Compose with tag `1.0.0`; fails on any error.
fn compile_text(name: &str, text: &str) -> (Vec<heliosc::OutputFile>, String) {
    let options = heliosc::BuildOptions {
        target: Some(heliosc::ir::Target::Compose),
        lower: heliosc::LowerOptions {
            tag: Some("1.0.0".to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    let built = heliosc::build(&format!("fixtures/valid/{name}"), text, &options);
    let rendered = built.render(text);
    assert!(!built.has_errors(), "{name} has errors:\n{rendered}");
    (built.files, rendered)
}

fn compile(path: &Path) -> Compiled {
    let name = name_of(path);
    let (files, _) = compile_text(&name, &read(path));
    let file = |wanted: &str| {
        files
            .iter()
            .find(|f| f.path == wanted)
            .unwrap_or_else(|| panic!("{name}: no {wanted} in the output"))
            .contents
            .clone()
    };
    assert_eq!(files.len(), 2, "{name}: compose.yaml and .env.example only");
    Compiled {
        stem: stem_of(path),
        compose: file("compose.yaml"),
        env_example: file(".env.example"),
        name,
    }
}

fn compile_all() -> Vec<Compiled> {
    fixtures("valid").iter().map(|path| compile(path)).collect()
}

/// A fresh folder under the target dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("compose-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create folder");
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Compose v1 checks at `config` time that a build context exists; create
/// the folders the compiled `build.context` values name, under `dir`.
fn create_build_contexts(compiled: &Compiled, dir: &Path) {
    for line in compiled.compose.lines() {
        if let Some(context) = line.trim().strip_prefix("context: ") {
            std::fs::create_dir_all(dir.join(context.trim_matches(['\'', '"'])))
                .expect("create build context");
        }
    }
}

#[test]
fn valid_fixtures_lower_to_compose() {
    for path in fixtures("valid") {
        let compiled = compile(&path);
        let snapshot = format!(
            "# compose.yaml\n{}\n# .env.example\n{}",
            compiled.compose, compiled.env_example
        );
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(repo_root().join("snapshots").join("compose"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.bind(|| insta::assert_snapshot!(compiled.name.clone(), snapshot));
    }
}

#[test]
fn lowering_is_deterministic() {
    for path in fixtures("valid") {
        let name = name_of(&path);
        let text = read(&path);
        let (first, first_diagnostics) = compile_text(&name, &text);
        let (second, second_diagnostics) = compile_text(&name, &text);
        assert_eq!(first, second, "{name}: two builds differ");
        assert_eq!(first_diagnostics, second_diagnostics, "{name}: diagnostics");
    }
}

#[test]
fn compose_files_pass_the_compose_spec_schema() {
    if !tool_available("check-jsonschema", "--version") {
        return;
    }
    let dir = scratch("schema");
    let mut paths = Vec::new();
    for compiled in compile_all() {
        let path = dir.join(format!("{}.compose.yaml", compiled.stem));
        write(&path, &compiled.compose);
        paths.push(path);
    }
    let output = Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.compose-spec"])
        .args(&paths)
        .output()
        .expect("run check-jsonschema");
    assert!(
        output.status.success(),
        "check-jsonschema rejects compiled files:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn compose_files_are_accepted_by_docker_compose() {
    if !tool_available("docker-compose", "version") {
        return;
    }
    let root = scratch("tool");
    for compiled in compile_all() {
        let dir = root.join(&compiled.stem);
        let compose_path = dir.join("compose.yaml");
        let env_path = dir.join("dummy.env");
        write(&compose_path, &compiled.compose);
        write(&dir.join(".env.example"), &compiled.env_example);
        write(&env_path, &compiled.dummy_env());
        create_build_contexts(&compiled, &dir);
        let project = format!("helios-test-{}", compiled.stem);
        let output = Command::new("docker-compose")
            .arg("-f")
            .arg(&compose_path)
            .arg("--env-file")
            .arg(&env_path)
            .args(["-p", &project, "config"])
            // Only the env file may supply the variables.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .output()
            .expect("run docker-compose");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{}: docker-compose config rejects it:\n{stdout}{stderr}",
            compiled.name
        );
        assert!(
            !stderr.contains("WARNING"),
            "{}: docker-compose config warns:\n{stderr}",
            compiled.name
        );
        for variable in compiled.variables() {
            let dummy = dummy_value(&variable);
            assert!(
                stdout.contains(&dummy),
                "{}: ${{{variable}}} does not reach the resolved config:\n{stdout}",
                compiled.name
            );
        }
    }
}

/// The secret grep: compiled files never hold a value, whatever the
/// environment or env file supplies later, and every secret-bearing value
/// is an interpolation of a variable `.env.example` lists.
#[test]
fn compiled_files_hold_no_secret_values() {
    for compiled in compile_all() {
        let variables = compiled.variables();
        for variable in &variables {
            let dummy = dummy_value(variable);
            for (file, contents) in [
                ("compose.yaml", &compiled.compose),
                (".env.example", &compiled.env_example),
            ] {
                assert!(
                    !contents.contains(&dummy) && !contents.contains("dummy-secret-"),
                    "{}: {file} contains a dummy secret value",
                    compiled.name
                );
            }
        }
        // Every `${VAR}` in compose.yaml (not an escaped `$${`) is listed.
        let mut rest = compiled.compose.as_str();
        while let Some(at) = rest.find("${") {
            // `$$` is a literal `$`: an odd run of `$` before `{` interpolates.
            let dollars = rest[..at].chars().rev().take_while(|c| *c == '$').count();
            let escaped = dollars % 2 == 1;
            let after = &rest[at + 2..];
            let end = after.find('}').expect("a closing brace");
            if !escaped {
                let used = &after[..end];
                assert!(
                    variables.iter().any(|v| v == used),
                    "{}: compose.yaml uses ${{{used}}}, which .env.example does not list",
                    compiled.name
                );
            }
            rest = &after[end..];
        }
    }
}

/// The `${VAR}` placeholders in `text` (a `$$` is a literal `$`).
fn interpolated(text: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            rest = after;
        } else if let Some(after) = rest.strip_prefix('{') {
            let end = after.find('}').expect("a closed placeholder");
            found.insert(after[..end].to_string());
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn service_variables_are_what_each_compose_service_interpolates() {
    for path in fixtures("valid") {
        let compiled = compile(&path);
        let app = heliosc::check(&compiled.name, &read(&path))
            .app
            .expect("a valid app");
        let compose: serde_json::Value =
            serde_saphyr::from_str(&compiled.compose).expect("compose.yaml parses");
        let services = compose["services"].as_object().expect("a services mapping");
        let variables = heliosc::lower::compose::service_variables(&app);
        assert_eq!(
            variables.keys().collect::<Vec<_>>(),
            services.keys().collect::<Vec<_>>(),
            "{}",
            compiled.name
        );
        for (name, service) in services {
            let definition = serde_json::to_string(service).expect("serializes");
            assert_eq!(
                interpolated(&definition),
                variables[name],
                "{}: {name}",
                compiled.name
            );
        }
        let union: std::collections::BTreeSet<String> = variables.into_values().flatten().collect();
        assert_eq!(
            union.into_iter().collect::<Vec<_>>(),
            heliosc::lower::compose::required_variables(&app),
            "{}",
            compiled.name
        );
    }
}
