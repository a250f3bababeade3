//! Replays, on stable (`cargo test` in compiler/fuzz), every input kept in
//! `regressions/<target>/` (crashes found by fuzzing, minimized, and
//! fixed) and the `parse_check` seeds, through the same invariants as the
//! fuzz targets. Inputs of findings not fixed yet wait in
//! `regressions/open/<target>/`, replayed by an ignored test
//! (`cargo test -- --ignored`); move a file up once its bug is fixed.

use std::path::Path;

fn replay_folder(target: &str, folder: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    let mut count = 0;
    for entry in entries {
        let path = entry.expect("a folder entry").path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        let data = std::fs::read(&path).expect("readable input");
        eprintln!("replaying {}", path.display());
        heliosc_fuzz::replay(target, &data);
        count += 1;
    }
    count
}

#[test]
fn regressions_and_seeds_replay_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for target in ["parse_check", "lower"] {
        replay_folder(target, &root.join("regressions").join(target));
    }
    let seeds = replay_folder("parse_check", &root.join("seeds/parse_check"));
    assert!(seeds > 0, "no seed found");
}

#[test]
#[ignore = "open findings: fails until they are fixed"]
fn open_findings_replay_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions/open");
    for target in ["parse_check", "lower"] {
        replay_folder(target, &root.join(target));
    }
}

#[test]
fn every_valid_fixture_lowers_to_both_targets() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/valid");
    for entry in std::fs::read_dir(fixtures).expect("fixtures/valid") {
        let path = entry.expect("an entry").path();
        let text = std::fs::read_to_string(&path).expect("a fixture");
        let (clean, lowered) = heliosc_fuzz::parse_check(&text);
        assert!(
            clean && lowered,
            "{} does not lower to both targets",
            path.display()
        );
    }
}
