//! Replays, on stable (`cargo test` in compiler/fuzz), every input kept in
//! `regressions/<target>/` (crashes found by fuzzing, minimized) and the
//! `parse_check` seeds, through the same invariants as the fuzz targets.

use std::path::Path;

fn replay_folder(target: &str, folder: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    let mut count = 0;
    for entry in entries {
        let path = entry.expect("a folder entry").path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
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
fn every_valid_fixture_lowers_to_both_targets() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/valid");
    for entry in std::fs::read_dir(fixtures).expect("fixtures/valid") {
        let path = entry.expect("an entry").path();
        let text = std::fs::read_to_string(&path).expect("a fixture");
        let (clean, lowered) = heliosc_fuzz::parse_check(&text);
        assert!(clean && lowered, "{} does not lower to both targets", path.display());
    }
}
