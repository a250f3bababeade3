//! Helpers shared by the integration tests: where the repository's fixtures
//! and snapshots are, and how a test finds an external tool.
//!
//! Each test binary compiles this module on its own and uses part of it.
#![allow(dead_code, clippy::panic)] // Test helpers fail loudly by design.

pub(crate) mod git_repo;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's top level (the workspace root).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The fixture files in `fixtures/<kind>/` (`valid` or `invalid`), sorted.
pub(crate) fn fixtures(kind: &str) -> Vec<PathBuf> {
    let folder = repo_root().join("fixtures").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", folder.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixture in {}", folder.display());
    files
}

/// The file name, e.g. `shop.yml`.
pub(crate) fn name_of(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

/// The file's text; a test cannot go on without it.
pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// insta settings that keep snapshots under `snapshots/<folder>/`, named
/// after the case alone, without the assertion's expression.
pub(crate) fn snapshot_settings(folder: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(repo_root().join("snapshots").join(folder));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

/// Whether `program` runs at all; when it does not, the test is skipped
/// with a message, or fails when `CI` is set (CI installs every tool).
pub(crate) fn tool_available(program: &str, version_arg: &str) -> bool {
    let runs = Command::new(program)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if runs {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("`{program}` is required when CI is set, and it does not run");
    }
    eprintln!("skipped: `{program}` is not installed");
    false
}
