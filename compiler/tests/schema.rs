//! The checked-in JSON Schema is current, and it accepts every valid fixture.
//!
//! Regenerate it with `HELIOS_REGENERATE=1 cargo test -p heliosc --test schema`
//! (or `heliosc schema > schema/heliosfile.schema.json`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn checked_in_schema_is_current() {
    let path = repo_root().join("schema/heliosfile.schema.json");
    let generated = heliosc::schema::json_schema();
    if std::env::var_os("HELIOS_REGENERATE").is_some() {
        std::fs::write(&path, &generated).expect("write the schema");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "schema/heliosfile.schema.json is stale: run `HELIOS_REGENERATE=1 cargo test -p heliosc --test schema` and commit it"
    );
}

#[test]
fn schema_describes_every_property() {
    let schema: serde_json::Value =
        serde_json::from_str(&heliosc::schema::json_schema()).expect("valid JSON");
    let mut missing = Vec::new();
    walk(&schema, "", &mut missing);
    assert!(
        missing.is_empty(),
        "properties without a description: {missing:?}"
    );
}

fn walk(value: &serde_json::Value, at: &str, missing: &mut Vec<String>) {
    let Some(object) = value.as_object() else {
        return;
    };
    if let Some(properties) = object.get("properties").and_then(|p| p.as_object()) {
        for (name, property) in properties {
            if property.get("description").is_none() {
                missing.push(format!("{at}/{name}"));
            }
        }
    }
    for (key, child) in object {
        walk(child, &format!("{at}/{key}"), missing);
    }
}

/// Editors validate Heliosfiles with this schema, so it must accept every
/// valid fixture. Checked with the independent `check-jsonschema` tool
/// (PyPI), which `.ci/run` installs; elsewhere the test is skipped without it.
#[test]
fn schema_accepts_every_valid_fixture() {
    let available = Command::new("check-jsonschema")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var_os("CI").is_none(),
            "check-jsonschema must be installed in CI (.ci/run installs it)"
        );
        eprintln!("skipped: check-jsonschema is not installed (pip install check-jsonschema)");
        return;
    }
    let root = repo_root();
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(root.join("fixtures/valid"))
        .expect("fixtures/valid")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    fixtures.sort();
    assert!(!fixtures.is_empty());
    let output = Command::new("check-jsonschema")
        .arg("--schemafile")
        .arg(root.join("schema/heliosfile.schema.json"))
        .args(&fixtures)
        .output()
        .expect("run check-jsonschema");
    assert!(
        output.status.success(),
        "the schema rejects a valid fixture:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
