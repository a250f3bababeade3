//! The env file writer against the real Compose tools: a batch of values
//! with every character quoting gets wrong (fixed ones, and a few hundred
//! generated from a fixed seed) is written by [`env_file::render`], read by
//! the host's `docker-compose` (v1; and `docker compose` v2 when present)
//! through `--env-file` into a compose file's interpolation, and must come
//! out of `config` unchanged. The library's own model of each tool's rules
//! is checked against the same tool on the same values.

#![allow(clippy::panic)] // Test helpers fail loudly by design.

mod common;

use helios_reconciler::secrets::Secret;
use helios_reconciler::secrets::env_file::{self, EnvDialect};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const FIXED: &[&str] = &[
    "it's $5",
    "${HOME}",
    "$${HOME}",
    "${X:-default}",
    "${}",
    "$$",
    "$",
    "`whoami` $(id)",
    "a\\b",
    "ends with \\",
    "\\",
    "\\'",
    "#hash",
    "a #b",
    "k=v",
    "  spaced  ",
    "\"dq\" 'sq'",
    "unicode é 日本 🚀",
    "",
];

/// Printable text weighted towards what quoting gets wrong.
fn generated(count: usize) -> Vec<String> {
    let special = proptest::sample::select(vec![
        "'", "\"", "$", "${", "}", "{", "$$", "`", "\\", "#", "=", " ", ":-", "\\'", "é", "🚀",
    ]);
    let piece = proptest::prop_oneof![special.prop_map(str::to_string), "[ -~]{1,3}"];
    let strategy = proptest::collection::vec(piece, 0..10).prop_map(|parts| parts.concat());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
        .collect()
}

#[derive(Deserialize)]
struct ComposeConfig {
    services: BTreeMap<String, Service>,
}

#[derive(Deserialize)]
struct Service {
    #[serde(default)]
    environment: BTreeMap<String, String>,
}

/// What `tool config` makes of `values` written as an env file for
/// `dialect`; values it refuses to write are left out.
fn through_compose(
    dir: &Path,
    tool: &[&str],
    dialect: EnvDialect,
    values: &[String],
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut written: BTreeMap<String, Secret> = BTreeMap::new();
    let mut expected = BTreeMap::new();
    for (index, value) in values.iter().enumerate() {
        let variable = format!("HELIOS_SECRET_V{index}");
        if env_file::quote(dialect, value).is_ok() {
            written.insert(variable.clone(), Secret::new(value.clone()));
            expected.insert(variable, value.clone());
        }
    }
    let text = env_file::render(dialect, &written).expect("carriable");
    // The library's model reads it as the tool does.
    let modelled = env_file::parse(dialect, &text);
    assert_eq!(modelled, expected, "the model of {dialect:?}");
    std::fs::write(dir.join("secrets.env"), &text).expect("the env file");
    let environment: String = written
        .keys()
        .map(|v| format!("      {v}: ${{{v}}}\n"))
        .collect();
    std::fs::write(
        dir.join("compose.yaml"),
        format!(
            "version: \"3.8\"\nservices:\n  s:\n    image: scratch\n    environment:\n{environment}"
        ),
    )
    .expect("the compose file");
    let output = Command::new(tool[0])
        .args(&tool[1..])
        .args(["--env-file", "secrets.env", "-f", "compose.yaml", "config"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("the Compose tool runs");
    assert!(output.status.success(), "{}", common::describe(&output));
    let config: ComposeConfig =
        serde_saphyr::from_str(&String::from_utf8_lossy(&output.stdout)).expect("config reads");
    // `config` writes a literal `$` as `$$`, as a compose file must.
    let read: BTreeMap<String, String> = config.services["s"]
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), v.replace("$$", "$")))
        .collect();
    (read, expected)
}

fn tool_works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn compose_v1_reads_every_written_value_back_unchanged() {
    if !tool_works("docker-compose", &["version"]) {
        if std::env::var("HELIOS_REQUIRE_DOCKER").is_ok_and(|v| v == "1") {
            panic!("HELIOS_REQUIRE_DOCKER=1 but no docker-compose");
        }
        eprintln!("skipped: no docker-compose");
        return;
    }
    let version = String::from_utf8_lossy(
        &Command::new("docker-compose")
            .args(["version", "--short"])
            .output()
            .expect("runs")
            .stdout,
    )
    .trim()
    .to_string();
    let dialect = if version.starts_with("1.") {
        EnvDialect::ComposeV1
    } else {
        EnvDialect::ComposeV2
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut values: Vec<String> = FIXED.iter().map(|v| v.to_string()).collect();
    values.extend(generated(400));
    let (read, expected) = through_compose(dir.path(), &["docker-compose"], dialect, &values);
    assert_eq!(
        expected.len(),
        values.len(),
        "{dialect:?} refused none of these"
    );
    for (variable, value) in &expected {
        assert_eq!(read.get(variable), Some(value), "{variable}");
    }
}

#[test]
fn compose_v2_reads_every_written_value_back_unchanged_when_present() {
    if !tool_works("docker", &["compose", "version"]) {
        eprintln!("skipped: no `docker compose` (Compose v2) on this host");
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut values: Vec<String> = FIXED.iter().map(|v| v.to_string()).collect();
    values.extend(generated(400));
    let (read, expected) = through_compose(
        dir.path(),
        &["docker", "compose"],
        EnvDialect::ComposeV2,
        &values,
    );
    for (variable, value) in &expected {
        assert_eq!(read.get(variable), Some(value), "{variable}");
    }
}
