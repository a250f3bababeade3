//! Every fixture under `fixtures/` is checked and its result snapshotted
//! under `snapshots/`: the checked IR for `valid/`, the rendered diagnostics
//! (plain, 100 columns) for `invalid/`.
//!
//! An invalid fixture's file name starts with the code it must produce,
//! e.g. `H0201-unknown-key.yml`; a test checks that every code has one.

#![allow(clippy::panic)] // Test helpers fail loudly by design.

mod common;

use common::{fixtures, name_of, read, snapshot_settings};

use heliosc::Code;
use std::collections::BTreeSet;

#[test]
fn valid_fixtures_check_cleanly() {
    let files = fixtures("valid");
    assert!(
        files.len() >= 8,
        "at least 8 valid fixtures, found {}",
        files.len()
    );
    for path in files {
        let name = name_of(&path);
        let text = read(&path);
        let checked = heliosc::check(&format!("fixtures/valid/{name}"), &text);
        assert!(
            !checked.has_errors(),
            "{name} has errors:\n{}",
            checked.render(&text)
        );
        let app = checked.app.as_ref().expect("an app when there is no error");
        let mut snapshot = serde_json::to_string_pretty(app).expect("the IR serializes");
        if !checked.diagnostics.is_empty() {
            snapshot.push_str("\n\n--- warnings ---\n");
            snapshot.push_str(&checked.render(&text));
        }
        snapshot_settings("valid").bind(|| insta::assert_snapshot!(name, snapshot));
    }
}

#[test]
fn invalid_fixtures_report_their_code() {
    let files = fixtures("invalid");
    assert!(
        files.len() >= 30,
        "at least 30 invalid fixtures, found {}",
        files.len()
    );
    for path in files {
        let name = name_of(&path);
        let text = read(&path);
        // Built (for the file's own target), not only checked, so that
        // lowering's diagnostics (a service without an image, a name too
        // long for Kubernetes) have fixtures too.
        let options = heliosc::BuildOptions::default();
        let checked = heliosc::build(&format!("fixtures/invalid/{name}"), &text, &options);
        assert!(
            checked.has_errors() || name.contains("warning"),
            "{name} has no error"
        );
        assert!(
            checked.files.is_empty() || !checked.has_errors(),
            "{name}: output despite errors"
        );
        let expected = name.split(['-', '.']).next().and_then(Code::parse);
        let expected = expected
            .unwrap_or_else(|| panic!("{name} must start with the code it shows, e.g. H0201-"));
        assert!(
            checked.diagnostics.iter().any(|d| d.code == expected),
            "{name} does not report {expected}:\n{}",
            checked.render(&text)
        );
        for diagnostic in &checked.diagnostics {
            let span = diagnostic.primary_span();
            assert!(
                span.end <= text.len() && span.start <= span.end,
                "{name}: span {span:?} out of range"
            );
        }
        snapshot_settings("invalid").bind(|| insta::assert_snapshot!(name, checked.render(&text)));
    }
}

#[test]
fn every_code_has_an_invalid_fixture() {
    let shown: BTreeSet<String> = fixtures("invalid")
        .iter()
        .filter_map(|path| name_of(path).split(['-', '.']).next().map(str::to_string))
        .collect();
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !shown.contains(*c))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a fixture in fixtures/invalid: {missing:?}"
    );
}

#[test]
fn checking_is_deterministic() {
    for path in fixtures("valid").into_iter().chain(fixtures("invalid")) {
        let text = read(&path);
        let first = heliosc::check("f", &text);
        let second = heliosc::check("f", &text);
        assert_eq!(first.render(&text), second.render(&text));
        assert_eq!(
            serde_json::to_string(&first.app).expect("serializes"),
            serde_json::to_string(&second.app).expect("serializes")
        );
    }
}
